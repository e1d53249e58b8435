#!/usr/bin/env python3
"""Conntrack cleanup benchmark for masqd (--conntrack-cleanup=udp, issue 16).
Run it inside a throw-away network namespace (tools/bench/run.sh uses
unshare -n): the conntrack entries are created there through ctnetlink
(nfthelper ct-fill) and go with it; no packet is sent, and the table limit
(nf_conntrack_max) is left as it is.

For each size, that many unrelated entries are present (TCP and UDP in turn,
to destinations no change touches, none of them NATed). Each round then adds
STALE kept UDP entries to 198.51.100.0/24 and
  - takes that range out of the non-masquerade set (kept to masqueraded: the
    STALE entries go; the kernel hands over the UDP entries not NATed, which
    is every unrelated one: the worst case);
  - puts it back (masqueraded to kept: the kernel hands over only NATed UDP
    entries, here none);
  - widens it to a /23 and narrows it back (an interval replaced: no status
    filter, every UDP entry is handed over).
masqd's own figures are read from its sync log line: "conntrack: N UDP
entries deleted of M examined in T ms", T being the dumps and the deletions,
after the commit.
"""
import argparse
import ipaddress
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from reload import Masqd, emit, pct  # noqa: E402

KEEP = "nonMasqueradeCIDRs: [10.0.0.0/8, 198.51.100.0/24]\nresyncInterval: 3600s\n"
MASQ = "nonMasqueradeCIDRs: [10.0.0.0/8]\nresyncInterval: 3600s\n"
WIDE = "nonMasqueradeCIDRs: [10.0.0.0/8, 198.51.100.0/23]\nresyncInterval: 3600s\n"
UNRELATED_SRC = ipaddress.ip_address("10.128.0.0")
STALE_SRC = ipaddress.ip_address("10.64.0.0")


def fill(helper, n, kind, src, dst):
    if n <= 0:
        return
    out = subprocess.run([helper, "ct-fill", str(n), kind, str(src), dst], check=True,
                         capture_output=True, text=True).stdout
    if out.strip() != "created %d" % n:
        sys.exit("ct-fill %d %s %s: %s" % (n, kind, src, out.strip()))


def write(cfg, text):
    with open(cfg + ".tmp", "w") as f:
        f.write(text)
    os.rename(cfg + ".tmp", cfg)


def note(line):
    """(deleted, examined, ms) from a sync's log line."""
    rest = line.split("conntrack: ", 1)[1]
    words = rest.split()
    return int(words[0]), int(words[5]), float(words[8])


def change(m, cfg, text):
    write(cfg, text)
    _, line = m.wait_for("conntrack: ", timeout=120)
    return note(line)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--masqd", required=True)
    ap.add_argument("--nfthelper", required=True)
    ap.add_argument("--sizes", default="0,10000", help="unrelated entries present")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--stale", type=int, default=100, help="stale UDP entries a round adds")
    ap.add_argument("--out")
    a = ap.parse_args()
    sizes = sorted(int(s) for s in a.sizes.split(","))
    work = tempfile.mkdtemp(prefix="masqd-bench-ct.")
    cfg = os.path.join(work, "ip-masq-agent")
    write(cfg, KEEP)
    m = Masqd(a.masqd, cfg, ["--conntrack-cleanup", "udp", "--metrics-bind-address", "",
                             "--healthz-bind-address", ""])
    rows, present, stale_made = [], 0, 0
    try:
        m.wait_for('msg="running')
        for size in sizes:
            fill(a.nfthelper, size - present, "mixed", UNRELATED_SRC + present, "203.0.113.0")
            present = size
            tomasq, tokept, replaced = [], [], []
            for _ in range(a.rounds):
                fill(a.nfthelper, a.stale, "udp", STALE_SRC + stale_made, "198.51.100.0")
                stale_made += a.stale
                tomasq.append(change(m, cfg, MASQ))
                tokept.append(change(m, cfg, KEEP))
                replaced.append(change(m, cfg, WIDE))
                replaced.append(change(m, cfg, KEEP))
            rows.append((size, "kept to masqueraded", tomasq))
            rows.append((size, "masqueraded to kept", tokept))
            rows.append((size, "interval replaced", replaced))
    finally:
        m.stop()
    text = ["| unrelated entries present (TCP+UDP) | change | UDP entries examined | deleted "
            "| cleanup median ms | p90 ms | max ms |",
            "|---:|---|---:|---:|---:|---:|---:|"]
    for size, what, v in rows:
        ms = [x[2] for x in v]
        text.append("| %d | %s | %d | %d | %.2f | %.2f | %.2f |"
                    % (size, what, v[-1][1], v[-1][0], pct(ms, 50), pct(ms, 90), max(ms)))
    text.append("\n%d rounds per row (twice that for an interval replaced), %d stale UDP entries added before each kept-to-masqueraded "
                "change (%s, %d cores)" % (a.rounds, a.stale, os.uname().release, os.cpu_count()))
    emit("\n".join(text), a.out)


if __name__ == "__main__":
    main()
