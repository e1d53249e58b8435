#!/usr/bin/env bash
# End-to-end: masqd as a long-running daemon. Config changes arrive the ways
# they do on a node (kubelet's ..data swap, plain edits, deletion, a missing
# directory), bad configs change nothing, drift is repaired, restarts adopt
# the table, and masqd keeps only CAP_NET_ADMIN. Real traffic decides each
# test, or real kernel dumps where traffic cannot tell. Topology and safety
# rules: tests/netns/lib.sh. Needs root.
source "$(dirname "$0")/lib.sh"

[[ $(id -u) == 0 ]] || { echo "needs root for ip netns"; not_ok "run as root"; finish; exit 1; }

topo_up

echo "== plain files: edits, mv into place, deletion, bad and fixed configs"
dir=$WORK/plain
mkdir -p "$dir"
cfg=$dir/ip-masq-agent
log=$WORK/plain.log
printf 'nonMasqueradeCIDRs: [10.10.0.0/16]\nresyncInterval: 1s\n' >"$cfg"
start_masqd "$log" --config "$cfg" -v 2
expect_eq "start: the VPC peer sees the pod IP" 10.244.1.2 "$(seen_from "$POD" 10.10.0.2)"
expect_eq "start: the outside host sees the node IP" 203.0.113.1 "$(seen_from "$POD" 203.0.113.2)"

printf 'nonMasqueradeCIDRs: [10.10.0.0/16, 203.0.113.0/24]\nresyncInterval: 1s\n' >"$cfg"
wait_until 200 has_cidr 203.0.113.0/24
expect_eq "a plain edit applies: the outside host now sees the pod IP" 10.244.1.2 \
	"$(seen_from "$POD" 203.0.113.2)"

printf 'nonMasqueradeCIDRs: [203.0.113.0/24]\nresyncInterval: 1s\n' >"$dir/.tmp"
mv "$dir/.tmp" "$cfg"
wait_until 200 lacks_cidr 10.10.0.0/16
expect_eq "mv into place applies: the VPC peer now sees the node IP" 10.10.0.1 \
	"$(seen_from "$POD" 10.10.0.2)"

rm "$cfg"
wait_until 200 has_cidr 192.168.0.0/16
expect_eq "a deleted config falls back to the defaults (RFC 1918)" 10.244.1.2 \
	"$(seen_from "$POD" 10.10.0.2)"
expect_eq "defaults: the outside host sees the node IP" 203.0.113.1 "$(seen_from "$POD" 203.0.113.2)"

put_cfg "$cfg" 'nonMasqueradeCIDRs: [10.10.0.0/16]\nresyncInterval: 1s\n'
wait_until 200 lacks_cidr 192.168.0.0/16
before=$(dump)
resyncs=$(count_in "$log" 'sync (resync)')
put_cfg "$cfg" 'nonMasqueradeCIDRs:\n  - 10.10.0.0/16\n  - 203.0.113.9/24\n'
wait_until 200 log_reaches "$log" 'has host bits set' 1
wait_until 200 log_reaches "$log" 'sync (resync)' $((resyncs + 3))
expect_eq "a bad config leaves the kernel rules byte-for-byte unchanged" "$before" "$(dump)"
expect_eq "its error is logged once, not at every resync" 1 "$(count_in "$log" 'has host bits set')"
expect_true "the error names FILE:LINE:COL" grep -qF "$cfg:3:5: CIDR" "$log"
expect_eq "traffic is still decided by the last good config" 203.0.113.1 \
	"$(seen_from "$POD" 203.0.113.2)"
put_cfg "$cfg" 'nonMasqueradeCIDRs: [10.10.0.0/16, 203.0.113.0/24]\nresyncInterval: 1s\n'
wait_until 200 has_cidr 203.0.113.0/24
expect_eq "the fixed config applies" 10.244.1.2 "$(seen_from "$POD" 203.0.113.2)"
expect_true "the fix is logged" grep -q 'is valid again' "$log"

echo "== an idle resync sends nothing"
g1=$(genid)
resyncs=$(count_in "$log" 'sync (resync)')
wait_until 200 log_reaches "$log" 'sync (resync)' $((resyncs + 2))
expect_eq "the generation id does not move across two idle resyncs" "$g1" "$(genid)"

echo "== a burst of writes is coalesced and the last one wins"
programmed=$(count_in "$log" 'rules \(programmed\|updated\)')
for i in $(seq 1 20); do
	printf 'nonMasqueradeCIDRs: [10.10.0.0/16, 198.18.%d.0/24]\nresyncInterval: 1s\n' "$i" >"$cfg"
done
wait_until 200 has_cidr 198.18.20.0/24
expect_true "the last of 20 writes is programmed" has_cidr 198.18.20.0/24
expect_true "no earlier write of the burst is left" lacks_cidr 198.18.19.0/24
echo "   20 writes gave $(($(count_in "$log" 'rules \(programmed\|updated\)') - programmed)) reloads"
stop_masqd
expect_eq "SIGTERM: masqd exits 0" 0 $?
expect_eq "SIGTERM leaves the rules in place" 203.0.113.1 "$(seen_from "$POD" 203.0.113.2)"
expect_eq "SIGTERM leaves the rules in place (VPC peer)" 10.244.1.2 "$(seen_from "$POD" 10.10.0.2)"

echo "== a config directory that does not exist yet is waited for"
dir=$WORK/later/etc/config
log=$WORK/later.log
q "$NODE" "$MASQD" --cleanup 2>/dev/null
start_masqd "$log" --config "$dir/ip-masq-agent"
expect_eq "meanwhile the defaults are programmed" 203.0.113.1 "$(seen_from "$POD" 203.0.113.2)"
mkdir -p "$dir"
kubelet_swap "$dir" $'nonMasqueradeCIDRs: [10.0.0.0/8, 203.0.113.0/24]\n'
wait_until 200 has_cidr 203.0.113.0/24
expect_eq "the directory's arrival is noticed and its config applied" 10.244.1.2 \
	"$(seen_from "$POD" 203.0.113.2)"
rm -rf "$WORK/later/etc"
wait_until 200 lacks_cidr 203.0.113.0/24
expect_eq "the directory's removal brings back the defaults" 203.0.113.1 \
	"$(seen_from "$POD" 203.0.113.2)"
mkdir -p "$dir"
kubelet_swap "$dir" $'nonMasqueradeCIDRs: [10.0.0.0/8, 203.0.113.0/24]\n'
wait_until 200 has_cidr 203.0.113.0/24
expect_eq "and its re-creation is noticed again" 10.244.1.2 "$(seen_from "$POD" 203.0.113.2)"
stop_masqd

echo "== kubelet's ..data swap"
dir=$WORK/configmap
log=$WORK/kubelet.log
mkdir -p "$dir"
kubelet_swap "$dir" $'nonMasqueradeCIDRs: [10.10.0.0/16]\nresyncInterval: 1s\n'
start_masqd "$log" --config "$dir/ip-masq-agent" -v 2
expect_eq "before the swap: the VPC peer sees the pod IP" 10.244.1.2 "$(seen_from "$POD" 10.10.0.2)"
kubelet_swap "$dir" $'nonMasqueradeCIDRs: [203.0.113.0/24]\nresyncInterval: 1s\n'
wait_until 200 has_cidr 203.0.113.0/24
expect_eq "after the swap: the VPC peer sees the node IP" 10.10.0.1 "$(seen_from "$POD" 10.10.0.2)"
expect_eq "after the swap: the outside host sees the pod IP" 10.244.1.2 \
	"$(seen_from "$POD" 203.0.113.2)"
expect_true "the swap was seen as one" grep -q 'config event: ..data swapped' "$log"

echo "== least privilege"
status=/proc/$DAEMON/status
expect_eq "effective capabilities: CAP_NET_ADMIN only" 0000000000001000 "$(awk '/^CapEff/ {print $2}' "$status")"
expect_eq "permitted capabilities: CAP_NET_ADMIN only" 0000000000001000 "$(awk '/^CapPrm/ {print $2}' "$status")"
expect_eq "bounding set: CAP_NET_ADMIN only" 0000000000001000 "$(awk '/^CapBnd/ {print $2}' "$status")"
expect_eq "no_new_privs is set" 1 "$(awk '/^NoNewPrivs/ {print $2}' "$status")"

echo "== owner|persist: others cannot touch the table while masqd runs"
if dump | grep -q $'^\tflags owner'; then
	err=$(q "$NODE" nft delete table inet ip-masq-agent 2>&1)
	expect_true "nft delete table is refused (EPERM)" grep -q 'Operation not permitted' <<<"$err"
	q "$NODE" nft flush ruleset
	expect_true "nft flush ruleset leaves the table" table_present
	expect_eq "and its rules still decide" 10.10.0.1 "$(seen_from "$POD" 10.10.0.2)"
else
	skip "this kernel has no owned persistent tables: owner tests"
fi

echo "== zero-leak: 500 flips between two configs under continuous new flows"
# Both configs masquerade X (the outside host); they differ on Y (the VPC peer).
conf_a=$'nonMasqueradeCIDRs: [10.10.0.0/16]\nresyncInterval: 1s\n'
conf_b=$'nonMasqueradeCIDRs: []\nresyncInterval: 1s\n'
bg "$NET" python3 "$PEER" udp-count $UDP_PORT "$WORK/x.json"
count_x=$LAST_PID
bg "$VPC" python3 "$PEER" udp-count $UDP_PORT "$WORK/y.json"
count_y=$LAST_PID
wait_until 100 bash -c "[[ -n \$(ip netns exec $NET ss -Hlun 'sport = :$UDP_PORT') && -n \$(ip netns exec $VPC ss -Hlun 'sport = :$UDP_PORT') ]]"
kubelet_swap "$dir" "$conf_a"
wait_until 200 has_cidr 10.10.0.0/16
bg "$POD" python3 "$PEER" udp-flood $UDP_PORT "$WORK/stop" 203.0.113.2 10.10.0.2
flood=$LAST_PID
flips=0
for i in $(seq 1 250); do
	kubelet_swap "$dir" "$conf_b"
	wait_until 200 lacks_cidr 10.10.0.0/16 && flips=$((flips + 1))
	kubelet_swap "$dir" "$conf_a"
	wait_until 200 has_cidr 10.10.0.0/16 && flips=$((flips + 1))
done
touch "$WORK/stop"
wait "$flood"
kill -TERM "$count_x" "$count_y"
wait "$count_x" "$count_y"
x_pod=$(python3 -c "import json; print(json.load(open('$WORK/x.json')).get('10.244.1.2', 0))")
x_node=$(python3 -c "import json; print(json.load(open('$WORK/x.json')).get('203.0.113.1', 0))")
y_pod=$(python3 -c "import json; print(json.load(open('$WORK/y.json')).get('10.244.1.2', 0))")
y_node=$(python3 -c "import json; print(json.load(open('$WORK/y.json')).get('10.10.0.1', 0))")
echo "   flips applied: $flips of 500"
echo "   flows to X (outside host): $x_node with the node IP, $x_pod with the pod IP"
echo "   flows to Y (VPC peer):     $y_node with the node IP, $y_pod with the pod IP"
expect_eq "all 500 flips were applied" 500 "$flips"
expect_eq "not a single flow to X carried the pod's address" 0 "$x_pod"
expect_true "flows to X kept arriving (with the node IP)" test "$x_node" -gt 500
expect_true "Y saw both decisions: the flips took effect under traffic" \
	test "$y_pod" -gt 0 -a "$y_node" -gt 0

echo "== kill -9 and restart: no gap, no duplicates, counters kept"
seen_from "$POD" 203.0.113.2 >/dev/null # a masqueraded connection for the counter
packets=$(masq_counter)
kill -KILL "$DAEMON"
wait "$DAEMON" 2>/dev/null
expect_eq "while masqd is down, the rules still decide" 203.0.113.1 "$(seen_from "$POD" 203.0.113.2)"
start_masqd "$log" --config "$dir/ip-masq-agent" -v 2
expect_true "the new masqd adopts the table" grep -q 'adopted the table a previous masqd left' "$log"
expect_eq "no duplicate rules" 3 "$(rule_count)"
expect_true "the masquerade counter was kept ($packets before, $(masq_counter) after)" \
	test "$(masq_counter)" -ge "$packets" -a "$packets" -gt 0
expect_eq "after the restart the rules still decide" 203.0.113.1 "$(seen_from "$POD" 203.0.113.2)"

echo "== an orphan changed while masqd was down is repaired when it starts"
kill -KILL "$DAEMON"
wait "$DAEMON" 2>/dev/null
q "$NODE" nft add element inet ip-masq-agent nomasq4 '{ 203.0.113.0/24 }'
expect_eq "with masqd down, an admin's element decides" 10.244.1.2 "$(seen_from "$POD" 203.0.113.2)"
start_masqd "$log" --config "$dir/ip-masq-agent" -v 2
expect_true "the element is gone after the restart" lacks_cidr 203.0.113.0/24
expect_eq "and the config decides again" 203.0.113.1 "$(seen_from "$POD" 203.0.113.2)"
expect_eq "still no duplicate rules" 3 "$(rule_count)"
stop_masqd

echo "== masqd started with only CAP_NET_ADMIN"
out=$(q "$NODE" setpriv --bounding-set=-all,+net_admin --inh-caps=-all "$MASQD" --once \
	--config "$dir/ip-masq-agent" 2>&1)
expect_eq "masqd --once works under setpriv --bounding-set=-all,+net_admin" 0 $?
q "$NODE" "$MASQD" --cleanup 2>/dev/null
out=$(q "$NODE" setpriv --bounding-set=-all,+net_admin --inh-caps=-all "$MASQD" --once \
	--config "$dir/ip-masq-agent" 2>&1)
expect_true "and programs a table from scratch there" grep -q 'rules programmed' <<<"$out"

echo "== the plain fallback: drift is found and repaired"
log=$WORK/drift.log
q "$NODE" "$MASQD" --cleanup 2>/dev/null
start_masqd "$log" --config "$dir/ip-masq-agent" --table-flags=plain
t0=$(date +%s%N)
q "$NODE" nft delete table inet ip-masq-agent
wait_until 200 table_present
expect_true "a deleted table comes back" table_present
echo "   restored after $((($(date +%s%N) - t0) / 1000000)) ms (the generation is polled every second)"
expect_eq "its rules decide again" 203.0.113.1 "$(seen_from "$POD" 203.0.113.2)"
q "$NODE" nft flush chain inet ip-masq-agent postrouting
wait_until 200 bash -c "(( \$(ip netns exec $NODE nft list chain inet ip-masq-agent postrouting | grep -c comment) == 3 ))"
expect_eq "a flushed chain is refilled" 3 "$(rule_count)"
q "$NODE" nft add element inet ip-masq-agent nomasq4 '{ 198.51.100.0/24 }'
wait_until 200 lacks_cidr 198.51.100.0/24
expect_true "an element an admin added is removed" lacks_cidr 198.51.100.0/24
q "$NODE" nft flush ruleset
wait_until 200 table_present
expect_true "nft flush ruleset: the table comes back" table_present
wait_until 200 log_reaches "$log" 'drifted' 4
expect_eq "each repair is counted and logged" 4 "$(count_in "$log" 'drifted')"
g1=$(genid)
sleep 2.5 # two generation polls with nothing to find; no assertion on time
expect_eq "with nothing changed, the polls send nothing" "$g1" "$(genid)"
stop_masqd

finish
