#!/usr/bin/env python3
"""API state at scale (issue 12): masqd's load time and peak memory when the
API holds huge EgressNATPolicy state. Run it inside a throw-away network
namespace (tools/bench/run.sh uses unshare -n); the fake API server
(tests/fakeapi/fakeapi.py, TLS) listens on that namespace's loopback.

Each scenario starts a fresh fake API server holding the policies, starts
masqd against it with its default budget (--max-api-policies 10000,
--max-api-cidrs 100000), and reports the time from masqd's start until it
logged the whole list, until the kernel acknowledged the rules holding
them, masqd's peak RSS (VmHWM) and its RSS once idle afterwards. Before the
streaming list and the budget, 10 policies of 10,000 CIDRs took 58 MB and 15
took 80 MB (over the chart's 64 MiB limit: OOM-killed at every start).
"""
import argparse
import os
import shutil
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from api import Api, kubeconfig  # noqa: E402
from reload import Masqd, emit  # noqa: E402

# name, policies, CIDRs each, served whole (from the watch cache, which
# ignores limit) rather than in pages (a server without a watch cache)
SCENARIOS = [
    ("at the CIDR budget: 10 × 10,000", 10, 10000, True),
    ("at the policy budget: 10,000 × 1", 10000, 1, True),
    ("100 × 10,000 (CRD maximum), pages of 500", 100, 10000, False),
    ("100 × 10,000 (CRD maximum), whole from the watch cache", 100, 10000, True),
    ("100,000 × 1, pages of 500", 100000, 1, False),
]


def run(binary, work, count, cidrs, whole):
    api = Api(work)
    try:
        api.ctl({"op": "generate", "prefix": "p", "count": count, "cidrs": cidrs,
                 "base": "100.64.0.0", "step": 2})
        api.ctl({"op": "watch_cache", "on": whole})
        t0 = time.monotonic_ns()
        m = Masqd(binary, os.path.join(work, "absent"),
                  ["--kubeconfig", kubeconfig(work), "--watch-egress-nat-policies",
                   "--metrics-bind-address", "", "--healthz-bind-address", ""])
        try:
            t_list, line = m.wait_for("kubernetes: listed", timeout=600)
            pages = int(line.rsplit(" in ", 1)[1].split()[0])
            t_rules, _ = m.wait_for("rules ", timeout=600)
            time.sleep(1)
            peak, rss = m.status("VmHWM"), m.status("VmRSS")
        finally:
            m.stop()
        return (t_list - t0) / 1e6, (t_rules - t0) / 1e6, pages, peak / 1024, rss / 1024
    finally:
        api.stop()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--masqd", required=True)
    ap.add_argument("--quick", action="store_true", help="skip the 100,000-policy scenario")
    ap.add_argument("--out")
    a = ap.parse_args()
    rows = []
    for name, count, cidrs, whole in SCENARIOS:
        if a.quick and count > 10000:
            continue
        work = tempfile.mkdtemp(prefix="masqd-bench-apiscale-")
        try:
            listed, ruled, pages, peak, rss = run(a.masqd, work, count, cidrs, whole)
        finally:
            shutil.rmtree(work, ignore_errors=True)
        applied = min(count, 10000, 100000 // cidrs)
        rows.append("| %s | %d | %d | %d | %.0f | %.0f | %.1f | %.1f |" % (
            name, count * cidrs, applied * cidrs, pages, listed, ruled, peak, rss))
    emit("\n".join([
        "EgressNATPolicies at scale (default budget: 10,000 policies, 100,000 CIDRs; chart limit",
        "64 MiB). Times from masqd's start; the fake API server's own time is included.",
        "",
        "| API state | CIDRs offered | CIDRs applied | pages | listed ms | in kernel ms |"
        " peak RSS MiB | RSS after MiB |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ] + rows), a.out)


if __name__ == "__main__":
    main()
