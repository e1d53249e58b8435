# Shared by the namespace suites and the demo: a throw-away topology of
# network namespaces, command wrappers that print what they run, polling
# helpers and TAP-like assertions. Source it; call topo_up; cleanup runs on exit.
#
#   pod ─────────────── node (masqd) ──────────────── vpc   (VPC peer)
#   10.244.1.2/24       10.244.1.1/24   10.10.0.1/24        10.10.0.2/24
#   fd00:244:1::2/64    fd00:244:1::1   169.254.0.1/16      169.254.169.254/16
#                                       fd10:10::1/64       fd10:10::2/64
#                                        │
#                                        └─────────────── net   (outside host)
#                                       203.0.113.1/24      203.0.113.2/24
#                                       2001:db8::1/64      2001:db8::2/64
#
# Every namespace is created here and deleted on exit, also on failure. The
# host's own namespace, rules and routes are never touched, and no packet is
# sent anywhere but between these namespaces.

set -u
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BUILD=${BUILD:-build}
MASQD=$ROOT/$BUILD/masqd
MASQCTL=$ROOT/$BUILD/masqctl
PEER=$ROOT/tests/netns/peer.py
PORT=7777
TAG=masqd-$$
POD=$TAG-pod NODE=$TAG-node VPC=$TAG-vpc NET=$TAG-net
WORK=$(mktemp -d /tmp/$TAG.XXXX)
[[ -n ${KEEP_WORK:-} ]] && echo "work dir: $WORK (kept)"
BG_PIDS=()

pretty() { printf '\e[1m# [%s] %s\e[0m\n' "${1#"$TAG"-}" "${*:2}"; }
n() { pretty "$@"; ip netns exec "$@"; }
pod() { n "$POD" "$@"; }
node() { n "$NODE" "$@"; }
vpc() { n "$VPC" "$@"; }
net() { n "$NET" "$@"; }
q() { ip netns exec "$@"; } # quiet: for polling

cleanup() {
	local p ns
	set +e
	# Must finish even when our output pipe is gone (a killed tee would
	# otherwise end us with SIGPIPE halfway): no output, no SIGPIPE.
	trap '' PIPE
	exec >/dev/null 2>&1
	for ns in "$POD" "$NODE" "$VPC" "$NET"; do
		ip netns del "$ns"
	done
	for p in "${BG_PIDS[@]}"; do
		kill "$p" && wait "$p"
	done
	[[ -n ${KEEP_WORK:-} ]] || rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Start a command in namespace $1 in the background; its PID is killed on exit.
bg() {
	pretty "$@" "&"
	ip netns exec "$@" &
	BG_PIDS+=($!)
	LAST_PID=$!
}

# Poll a command until it succeeds: up to $1 tries, 50 ms apart.
wait_until() {
	local tries=$1
	shift
	while ((tries-- > 0)); do
		"$@" >/dev/null 2>&1 && return 0
		sleep 0.05
	done
	return 1
}

listening() { [[ -n $(q "$1" ss -Htln "sport = :$PORT") ]]; }

link() { # link NS_A IF_A NS_B IF_B
	ip link add "$2" netns "$1" type veth peer name "$4" netns "$3"
	q "$1" ip link set "$2" up
	q "$3" ip link set "$4" up
}

topo_up() {
	local ns
	for ns in "$POD" "$NODE" "$VPC" "$NET"; do
		ip netns add "$ns" || exit 1
		q "$ns" ip link set lo up
	done
	link "$POD" eth0 "$NODE" pod0
	link "$NODE" vpc0 "$VPC" eth0
	link "$NODE" net0 "$NET" eth0
	pod ip addr add 10.244.1.2/24 dev eth0
	pod ip addr add fd00:244:1::2/64 dev eth0 nodad
	pod ip route add default via 10.244.1.1
	pod ip -6 route add default via fd00:244:1::1
	node ip addr add 10.244.1.1/24 dev pod0
	node ip addr add fd00:244:1::1/64 dev pod0 nodad
	node ip addr add 10.10.0.1/24 dev vpc0
	node ip addr add 169.254.0.1/16 dev vpc0
	node ip addr add fd10:10::1/64 dev vpc0 nodad
	node ip addr add 203.0.113.1/24 dev net0
	node ip addr add 2001:db8::1/64 dev net0 nodad
	node sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1
	vpc ip addr add 10.10.0.2/24 dev eth0
	vpc ip addr add 169.254.169.254/16 dev eth0
	vpc ip addr add fd10:10::2/64 dev eth0 nodad
	vpc ip route add 10.244.0.0/16 via 10.10.0.1
	vpc ip -6 route add fd00:244::/32 via fd10:10::1
	net ip addr add 203.0.113.2/24 dev eth0
	net ip addr add 2001:db8::2/64 dev eth0 nodad
	net ip route add 10.244.0.0/16 via 203.0.113.1
	net ip -6 route add fd00:244::/32 via 2001:db8::1
	for ns in "$NODE" "$VPC" "$NET"; do
		bg "$ns" python3 "$PEER" serve "$PORT"
		wait_until 100 listening "$ns" || { echo "peer in $ns did not start"; exit 1; }
	done
}

# The source address a receiver saw for a new connection from namespace $1.
seen_from() { q "$1" python3 "$PEER" ask "${@:2:1}" "$PORT" "${@:3}"; }

source "$ROOT/tests/assert.sh"

# --- helpers for suites that run masqd as a daemon in the node namespace ---
NFTHELPER=$ROOT/$BUILD/tests/netns/nfthelper
UDP_PORT=7778

dump() { q "$NODE" nft -s list table inet ip-masq-agent 2>&1; }
set4() { q "$NODE" nft list set inet ip-masq-agent nomasq4 2>/dev/null; }
has_cidr() { set4 | grep -qF "$1"; }
lacks_cidr() { ! set4 | grep -qF "$1" && set4 >/dev/null; }
table_present() { q "$NODE" nft list table inet ip-masq-agent >/dev/null 2>&1; }
rule_count() { dump | grep -c 'comment "ip-masq-agent' || true; }
genid() { q "$NODE" "$NFTHELPER" genid; }
# put_cfg FILE FORMAT [ARG...]: write a config file while masqd runs as
# kubelet's ConfigMap volume and most editors do, by rename. Written in place,
# a resync (every second in the suites) can read it between the truncation
# and the write: an empty file, which means upstream's defaults. The
# temporary file is hidden, as a directory of sources skips those.
put_cfg() {
	local f=$1 tmp
	tmp=$(dirname "$1")/.$(basename "$1").tmp
	shift
	# shellcheck disable=SC2059 # the format is the caller's
	printf "$@" >"$tmp" && mv -f "$tmp" "$f"
}
count_in() { grep -c -- "$2" "$1" || true; } # count_in LOG PATTERN
log_reaches() { (($(count_in "$1" "$2") >= $3)); }
# Does this kernel give masqd's table owner|persist (6.9+)? Asks masqd itself
# (--once, the built-in defaults), then the table: nft 1.0.6 lists those
# flags as a bare "flags" line.
owned_table() { dump | grep -q $'^\tflags'; }
kernel_owns() { q "$NODE" "$MASQD" --once --config /nonexistent >/dev/null 2>&1 && owned_table; }
# nft prints table flags, the owner's name and, when there are flags, a blank
# line closing the table's declarations; masqctl render prints none of them
# (nft 1.0.6 cannot load the persist flag back).
normalize() {
	sed 's/ # progname .*//' |
		awk '/^\tflags( |$)/ {f=1; next} f && /^$/ {f=0; next} /^\t(set|chain) / {f=0} {print}'
}
expect_render_matches() { # MODE CONFIG MASQCTL_FLAGS...
	local want got
	want=$("$MASQCTL" render "${@:3}" "$2")
	got=$(dump | normalize)
	if [[ $got == "$want" ]]; then ok "$1: nft list shows exactly what masqctl render prints"; else
		not_ok "$1: nft list differs from masqctl render"
		diff <(echo "$want") <(echo "$got") | sed 's/^/    /'
	fi
}
masq_counter() { q "$NODE" nft list table inet ip-masq-agent | sed -n 's/.*nfproto ipv4 counter packets \([0-9]*\).*/\1/p'; }
# The metrics deploy/grafana/masqd.json queries (its panels and its node
# variable) that match the ERE ONLY and not SKIP but are not in the scrape
# file; says so when none matches, so a check that covers nothing fails.
dashboard_missing() { # SCRAPE_FILE ONLY_ERE [SKIP_ERE]
	local name n=0 missing=""
	for name in $(python3 -c "
import json, re
d = json.load(open('$ROOT/deploy/grafana/masqd.json'))
exprs = [t['expr'] for p in d['panels'] for t in p.get('targets', [])]
exprs.append(d['templating']['list'][1]['query'])
print('\n'.join(sorted({m for e in exprs for m in re.findall(r'\b((?:masqd|process)_[a-z0-9_]+)', e)})))" |
		grep -E -- "$2" | grep -vE -- "${3:-^$}"); do
		n=$((n + 1))
		grep -q "^$name[{ ]" "$1" || missing="$missing $name"
	done
	((n)) || missing="no dashboard metric matches '$2'${3:+ but not '$3'}"
	echo "${missing# }"
}

# Start masqd in the node namespace; its log goes to $1. Sets DAEMON.
start_masqd() { # LOG ARGS...: start masqd, wait for its "running" line; sets DAEMON
	local log=$1 before
	shift
	before=$(count_in "$log" 'msg="running' 2>/dev/null)
	set -- --status-socket "$WORK/masqd.sock" "$@"
	pretty "$NODE" "$MASQD" "$@" "2>>$log &"
	ip netns exec "$NODE" "$MASQD" "$@" 2>>"$log" &
	DAEMON=$!
	BG_PIDS+=("$DAEMON")
	wait_until 200 log_reaches "$log" 'msg="running' $((before + 1)) ||
		not_ok "masqd did not start (log $log)"
}
# A background process reaped: cleanup() must not signal its number, which
# the kernel may have given to another process since.
forget_pid() { # PID
	local p keep=()
	for p in "${BG_PIDS[@]}"; do
		[[ $p == "$1" ]] || keep+=("$p")
	done
	BG_PIDS=("${keep[@]}")
}
# SIGTERM, and its exit status: masqd exits 0 on it, so anything else (a crash
# at exit, a sanitizer's report, leaks included under ASan) fails the suite
stop_masqd() {
	local rc
	kill -TERM "$DAEMON" 2>/dev/null || return 0
	wait "$DAEMON" 2>/dev/null
	rc=$?
	forget_pid "$DAEMON"
	((rc == 0)) || not_ok "masqd (pid $DAEMON) exited with status $rc after SIGTERM"
}

# What kubelet's AtomicWriter does to a ConfigMap volume: the keys' files in
# a new hidden timestamped directory, ..data_tmp pointing at it, renamed onto
# ..data; a visible symlink per key, and none left for a key that is gone.
kubelet_swap_files() { # DIR NAME CONTENT [NAME CONTENT ...]
	local dir=$1 ts old link
	ts=..$(date +%Y_%m_%d_%H_%M_%S.%N)
	shift
	mkdir "$dir/$ts"
	while (($# >= 2)); do
		printf '%s' "$2" >"$dir/$ts/$1"
		shift 2
	done
	ln -s "$ts" "$dir/..data_tmp"
	mv -T "$dir/..data_tmp" "$dir/..data"
	for link in "$dir/$ts"/*; do
		[[ -L $dir/${link##*/} ]] || ln -s "..data/${link##*/}" "$dir/${link##*/}"
	done
	for link in "$dir"/*; do
		[[ -L $link && ! -e $link ]] && rm -f "$link"
	done
	for old in "$dir"/..2*; do
		[[ $old == "$dir/$ts" ]] || rm -rf "$old"
	done
}
kubelet_swap() { kubelet_swap_files "$1" ip-masq-agent "$2"; } # DIR CONTENT


