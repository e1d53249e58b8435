#!/usr/bin/env python3
"""Footprint benchmark (issue 7, part 4). Run it inside a throw-away network
namespace (tools/bench/run.sh uses unshare -n).

The idle daemon's memory at 64 and 100,000 CIDRs (anonymous memory apart from
the shared libraries' pages), the binaries' sizes, and the shared libraries
they load (libmicrohttpd only when an HTTP endpoint is on).
"""
import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from incremental import Dir, PER_FILE  # noqa: E402
from reload import Masqd, emit  # noqa: E402


def status(pid):
    out = {}
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            k, _, v = line.partition(":")
            if k in ("VmRSS", "RssAnon", "RssFile", "VmHWM"):
                out[k] = int(v.split()[0])
    return out


def libs(pid):
    seen = set()
    with open("/proc/%d/maps" % pid) as f:
        for line in f:
            path = line.split()[-1]
            if ".so" in path:
                seen.add(os.path.basename(path))
    return sorted(seen)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--masqd", required=True)
    ap.add_argument("--masqctl", required=True)
    ap.add_argument("--sizes", default="64,100000")
    ap.add_argument("--out")
    a = ap.parse_args()
    out = ["### idle daemon memory (KiB), endpoints on\n",
           "| CIDRs | RssAnon | RssFile | VmRSS | peak (VmHWM) |", "|---:|---:|---:|---:|---:|"]
    loaded = []
    for n in [int(x) for x in a.sizes.split(",")]:
        root = tempfile.mkdtemp(prefix="masqd-bench-")
        try:
            Dir(root, n)
            m = Masqd(a.masqd, root, extra=["--max-cidrs-per-file", str(PER_FILE)])
            m.wait_for('msg="running', timeout=120)
            time.sleep(1)
            s = status(m.p.pid)
            loaded = libs(m.p.pid)
            m.stop()
            out.append("| %d | %d | %d | %d | %d |" % (n, s["RssAnon"], s["RssFile"], s["VmRSS"], s["VmHWM"]))
        finally:
            shutil.rmtree(root, ignore_errors=True)
    out += ["", "### binaries\n", "| binary | size (bytes) | linked libraries |", "|---|---:|---:|"]
    for b in (a.masqd, a.masqctl):
        ldd = subprocess.run(["ldd", b], capture_output=True, text=True).stdout
        n = sum(1 for line in ldd.splitlines() if ".so" in line and "vdso" not in line)
        out.append("| %s | %d | %d |" % (os.path.basename(b), os.path.getsize(b), n))
    out += ["", "shared libraries in the running daemon: " + ", ".join(loaded)]
    emit("\n".join(out), a.out)


if __name__ == "__main__":
    main()
