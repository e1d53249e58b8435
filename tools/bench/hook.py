#!/usr/bin/env python3
"""What the check for other NAT chains at the postrouting hook costs (issue 15,
"conflicts at the hook"). Run it inside a throw-away network namespace
(tools/bench/run.sh uses unshare -n): the tables it adds are that namespace's.

masqd checks after every sync and at every resync: one dump of every family's
chains, then the rules of the nat postrouting ones. A node with kube-proxy in
iptables mode (iptables-nft) has thousands of chains in table ip nat, and the
dump reads them all. For each size, an ip nat table with that many regular
chains (one rule each, as KUBE-SVC-*) and a POSTROUTING chain that jumps to a
KUBE-POSTROUTING that masquerades; masqd runs with a 1 s resync and --v 2,
and its "nat postrouting hook checked in X ms" lines give the figures. masqd
skips the check while the host's nftables generation stands still, so each
round adds or deletes an empty table first.
"""
import argparse
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from reload import Masqd, emit, pct  # noqa: E402


def nat_table(n):
    """nft -f text: table ip nat with n service chains and the masquerade."""
    lines = ["add table ip nat",
             "add chain ip nat POSTROUTING { type nat hook postrouting priority srcnat; }",
             "add chain ip nat KUBE-POSTROUTING",
             "add rule ip nat KUBE-POSTROUTING meta mark & 0x4000 == 0 return",
             "add rule ip nat KUBE-POSTROUTING masquerade",
             "add rule ip nat POSTROUTING counter jump KUBE-POSTROUTING"]
    for i in range(n):
        lines.append("add chain ip nat KUBE-SVC-%06d" % i)
        lines.append("add rule ip nat KUBE-SVC-%06d ip daddr 10.96.%d.%d tcp dport 80 counter"
                     % (i, i // 250 % 250, i % 250 + 1))
    return "\n".join(lines) + "\n"


def measure(binary, n, checks):
    subprocess.run(["nft", "flush", "ruleset"], check=True)
    if n >= 0:
        subprocess.run(["nft", "-f", "-"], input=nat_table(n), text=True, check=True)
    work = tempfile.mkdtemp(prefix="masqd-bench-hook.")
    cfg = os.path.join(work, "ip-masq-agent")
    with open(cfg, "w") as f:
        f.write("nonMasqueradeCIDRs: [10.0.0.0/8]\nresyncInterval: 1s\n")
    m = Masqd(binary, cfg, ["--v", "2", "--metrics-bind-address", "",
                            "--healthz-bind-address", ""])
    ms, listed = [], None
    try:
        m.wait_for('msg="running')
        for i in range(checks):
            # a commit elsewhere on the host: without one masqd skips the check
            subprocess.run(["nft", "add" if i % 2 == 0 else "delete", "table", "ip", "tick"],
                           check=True)
            _, line = m.wait_for("nat postrouting hook checked in", timeout=10)
            ms.append(float(line.split("checked in ")[1].split(" ms")[0]))
            listed = int(line.split("ms: ")[1].split(" other")[0])
    finally:
        m.stop()
    return ms, listed


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--masqd", required=True)
    ap.add_argument("--sizes", default="0,1000,10000")
    ap.add_argument("--checks", type=int, default=10)
    ap.add_argument("--out")
    a = ap.parse_args()
    # it flushes the ruleset: only ever in a namespace of its own (unshare -n
    # leaves nothing but lo in it)
    links = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True).stdout
    if len(links.splitlines()) != 1:
        sys.exit("hook.py flushes the ruleset: run it in a new network namespace (unshare -n)")
    rows = ["| chains in ip nat | other NAT chains listed | checks | median ms | p90 ms | max ms |",
            "|---:|---:|---:|---:|---:|---:|"]
    for n in [-1] + [int(s) for s in a.sizes.split(",")]:
        ms, k = measure(a.masqd, n, a.checks)
        rows.append("| %s | %d | %d | %.3f | %.3f | %.3f |" % (
            "none" if n < 0 else n + 3, k, len(ms), pct(ms, 50), pct(ms, 90), max(ms)))
    subprocess.run(["nft", "flush", "ruleset"], check=True)
    emit("\n".join(rows), a.out)


if __name__ == "__main__":
    main()
