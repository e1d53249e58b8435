#!/usr/bin/env python3
"""SNAT address-change reaction benchmark for masqd (issue 16). Run it inside
a throw-away network namespace (tools/bench/run.sh uses unshare -n): a veth
pair in that namespace carries the addresses, and nothing else is touched.

masqd runs with --snat-to-address; the address is removed and added back
SWITCHES times. Two figures per switch:
  - masqd's own: from reading the rtnetlink event to the kernel's ack of the
    one batch that replaces the rule (its "rules committed X ms after the
    address event" log line);
  - end to end: from just before `ip addr del|add` runs (its fork and exec
    included) to the moment masqd's log line arrives.
The issue asks for the rule to follow within 100 ms.
"""
import argparse
import os
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from reload import Masqd, emit, pct  # noqa: E402

ADDR = "192.0.2.10"


def sh(*cmd):
    subprocess.run(cmd, check=True)


def reaction(line):
    """masqd's measure, in ms, from its log line."""
    return float(line.split("rules committed ")[1].split(" ms")[0])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--masqd", required=True)
    ap.add_argument("--switches", type=int, default=20)
    ap.add_argument("--out")
    a = ap.parse_args()
    sh("ip", "link", "add", "snat0", "type", "veth", "peer", "name", "snat1")
    sh("ip", "link", "set", "snat0", "up")
    sh("ip", "addr", "add", "192.0.2.1/24", "dev", "snat0")
    sh("ip", "addr", "add", ADDR + "/24", "dev", "snat0")  # the first switch removes it
    work = tempfile.mkdtemp(prefix="masqd-bench-snat.")
    cfg = os.path.join(work, "ip-masq-agent")
    with open(cfg, "w") as f:
        f.write("nonMasqueradeCIDRs: [10.0.0.0/8]\n")
    m = Masqd(a.masqd, cfg, ["--snat-to-address", ADDR, "--metrics-bind-address", "",
                             "--healthz-bind-address", ""])
    inside, e2e = [], []
    try:
        m.wait_for('msg="running')
        for i in range(2 * a.switches):
            op, want = ("add", "leaves from") if i % 2 else ("del", "is not on the node")
            t0 = time.monotonic_ns()
            sh("ip", "addr", op, ADDR + "/24", "dev", "snat0")
            t, line = m.wait_for(want, timeout=10)
            inside.append(reaction(line))
            e2e.append((t - t0) / 1e6)
    finally:
        m.stop()
    rows = [("masqd: event read to kernel ack", inside),
            ("end to end: `ip addr` started to masqd's log line", e2e)]
    text = ["| %d address switches (%s, %d cores) | median ms | p90 ms | max ms |"
            % (len(inside), os.uname().release, os.cpu_count()),
            "|---|---:|---:|---:|"]
    for name, v in rows:
        text.append("| %s | %.3f | %.3f | %.3f |" % (name, pct(v, 50), pct(v, 90), max(v)))
    emit("\n".join(text), a.out)


if __name__ == "__main__":
    main()
