#!/usr/bin/env bash
# End-to-end: masqd under netlink faults. faultnl.so (tests/netns/faultnl.c,
# LD_PRELOAD, built for the tests only) makes the nftables socket's sends and
# receives fail with ENOBUFS, EINTR, ENOMEM or a short read, in the middle of
# a batch and of a dump (the read-back of the table, 3,000 set elements, so
# several datagrams). Whatever fails, the kernel holds the old rules or the
# new ones, never a mix; masqd retries with backoff, reports the failure in
# its metrics, /readyz and status, stays alive, converges once the faults
# stop, and (under ASan, as CI's sanitizer run) leaks nothing. Real packets
# check the rules. Topology and safety rules: tests/netns/lib.sh. Needs root.
source "$(dirname "$0")/lib.sh"

[[ $(id -u) == 0 ]] || { echo "needs root for ip netns"; not_ok "run as root"; finish; exit 1; }

SHIM=$ROOT/$BUILD/tests/netns/faultnl.so
HTTP=$ROOT/tests/netns/http_client.py
M=127.0.0.1:9743 H=127.0.0.1:9744
CTL=$WORK/faultnl.ctl FLOG=$WORK/faultnl.log LOG=$WORK/masqd.log
SOCK=$WORK/masqd.sock
cfg=$WORK/ip-masq-agent

# The fault for the calls from now on (see faultnl.c); its log starts anew.
arm() { pretty "$NODE" "fault: $*"; : >"$FLOG"; echo "$*" >"$CTL"; }
disarm() { pretty "$NODE" "no more faults"; : >"$CTL"; }
injected() { count_in "$FLOG" "$1"; }

http() { q "$NODE" python3 "$HTTP" "$@"; }
metric() { http get "http://$M/metrics" | awk -v k="$1" '$1 == k {print $2}'; }
readyz() { http get "http://$H/readyz"; }
status() { q "$NODE" "$MASQCTL" status --socket "$SOCK"; }
failing() { metric masqd_sync_consecutive_failures; }
failures() { metric masqd_sync_failures_total; }
alive() { kill -0 "$DAEMON" 2>/dev/null; }
lines() { wc -l <"$LOG"; }
since() { tail -n +"$(($1 + 1))" "$LOG"; } # the log after line $1

# 3,000 /32s in 198.18.0.0/15 (no two merge), with 10.10.0.0/16 (the VPC
# keeps the pod IP: config A) or without (the VPC sees the node's address:
# B). With a 60 s resync only the retries can repair a failed sync; with 1 s
# the table is read back every second.
write_cfg() { # FILE RESYNC [CIDR]
	{
		printf 'cidrLimit: 5000\nresyncInterval: %s\nnonMasqueradeCIDRs:\n' "$2"
		[[ -n ${3:-} ]] && printf '  - %s\n' "$3"
		for ((i = 0; i < 3000; i++)); do
			printf '  - 198.18.%d.%d/32\n' $((i / 128)) $((i % 128 * 2))
		done
	} >"$1"
}
use() { cp "$WORK/$1" "$cfg.tmp" && mv "$cfg.tmp" "$cfg"; } # an atomic swap, as kubelet's
write_cfg "$WORK/A60" 60s 10.10.0.0/16
write_cfg "$WORK/B60" 60s
write_cfg "$WORK/A1" 1s 10.10.0.0/16
write_cfg "$WORK/B1" 1s
want_A=$("$MASQCTL" render "$WORK/A60")
want_B=$("$MASQCTL" render "$WORK/B60")
table() { dump | normalize; }
table_is() { [[ $(table) == "${!1}" ]]; } # table_is want_A

# What the VPC peer sees from the pod: its own address or the node's.
vpc_sees() { seen_from "$POD" 10.10.0.2; }

topo_up
use A60
: >"$CTL"
# The ASan build wants its runtime first in the preload list.
preload=$SHIM
asan=$(ldd "$MASQD" | awk '/libasan/ {print $3}')
[[ -n $asan ]] && preload=$asan:$SHIM
pretty "$NODE" "LD_PRELOAD=$preload" "$MASQD" "--config $cfg ... 2>>$LOG &"
ip netns exec "$NODE" env LD_PRELOAD="$preload" FAULTNL_CTL="$CTL" FAULTNL_LOG="$FLOG" \
	"$MASQD" --config "$cfg" --metrics-bind-address "$M" --healthz-bind-address "$H" \
	--status-socket "$SOCK" 2>>"$LOG" &
DAEMON=$!
BG_PIDS+=("$DAEMON")
wait_until 300 log_reaches "$LOG" 'msg="running' 1 || not_ok "masqd did not start (log $LOG)"
wait_until 200 bash -c "[[ \$(ip netns exec $NODE python3 $HTTP get http://$H/readyz) == '200 ok' ]]"

echo "== without faults"
expect_true "the table is config A's, as masqctl render prints it" table_is want_A
expect_eq "the VPC sees the pod's address" 10.244.1.2 "$(vpc_sees)"
fds0=$(metric process_open_fds)

echo "== every batch send fails with ENOBUFS while the config changes"
f0=$(failures) mark=$(lines)
arm "call=send kind=batch err=ENOBUFS count=0"
use B60
wait_until 200 log_reaches "$LOG" '(3 in a row)' 1
expect_true "the fault hit batch sends" test "$(injected 'send batch ENOBUFS')" -ge 3
expect_true "the kernel still holds exactly config A (never half a change)" table_is want_A
expect_eq "the VPC still sees the pod's address: the old rules work" 10.244.1.2 "$(vpc_sees)"
expect_true "masqd_sync_failures_total counts the failures" test "$(failures)" -ge $((f0 + 3))
expect_true "masqd_sync_consecutive_failures is 3 or more" test "$(failing)" -ge 3
expect_true "masqd_sync_retries_total counts the retries" test "$(metric masqd_sync_retries_total)" -ge 1
delays=$(since "$mark" | sed -n 's/.*trying again in \([0-9.]*\)s.*/\1/p' | head -3 | tr '\n' ' ')
expect_true "the retries back off: each delay longer than the last ($delays)" \
	python3 -c "d = [float(x) for x in '$delays'.split()]; exit(not (len(d) == 3 and d[0] < d[1] < d[2]))"
out=$(readyz)
expect_true "/readyz is 503 and names the failed send" \
	grep -q '^503 not ready: the last sync failed: sending the batch .*No buffer space available' <<<"$out"
out=$(status)
expect_true "masqctl status shows the failure and the pending retry" \
	bash -c "grep -q '^last sync: .*failed: sending the batch' <<<'$out' &&
		grep -q 'failed in a row, the last good rules stay; trying again in' <<<'$out'"
expect_true "masqd is alive" alive
expect_eq "/healthz answers" "200 ok" "$(http get "http://$H/healthz")"
disarm
wait_until 400 table_is want_B
expect_true "once the faults stop, masqd converges to config B" table_is want_B
expect_true "the retry did it (the resync is 60 s away)" \
	bash -c "tail -n +$((mark + 1)) $LOG | grep -q 'rules programmed (retry)'"
expect_eq "the VPC now sees the node's address" 10.10.0.1 "$(vpc_sees)"
expect_eq "masqd_sync_consecutive_failures is back to 0" 0 "$(failing)"
wait_until 100 bash -c "[[ \$(ip netns exec $NODE python3 $HTTP get http://$H/readyz) == '200 ok' ]]"
expect_eq "/readyz is 200 again" "200 ok" "$(readyz)"
expect_true "masqctl status says the last sync succeeded" \
	bash -c "ip netns exec $NODE $MASQCTL status --socket $SOCK | grep -q '^last sync: .*succeeded$'"

echo "== ENOMEM on two batch sends: the first retry gets the change through"
f0=$(failures)
mark=$(lines)
arm "call=send kind=batch err=ENOMEM count=2"
use A60
wait_until 400 table_is want_A
expect_true "config A is in place" table_is want_A
expect_eq "both sends failed (the difference, then the whole table)" 2 "$(injected 'send batch ENOMEM')"
expect_eq "one sync failed" $((f0 + 1)) "$(failures)"
expect_true "the retry succeeded" bash -c "tail -n +$((mark + 1)) $LOG | grep -q 'rules programmed (retry)'"
expect_eq "the VPC sees the pod's address again" 10.244.1.2 "$(vpc_sees)"

echo "== EINTR on a batch send: sent again at once, not a failure"
f0=$(failures)
arm "call=send kind=batch err=EINTR count=3"
use B60
wait_until 400 table_is want_B
expect_true "config B is in place" table_is want_B
expect_eq "three sends were interrupted" 3 "$(injected 'send batch EINTR')"
expect_eq "and no sync failed" "$f0" "$(failures)"

# The read-back (every resync, 1 s from here) dumps the set's elements in
# several datagrams: part 2 of the first dump of at least 1000 bytes is its
# middle.
syncs() { metric masqd_sync_duration_seconds_count; }
s0=$(syncs)
use B1
wait_until 200 bash -c "(( \$(ip netns exec $NODE python3 $HTTP get http://$M/metrics | awk '\$1 == \"masqd_sync_duration_seconds_count\" {print \$2}') >= $s0 + 3 ))"
expect_true "masqd now reads the table back every second" test "$(syncs)" -ge $((s0 + 3))
for err in ENOBUFS short; do
	echo "== $err in the middle of the read-back"
	f0=$(failures) mark=$(lines)
	arm "call=recv kind=dump part=2 minlen=1000 err=$err"
	wait_until 300 bash -c "[[ -s $FLOG ]]"
	expect_eq "the fault hit a dump's second datagram" 1 "$(injected "recv dump $err")"
	wait_until 200 bash -c "(( \$(grep -c 'reading table inet ip-masq-agent back' <(tail -n +$((mark + 1)) $LOG)) >= 1 ))"
	expect_true "the sync failed and said where" \
		bash -c "since() { tail -n +$((mark + 1)) $LOG; }; since | grep -q 'failed at reading table inet ip-masq-agent back'"
	wait_until 400 bash -c "[[ \$(ip netns exec $NODE python3 $HTTP get http://$M/metrics | awk '\$1 == \"masqd_sync_consecutive_failures\" {print \$2}') == 0 ]]"
	expect_eq "a later sync succeeded" 0 "$(failing)"
	expect_true "the failure was counted" test "$(failures)" -gt "$f0"
	expect_eq "a partial read-back was never taken for the table: nothing replaced" 0 \
		"$(since "$mark" | grep -c -e 'rules programmed' -e 'drifted')"
	expect_true "the table is still config B" table_is want_B
done

echo "== EINTR on every receive of the read-back: masqd gives up the sync, not the loop"
f0=$(failures)
arm "call=recv kind=dump minlen=1000 err=EINTR count=0"
wait_until 300 bash -c "(( \$(wc -l <$FLOG) >= 8 ))"
out=$(http probes 127.0.0.1 9744 /healthz 5 0.2)
expect_eq "probes answer within 1 s throughout" "5 ok, 0 failed" "$(head -1 <<<"$out")"
expect_true "the interrupted syncs fail and are counted" test "$(failures)" -gt "$f0"
expect_true "masqd tried a bounded number of times per receive, not forever" \
	test "$(injected 'recv dump EINTR')" -lt 200
disarm
wait_until 400 bash -c "[[ \$(ip netns exec $NODE python3 $HTTP get http://$M/metrics | awk '\$1 == \"masqd_sync_consecutive_failures\" {print \$2}') == 0 ]]"
expect_eq "it converges once they stop" 0 "$(failing)"

echo "== random faults on every call while the config flips: never a mix"
mixed=0 samples=0
for err in ENOBUFS ENOMEM short EINTR; do
	arm "call=any kind=any err=$err prob=0.3 seed=$RANDOM"
	for i in 1 2 3 4; do
		((i % 2)) && use A1 || use B1
		for s in 1 2 3 4; do
			t=$(table)
			samples=$((samples + 1))
			[[ $t == "$want_A" || $t == "$want_B" ]] || mixed=$((mixed + 1))
			sleep 0.1
		done
	done
done
expect_true "faults were injected" test "$(cat "$FLOG" | wc -l)" -ge 1
expect_eq "tables that were neither config A nor config B, of $samples samples" 0 "$mixed"
expect_true "masqd is alive" alive
disarm
wait_until 400 table_is want_B
expect_true "masqd converges to the last config written (B)" table_is want_B
expect_eq "the VPC sees the node's address" 10.10.0.1 "$(vpc_sees)"
expect_eq "open descriptors are as before the faults: nothing leaked" "$fds0" "$(metric process_open_fds)"

echo "== exit"
kill -TERM "$DAEMON"
wait "$DAEMON"
expect_eq "masqd exits 0 on SIGTERM" 0 "$?"
expect_true "no sanitizer report (leaks included) in its log" bash -c "! grep -q Sanitizer '$LOG'"
expect_true "the rules stay after exit" table_is want_B

echo "== owner|persist without a probe first, and a kernel before 6.9 (faultnl.so plays one)"
# The flags go with the real batch; a probe (a batch the kernel aborts, 8-15
# ms) is sent only when the kernel refuses the table.
once() { # once [ENV=VALUE...]: masqd --once under the shim, config A, log in $WORK/once.log
	ip netns exec "$NODE" env LD_PRELOAD="$preload" FAULTNL_CTL="$CTL" FAULTNL_LOG="$FLOG" "$@" \
		"$MASQD" --once --config "$WORK/A60" 2>"$WORK/once.log"
}
if owned_table; then
	q "$NODE" nft delete table inet ip-masq-agent
	arm "call=send kind=batch err=trace count=0"
	once
	expect_eq "--once on a new node exits 0" 0 "$?"
	expect_eq "and sends one batch: no separate probe" 1 "$(injected 'send batch trace')"
	expect_true "the table is owned and persistent" owned_table
	expect_true "and is config A's" table_is want_A
	q "$NODE" nft delete table inet ip-masq-agent
	: >"$FLOG"
	once FAULTNL_OLD_KERNEL=1
	expect_eq "--once on a kernel without persist exits 0" 0 "$?"
	expect_eq "it logs the plain table once" 1 \
		"$(count_in "$WORK/once.log" 'kernel has no persistent owned tables (needs 6.9): using a plain table')"
	expect_eq "three batches: the refused one, the probe, the plain one" 3 "$(injected 'send batch trace')"
	expect_true "the table is plain" bash -c "! ip netns exec $NODE nft list table inet ip-masq-agent | grep -q \$'^\tflags'"
	expect_true "and is config A's" table_is want_A
	expect_eq "the VPC sees the pod's address" 10.244.1.2 "$(vpc_sees)"
	q "$NODE" nft delete table inet ip-masq-agent
	pretty "$NODE" "FAULTNL_OLD_KERNEL=1 $MASQD --config $cfg ... &"
	ip netns exec "$NODE" env LD_PRELOAD="$preload" FAULTNL_CTL="$CTL" FAULTNL_LOG="$FLOG" \
		FAULTNL_OLD_KERNEL=1 "$MASQD" --config "$cfg" --status-socket "$SOCK" \
		--metrics-bind-address "" --healthz-bind-address "" 2>"$WORK/old.log" &
	old=$!
	BG_PIDS+=("$old")
	wait_until 300 log_reaches "$WORK/old.log" 'msg="running' 1
	expect_true "the daemon on such a kernel checks for drift every second (a plain table)" \
		grep -q 'drift check every 1s (plain table)' "$WORK/old.log"
	expect_true "masqctl status says plain" bash -c "ip netns exec $NODE $MASQCTL status --socket $SOCK | grep -q '^table: .*plain'"
	kill -TERM "$old"
	wait "$old"
	expect_eq "and exits 0" 0 "$?"
	expect_true "no sanitizer report in its log" bash -c "! grep -q Sanitizer '$WORK/old.log'"
	disarm
else
	skip "this kernel has no persistent owned tables (6.9+): nothing to fall back from"
fi

echo "== masqd --once under valgrind memcheck (the plain build; ASan's cannot run under it)"
if [[ -z $asan ]]; then
	q "$NODE" valgrind --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite \
		--log-file="$WORK/valgrind.log" "$MASQD" --once --config "$WORK/A60" 2>>"$LOG"
	expect_eq "no memcheck error, no leak (every byte sent to the kernel initialised)" 0 "$?"
	grep -q 'ERROR SUMMARY: 0 errors' "$WORK/valgrind.log" || sed -n '1,40p' "$WORK/valgrind.log"
	expect_true "and --once programmed config A" table_is want_A
fi
finish
