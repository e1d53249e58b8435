#!/usr/bin/env python3
"""Incremental-change benchmark (issue 7, part 2). Run it inside a throw-away
network namespace (tools/bench/run.sh uses unshare -n).

A running masqd holds N CIDRs (a config directory of 10,000-CIDR files, as
kubelet lays out a ConfigMap). Each step changes one CIDR, or 1% of them, in
one file with a kubelet-style swap, and reads masqd's own log line:
"rules updated (...): K set elements changed, ... in X ms (kernel Y ms)".
X is masqd's in-process time for the sync, Y the kernel's commit; the
userspace cost of the sync is X - Y. The sync starts after the config was
loaded: reading the changed file, parsing it and merging every source come
before it. "masqd CPU" is all of it, from /proc/PID/schedstat around the
change: the load, the sync and the kernel's work in masqd's system calls.
"""
import argparse
import os
import re
import shutil
import statistics
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from reload import plot, png_for  # noqa: E402
from reload import Masqd, emit  # noqa: E402

PER_FILE = 10000


def cidr(i):
    base = (1 << 24) + i * 8192  # non-overlapping, non-adjacent, as program.py
    return "%d.%d.%d.%d/%d" % (base >> 24, (base >> 16) & 255, (base >> 8) & 255, base & 255, 20 + i % 9)


class Dir:
    """A ConfigMap volume with one key per 10,000 CIDRs, swapped as kubelet does."""

    def __init__(self, root, n):
        self.root, self.n, self.gen = root, n, 0
        self.cidrs = [cidr(i) for i in range(n)]
        self.write()

    def write(self):
        self.gen += 1
        ts = "..%06d" % self.gen
        os.mkdir(os.path.join(self.root, ts))
        for k in range(0, self.n, PER_FILE):
            with open(os.path.join(self.root, ts, "ip-masq-%04d" % (k // PER_FILE)), "w") as f:
                f.write("nonMasqueradeCIDRs:\n" + "".join("  - %s\n" % c for c in self.cidrs[k:k + PER_FILE]))
        tmp = os.path.join(self.root, "..data_tmp")
        os.symlink(ts, tmp)
        os.rename(tmp, os.path.join(self.root, "..data"))
        for k in range(0, self.n, PER_FILE):
            name = "ip-masq-%04d" % (k // PER_FILE)
            link = os.path.join(self.root, name)
            if not os.path.islink(link):
                os.symlink("..data/" + name, link)
        old = os.path.join(self.root, "..%06d" % (self.gen - 1))
        if os.path.isdir(old):
            shutil.rmtree(old)

    def change(self, count, step):
        # replace CIDRs spread over the first file with fresh ones beyond the rest
        for j in range(count):
            i = (j * 97 + step) % min(self.n, PER_FILE)
            self.cidrs[i] = cidr(self.n + step * count + j + 1)
        self.write()


def measure(binary, n, steps, fraction):
    root = tempfile.mkdtemp(prefix="masqd-bench-")
    try:
        d = Dir(root, n)
        m = Masqd(binary, root, extra=["--max-cidrs-per-file", str(PER_FILE)])
        m.wait_for('msg="running', timeout=120)
        rows = []
        count = max(1, int(n * fraction)) if fraction else 1
        for step in range(steps):
            cpu0 = m.cpu_ns()
            d.change(count, step)
            _, line = m.wait_for("rules updated", timeout=120)
            cpu = (m.cpu_ns() - cpu0) / 1e6
            got = re.search(r": (\d+) set elements changed.* in ([0-9.]+) ms \(kernel ([0-9.]+) ms\)", line)
            rows.append((int(got.group(1)), float(got.group(2)), float(got.group(3)), cpu))
        m.stop()
        med = statistics.median
        return (count, med(r[0] for r in rows), med(r[1] for r in rows), med(r[2] for r in rows),
                med(r[3] for r in rows))
    finally:
        shutil.rmtree(root, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--masqd", required=True)
    ap.add_argument("--sizes", default="1000,10000")
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--out")
    a = ap.parse_args()
    out = ["### incremental change in a running masqd, median of %d steps (ms)\n" % a.steps,
           "| N | change | CIDRs changed | set elements sent | sync in-process | kernel commit |"
           " sync userspace (in-process - kernel) | masqd CPU (load + sync) |",
           "|---:|---|---:|---:|---:|---:|---:|---:|"]
    series = {"one CIDR": [], "1%": []}
    for n in [int(x) for x in a.sizes.split(",")]:
        for name, frac in (("one CIDR", 0), ("1%", 0.01)):
            count, elems, inproc, kern, cpu = measure(a.masqd, n, a.steps, frac)
            out.append("| %d | %s | %d | %d | %.2f | %.2f | %.2f | %.2f |" % (
                n, name, count, elems, inproc, kern, inproc - kern, cpu))
            series[name].append((n, inproc, kern))
            print(out[-1], file=sys.stderr, flush=True)
    emit("\n".join(out), a.out)
    plot(png_for(a.out), "A change in a running masqd holding N CIDRs (median ms)",
         "CIDRs held", "ms",
         [("one CIDR: in-process", [(n, i) for n, i, _ in series["one CIDR"]]),
          ("one CIDR: kernel commit", [(n, k) for n, _, k in series["one CIDR"]]),
          ("1%: in-process", [(n, i) for n, i, _ in series["1%"]]),
          ("1%: kernel commit", [(n, k) for n, _, k in series["1%"]])])


if __name__ == "__main__":
    main()
