#!/usr/bin/env python3
"""API-edit convergence benchmark for masqd (issue 5). Run it inside a
throw-away network namespace (tools/bench/run.sh uses unshare -n); the fake
API server (tests/fakeapi/fakeapi.py, TLS with a throw-away CA) listens on
that namespace's loopback, and nothing else is touched.

masqd watches EgressNATPolicies through the fake server. Each edit changes
one policy's destination; the time is from just before the edit is sent to
the API server until masqd logs that the kernel acknowledged the new rules.
Mounted ConfigMaps take kubelet's sync period plus its cache TTL for the same
change (60-90 s by default), which is why the watch exists.
"""
import argparse
import http.client
import json
import os
import shutil
import ssl
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from reload import Masqd, emit, in_process_ms, pct  # noqa: E402

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
PORT = 6443


class Api:
    def __init__(self, work):
        subprocess.run([os.path.join(ROOT, "tests/fakeapi/certs.sh"), work], check=True)
        self.ca = os.path.join(work, "ca.crt")
        self.p = subprocess.Popen([sys.executable, os.path.join(ROOT, "tests/fakeapi/fakeapi.py"),
                                   "serve", "--port", str(PORT),
                                   "--cert", os.path.join(work, "server.crt"),
                                   "--key", os.path.join(work, "server.key")],
                                  stdout=subprocess.PIPE, text=True)
        self.p.stdout.readline()  # "serving on ..."
        ctx = ssl.create_default_context(cafile=self.ca)
        self.c = http.client.HTTPSConnection("127.0.0.1", PORT, context=ctx, timeout=10)

    def ctl(self, req):
        self.c.request("POST", "/_ctl", body=json.dumps(req),
                       headers={"Content-Type": "application/json"})
        r = self.c.getresponse()
        r.read()
        if r.status != 200:
            sys.exit("fake API: HTTP %d" % r.status)

    def policy(self, name, cidrs):
        self.ctl({"op": "put", "resource": "egressnatpolicies", "object": {
            "apiVersion": "networking.gke.io/v1", "kind": "EgressNATPolicy",
            "metadata": {"name": name},
            "spec": {"action": "NoSNAT", "destinations": [{"cidr": c} for c in cidrs]}}})

    def stop(self):
        self.c.close()
        self.p.terminate()
        self.p.wait(timeout=10)


def kubeconfig(work):
    path = os.path.join(work, "kubeconfig")
    with open(path, "w") as f:
        f.write("current-context: b\ncontexts: [{name: b, context: {cluster: f, user: u}}]\n"
                "clusters: [{name: f, cluster: {server: 'https://127.0.0.1:%d', "
                "certificate-authority: ca.crt}}]\nusers: [{name: u, user: {token: t}}]\n" % PORT)
    return path


def run_size(binary, work, n, edits):
    api = Api(work)
    try:
        base = ["%d.%d.%d.0/24" % (10 + (2 * i >> 16), (2 * i >> 8) & 255, (2 * i) & 255)
                for i in range(n)]
        for k in range(0, n, 10000):  # n destinations that stay, 10,000 to a policy
            api.policy("big%02d" % (k // 10000), base[k:k + 10000])
        api.policy("edited", ["198.18.0.0/24"])
        m = Masqd(binary, os.path.join(work, "absent"),
                  ["--kubeconfig", kubeconfig(work), "--watch-egress-nat-policies",
                   "--metrics-bind-address", "", "--healthz-bind-address", ""])
        m.wait_for("msg=\"running")
        lat, inproc, cpu = [], [], []
        for i in range(edits):
            t0 = time.monotonic_ns()
            cpu0 = m.cpu_ns()
            api.policy("edited", ["198.18.%d.0/24" % ((i + 1) % 256)])
            t1, line = m.wait_for("rules updated")
            cpu.append((m.cpu_ns() - cpu0) / 1e6)
            lat.append((t1 - t0) / 1e6)
            inproc.append(in_process_ms(line))
        m.stop()
        return lat, inproc, cpu
    finally:
        api.stop()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--masqd", required=True)
    ap.add_argument("--sizes", default="64,10000")
    ap.add_argument("--edits", type=int, default=100)
    ap.add_argument("--out")
    a = ap.parse_args()
    rows = []
    for n in [int(x) for x in a.sizes.split(",")]:
        work = tempfile.mkdtemp(prefix="masqd-bench-api-")
        try:
            lat, inproc, cpu = run_size(a.masqd, work, n, a.edits)
        finally:
            shutil.rmtree(work, ignore_errors=True)
        rows.append("| %d | %d | %.2f | %.2f | %.2f | %.3f | %.3f | %.0f× |" % (
            n, len(lat), pct(lat, 50), pct(lat, 99), max(lat), pct(inproc, 50), pct(cpu, 50),
            1000.0 / pct(lat, 99)))
    emit("\n".join([
        "API edit → rules in the kernel (one EgressNATPolicy edited through the fake API server;",
        "from before the edit is sent until masqd logs the kernel's ack; goal: p99 under 1 s)",
        "",
        "| CIDRs from other policies | edits | p50 ms | p99 ms | max ms | in-process p50 ms |"
        " masqd CPU p50 ms (event, load, sync) | goal margin (1 s / p99) |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|",
    ] + rows), a.out)


if __name__ == "__main__":
    main()
