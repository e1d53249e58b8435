#!/usr/bin/env python3
"""Programming-time benchmark (issue 7, part 1). Run it inside a throw-away
network namespace (tools/bench/run.sh uses unshare -n): it flushes that
namespace's rules between runs and touches nothing else.

For N non-masquerade CIDRs (random, non-overlapping, mixed prefix lengths)
it programs, cold, side by side in one run:
  masqd --once              (wall time; masqd's own in-process time; the
                             kernel's commit, the sendmsg of the batch)
  iptables-restore --noflush of upstream ip-masq-agent's exact chain
  nft -f                    of the table masqd builds (masqctl render)
and reports medians and peak RSS, with ratios taken in the same run.
"""
import argparse
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from reload import emit, plot, png_for  # noqa: E402

PER_FILE = 10000  # CIDRs per config file: 100k CIDRs exceed one 1 MiB file

UPSTREAM_COMMENTS = {
    "jump": "ip-masq-agent: ensure nat POSTROUTING directs all non-LOCAL destination traffic to our custom IP-MASQ-AGENT chain",
    "local": "ip-masq-agent: local traffic is not subject to MASQUERADE",
    "cidr": "ip-masq-agent: cluster-local traffic should not be subject to MASQUERADE",
    "masq": "ip-masq-agent: outbound traffic is subject to MASQUERADE (must be last in chain)",
}


def prefixes(n, v6, rng):
    """n non-overlapping, non-adjacent prefixes of mixed lengths."""
    out = []
    for i in range(n):
        if v6:
            plen = rng.randint(48, 64)
            out.append("fd00:%x:%x::/%d" % ((2 * i) >> 16, (2 * i) & 0xFFFF, plen))
        else:
            base = (1 << 24) + i * 8192  # from 1.0.0.0, a 4096-address slot and a gap
            plen = rng.randint(20, 28)
            out.append("%d.%d.%d.%d/%d" % (base >> 24, (base >> 16) & 255, (base >> 8) & 255, base & 255, plen))
    return out


def write_config(d, cidrs):
    for k in range(0, max(len(cidrs), 1), PER_FILE):
        with open(os.path.join(d, "ip-masq-agent-%04d" % (k // PER_FILE)), "w") as f:
            f.write("nonMasqueradeCIDRs:\n")
            for c in cidrs[k:k + PER_FILE]:
                f.write("  - '%s'\n" % c)


def upstream_rules(cidrs):
    lines = ["*nat", ":IP-MASQ-AGENT - [0:0]",
             '-A POSTROUTING -m comment --comment "%s" -m addrtype ! --dst-type LOCAL -j IP-MASQ-AGENT' % UPSTREAM_COMMENTS["jump"],
             '-A IP-MASQ-AGENT -d 169.254.0.0/16 -m comment --comment "%s" -j RETURN' % UPSTREAM_COMMENTS["local"]]
    lines += ['-A IP-MASQ-AGENT -d %s -m comment --comment "%s" -j RETURN' % (c, UPSTREAM_COMMENTS["cidr"]) for c in cidrs]
    lines += ['-A IP-MASQ-AGENT -m comment --comment "%s" -j MASQUERADE --random-fully' % UPSTREAM_COMMENTS["masq"], "COMMIT", ""]
    return "\n".join(lines)


def run(cmd, stdin=None):
    """Run cmd; returns (wall ms, peak RSS KiB, stderr). GNU time is the
    parent that measures the peak: a child forked from this Python would
    count Python's own resident memory as its peak."""
    rss_file = tempfile.mktemp(prefix="masqd-bench-rss-")
    t0 = time.monotonic()
    p = subprocess.run(["/usr/bin/time", "-o", rss_file, "-f", "%M"] + cmd,
                       input=stdin.encode() if stdin is not None else None,
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    wall = (time.monotonic() - t0) * 1000
    err = p.stderr.decode()
    with open(rss_file) as f:
        rss = int(f.read().split()[-1])
    os.unlink(rss_file)
    if p.returncode != 0:
        sys.exit("%s failed: %s" % (cmd[0], err.strip()[-400:]))
    return wall, rss, err


def reset(iptables_restore):
    subprocess.run(["nft", "flush", "ruleset"], check=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--masqd", required=True)
    ap.add_argument("--masqctl", required=True)
    ap.add_argument("--sizes", default="64,1000,10000")
    ap.add_argument("--v6-sizes", default="1000")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--iptables-restore", default="iptables-restore")
    ap.add_argument("--out")
    a = ap.parse_args()
    rng = random.Random(7)
    rows = []
    series = [(int(n), False) for n in a.sizes.split(",") if n] + \
             [(int(n), True) for n in a.v6_sizes.split(",") if n]
    for n, v6 in series:
        d = tempfile.mkdtemp(prefix="masqd-bench-")
        try:
            cidrs = prefixes(n, v6, rng)
            write_config(d, cidrs)
            flags = ["--max-cidrs-per-file", str(PER_FILE)] + (["--enable-ipv6"] if v6 else [])
            rendered = subprocess.run([a.masqctl, "render"] + flags + [d], check=True,
                                      capture_output=True, text=True).stdout
            rules = upstream_rules(cidrs) if not v6 else None
            m_wall, m_in, m_kern, m_rss, n_wall, n_rss, i_wall, i_rss = ([] for _ in range(8))
            for _ in range(a.repeat):
                reset(a.iptables_restore)
                w, rss, err = run([a.masqd, "--once", "--config", d] + flags)
                got = re.search(r"in ([0-9.]+) ms \(kernel ([0-9.]+) ms\)", err)
                if not got:
                    sys.exit("masqd printed no timing: " + err[-300:])
                m_wall.append(w); m_rss.append(rss)
                m_in.append(float(got.group(1))); m_kern.append(float(got.group(2)))
                reset(a.iptables_restore)
                w, rss, _ = run(["nft", "-f", "-"], stdin=rendered)
                n_wall.append(w); n_rss.append(rss)
                if rules is not None:
                    reset(a.iptables_restore)
                    w, rss, _ = run([a.iptables_restore, "--noflush"], stdin=rules)
                    i_wall.append(w); i_rss.append(rss)
            med = statistics.median
            row = {
                "n": n, "family": "ipv6" if v6 else "ipv4",
                "masqd": med(m_wall), "inproc": med(m_in), "kernel": med(m_kern),
                "nft": med(n_wall), "ipt": med(i_wall) if i_wall else None,
                "rss_m": max(m_rss), "rss_n": max(n_rss), "rss_i": max(i_rss) if i_rss else None,
            }
            rows.append(row)
            print("N=%d %s done" % (n, row["family"]), file=sys.stderr, flush=True)
        finally:
            shutil.rmtree(d, ignore_errors=True)
    reset(a.iptables_restore)

    fmt = lambda v: "—" if v is None else ("%.1f" % v if v < 100 else "%.0f" % v)
    out = ["### programming time, cold, median of %d (ms)\n" % a.repeat,
           "| N | family | masqd --once | in-process | kernel commit | nft -f | iptables-restore | in-process / kernel | masqd / nft -f | iptables-restore / masqd |",
           "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        out.append("| %d | %s | %s | %s | %s | %s | %s | %.2f | %.2f | %s |" % (
            r["n"], r["family"], fmt(r["masqd"]), fmt(r["inproc"]), fmt(r["kernel"]), fmt(r["nft"]),
            fmt(r["ipt"]), r["inproc"] / max(r["kernel"], 1e-3), r["masqd"] / r["nft"],
            "—" if r["ipt"] is None else "%.1f" % (r["ipt"] / r["masqd"])))
    out += ["", "### peak RSS (KiB)\n", "| N | family | masqd --once | nft -f | iptables-restore |", "|---:|---|---:|---:|---:|"]
    for r in rows:
        out.append("| %d | %s | %d | %d | %s |" % (r["n"], r["family"], r["rss_m"], r["rss_n"],
                                                  "—" if r["rss_i"] is None else "%d" % r["rss_i"]))
    emit("\n".join(out), a.out)
    v4 = [r for r in rows if r["family"] == "ipv4"]
    plot(png_for(a.out), "Programming N IPv4 CIDRs, cold (median ms)", "non-masquerade CIDRs",
         "ms", [("masqd --once", [(r["n"], r["masqd"]) for r in v4]),
                ("nft -f (same table)", [(r["n"], r["nft"]) for r in v4]),
                ("iptables-restore (upstream chain)", [(r["n"], r["ipt"]) for r in v4]),
                ("kernel commit (masqd's sendmsg)", [(r["n"], r["kernel"]) for r in v4])])


if __name__ == "__main__":
    main()
