#!/usr/bin/env bash
# End-to-end: the conntrack cleanup's rechecks (agent/ctrecheck.c) against
# the daemon's life: its stop, and a cleanup that renews its socket.
# Topology and safety rules: tests/netns/lib.sh. Needs root.
source "$(dirname "$0")/lib.sh"

[[ $(id -u) == 0 ]] || { echo "needs root for ip netns"; not_ok "run as root"; finish; exit 1; }

M=127.0.0.1:9747
topo_up
cfg=$WORK/config
printf 'nonMasqueradeCIDRs: [10.10.0.0/16]\n' >"$cfg"

echo "== a daemon with --conntrack-cleanup=udp stops cleanly"
log=$WORK/stop.log
start_masqd "$log" --config "$cfg" --metrics-bind-address "$M" --healthz-bind-address "" \
	--conntrack-cleanup udp
kill -TERM "$DAEMON"
wait "$DAEMON"
rc=$?
expect_eq "masqd exits 0 on SIGTERM" 0 "$rc"
expect_true "no sanitizer report, no allocator abort" \
	bash -c "! grep -qsE 'Sanitizer|double free|free\(\)' '$log'"

echo "== a cleanup that renews its socket: the rechecks use the new one"
# Dual-stack, kept to masqueraded: the IPv4 pass deletes the kept stream's
# entry and watches for the answer's; the IPv6 dump then fails (injected),
# so the cleanup opens a new socket (sock_renew). The rechecks run 250 ms,
# 1 s and 3 s later, on the cleanup's socket.
SHIM=$ROOT/$BUILD/tests/netns/faultnl.so CTL=$WORK/faultnl.ctl FLOG=$WORK/faultnl.log
SPORT=7790
MASQ46=$'nonMasqueradeCIDRs: [10.244.0.0/16, "fd00:244::/32"]\nresyncInterval: 60s\n'
KEEP46=$'nonMasqueradeCIDRs: [10.244.0.0/16, 10.10.0.0/24, "fd00:244::/32", "fd10:10::/64"]\nresyncInterval: 60s\n'
config() { put_cfg "$cfg" '%s' "$1"; }
synced() { log_reaches "$1" 'msg="rules \(updated\|programmed\)' "$2"; }
change_to() {
	local before
	before=$(count_in "$1" 'msg="rules \(updated\|programmed\)')
	config "$2"
	wait_until 100 synced "$1" $((before + 1)) || not_ok "masqd did not apply the change"
}
answered() { [[ -s $1 ]]; }
preload=$SHIM
asan=$(ldd "$MASQD" | awk '/libasan/ {print $3}')
[[ -n $asan ]] && preload=$asan:$SHIM
: >"$CTL"
config "$KEEP46"
bg "$VPC" python3 "$PEER" echo-stream "$SPORT"
wait_until 100 bash -c "[[ -n \$(ip netns exec $VPC ss -Hln 'sport = :$SPORT') ]]"
log=$WORK/renew.log
ip netns exec "$NODE" env LD_PRELOAD="$preload" FAULTNL_CTL="$CTL" FAULTNL_LOG="$FLOG" \
	"$MASQD" --config "$cfg" --metrics-bind-address "$M" --healthz-bind-address "" \
	--conntrack-cleanup udp --enable-ipv6 2>>"$log" &
DAEMON=$!
BG_PIDS+=("$DAEMON")
wait_until 300 log_reaches "$log" 'msg="running' 1 || not_ok "masqd did not start (log $log)"
u=$WORK/udp
bg "$POD" python3 "$PEER" stream udp 10.10.0.2 "$SPORT" 40011 "$u"
p=$LAST_PID
wait_until 200 answered "$u" || not_ok "the stream got no answer"
kill -STOP "$p"
sleep 0.2
echo "call=send kind=dump err=ENOBUFS skip=1 count=1" >"$CTL" # the IPv6 conntrack dump
change_to "$log" "$MASQ46"
: >"$CTL"
kill -CONT "$p"
expect_eq "the fault hit the IPv6 dump" 1 "$(count_in "$FLOG" 'send dump ENOBUFS')"
expect_true "the cleanup failed (the IPv6 dump)" grep -q 'conntrack cleanup failed' "$log"
sleep 3.5
expect_true "masqd still runs after the rechecks" kill -0 "$DAEMON"
expect_eq "the rechecks did not fail" 0 "$(count_in "$log" 'recheck [123] of 3 failed')"
kill -TERM "$DAEMON"
wait "$DAEMON"
expect_eq "masqd exits 0 on SIGTERM" 0 "$?"
expect_true "no sanitizer report" bash -c "! grep -qs Sanitizer '$log'"
finish
