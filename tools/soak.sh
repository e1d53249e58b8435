#!/usr/bin/env bash
# The soak, by hand and outside CI: masqd under valgrind memcheck for RELOADS
# config reloads (each one a real change of the set, sent to the kernel) and
# RELISTS relists from the fake API server (tests/fakeapi/fakeapi.py: its
# resourceVersions compacted away and the watch ended, so masqd's next watch
# gets 410 and lists again), interleaved. It prints the resident memory
# along the way and valgrind's leak summary at the end; it fails on any leak
# or memcheck error.
#
#   sudo tools/soak.sh                       RELOADS=10000 RELISTS=1000
#   RELOADS=N RELISTS=N POLICIES=N (in the fake API, default 50) BUILD=build
#   VALGRIND=0: the same without valgrind, for masqd's own resident memory
#   (valgrind's RSS includes its shadow memory and its 20 MB queue of freed
#   blocks, which fills up over the run)
#
# Root, for a network namespace of its own (unshare -n): masqd programs only
# that namespace's nftables, and the fake API server listens on its loopback.
# Run it under flock /tmp/masqd-netns.lock when others share the machine.
set -u
cd "$(dirname "$0")/.."
ROOT=$PWD
BUILD=${BUILD:-build}
RELOADS=${RELOADS:-10000}
RELISTS=${RELISTS:-1000}
VALGRIND=${VALGRIND:-1}
POLICIES=${POLICIES:-50}

[[ $(id -u) == 0 ]] || { echo "soak.sh: needs root (unshare -n)" >&2; exit 1; }
if [[ -z ${SOAK_NETNS:-} ]]; then
	make -s all >/dev/null || exit 1
	exec env SOAK_NETNS=1 unshare -n bash "$0" "$@"
fi

W=$(mktemp -d /tmp/masqd-soak.XXXX)
PORT=16443
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null && wait "$p" 2>/dev/null; done
	[[ -n ${KEEP_WORK:-} ]] && echo "work dir: $W" || rm -rf "$W"
}
trap cleanup EXIT
ip link set lo up

bash tests/fakeapi/certs.sh "$W/pki"
echo soak-token >"$W/token"
python3 tests/fakeapi/fakeapi.py serve --port $PORT --cert "$W/pki/server.crt" \
	--key "$W/pki/server.key" --token-file "$W/token" --request-log "$W/requests" \
	2>"$W/fakeapi.log" &
pids+=($!)
for ((i = 0; i < 200; i++)); do
	[[ -n $(ss -Htln "sport = :$PORT") ]] && break
	sleep 0.05
done
cat >"$W/kubeconfig" <<EOF
apiVersion: v1
kind: Config
current-context: soak
contexts: [{name: soak, context: {cluster: fake, user: masqd}}]
clusters: [{name: fake, cluster: {server: "https://127.0.0.1:$PORT", certificate-authority: $W/pki/ca.crt}}]
users: [{name: masqd, user: {tokenFile: $W/token}}]
EOF
printf 'nonMasqueradeCIDRs: [10.0.0.0/8, 172.16.0.0/12]\nresyncInterval: 3600s\n' >"$W/cfg"

# The driver: fills the fake API, then alternates two configs (each write a
# reload that changes the set) and, every RELOADS/RELISTS reloads, forces a
# relist; it waits for each to be done (the log line, the list request) and
# samples the resident memory.
cat >"$W/driver.py" <<'EOF'
import http.client, json, os, ssl, sys, time

mode, w, port, pid, reloads, relists, npol = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], *map(int, sys.argv[5:8])
ctx = ssl.create_default_context(cafile=w + "/pki/ca.crt")

def ctl(req):
    c = http.client.HTTPSConnection("127.0.0.1", port, context=ctx, timeout=10)
    c.request("POST", "/_ctl", body=json.dumps(req), headers={"Content-Type": "application/json"})
    r = c.getresponse(); r.read(); c.close()

class Counter:  # lines of a growing file that contain a string
    def __init__(self, path, needle, exclude=None):
        self.path, self.needle, self.exclude, self.off, self.n = path, needle, exclude, 0, 0
    def count(self):
        try:
            with open(self.path, "rb") as f:
                f.seek(self.off); data = f.read()
        except FileNotFoundError:
            return self.n
        cut = data.rfind(b"\n") + 1
        self.off += cut
        for line in data[:cut].split(b"\n"):
            if self.needle in line and not (self.exclude and self.exclude in line):
                self.n += 1
        return self.n
    def wait_above(self, n, what, limit=120):
        end = time.time() + limit
        while self.count() <= n:
            if time.time() > end:
                sys.exit(f"soak: no {what} within {limit}s (at {self.n})")
            time.sleep(0.002)

def rss_kib():
    with open(f"/proc/{pid}/status") as f:
        return int(next(l.split()[1] for l in f if l.startswith("VmRSS:")))

if mode == "fill":  # before masqd starts: its first list has them all
    for i in range(npol):
        ctl({"op": "put", "resource": "egressnatpolicies", "object": {
            "apiVersion": "networking.gke.io/v1", "kind": "EgressNATPolicy", "metadata": {"name": f"p{i}"},
            "spec": {"action": "NoSNAT", "destinations": [{"cidr": f"100.{64 + i // 256}.{i % 256}.0/24"}]}}})
    sys.exit(0)
updated = Counter(w + "/masqd.log", b'msg="rules updated (config changed)')
lists = Counter(w + "/requests", b"egressnatpolicies", exclude=b"watch")
Counter(w + "/masqd.log", b'msg="running').wait_above(0, "start (masqd's running line)")
every = max(1, reloads // max(1, relists)) if relists else reloads + 1
cfgs = [b"nonMasqueradeCIDRs: [10.0.0.0/8, 172.16.0.0/12, 198.18.0.0/15]\nresyncInterval: 3600s\n",
        b"nonMasqueradeCIDRs: [10.0.0.0/8, 172.16.0.0/12]\nresyncInterval: 3600s\n"]
t0, done_lists, samples = time.time(), 0, []
for i in range(1, reloads + 1):
    before = updated.count()
    with open(w + "/cfg.tmp", "wb") as f:
        f.write(cfgs[(i + 1) % 2])  # the first write adds 198.18.0.0/15
    os.rename(w + "/cfg.tmp", w + "/cfg")
    updated.wait_above(before, f"reload {i}")
    if i % every == 0 and done_lists < relists:
        n = lists.count()
        ctl({"op": "compact"}); ctl({"op": "kick"})
        lists.wait_above(n, f"relist {done_lists + 1}")
        done_lists += 1
    if i == 1 or i % 500 == 0 or i == reloads:
        samples.append((i, done_lists, rss_kib(), time.time() - t0))
        print(f"  {i:6d} reloads {done_lists:5d} relists  RSS {samples[-1][2]:7d} KiB  {samples[-1][3]:7.1f} s", flush=True)
while done_lists < relists:  # relists beyond one per reload, if asked
    n = lists.count(); ctl({"op": "compact"}); ctl({"op": "kick"})
    lists.wait_above(n, f"relist {done_lists + 1}"); done_lists += 1
took = time.time() - t0
print(f"done: {reloads} reloads and {done_lists} relists in {took:.0f} s ({reloads / took:.1f} reloads/s)")
rss = [s[2] for s in samples]
warm = samples[1][2] if len(samples) > 1 else rss[0]  # after the first 500: caches warm
print(f"RSS: {rss[0]} KiB after the first reload, {warm} KiB at {samples[1][0] if len(samples) > 1 else 1}, "
      f"{rss[-1]} KiB at the end, {max(rss)} KiB at most")
EOF

VG=(valgrind --tool=memcheck --leak-check=full --show-leak-kinds=definite,indirect,possible
	--errors-for-leak-kinds=definite,indirect --num-callers=30 --log-file="$W/valgrind.log")
how="under valgrind"
((VALGRIND)) || { VG=(); how="without valgrind"; }
echo "soak: $RELOADS reloads, $RELISTS relists, $POLICIES policies in the fake API, masqd $how"
python3 "$W/driver.py" fill "$W" $PORT 0 0 0 "$POLICIES" || exit 1
"${VG[@]}" "$BUILD/masqd" --config "$W/cfg" --watch-egress-nat-policies --kubeconfig "$W/kubeconfig" \
	--metrics-bind-address "" --healthz-bind-address "" --status-socket "" 2>"$W/masqd.log" &
masqd=$!
pids+=("$masqd")
python3 "$W/driver.py" run "$W" $PORT "$masqd" "$RELOADS" "$RELISTS" "$POLICIES"
drv=$?
kill -TERM "$masqd"
wait "$masqd"
rc=$?
pids=("${pids[@]:0:1}")
echo "masqd exit status: $rc"
if ((!VALGRIND)); then
	((drv == 0 && rc == 0)) && echo "soak: OK (no valgrind: memory figures only)" && exit 0
	echo "soak: FAILED (driver $drv, exit $rc)"
	exit 1
fi
sed -n 's/^==[0-9]*== *//p' "$W/valgrind.log" |
	grep -E '^(definitely|indirectly|possibly) lost|^still reachable|^ERROR SUMMARY|^All heap blocks|^in use at exit|^total heap usage'
leaks=$(grep -cE 'definitely lost: [1-9]|indirectly lost: [1-9]' "$W/valgrind.log")
errors=$(sed -n 's/.*ERROR SUMMARY: \([0-9]*\) errors.*/\1/p' "$W/valgrind.log" | tail -1)
if ((drv != 0 || rc != 0 || leaks != 0 || ${errors:-1} != 0)); then
	echo "soak: FAILED (driver $drv, exit $rc, leak lines $leaks, memcheck errors ${errors:-?})"
	cp "$W/valgrind.log" /tmp/masqd-soak-valgrind.log && echo "valgrind log: /tmp/masqd-soak-valgrind.log"
	exit 1
fi
echo "soak: OK, no leak, no memcheck error"
