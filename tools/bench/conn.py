#!/usr/bin/env python3
"""Per-connection cost benchmark (issue 7, part 3). It builds its own three
network namespaces (pod -- node -- net), deletes them on exit, and sends
traffic only between them.

A nat chain sees only a connection's first packet, so this measures new
connections: UDP flows from the pod namespace to a host that matches no
non-masquerade CIDR (the worst case for a linear chain), each datagram to a
new destination port (tools/bench/flood.c, sendmmsg). Side by side in one
run, in the node namespace:
  conntrack only     a filter rule that needs conntrack, no NAT at all
  masqd, empty set   masqd's table with an empty non-masquerade set
  masqd N            masqd's table, N CIDRs in its interval set
  masqd N+exceptions the same N CIDRs and N masqueradeCIDRs, one inside each
                     (longest prefix: 2N intervals in the same one set)
  upstream N         ip-masq-agent's linear iptables-nft chain, N RETURN rules
With --podsrc, two more shapes (pod-source scoping, one set lookup of the
source at the chain's head):
  masqd N+podsrc     masqd N with --pod-cidr 10.244.0.0/16: the pod's flows
                     are decided as before, after the scope's lookup
  masqd N+podsrc-out masqd N with --pod-cidr 10.99.0.0/16: the pod's flows
                     are outside the scope and return at the head
It reports new flows per second (median of rounds; each round measures
every shape once, so a machine whose speed drifts moves them alike) and the
first-packet round trip of a new flow to an echo server (p50/p99), with
ratios.
"""
import argparse
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from program import upstream_rules  # noqa: E402
from reload import cidrs, emit, pct, plot, png_for  # noqa: E402

TAG = "mqb%d" % os.getpid()
POD, NODE, NET = TAG + "-pod", TAG + "-node", TAG + "-net"
DST = "203.0.113.2"
ECHO_PORT = 62000  # outside the flood's ports (1024-61023)


def sh(*cmd, ns=None, check=True, stdin=None):
    full = (["ip", "netns", "exec", ns] if ns else []) + list(cmd)
    p = subprocess.run(full, input=stdin, capture_output=True, text=True)
    if check and p.returncode != 0:
        sys.exit("%s: %s" % (" ".join(full), p.stderr.strip()[-300:]))
    return p.stdout


def topology():
    for ns in (POD, NODE, NET):
        sh("ip", "netns", "add", ns)
        sh("ip", "link", "set", "lo", "up", ns=ns)
    sh("ip", "link", "add", "eth0", "netns", POD, "type", "veth", "peer", "name", "pod0",
       "netns", NODE)
    sh("ip", "link", "add", "net0", "netns", NODE, "type", "veth", "peer", "name", "eth0",
       "netns", NET)
    for ns, dev, addr in ((POD, "eth0", "10.244.1.2/24"), (NODE, "pod0", "10.244.1.1/24"),
                          (NODE, "net0", "203.0.113.1/24"), (NET, "eth0", "203.0.113.2/24")):
        sh("ip", "addr", "add", addr, "dev", dev, ns=ns)
        sh("ip", "link", "set", dev, "up", ns=ns)
    sh("ip", "route", "add", "default", "via", "10.244.1.1", ns=POD)
    sh("ip", "route", "add", "10.244.0.0/16", "via", "203.0.113.1", ns=NET)
    sh("sysctl", "-qw", "net.ipv4.ip_forward=1", ns=NODE)
    # the receiver drops the flood before conntrack: no ICMP back, nothing kept
    sh("nft", "-f", "-", ns=NET, stdin="table inet sink {\n chain pre {\n  type filter hook "
       "prerouting priority -300;\n  udp dport 1024-61023 counter drop\n }\n}\n")


def cleanup():
    for ns in (POD, NODE, NET):
        subprocess.run(["ip", "netns", "del", ns], capture_output=True)


def shape_conntrack(n, work, masqd):
    sh("nft", "-f", "-", ns=NODE, stdin="table inet ctonly {\n chain newflows {\n  type filter hook "
       "forward priority 0;\n  ct state new counter\n }\n}\n")


def shape_masqd(n, work, masqd):
    cfg = os.path.join(work, "ip-masq-agent")
    with open(cfg, "w") as f:
        # masqLinkLocal: true leaves the set truly empty at N = 0
        f.write("cidrLimit: %d\nmasqLinkLocal: true\nnonMasqueradeCIDRs: [%s]\n"
                % (max(n, 1), ", ".join(cidrs(n))))
    sh(masqd, "--once", "--config", cfg, ns=NODE)


def shape_masqd_exceptions(n, work, masqd):
    """N /24s kept, and in each a /26 masqueraded: resolved in userspace
    into the same set (2N intervals), the chain unchanged."""
    cfg = os.path.join(work, "ip-masq-agent")
    kept = cidrs(n)
    with open(cfg, "w") as f:
        f.write("cidrLimit: %d\nmasqLinkLocal: true\nnonMasqueradeCIDRs: [%s]\n"
                "masqueradeCIDRs: [%s]\n"
                % (max(2 * n, 1), ", ".join(kept),
                   ", ".join(c.replace(".0/24", ".64/26") for c in kept)))
    sh(masqd, "--once", "--config", cfg, ns=NODE)


def shape_masqd_podsrc(n, work, masqd, pods="10.244.0.0/16"):
    cfg = os.path.join(work, "ip-masq-agent")
    with open(cfg, "w") as f:
        f.write("cidrLimit: %d\nmasqLinkLocal: true\nnonMasqueradeCIDRs: [%s]\n"
                % (max(n, 1), ", ".join(cidrs(n))))
    sh(masqd, "--once", "--config", cfg, "--pod-cidr", pods, ns=NODE)


def shape_masqd_podsrc_out(n, work, masqd):
    shape_masqd_podsrc(n, work, masqd, "10.99.0.0/16")


def shape_upstream(n, work, masqd):
    sh("iptables-nft-restore", "--noflush", ns=NODE, stdin=upstream_rules(cidrs(n)))


def reset_node():
    sh("nft", "flush", "ruleset", ns=NODE)
    sh("conntrack", "-F", ns=NODE, check=False)


def delivered():
    """Datagrams the receiver has counted (its drop rule's counter)."""
    out = sh("nft", "list", "chain", "inet", "sink", "pre", ns=NET)
    return int(out.split("counter packets ")[1].split()[0])


def flood(flood_bin, count, first_port):
    """Flows per second that made it through the node: a datagram dropped
    on the way (a full backlog) is no flow, however fast it was sent."""
    sh("conntrack", "-F", ns=NODE, check=False)
    before = delivered()
    out = sh(flood_bin, DST, str(first_port), str(count), ns=POD).split()
    time.sleep(0.05)  # let the last softirq work reach the receiver
    return (delivered() - before) / (int(out[1]) / 1e9)


def calibrated_count(flood_bin):
    """Flows for about 0.4 s of load at this shape's rate."""
    rate = flood(flood_bin, 1000, 0)
    return int(min(60000, max(1000, rate * 0.4)))


PROBE = r"""
import socket, sys, time
n = int(sys.argv[1]); out = []
for i in range(n):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)  # a new source port: a new flow
    s.settimeout(1.0)
    t0 = time.perf_counter_ns()
    s.sendto(b"x", (sys.argv[2], int(sys.argv[3])))
    try:
        s.recv(16)
        out.append((time.perf_counter_ns() - t0) / 1000.0)
    except socket.timeout:
        pass
    s.close()
print(" ".join("%.1f" % x for x in out))
"""


def first_packet_us(probes):
    out = sh(sys.executable, "-c", PROBE, str(probes), DST, str(ECHO_PORT), ns=POD).split()
    return [float(x) for x in out]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--masqd", required=True)
    ap.add_argument("--flood", required=True)
    ap.add_argument("--sizes", default="64,1000,10000")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--probes", type=int, default=300)
    ap.add_argument("--out")
    ap.add_argument("--podsrc", action="store_true",
                    help="also masqd N with pod-source scoping, the pod in and out of it")
    a = ap.parse_args()
    sizes = [int(x) for x in a.sizes.split(",")]
    work = tempfile.mkdtemp(prefix="masqd-bench-conn-")
    rows = []
    echo = None
    try:
        topology()
        echo = subprocess.Popen(["ip", "netns", "exec", NET, sys.executable, "-c",
                                 "import socket\ns = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
                                 "s.bind(('0.0.0.0', %d))\nwhile True:\n"
                                 "    d, a = s.recvfrom(16)\n    s.sendto(d, a)\n" % ECHO_PORT])
        time.sleep(0.3)
        plan = [("conntrack only", 0, shape_conntrack), ("masqd", 0, shape_masqd)]
        for n in sizes:
            plan += [("masqd", n, shape_masqd), ("masqd+exceptions", n, shape_masqd_exceptions),
                     ("upstream", n, shape_upstream)]
            if a.podsrc:
                plan += [("masqd+podsrc", n, shape_masqd_podsrc),
                         ("masqd+podsrc-out", n, shape_masqd_podsrc_out)]
        # Round-robin: every round measures every shape once, so a machine
        # that slows down or speeds up over the run moves all of them alike
        # and the ratios taken in one run hold.
        counts, lat, rates = {}, {}, {}
        for rnd in range(a.repeat):
            for name, n, fn in plan:
                reset_node()
                fn(n, work, a.masqd)
                if rnd == 0:
                    counts[(name, n)] = calibrated_count(a.flood)
                    lat[(name, n)] = first_packet_us(a.probes)
                r = flood(a.flood, counts[(name, n)], 1000 * (rnd + 1))
                rates.setdefault((name, n), []).append(r)
            print("  round %d of %d done" % (rnd + 1, a.repeat), file=sys.stderr, flush=True)
        rows = [(name, n, statistics.median(rates[(name, n)]), lat[(name, n)])
                for name, n, _ in plan]
        reset_node()
    finally:
        if echo:
            echo.terminate()
            echo.wait()
        cleanup()
        shutil.rmtree(work, ignore_errors=True)
    emit(table(rows), a.out)
    plot(png_for(a.out), "New UDP flows per second through the node, to a destination no CIDR "
         "matches", "non-masquerade CIDRs", "flows/s",
         [(label, [(n, r) for name, n, r, _ in rows if name == shape and n > 0])
          for shape, label in (("masqd", "masqd (interval set)"),
                               ("upstream", "ip-masq-agent (linear iptables-nft chain)"))])


def table(rows):
    rate = {(name, n): r for name, n, r, _ in rows}
    empty = rate[("masqd", 0)]
    lines = ["New connections through the node, to a destination no CIDR matches (UDP flows, one",
             "datagram each; median of rounds; first packet = a new flow's round trip to an echo server)",
             "",
             "| rules | N | flows/s | vs masqd empty set | masqd / upstream | first packet p50 µs | p99 µs |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    for name, n, r, lat in rows:
        vs_up = ""
        if name.startswith("masqd") and ("upstream", n) in rate:
            vs_up = "%.1f×" % (r / rate[("upstream", n)])
        lines.append("| %s | %d | %.0f | %.3f | %s | %.0f | %.0f |" % (
            name, n, r, r / empty, vs_up, pct(lat, 50) if lat else float("nan"),
            pct(lat, 99) if lat else float("nan")))
    return "\n".join(lines)


if __name__ == "__main__":
    main()
