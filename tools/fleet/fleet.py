#!/usr/bin/env python3
"""The fleet simulator's driver (issue 13, point 1): N real masqd agents
against one event-driven fake API server. tools/fleet/run.sh is the entry
point (root, limits, a last-resort cleanup); tools/fleet/README.md has the
topology, the scenarios and how each figure is measured.

Everything it creates is named PREFIX-* (PREFIX carries the caller's PID):
network namespaces PREFIX-api and PREFIX-aI, veths inside them, a work
directory. The host namespace is never touched: veths are created directly
inside their namespaces, and every agent runs in its own namespace. On any
exit (failure, Ctrl-C, SIGTERM) the agents and the server it started are
stopped by PID and the namespaces deleted.
"""
import argparse
import calendar
import ctypes
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
PORT = 6443
PER_BRIDGE = 1000  # a Linux bridge takes at most 1024 ports
POLICIES, CONFIGMAPS = "egressnatpolicies", "configmaps"
CLONE_NEWNET = 0x40000000
READS = ("list", "watchlist")  # the requests that read the whole state
UID_BASE = 200000  # agent I runs as uid UID_BASE + I: see README.md, "Why one uid per agent"
CONFIG = ("nonMasqueradeCIDRs:\n  - 10.0.0.0/8\n  - 172.16.0.0/12\n  - 192.168.0.0/16\n"
          "masqLinkLocal: false\nresyncInterval: 60s\n")
NPOLICIES, NDEST = 10, 5
# 3 from the ConfigMap, link-local, NPOLICIES * NDEST disjoint /24s, the edited one
EXPECT_V4 = 3 + 1 + NPOLICIES * NDEST + 1
LIBC = ctypes.CDLL(None, use_errno=True)


class Interrupted(Exception):
    pass


def on_signal(signo, frame):
    raise Interrupted("signal %d" % signo)


def pct(values, p):
    v = sorted(values)
    return v[min(len(v) - 1, int(round(p / 100.0 * (len(v) - 1))))] if v else float("nan")


def log_time(line):
    """masqd's time=2026-12-03T14:02:04.123Z, as epoch seconds."""
    s = line[5:28]
    try:
        t = calendar.timegm((int(s[0:4]), int(s[5:7]), int(s[8:10]), int(s[11:13]),
                             int(s[14:16]), int(s[17:19]), 0, 0, 0))
        return t + int(s[20:23]) / 1000.0
    except ValueError:
        return None


class Tail:
    """New whole lines of one agent's log since the last read."""

    def __init__(self, path):
        self.path, self.off, self.rest = path, 0, b""

    def lines(self):
        try:
            with open(self.path, "rb") as f:
                f.seek(self.off)
                data = f.read()
        except OSError:
            return []
        self.off += len(data)
        data = self.rest + data
        cut = data.rfind(b"\n") + 1
        self.rest = data[cut:]
        return data[:cut].decode("utf-8", "replace").splitlines()


class Agent:
    def __init__(self, fleet, i):
        b, j = divmod(i, PER_BRIDGE)
        host = j + 2
        self.i, self.ns = i, "%s-a%d" % (fleet.prefix, i)
        self.ip = "10.%d.%d.%d" % (100 + b, host >> 8, host & 255)
        self.mac = "02:00:0a:%02x:%02x:%02x" % (100 + b, host >> 8, host & 255)
        self.bridge = b
        self.log = os.path.join(fleet.work, "agent-%d.log" % i)
        self.tail = Tail(self.log)
        self.proc = None
        self.launched = None


class Fleet:
    def __init__(self, a, n):
        self.a, self.n = a, n
        self.prefix = "%s-%d" % (a.prefix, n)
        self.work = os.path.join(a.work, "n%d" % n)
        os.makedirs(self.work)
        os.chmod(self.work, 0o755)
        self.api_ns = self.prefix + "-api"
        self.nbridges = (n + PER_BRIDGE - 1) // PER_BRIDGE
        self.agents = [Agent(self, i) for i in range(n)]
        self.by_ip = {x.ip: x for x in self.agents}
        self.made_ns = []
        self.api = None
        self.ctl_sock = None
        self.ctl_file = None
        self.pidfile = os.path.join(a.work, "pids")

    # --- set-up and tear-down

    def server_ip(self, b):
        return "10.%d.0.1" % (100 + b)

    def ip_batch(self, lines, ns=None):
        cmd = ["ip"] + (["-n", ns] if ns else []) + ["-batch", "-"]
        r = subprocess.run(cmd, input="\n".join(lines) + "\n", text=True,
                           capture_output=True)
        if r.returncode != 0:
            raise RuntimeError("ip %s: %s" % (ns or "", r.stderr.strip()[:500]))

    def net_up(self):
        t = time.monotonic()
        names = [self.api_ns] + [x.ns for x in self.agents]
        for i in range(0, len(names), 200):
            chunk = names[i:i + 200]
            self.made_ns += chunk  # deleted on exit even if the batch stops halfway
            self.ip_batch(["netns add " + s for s in chunk])
        # each veth is created inside its two namespaces: none in the host's
        self.ip_batch(["link add va%d netns %s type veth peer name eth0 address %s netns %s"
                       % (x.i, self.api_ns, x.mac, x.ns) for x in self.agents])
        srv = ["link set lo up"]
        for b in range(self.nbridges):
            srv += ["link add br%d address 02:00:0a:%02x:00:01 type bridge" % (b, 100 + b),
                    "addr add %s/16 dev br%d" % (self.server_ip(b), b),
                    "link set br%d up" % b]
        for x in self.agents:
            srv += ["link set va%d master br%d up" % (x.i, x.bridge),
                    # permanent neighbours: the kernel's ARP table is shared by
                    # every namespace, and 2,000 learned entries would pass its
                    # gc_thresh3 (1024); permanent ones are exempt
                    "neigh add %s lladdr %s dev br%d nud permanent" % (x.ip, x.mac, x.bridge)]
        self.ip_batch(srv, self.api_ns)
        procs = []
        for x in self.agents:
            lines = ["link set lo up", "addr add %s/16 dev eth0" % x.ip, "link set eth0 up",
                     "neigh add %s lladdr 02:00:0a:%02x:00:01 dev eth0 nud permanent"
                     % (self.server_ip(x.bridge), 100 + x.bridge)]
            p = subprocess.Popen(["ip", "-n", x.ns, "-batch", "-"], stdin=subprocess.PIPE,
                                 stderr=subprocess.PIPE, text=True)
            p.stdin.write("\n".join(lines) + "\n")
            p.stdin.close()
            procs.append((x, p))
            if len(procs) >= 16:
                self.reap_ip(procs.pop(0))
        for xp in procs:
            self.reap_ip(xp)
        return time.monotonic() - t

    def reap_ip(self, xp):
        x, p = xp
        if p.wait() != 0:
            raise RuntimeError("ip -n %s: %s" % (x.ns, p.stderr.read().strip()[:300]))
        p.stderr.close()

    def files_up(self):
        pki = os.path.join(self.work, "pki")
        subprocess.run([os.path.join(ROOT, "tests/fakeapi/certs.sh"), pki] +
                       [self.server_ip(b) for b in range(self.nbridges)], check=True)
        os.chmod(pki, 0o755)
        for f in os.listdir(pki):
            if not f.endswith(".key"):
                os.chmod(os.path.join(pki, f), 0o644)
        with open(os.path.join(self.work, "token"), "w") as f:
            f.write("fleet-token-%d\n" % os.getpid())
        for b in range(self.nbridges):
            path = os.path.join(self.work, "kubeconfig-%d" % b)
            with open(path, "w") as f:
                f.write("current-context: fleet\n"
                        "contexts: [{name: fleet, context: {cluster: c, user: u}}]\n"
                        "clusters: [{name: c, cluster: {server: 'https://%s:%d', "
                        "certificate-authority: %s/ca.crt}}]\n"
                        "users: [{name: u, user: {token: fleet-token-%d}}]\n"
                        % (self.server_ip(b), PORT, pki, os.getpid()))
            os.chmod(path, 0o644)

    def in_ns(self, name, gate=None):
        """An fd of the namespace, and a preexec function that enters it
        (and puts the gate pipe on fd 3, for the agents' sh)."""
        fd = os.open("/run/netns/" + name, os.O_RDONLY | os.O_CLOEXEC)

        def enter():
            if LIBC.setns(fd, CLONE_NEWNET) != 0:
                os._exit(127)
            if gate is not None:
                os.dup2(gate, 3)
            else:
                # the API server runs on other machines than the nodes; here
                # it shares 2 cores with N agents. Under a nice value, 300
                # agents waking up for an edit still left it 3% of a core and
                # it took 1 s to write one event to 1,000 watches: it goes
                # first (round-robin, lowest real-time priority; the kernel's
                # real-time throttling still leaves 5% to everyone else)
                try:
                    os.sched_setscheduler(0, os.SCHED_RR, os.sched_param(1))
                except OSError:
                    os.nice(-20)
        return fd, enter

    def record_pid(self, pid):
        with open(self.pidfile, "a") as f:
            f.write("%d\n" % pid)

    def api_up(self):
        pki = os.path.join(self.work, "pki")
        self.ctl_path = os.path.join(self.work, "ctl.sock")
        fd, enter = self.in_ns(self.api_ns)
        try:
            self.api = subprocess.Popen(
                [sys.executable, os.path.join(HERE, "fleetapi.py"), "--port", str(PORT),
                 "--cert", pki + "/server.crt", "--key", pki + "/server.key",
                 "--token-file", os.path.join(self.work, "token"), "--ctl", self.ctl_path,
                 "--bookmarks", str(self.a.bookmarks), "--watch-list", self.a.watch_list],
                preexec_fn=enter, stdout=subprocess.PIPE, text=True,
                stderr=open(os.path.join(self.work, "fleetapi.log"), "w"))
        finally:
            os.close(fd)
        self.record_pid(self.api.pid)
        if "serving" not in self.api.stdout.readline():
            raise RuntimeError("the fake API server did not start: see %s/fleetapi.log"
                               % self.work)
        self.ctl_sock = socket.socket(socket.AF_UNIX)
        self.ctl_sock.connect(self.ctl_path)
        self.ctl_file = self.ctl_sock.makefile("rwb")

    def ctl(self, req):
        self.ctl_file.write((json.dumps(req) + "\n").encode())
        self.ctl_file.flush()
        out = json.loads(self.ctl_file.readline())
        if "error" in out:
            raise RuntimeError("fleetapi: %s" % out["error"])
        return out

    def policy(self, name, cidrs):
        return self.ctl({"op": "put", "resource": POLICIES, "object": {
            "apiVersion": "networking.gke.io/v1", "kind": "EgressNATPolicy",
            "metadata": {"name": name},
            "spec": {"action": "NoSNAT", "destinations": [{"cidr": c} for c in cidrs]}}})

    def state_up(self):
        self.ctl({"op": "put", "resource": CONFIGMAPS, "object": {
            "apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "ip-masq-agent", "namespace": "kube-system"},
            "data": {"config": CONFIG}}})
        for p in range(NPOLICIES):
            self.policy("fleet-%02d" % p, ["100.64.%d.0/24" % (2 * (p * NDEST + d))
                                           for d in range(NDEST)])
        self.policy("edited", ["198.18.0.0/24"])

    def launch(self, x, gate):
        """Start agent x, blocked before its exec of masqd until the gate
        pipe gives it a line: then every agent starts at the same moment."""
        argv = ["/bin/sh", "-c", 'read -r _ <&3 || exit 1; exec 3<&-; exec "$@"', "gate", "setpriv", "--reuid=%d" % (UID_BASE + x.i), "--regid=%d" % (UID_BASE + x.i),
                "--clear-groups", "--inh-caps=-all,+net_admin", "--ambient-caps=+net_admin",
                "--bounding-set=-all,+net_admin", "--", self.a.masqd,
                "--config", os.path.join(self.work, "absent"),
                "--kubeconfig", os.path.join(self.work, "kubeconfig-%d" % x.bridge),
                "--watch-egress-nat-policies", "--watch-configmap=kube-system/ip-masq-agent",
                "--api-watch-timeout=5m", "--status-socket", ""] + self.a.masqd_args
        fd, enter = self.in_ns(x.ns, gate)
        try:
            with open(x.log, "wb") as log:
                x.proc = subprocess.Popen(argv, preexec_fn=enter, stdin=subprocess.DEVNULL,
                                          stdout=subprocess.DEVNULL, stderr=log,
                                          pass_fds=(3,))
        finally:
            os.close(fd)
        self.record_pid(x.proc.pid)

    def teardown(self):
        for x in self.agents:
            if x.proc and x.proc.poll() is None:
                x.proc.terminate()
        deadline = time.monotonic() + 20
        for x in self.agents:
            if x.proc:
                try:
                    x.proc.wait(max(0.1, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    x.proc.kill()
                    x.proc.wait()
        if self.ctl_file:
            self.ctl_file.close()
            self.ctl_sock.close()
        if self.api and self.api.poll() is None:
            self.api.terminate()
            try:
                self.api.wait(10)
            except subprocess.TimeoutExpired:
                self.api.kill()
                self.api.wait()
        if self.made_ns:
            subprocess.run(["ip", "-force", "-batch", "-"], text=True, capture_output=True,
                           input="".join("netns del %s\n" % s for s in self.made_ns))
        self.made_ns = []

    # --- measurements

    def alive(self):
        dead = [x for x in self.agents if x.proc.poll() is not None]
        if dead:
            x = dead[0]
            with open(x.log, errors="replace") as f:
                tail = f.read()[-600:]
            raise RuntimeError("%d agents exited, e.g. agent %d (status %s):\n%s" % (
                len(dead), x.i, x.proc.returncode, tail))

    def requests(self, since, until=None):
        r = self.ctl({"op": "requests", "since": since})["requests"]
        return [q for q in r if until is None or q[0] < until]

    def wait_watching(self, since, timeout):
        """Until every agent has both watches open, opened after since: the
        time of the last one, or None."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            w = self.ctl({"op": "watching"})
            ok = [ip for ip in self.by_ip
                  if w[POLICIES].get(ip, 0) > since and w[CONFIGMAPS].get(ip, 0) > since]
            if len(ok) == self.n:
                return max(max(w[POLICIES][ip], w[CONFIGMAPS][ip]) for ip in ok), w
            self.alive()
            time.sleep(0.2)
        return None, self.ctl({"op": "watching"})

    def startup(self):
        """Launch every agent at once; each is done at its first rules line
        after it listed both resources."""
        t = time.time()
        r, w = os.pipe()
        try:
            for x in self.agents:
                self.launch(x, r)
            t_forked = time.time() - t
            t0 = time.time()
            os.write(w, b"\n" * self.n)  # a pipe holds 64 KiB: no agent waits on another
        finally:
            os.close(r)
            os.close(w)
        done, fallback, intervals = {}, 0, set()
        seen = {x.i: set() for x in self.agents}
        end = time.monotonic() + self.a.timeout + 0.2 * self.n
        while len(done) < self.n and time.monotonic() < end:
            time.sleep(0.2)
            for x in self.agents:
                if x.i in done:
                    continue
                for line in x.tail.lines():
                    if "no answer from the API" in line:
                        fallback += 1
                    if 'msg="kubernetes: listed' in line:
                        seen[x.i].add(POLICIES if POLICIES in line else CONFIGMAPS)
                    elif ('msg="rules programmed' in line or 'msg="rules updated' in line) \
                            and len(seen[x.i]) == 2:
                        done[x.i] = log_time(line) - t0
                        intervals.add(line.split("): ")[1].split(" IPv4")[0].split(" ")[-1]
                                      if "rules programmed" in line else "update")
                        break
            self.alive()
        if len(done) < self.n:
            raise RuntimeError("start-up: %d of %d agents programmed the policies in time"
                               % (len(done), self.n))
        time.sleep(self.a.settle)
        reqs = self.requests(t0)
        per = per_agent(reqs, self.by_ip)
        return {"t": list(done.values()), "fork_s": t_forked, "fallback": fallback,
                "intervals": sorted(intervals), "per": per, "reqs": reqs, "t0": t0}

    def why(self, ip, res, reqs):
        """What an agent that listed twice in a row saw: its requests for
        the resource, and its log lines about the API."""
        x = self.by_ip[ip]
        with open(x.log, errors="replace") as f:
            lines = [ln.strip() for ln in f if "kubernetes" in ln]
        return {"requests": [q for q in reqs if q[1] == ip and q[2] == res][:10],
                "log": lines[:12]}

    def rss(self):
        out = []
        for x in self.agents:
            with open("/proc/%d/status" % x.proc.pid) as f:
                for line in f:
                    if line.startswith("RssAnon:"):
                        out.append(int(line.split()[1]))
        return out

    def anon_by_mapping(self, pid):
        """Where one agent's anonymous memory lives: KiB per mapping name
        (a library's name stands for its relocated and .bss pages)."""
        out, name = {}, None
        with open("/proc/%d/smaps" % pid) as f:
            for line in f:
                parts = line.split()
                if "-" in parts[0] and len(parts) >= 5 and not parts[0].endswith(":"):
                    name = os.path.basename(parts[5]) if len(parts) > 5 else "[anonymous]"
                elif parts[0] == "Anonymous:" and int(parts[1]):
                    out[name] = out.get(name, 0) + int(parts[1])
        return dict(sorted(out.items(), key=lambda kv: -kv[1]))

    def edits(self, count):
        lat, fleet_max, fanout, own = [], [], [], []
        for x in self.agents:
            x.tail.lines()  # skip what came before
        for k in range(count):
            t0 = time.time()
            r = self.policy("edited", ["198.18.%d.0/24" % ((k + 1) % 256)])
            fanout.append(r["fanout_s"])
            got = {}
            end = time.monotonic() + self.a.timeout
            while len(got) < self.n and time.monotonic() < end:
                # the times come from the agents' logs: polling less often
                # only leaves them more CPU
                time.sleep(0.25)
                for x in self.agents:
                    if x.i not in got:
                        for line in x.tail.lines():
                            if 'msg="rules updated' in line or 'msg="rules programmed' in line:
                                got[x.i] = log_time(line) - t0
                                own.append(log_time(line) - r["sent"].get(x.ip, t0))
                self.alive()
            if len(got) < self.n:
                raise RuntimeError("edit %d: %d of %d agents applied it in time"
                                   % (k, len(got), self.n))
            lat += got.values()
            fleet_max.append(max(got.values()))
            time.sleep(0.3)
        return {"lat": lat, "fleet": fleet_max, "fanout": fanout, "own": own}

    def restart(self, seconds):
        cpu0 = self.ctl({"op": "stats"})["cpu_s"]
        t_down = self.ctl({"op": "down", "seconds": seconds})["down_at"]
        while True:
            time.sleep(0.1)
            st = self.ctl({"op": "stats"})
            if st["up"] and st["up_since"] > t_down:
                break
        t_up = st["up_since"]
        last, w = self.wait_watching(t_up, self.a.timeout + 60)
        if last is None:
            n = sum(1 for ip in self.by_ip if w[POLICIES].get(ip, 0) > t_up)
            raise RuntimeError("restart: %d of %d agents watch again" % (n, self.n))
        rec = [max(w[POLICIES][ip], w[CONFIGMAPS][ip]) - t_up for ip in self.by_ip]
        time.sleep(self.a.settle)
        reqs = self.requests(t_up)
        return {"down_s": t_up - t_down, "all_s": last - t_up, "rec": rec, "reqs": reqs,
                "per": per_agent(reqs, self.by_ip), "t_up": t_up,
                "cpu_s": self.ctl({"op": "stats"})["cpu_s"] - cpu0}

    def storm(self):
        cpu0 = self.ctl({"op": "stats"})["cpu_s"]
        t0 = time.time()
        self.ctl({"op": "compact", "storm": True})
        last, w = self.wait_watching(t0, self.a.timeout + 60)
        if last is None:
            raise RuntimeError("410 storm: not every agent watches again")
        time.sleep(self.a.settle)
        reqs = self.requests(t0)
        return {"all_s": last - t0, "reqs": reqs, "per": per_agent(reqs, self.by_ip), "t0": t0,
                "cpu_s": self.ctl({"op": "stats"})["cpu_s"] - cpu0}

    def run(self):
        out = {"n": self.n}
        say("N=%d: namespaces and links" % self.n)
        out["net_s"] = self.net_up()
        self.files_up()
        self.api_up()
        self.state_up()
        say("N=%d: start-up (%.1fs to build the network)" % (self.n, out["net_s"]))
        out["startup"] = self.startup()
        out["rss"] = self.rss()
        out["anon0"] = self.anon_by_mapping(self.agents[0].proc.pid)
        out["cpu_startup"] = self.ctl({"op": "stats"})["cpu_s"]
        say("N=%d: %d edits" % (self.n, self.a.edits))
        cpu0 = out["cpu_startup"]
        out["edits"] = self.edits(self.a.edits)
        out["cpu_edits"] = self.ctl({"op": "stats"})["cpu_s"] - cpu0
        say("N=%d: API server down for %gs" % (self.n, self.a.down))
        out["restart"] = self.restart(self.a.down)
        say("N=%d: 410 storm" % self.n)
        out["storm"] = self.storm()
        out["rss_after"] = self.rss()
        st = self.ctl({"op": "stats"})
        out["cpu_total"], out["api_maxrss"] = st["cpu_s"], st["maxrss_kib"]
        reqs = self.requests(0)
        out["twice"] = [list(t) + [self.why(t[0], t[1], reqs)] for t in
                        twice_in_a_row(reqs, self.by_ip)]
        self.alive()
        out["alive"] = sum(1 for x in self.agents if x.proc.poll() is None)
        return out


def per_agent(reqs, by_ip):
    """Per agent: {(resource, "list" or "watch"): count}. A streaming watch
    list (sendInitialEvents) reads the state and then watches: it counts as
    both; the pages after the first (continue) count as neither."""
    per = {ip: {} for ip in by_ip}
    for t, peer, res, phase, code, rv in reqs:
        if peer in per:
            for k in {"list": ["list"], "watch": ["watch"],
                      "watchlist": ["list", "watch"]}.get(phase, []):
                per[peer][(res, k)] = per[peer].get((res, k), 0) + 1
    return per


def twice_in_a_row(reqs, by_ip):
    """The agents that read the whole state (list or watch list) twice with
    no watch between them, per resource: [(ip, resource, t1, t2)]."""
    last, out = {}, []
    for t, peer, res, phase, code, rv in sorted(reqs):
        if peer not in by_ip or phase == "continue":
            continue
        prev = last.get((peer, res))
        if phase in ("list", "watchlist") and prev and prev[0] == "list":
            out.append((peer, res, prev[1], t))
        last[(peer, res)] = ("list" if phase == "list" else "watch", t)
    return out


def counts(per, res, phase):
    v = [p.get((res, phase), 0) for p in per.values()]
    return min(v), max(v), sum(v) / max(1, len(v))


def buckets(times, width):
    b = {}
    for t in times:
        k = int(t // width)
        b[k] = b.get(k, 0) + 1
    return b


def spread(reqs, phases=None):
    """(requests, peak per 1 s, peak per 100 ms, busy 100 ms buckets, span s)."""
    ts = sorted(q[0] for q in reqs if phases is None or q[3] in phases)
    if not ts:
        return 0, 0, 0, 0, 0.0
    return (len(ts), max(buckets(ts, 1.0).values()), max(buckets(ts, 0.1).values()),
            len(buckets(ts, 0.1)), ts[-1] - ts[0])


T_START = time.monotonic()


def summary(r):
    """The behaviour a test asserts, and the figures, as plain JSON."""
    def lists(key, res):
        return list(counts(r[key]["per"], res, "list")[:2])

    def watches(key, res):
        return list(counts(r[key]["per"], res, "watch")[:2])
    su, rs, st, ed = r["startup"], r["restart"], r["storm"], r["edits"]
    return {
        "n": r["n"], "alive": r["alive"],
        "startup": {"programmed": len(su["t"]), "intervals_v4": su["intervals"],
                    "lists": {res: lists("startup", res) for res in (POLICIES, CONFIGMAPS)},
                    "watches": {res: watches("startup", res) for res in (POLICIES, CONFIGMAPS)},
                    "fallback": su["fallback"], "p50_s": pct(su["t"], 50),
                    "p99_s": pct(su["t"], 99), "max_s": max(su["t"])},
        "edits": {"applied": len(ed["lat"]), "p50_s": pct(ed["lat"], 50),
                  "p99_s": pct(ed["lat"], 99), "max_s": max(ed["lat"])},
        "restart": {"watching_again": len(rs["rec"]), "all_s": rs["all_s"],
                    "lists": {res: lists("restart", res) for res in (POLICIES, CONFIGMAPS)},
                    "requests": len(rs["reqs"]), "spread": spread(rs["reqs"])},
        "storm": {"all_s": st["all_s"],
                  "lists": {res: lists("storm", res) for res in (POLICIES, CONFIGMAPS)},
                  "spread": spread(st["reqs"], READS)},
        "twice_in_a_row": r["twice"], "rss_kib": [pct(r["rss"], 50), max(r["rss"])],
        "agent0_anon_kib": r["anon0"],
        "api_cpu_s": r["cpu_total"]}


def say(msg):
    print("fleet: [%5.1fs] %s" % (time.monotonic() - T_START, msg), file=sys.stderr, flush=True)


def ms(v):
    return "%.0f" % (v * 1000)


def table(results, a):
    cols = [r["n"] for r in results]
    rows = []

    def row(name, f, goal=""):
        rows.append("| %s | %s | %s |" % (name, " | ".join(f(r) for r in results), goal))

    def lpw(r, key, res):
        per = r[key]["per"]
        lo, hi, _ = counts(per, res, "list")
        w_lo, w_hi, _ = counts(per, res, "watch")
        return "%s / %s" % (lo if lo == hi else "%d-%d" % (lo, hi),
                            w_lo if w_lo == w_hi else "%d-%d" % (w_lo, w_hi))

    su = lambda r: r["startup"]  # noqa: E731
    row("start-up: all released at once → rules programmed, p50 / p99 / max ms",
        lambda r: "%s / %s / %s" % (ms(pct(su(r)["t"], 50)), ms(pct(su(r)["t"], 99)),
                                    ms(max(su(r)["t"]))))
    row("start-up: forking N agents, held before their exec, took (not counted), s",
        lambda r: "%.1f" % su(r)["fork_s"])
    row("start-up: lists / watches per agent, policies", lambda r: lpw(r, "startup", POLICIES),
        "1 list")
    row("start-up: lists / watches per agent, ConfigMap", lambda r: lpw(r, "startup", CONFIGMAPS),
        "1 list")
    row("start-up: agents that read the state by a streaming watch list (server: --watch-list %s)"
        % a.watch_list, lambda r: str(sum(1 for q in su(r)["reqs"] if q[3] == "watchlist"
                                         and q[4] == 200 and q[2] == POLICIES)))
    row("start-up: peak requests per s / per 100 ms",
        lambda r: "%d / %d" % spread(su(r)["reqs"])[1:3])
    row("start-up: agents that gave up waiting for the API (5 s) and started from files",
        lambda r: str(su(r)["fallback"]))
    row("one edit (%d edits): every agent's kernel ack, p50 / p99 / max ms" % a.edits,
        lambda r: "%s / %s / %s" % (ms(pct(r["edits"]["lat"], 50)), ms(pct(r["edits"]["lat"], 99)),
                                    ms(max(r["edits"]["lat"]))), "p99 < 1000")
    row("one edit: last agent of the fleet, p50 / max ms",
        lambda r: "%s / %s" % (ms(pct(r["edits"]["fleet"], 50)), ms(max(r["edits"]["fleet"]))))
    row("one edit: the fake server's writes of the event to every watch, p50 / max ms",
        lambda r: "%s / %s" % (ms(pct(r["edits"]["fanout"], 50)), ms(max(r["edits"]["fanout"]))))
    row("one edit: from the event written to the agent's socket to its kernel ack, "
        "p50 / p99 / max ms (masqd's part; log times have 1 ms steps)",
        lambda r: "%s / %s / %s" % (ms(pct(r["edits"]["own"], 50)), ms(pct(r["edits"]["own"], 99)),
                                    ms(max(r["edits"]["own"]))))
    rs = lambda r: r["restart"]  # noqa: E731
    row("restart (down %gs): back up → every agent watches again, s" % a.down,
        lambda r: "%.1f" % rs(r)["all_s"], "< 30 s")
    row("restart: per agent watching again after, p50 / max s",
        lambda r: "%.1f / %.1f" % (pct(rs(r)["rec"], 50), max(rs(r)["rec"])))
    row("restart: requests per agent, mean (max)",
        lambda r: "%.1f (%d)" % (len(rs(r)["reqs"]) / r["n"],
                                 max(sum(p.values()) for p in rs(r)["per"].values())))
    row("restart: lists per agent (policies / ConfigMap)",
        lambda r: "%s / %s" % (lpw(r, "restart", POLICIES).split(" / ")[0],
                               lpw(r, "restart", CONFIGMAPS).split(" / ")[0]), "≤ 1")
    row("restart: peak requests per s / per 100 ms; busy 100 ms buckets; span s",
        lambda r: "%d / %d; %d; %.1f" % spread(rs(r)["reqs"])[1:])
    st = lambda r: r["storm"]  # noqa: E731
    row("410 storm: every agent watches again after, s", lambda r: "%.2f" % st(r)["all_s"])
    row("410 storm: relists, lists or streaming (all agents, both resources) / per agent",
        lambda r: "%d / %s" % (spread(st(r)["reqs"], READS)[0],
                               lpw(r, "storm", POLICIES).split(" / ")[0]))
    row("410 storm: relists' peak per s / per 100 ms; busy 100 ms buckets; span s",
        lambda r: "%d / %d; %d; %.2f" % spread(st(r)["reqs"], READS)[1:])
    row("agents that read the whole state twice in a row (no watch between)",
        lambda r: str(len({t[0] for t in r["twice"]})), "0 without a logged reason")
    row("footprint: RssAnon per idle agent, p50 / max KiB",
        lambda r: "%d / %d" % (pct(r["rss"], 50), max(r["rss"])), "< 1024")
    row("footprint: RssAnon per agent after the storm, p50 / max KiB",
        lambda r: "%d / %d" % (pct(r["rss_after"], 50), max(r["rss_after"])))
    row("fake API server CPU s: start-up / %d edits / restart / storm / total" % a.edits,
        lambda r: "%.1f / %.1f / %.1f / %.1f / %.1f" % (
            r["cpu_startup"], r["cpu_edits"], rs(r)["cpu_s"], st(r)["cpu_s"], r["cpu_total"]))
    row("fake API server max RSS MiB", lambda r: "%.0f" % (r["api_maxrss"] / 1024))
    head = ["| N agents | " + " | ".join(str(c) for c in cols) + " | goal (N=1000) |",
            "|---|" + "---:|" * len(cols) + "---|"]
    top = ", ".join("%s %d" % kv for kv in list(results[-1]["anon0"].items())[:6])
    return "\n".join(head + rows + [
        "", "Anonymous KiB by mapping, one idle agent of N=%d: %s" % (results[-1]["n"], top)])


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--agents", default="20", help="comma-separated fleet sizes, e.g. 100,300,1000")
    ap.add_argument("--masqd", default=os.path.join(ROOT, "build/masqd"))
    ap.add_argument("--edits", type=int, default=20)
    ap.add_argument("--down", type=float, default=10.0, help="seconds the API server is down")
    ap.add_argument("--bookmarks", type=float, default=60.0)
    ap.add_argument("--watch-list", choices=("on", "off", "ignore"), default="on",
                    help="the fake server's streaming watch list (sendInitialEvents): on, "
                    "off (422, as the WatchList gate off) or ignore (an old server)")
    ap.add_argument("--settle", type=float, default=2.0,
                    help="seconds to wait after a phase before counting its requests")
    ap.add_argument("--timeout", type=float, default=60.0)
    ap.add_argument("--prefix", default="mqfleet%d" % os.getpid())
    ap.add_argument("--work", help="work directory (default: a new one in /tmp)")
    ap.add_argument("--keep-work", action="store_true")
    ap.add_argument("--json", help="also write a summary per fleet size here, as JSON")
    ap.add_argument("--out", help="also write the table here")
    ap.add_argument("masqd_args", nargs="*", help="after --: more masqd flags")
    a = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("fleet: needs root (network namespaces)")
    a.work = a.work or "/tmp/%s" % a.prefix
    os.makedirs(a.work, exist_ok=True)
    os.chmod(a.work, 0o755)
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGHUP, on_signal)
    results = []
    try:
        for n in [int(x) for x in a.agents.split(",")]:
            f = Fleet(a, n)
            try:
                results.append(f.run())
            finally:
                say("N=%d: tearing down" % n)
                f.teardown()
                say("N=%d: torn down" % n)
    except (RuntimeError, Interrupted, KeyboardInterrupt) as e:
        say("stopped: %s" % (e or type(e).__name__))
        if results:
            print(table(results, a))
        return 1
    finally:
        if not a.keep_work:
            shutil.rmtree(a.work, ignore_errors=True)
    text = table(results, a)
    print(text)
    if a.out:
        with open(a.out, "w") as f:
            f.write(text + "\n")
    if a.json:
        with open(a.json, "w") as f:
            json.dump([summary(r) for r in results], f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
