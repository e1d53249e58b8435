#!/usr/bin/env bash
# End-to-end: --conntrack-cleanup=udp. Long-lived streams from the pod to the
# VPC peer, each from a fixed source port, a message every 50 ms; the peer
# answers each with the source it saw. The config then moves 10.10.0.0/24
# in or out of the non-masquerade set.
#   - without the flag a UDP stream keeps its old source (its conntrack entry
#     keeps the decision of its first packet), while a new flow takes the new one;
#   - with it, the UDP stream switches within that one reconcile, in both
#     directions (masqueraded to kept, kept to masqueraded), and the sync's
#     log line and the metrics count the deleted entries; IPv6 as well;
#   - a TCP connection to the same peer is never touched: it stays open and
#     keeps its source, in both directions;
#   - a cleanup that fails (the ctnetlink dump's send fails, injected by
#     faultnl.so) leaves the rules committed, is counted, and is done by the
#     next sync (SIGHUP); and when the change is undone before a cleanup is
#     done, a stream started in between is switched back too.
# Topology and safety rules: tests/netns/lib.sh.
#
#   pod 10.244.1.2 ──── node (masqd) 10.10.0.1 ──── vpc 10.10.0.2: peer.py echo-stream
source "$(dirname "$0")/lib.sh"

[[ $(id -u) == 0 ]] || { echo "needs root for ip netns"; not_ok "run as root"; finish; exit 1; }

HTTP=$ROOT/tests/netns/http_client.py
M=127.0.0.1:9743
SPORT=7790 # the echo-stream peer's port
MASQ=$'nonMasqueradeCIDRs: [10.244.0.0/16]\nresyncInterval: 60s\n'
KEEP=$'nonMasqueradeCIDRs: [10.244.0.0/16, 10.10.0.0/24]\nresyncInterval: 60s\n'
# with --enable-ipv6: the pods' IPv6 range kept, and fd10:10::/64 with 10.10.0.0/24
MASQ46=$'nonMasqueradeCIDRs: [10.244.0.0/16, "fd00:244::/32"]\nresyncInterval: 60s\n'
KEEP46=$'nonMasqueradeCIDRs: [10.244.0.0/16, 10.10.0.0/24, "fd00:244::/32", "fd10:10::/64"]\nresyncInterval: 60s\n'
POLL=60 # tries, 50 ms apart: a stream answers every 50 ms
[[ $BUILD == *san* ]] && POLL=200

scrape() { q "$NODE" python3 "$HTTP" get "http://$M/metrics"; }
metric() { scrape | awk -v k="$1" '$1 == k {print $2}'; }
# a stream's state file: "N ADDRESS PORT", N its answers so far
answers() { cut -d' ' -f1 "$1" 2>/dev/null || echo 0; }
source_of() { cut -d' ' -f2 "$1" 2>/dev/null; }
source_is() { [[ $(source_of "$1") == "$2" ]]; }
answered_since() { (($(answers "$1") >= $2)); } # FILE N
stream() { # PROTO SOURCE_PORT FILE [PEER]: start one, wait for its first answer
	bg "$POD" python3 "$PEER" stream "$1" "${4:-10.10.0.2}" "$SPORT" "$2" "$3"
	wait_until "$POLL" answered_since "$3" 1 || not_ok "the $1 stream from :$2 got no answer"
}
# PID... -- COMMAND: run COMMAND with the UDP streams' senders stopped.
# Going from kept to masqueraded, an answer still on its way to the pod's
# own address when the cleanup deletes the entry makes a new entry, the
# other way round (peer to pod, no NAT), and the pod's next packets match
# it as its reply direction: the stream keeps the pod's address until that
# entry times out. conntrack does this to any cleanup (kube-proxy's too;
# see the README's "Conntrack cleanup"). The senders stop, the answers
# already sent land (a round trip here is well under a millisecond), and
# the stream then goes on from the same port: the entry that was deleted is
# the stream's own, made before the change.
paused() {
	local pids=() rc
	while [[ $1 != -- ]]; do pids+=("$1") && shift; done
	shift
	kill -STOP "${pids[@]}"
	sleep 0.2
	"$@"
	rc=$?
	kill -CONT "${pids[@]}"
	return $rc
}
# Several more answers on FILE after now: the stream went on across the change.
more_answers() { wait_until "$POLL" answered_since "$1" $(($(answers "$1") + 5)); }
config() { # CONTENT: mv into place, as an editor does
	put_cfg "$cfg" '%s' "$1"
}
synced() { log_reaches "$1" 'msg="rules \(updated\|programmed\)' "$2"; }
change_to() { # LOG CONTENT: apply it and wait for the sync's log line
	local before
	before=$(count_in "$1" 'msg="rules \(updated\|programmed\)')
	config "$2"
	wait_until 100 synced "$1" $((before + 1)) || not_ok "masqd did not apply the change"
}
sighup_cleans() { # N: SIGHUP, then wait for the (N+1)th cleanup's log line
	kill -HUP "$DAEMON" && wait_until 100 log_reaches "$log" 'UDP entr\(y\|ies\) deleted' $(($1 + 1))
}
last_sync() { grep 'msg="rules \(updated\|programmed\)' "$1" | tail -n 1; }
sync_says() { last_sync "$1" | grep -q -- "$2"; }
deleted_in() { last_sync "$1" | sed -n 's/.*conntrack: \([0-9]*\) UDP entr\(y\|ies\) deleted.*/\1/p'; }
deleted_at_least() { local n; n=$(deleted_in "$1"); ((${n:-0} >= $2)); } # LOG N

topo_up
bg "$VPC" python3 "$PEER" echo-stream "$SPORT"
wait_until 100 bash -c "[[ -n \$(ip netns exec $VPC ss -Hln 'sport = :$SPORT') ]]"
cfg=$WORK/ip-masq-agent
config "$MASQ"

echo "== usage: --conntrack-cleanup takes off or udp"
out=$(node "$MASQD" --once --config "$cfg" --conntrack-cleanup tcp 2>&1)
expect_eq "tcp: exit 2" 2 $?
expect_true "and the message says what it takes" grep -q 'must be off or udp' <<<"$out"
expect_true "no table was created" bash -c "! ip netns exec $NODE nft list table inet ip-masq-agent >/dev/null 2>&1"

echo "== without the flag: a UDP stream keeps its old source"
log=$WORK/off.log
start_masqd "$log" --config "$cfg" --metrics-bind-address "$M" --healthz-bind-address ""
u0=$WORK/udp0
stream udp 40000 "$u0"
expect_eq "masqueraded: the peer sees the node" 10.10.0.1 "$(source_of "$u0")"
change_to "$log" "$KEEP"
expect_eq "a new flow is kept now" 10.244.1.2 "$(seen_from "$POD" 10.10.0.2)"
expect_true "the stream goes on" more_answers "$u0"
expect_eq "and still leaves with the node's address" 10.10.0.1 "$(source_of "$u0")"
expect_true "the sync log line says nothing of conntrack" bash -c "! grep -q conntrack <<<'$(last_sync "$log")'"
expect_eq "no conntrack metrics without the flag" 0 "$(scrape | grep -c '^masqd_conntrack')"
stop_masqd
kill "$LAST_PID" 2>/dev/null

echo "== with --conntrack-cleanup=udp: masqueraded to kept"
config "$MASQ46"
log=$WORK/udp.log
start_masqd "$log" --config "$cfg" --metrics-bind-address "$M" --healthz-bind-address "" \
	--conntrack-cleanup udp --enable-ipv6
expect_eq "the first sync has nothing to compare with: no cleanup" "" "$(deleted_in "$log")"
u1=$WORK/udp1 t1=$WORK/tcp1 t2=$WORK/tcp2 u6=$WORK/udp6
stream udp 40001 "$u1"
p1=$LAST_PID
stream tcp 40002 "$t1"
stream udp 40004 "$u6" fd10:10::2
p6=$LAST_PID
expect_eq "UDP stream masqueraded" 10.10.0.1 "$(source_of "$u1")"
expect_eq "IPv6 UDP stream masqueraded" fd10:10::1 "$(source_of "$u6")"
expect_eq "TCP stream masqueraded" 10.10.0.1 "$(source_of "$t1")"
tcp_port=$(cut -d' ' -f3 "$t1")
change_to "$log" "$KEEP46"
expect_true "the sync's log line reports the cleanup" \
	sync_says "$log" 'conntrack: [0-9]* UDP entr\(y\|ies\) deleted of [0-9]* examined in [0-9.]* ms'
last_sync "$log"
expect_true "both streams' entries were deleted (IPv4 and IPv6)" test "$(deleted_in "$log")" -ge 2
expect_true "the UDP stream now keeps the pod's address" wait_until "$POLL" source_is "$u1" 10.244.1.2
expect_true "the IPv6 UDP stream too" wait_until "$POLL" source_is "$u6" fd00:244:1::2
expect_true "the TCP connection goes on" more_answers "$t1"
expect_eq "untouched: still the node's address, the same port" "10.10.0.1 $tcp_port" \
	"$(cut -d' ' -f2- "$t1")"

echo "== with --conntrack-cleanup=udp: kept to masqueraded"
stream tcp 40003 "$t2"
expect_eq "a TCP stream opened now is kept" 10.244.1.2 "$(source_of "$t2")"
paused "$p1" "$p6" -- change_to "$log" "$MASQ46"
expect_true "both streams' entries were deleted" test "$(deleted_in "$log")" -ge 2
expect_true "the UDP stream now leaves with the node's address" wait_until "$POLL" source_is "$u1" 10.10.0.1
expect_true "the IPv6 UDP stream too" wait_until "$POLL" source_is "$u6" fd10:10::1
expect_true "the kept TCP connection goes on" more_answers "$t2"
expect_eq "untouched: still the pod's address, port 40003" "10.244.1.2 40003" "$(cut -d' ' -f2- "$t2")"
expect_true "the first TCP connection goes on too" more_answers "$t1"
expect_eq "and is still masqueraded as before" "10.10.0.1 $tcp_port" "$(cut -d' ' -f2- "$t1")"
expect_eq "a new flow is masqueraded" 10.10.0.1 "$(seen_from "$POD" 10.10.0.2)"

echo "== metrics"
scrape | sed '1s/^200 //' >"$WORK/scrape.txt"
expect_true "promtool check metrics passes with the conntrack families" \
	bash -c "promtool check metrics <'$WORK/scrape.txt'"
expect_eq "masqd_conntrack_cleanups_total counts both changes" 2 "$(metric masqd_conntrack_cleanups_total)"
expect_true "masqd_conntrack_deleted_total counts the deletions" \
	test "$(metric masqd_conntrack_deleted_total)" -ge 2
expect_eq "no failures" 0 "$(metric masqd_conntrack_cleanup_failures_total)"
expect_true "masqd_conntrack_cleanup_seconds is set" \
	awk -v v="$(metric masqd_conntrack_cleanup_seconds)" 'BEGIN { exit !(v > 0) }'
st=$(q "$NODE" "$MASQCTL" status --socket "$WORK/masqd.sock")
expect_true "masqctl status shows the cleanups" \
	grep -qE '^conntrack cleanup: udp, 2 cleanups \(0 failed\), [0-9]+ UDP entries deleted of [0-9]+ examined, the last in [0-9.]+ ms$' <<<"$st"
expect_eq "no recheck has deleted anything yet" 0 "$(metric masqd_conntrack_inflight_deleted_total)"
expect_eq "the Grafana dashboard's conntrack metrics are all in the scrape" "" \
	"$(dashboard_missing "$WORK/scrape.txt" '^masqd_conntrack_')"

echo "== an answer in flight makes the entry again: a recheck deletes it"
# The race the senders were stopped for above, made on purpose: with the
# sender stopped, the entry an answer in flight would make (the peer to the
# pod's own address, no NAT) is made through ctnetlink right after the
# cleanup. Without the rechecks the stream keeps the pod's address until
# that entry expires (120 s).
change_to "$log" "$KEEP46"
u5=$WORK/udp5
stream udp 40007 "$u5"
p5=$LAST_PID
expect_eq "a UDP stream started now is kept" 10.244.1.2 "$(source_of "$u5")"
kill -STOP "$p5"
sleep 0.2
n=$(count_in "$log" 'made again by answers in flight')
change_to "$log" "$MASQ46"
expect_eq "the entry an answer in flight makes, made" "created 1" \
	"$(q "$NODE" "$NFTHELPER" ct-udp 10.10.0.2 "$SPORT" 10.244.1.2 40007)"
kill -CONT "$p5"
expect_true "a recheck deletes it, and says so" \
	wait_until 100 log_reaches "$log" 'UDP entr\(y\|ies\) made again by answers in flight to the pods. own addresses deleted (recheck [123] of 3' $((n + 1))
expect_true "the stream now leaves with the node's address" wait_until "$POLL" source_is "$u5" 10.10.0.1
expect_true "masqd_conntrack_inflight_deleted_total counts it" \
	test "$(metric masqd_conntrack_inflight_deleted_total)" -ge 1
expect_true "status --json too" test "$(q "$NODE" "$MASQCTL" status --json --socket "$WORK/masqd.sock" |
	python3 -c 'import json,sys; print(json.load(sys.stdin)["conntrackCleanup"]["inflightDeleted"])')" -ge 1
stop_masqd

echo "== the SNAT address goes and comes back: UDP streams follow it"
# --snat-to-address 10.10.0.5, a secondary on the node's VPC side. When it
# leaves the node the family masquerades (the primary, 10.10.0.1): a stream
# snatted to it would go on leaving with an address the node no longer has
# (whose answers, in a real network, go where the address went; here the
# peer's ARP cache still sends them to the node). The cleanup deletes the
# entries translated to it, and when it is back, those masqueraded with
# another address.
config "$MASQ"
node ip addr add 10.10.0.5/24 dev vpc0
log=$WORK/snat.log
start_masqd "$log" --config "$cfg" --metrics-bind-address "$M" --healthz-bind-address "" \
	--conntrack-cleanup udp --snat-to-address 10.10.0.5
u6s=$WORK/udp6s
stream udp 40009 "$u6s"
p6s=$LAST_PID
expect_eq "the UDP stream leaves snatted to 10.10.0.5" 10.10.0.5 "$(source_of "$u6s")"
syncs_now() { count_in "$log" 'msg="rules \(updated\|programmed\)'; }
n=$(syncs_now)
node ip addr del 10.10.0.5/24 dev vpc0
expect_true "the address went: masqd masquerades instead" \
	wait_until 100 log_reaches "$log" 'msg="rules \(updated\|programmed\)' $((n + 1))
expect_true "and its sync deletes the stream's entry" deleted_at_least "$log" 1
last_sync "$log"
expect_true "the stream now leaves with the node's primary address" \
	wait_until "$POLL" source_is "$u6s" 10.10.0.1
expect_true "and is answered" more_answers "$u6s"
n=$(syncs_now)
# from masquerade to snat, an answer in flight goes to the node's own
# address: it makes no entry the stream would match, but stop the sender
# anyway, so that this checks the cleanup alone
paused "$p6s" -- node ip addr add 10.10.0.5/24 dev vpc0
expect_true "the address is back: masqd snats again" \
	wait_until 100 log_reaches "$log" 'msg="rules \(updated\|programmed\)' $((n + 1))
expect_true "and its sync deletes the masqueraded entry" deleted_at_least "$log" 1
expect_true "the stream leaves snatted to 10.10.0.5 again" \
	wait_until "$POLL" source_is "$u6s" 10.10.0.5
stop_masqd
kill "$p6s" 2>/dev/null
node ip addr del 10.10.0.5/24 dev vpc0

echo "== a failed cleanup: the rules stay committed, the next sync cleans up"
SHIM=$ROOT/$BUILD/tests/netns/faultnl.so CTL=$WORK/faultnl.ctl FLOG=$WORK/faultnl.log
preload=$SHIM
asan=$(ldd "$MASQD" | awk '/libasan/ {print $3}')
[[ -n $asan ]] && preload=$asan:$SHIM # the ASan runtime first
: >"$CTL"
config "$MASQ"
log=$WORK/fault.log
pretty "$NODE" "LD_PRELOAD=$preload" "$MASQD" "--conntrack-cleanup udp ... 2>>$log &"
ip netns exec "$NODE" env LD_PRELOAD="$preload" FAULTNL_CTL="$CTL" FAULTNL_LOG="$FLOG" \
	"$MASQD" --config "$cfg" --metrics-bind-address "$M" --healthz-bind-address "" \
	--status-socket "$WORK/masqd.sock" --conntrack-cleanup udp 2>>"$log" &
DAEMON=$!
BG_PIDS+=("$DAEMON")
wait_until 300 log_reaches "$log" 'msg="running' 1 || not_ok "masqd did not start (log $log)"
u3=$WORK/udp3
stream udp 40005 "$u3"
p3=$LAST_PID
expect_eq "the UDP stream is masqueraded" 10.10.0.1 "$(source_of "$u3")"
pretty "$NODE" "fault: call=send kind=dump err=ENOBUFS count=1"
echo "call=send kind=dump err=ENOBUFS count=1" >"$CTL"
change_to "$log" "$KEEP"
: >"$CTL"
expect_eq "the fault hit the conntrack dump" 1 "$(count_in "$FLOG" 'send dump ENOBUFS')"
expect_true "the sync's log line says the cleanup failed" \
	sync_says "$log" 'conntrack cleanup failed: No buffer space available'
expect_eq "the rules are committed: a new flow is kept" 10.244.1.2 "$(seen_from "$POD" 10.10.0.2)"
expect_eq "masqd_conntrack_cleanup_failures_total is 1" 1 "$(metric masqd_conntrack_cleanup_failures_total)"
expect_true "the stream goes on" more_answers "$u3"
expect_eq "with its old source" 10.10.0.1 "$(source_of "$u3")"
before=$(count_in "$log" 'UDP entr\(y\|ies\) deleted')
kill -HUP "$DAEMON"
expect_true "the next sync (SIGHUP) does the cleanup" \
	wait_until 100 log_reaches "$log" 'UDP entr\(y\|ies\) deleted' $((before + 1))
expect_true "and the stream switches" wait_until "$POLL" source_is "$u3" 10.244.1.2
# a reply cut short in the middle of a dump of several datagrams (MSG_TRUNC):
# the kernel would refuse the next dump on that socket while this one still
# runs (EBUSY), so masqd opens a new one. 3000 unrelated kept UDP entries
# (made through ctnetlink) make the dump span several datagrams.
expect_eq "3000 unrelated UDP entries made" "created 3000" \
	"$(q "$NODE" "$NFTHELPER" ct-fill 3000 udp 10.128.0.0 203.0.113.0)"
pretty "$NODE" "fault: call=recv kind=dump err=short count=1"
: >"$FLOG"
echo "call=recv kind=dump err=short count=1" >"$CTL"
change_to "$log" "$MASQ"
: >"$CTL"
expect_eq "the fault cut the conntrack dump's reply" 1 "$(count_in "$FLOG" 'recv dump short')"
expect_true "the sync's log line says the cleanup failed" sync_says "$log" 'conntrack cleanup failed'
expect_eq "masqd_conntrack_cleanup_failures_total is 2" 2 "$(metric masqd_conntrack_cleanup_failures_total)"
before=$(count_in "$log" 'UDP entr\(y\|ies\) deleted')
expect_true "the next sync does the cleanup on a fresh socket" \
	paused "$p3" -- sighup_cleans "$before"
expect_true "and the stream switches back" wait_until "$POLL" source_is "$u3" 10.10.0.1

echo "== a failed cleanup, then the change undone: the entries made in between go"
pretty "$NODE" "fault: call=send kind=dump err=ENOBUFS count=1"
: >"$FLOG"
echo "call=send kind=dump err=ENOBUFS count=1" >"$CTL"
change_to "$log" "$KEEP"
: >"$CTL"
expect_eq "the fault hit the conntrack dump" 1 "$(count_in "$FLOG" 'send dump ENOBUFS')"
expect_eq "masqd_conntrack_cleanup_failures_total is 3" 3 "$(metric masqd_conntrack_cleanup_failures_total)"
u4=$WORK/udp4
stream udp 40006 "$u4"
p4=$LAST_PID
expect_eq "a UDP stream started now is kept" 10.244.1.2 "$(source_of "$u4")"
paused "$p4" -- change_to "$log" "$MASQ"
last_sync "$log"
expect_true "going back to the earlier rules deletes its entry" deleted_at_least "$log" 1
expect_true "the new stream now leaves with the node's address" \
	wait_until "$POLL" source_is "$u4" 10.10.0.1
expect_true "the stream from before goes on" more_answers "$u3"
expect_eq "masqueraded all along" 10.10.0.1 "$(source_of "$u3")"
stop_masqd

finish
