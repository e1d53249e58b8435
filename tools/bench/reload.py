#!/usr/bin/env python3
"""Reload benchmark for masqd (DESIGN.md §4, issue 3). Run it inside a
throw-away network namespace (tools/bench/run.sh uses unshare -n); it
touches nothing else and sends no traffic.

For each size it lays out a ConfigMap volume as kubelet does, starts masqd,
and swaps ..data between two configs that differ by one CIDR. Latency is
from the rename(2) of ..data to masqd's "rules programmed" log line (the
line is written right after the kernel acknowledged the commit). Then it
reloads many times and compares RSS, and measures CPU and wakeups while idle.
"""
import argparse
import os
import queue
import shutil
import subprocess
import sys
import tempfile
import threading
import time


def cidrs(n, offset=0):
    """n /24s in 10.0.0.0/8 with a gap after each, so none merge (n <= 32767);
    offset 1 drops the first and adds one at the end: two CIDRs differ."""
    return ["10.%d.%d.0/24" % ((2 * (i + offset)) >> 8, (2 * (i + offset)) & 255) for i in range(n)]


def config(n, offset):
    lines = ["cidrLimit: %d" % n, "nonMasqueradeCIDRs:"]
    lines += ["  - " + c for c in cidrs(n, offset)]
    return "\n".join(lines) + "\n"


class Volume:
    """A ConfigMap volume updated the way kubelet's AtomicWriter does."""

    def __init__(self, root):
        self.root = root
        self.n = 0
        self.current = None

    def prepare(self, text):
        self.n += 1
        ts = "..%s.%06d" % (time.strftime("%Y_%m_%d_%H_%M_%S"), self.n)
        os.mkdir(os.path.join(self.root, ts))
        with open(os.path.join(self.root, ts, "ip-masq-agent"), "w") as f:
            f.write(text)
        os.symlink(ts, os.path.join(self.root, "..data_tmp"))
        return ts

    def swap(self, ts):
        """The timed step: rename ..data_tmp onto ..data. Returns its time."""
        t0 = time.monotonic_ns()
        os.rename(os.path.join(self.root, "..data_tmp"), os.path.join(self.root, "..data"))
        link = os.path.join(self.root, "ip-masq-agent")
        if not os.path.islink(link):
            os.symlink("..data/ip-masq-agent", link)
        old, self.current = self.current, ts
        if old:
            shutil.rmtree(os.path.join(self.root, old))
        return t0


class Masqd:
    def __init__(self, binary, cfg, extra=()):
        sock = os.path.join(cfg if os.path.isdir(cfg) else os.path.dirname(cfg), "..masqd.sock")
        self.p = subprocess.Popen([binary, "--config", cfg, "--status-socket", sock] + list(extra),
                                  stderr=subprocess.PIPE, text=True)
        self.lines = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.p.stderr:
            self.lines.put((time.monotonic_ns(), line))

    def wait_for(self, text, timeout=30):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                t, line = self.lines.get(timeout=max(0.01, deadline - time.monotonic()))
            except queue.Empty:
                break
            if text in line:
                return t, line
            if "level=error" in line:
                sys.exit("masqd: " + line.strip())
        sys.exit("masqd did not log %r in %ds" % (text, timeout))

    def status(self, key):
        with open("/proc/%d/status" % self.p.pid) as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
        return 0

    def cpu_ticks(self):
        with open("/proc/%d/stat" % self.p.pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return int(fields[11]) + int(fields[12])  # utime + stime

    def cpu_ns(self):
        """CPU time masqd has used, user and kernel, in ns (schedstat: exact, not ticks)."""
        with open("/proc/%d/schedstat" % self.p.pid) as f:
            return int(f.read().split()[0])

    def stop(self):
        self.p.terminate()
        self.p.wait(timeout=10)


def emit(text, out=None):
    """Print a benchmark's tables, and write them to out when given."""
    print(text)
    if out:
        with open(out, "w") as f:
            f.write(text + "\n")


def plot(png, title, xlabel, ylabel, series, logy=True):
    """A PNG line plot with gnuplot: series is [(name, [(x, y), ...])], x on
    a log scale. Nothing when gnuplot or png is missing."""
    import shutil as _sh
    if not png or not _sh.which("gnuplot"):
        return
    dat = png[:-4] + ".dat"
    with open(dat, "w") as f:
        for _, pts in series:
            for x, y in pts:
                f.write("%g %g\n" % (x, y))
            f.write("\n\n")
    plots = ", ".join("'%s' index %d with linespoints lw 2 title \"%s\"" % (
        dat, i, name.replace('"', "")) for i, (name, _) in enumerate(series))
    script = ("set terminal pngcairo size 800,500 noenhanced\nset output '%s'\n"
              "set title \"%s\"\nset xlabel \"%s\"\nset ylabel \"%s\"\nset logscale x\n%s"
              "set grid\nset key top left\nplot %s\n"
              % (png, title, xlabel, ylabel, "set logscale y\n" if logy else "", plots))
    subprocess.run(["gnuplot"], input=script, text=True, check=False)


def png_for(out):
    """bench-results/x-STAMP.md -> bench-results/x-STAMP.png"""
    return out[:-3] + ".png" if out and out.endswith(".md") else None


def pct(values, p):
    v = sorted(values)
    return v[min(len(v) - 1, int(round(p / 100.0 * (len(v) - 1))))]


def in_process_ms(line):
    # "... intervals in 1.234 ms (kernel 0.456 ms)"
    try:
        return float(line.rsplit(" in ", 1)[1].split(" ms")[0])
    except (IndexError, ValueError):
        return float("nan")


def run_size(binary, n, swaps):
    root = tempfile.mkdtemp(prefix="masqd-bench-")
    try:
        vol = Volume(root)
        texts = [config(n, 0), config(n, 1)]
        vol.swap(vol.prepare(texts[0]))
        m = Masqd(binary, os.path.join(root, "ip-masq-agent"))
        m.wait_for("msg=\"running")
        lat, inproc = [], []
        for i in range(swaps):
            ts = vol.prepare(texts[(i + 1) % 2])
            t0 = vol.swap(ts)
            t1, line = m.wait_for("rules ")
            lat.append((t1 - t0) / 1e6)
            inproc.append(in_process_ms(line))
        m.stop()
        return lat, inproc
    finally:
        shutil.rmtree(root, ignore_errors=True)


def run_soak(binary, reloads, idle):
    root = tempfile.mkdtemp(prefix="masqd-bench-")
    try:
        vol = Volume(root)
        texts = [config(64, 0), config(64, 1)]
        vol.swap(vol.prepare(texts[0]))
        m = Masqd(binary, os.path.join(root, "ip-masq-agent"))
        m.wait_for("msg=\"running")
        rss = []
        for i in range(reloads):
            vol.swap(vol.prepare(texts[(i + 1) % 2]))
            m.wait_for("rules ")
            if i == 0:
                rss.append(m.status("VmRSS"))
        rss.append(m.status("VmRSS"))
        time.sleep(0.5)  # let the last reload settle
        t0, w0 = m.cpu_ticks(), m.status("voluntary_ctxt_switches") + m.status("nonvoluntary_ctxt_switches")
        time.sleep(idle)
        t1, w1 = m.cpu_ticks(), m.status("voluntary_ctxt_switches") + m.status("nonvoluntary_ctxt_switches")
        m.stop()
        hz = os.sysconf("SC_CLK_TCK")
        return rss, (t1 - t0) / hz * 3600.0 / idle, w1 - w0
    finally:
        shutil.rmtree(root, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--masqd", required=True)
    ap.add_argument("--swaps", type=int, default=200)
    ap.add_argument("--sizes", default="64,10000")
    ap.add_argument("--reloads", type=int, default=10000)
    ap.add_argument("--idle", type=float, default=10.0)
    ap.add_argument("--out", default=None, help="also write the tables here")
    a = ap.parse_args()

    out = []
    out.append("### reload: ..data rename -> rules committed (%d swaps per size)\n" % a.swaps)
    out.append("| CIDRs | p50 ms | p99 ms | max ms | in-process p50 ms | in-process p99 ms |")
    out.append("|---:|---:|---:|---:|---:|---:|")
    for n in [int(x) for x in a.sizes.split(",")]:
        lat, inproc = run_size(a.masqd, n, a.swaps)
        out.append("| %d | %.2f | %.2f | %.2f | %.2f | %.2f |" % (
            n, pct(lat, 50), pct(lat, 99), max(lat), pct(inproc, 50), pct(inproc, 99)))
        print(out[-1], flush=True)
    rss, cpu_per_hour, wakeups = run_soak(a.masqd, a.reloads, a.idle)
    out.append("")
    out.append("### soak: %d reloads at 64 CIDRs, then %.0f s idle\n" % (a.reloads, a.idle))
    out.append("| RSS after 1st reload | RSS after %d | ratio | idle CPU s/hour | wakeups in %.0f s idle |" % (a.reloads, a.idle))
    out.append("|---:|---:|---:|---:|---:|")
    out.append("| %d KiB | %d KiB | %.3f | %.3f | %d |" % (rss[0], rss[1], rss[1] / rss[0], cpu_per_hour, wakeups))
    emit("\n".join(out), a.out)


if __name__ == "__main__":
    main()
