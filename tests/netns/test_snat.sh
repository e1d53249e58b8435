#!/usr/bin/env bash
# End-to-end: --snat-to-address and --snat-interface. The outside host's
# receiver reports the source address each new connection arrived from: the
# chosen node address, not the interface's primary; the primary again while
# the chosen one is gone; the chosen one when it is back; with
# --snat-interface, the interface's new primary after a change. IPv4 and
# IPv6. The rule follows each change by itself (rtnetlink events, no
# restart, no polling by masqd); the test polls the table with a generous
# timeout and prints masqd's own measure of each reaction (event read to
# the kernel's ack). Under a continuous flood of new UDP flows while the
# address comes and goes, no flow leaves with the pod's address (one
# transaction per switch). Topology and safety rules: tests/netns/lib.sh.
#
#   pod ──── node (masqd) ─ net0: 203.0.113.1 (primary) + 203.0.113.9 ──── net: peer.py
#                                 2001:db8::1           + 2001:db8::9
source "$(dirname "$0")/lib.sh"

[[ $(id -u) == 0 ]] || { echo "needs root for ip netns"; not_ok "run as root"; finish; exit 1; }

HTTP=$ROOT/tests/netns/http_client.py
M=127.0.0.1:9743
LOG=$WORK/masqd.log
SOCK=$WORK/masqd.sock

scrape() { q "$NODE" python3 "$HTTP" get "http://$M/metrics"; }
present() { scrape | awk -v k="masqd_snat_address_present{family=\"$1\"}" '$1 == k {print $2}'; }
present_is() { [[ $(present "$1") == "$2" ]]; }
# the nat statement of a family's catch-all rule, as nft lists it
final() { dump | sed -n "s/.*meta nfproto ipv$1 counter \\(.*\\) comment.*/\\1/p"; }
final_is() { [[ $(final "$1") == "$2" ]]; }
reactions() { sed -n 's/.*rules committed \([0-9.]*\) ms after the address event.*/\1/p' "$LOG"; }

topo_up
cfg=$WORK/ip-masq-agent
printf 'nonMasqueradeCIDRs: [10.10.0.0/16]\nresyncInterval: 60s\n' >"$cfg"
# with promote_secondaries the kernel makes a secondary the primary when the
# primary goes (the way a node's address is renumbered without an outage)
node sysctl -qw net.ipv4.conf.net0.promote_secondaries=1

echo "== usage errors are clear and change nothing"
out=$(node "$MASQD" --once --config "$cfg" --snat-to-address 203.0.113.9/32 2>&1)
expect_eq "a prefix: exit 2" 2 $?
expect_true "and the message says why" grep -q 'without a prefix length' <<<"$out"
out=$(node "$MASQD" --once --config "$cfg" --snat-to-address 203.0.113.9 --snat-interface net0 2>&1)
expect_eq "both flags: exit 2" 2 $?
expect_true "and the message says so" grep -q 'exclude each other' <<<"$out"
expect_true "no table was created" bash -c "! ip netns exec $NODE nft list table inet ip-masq-agent >/dev/null 2>&1"

echo "== --once: an address not on the node masquerades, with a warning"
out=$(node "$MASQD" --once --config "$cfg" --snat-to-address 203.0.113.9 2>&1)
expect_eq "--once exits 0" 0 $?
expect_true "it says the address is not on the node" grep -q '203.0.113.9 is not on the node' <<<"$out"
expect_eq "the rule masquerades" "masquerade fully-random" "$(final 4)"
expect_eq "the receiver sees the primary" 203.0.113.1 "$(seen_from "$POD" 203.0.113.2)"

echo "== --snat-to-address: the receiver sees the chosen address, not the primary"
node ip addr add 203.0.113.9/24 dev net0
node ip addr add 2001:db8::9/64 dev net0 nodad
snat=(--snat-to-address 203.0.113.9 --enable-ipv6 --snat-to-address 2001:db8::9)
start_masqd "$LOG" --config "$cfg" --metrics-bind-address "$M" --healthz-bind-address "" "${snat[@]}"
expect_eq "IPv4 rule" "snat ip to 203.0.113.9 fully-random" "$(final 4)"
expect_eq "IPv6 rule" "snat ip6 to 2001:db8::9 fully-random" "$(final 6)"
expect_eq "IPv4: the receiver sees 203.0.113.9" 203.0.113.9 "$(seen_from "$POD" 203.0.113.2)"
expect_eq "IPv6: the receiver sees 2001:db8::9" 2001:db8::9 "$(seen_from "$POD" 2001:db8::2)"
expect_eq "the VPC peer still sees the pod (non-masquerade first)" 10.244.1.2 \
	"$(seen_from "$POD" 10.10.0.2)"
expect_render_matches "snat" "$cfg" "${snat[@]}"
expect_eq "masqd_snat_address_present{family=\"ipv4\"} 1" 1 "$(present ipv4)"
expect_eq "masqd_snat_address_present{family=\"ipv6\"} 1" 1 "$(present ipv6)"
scrape | sed '1s/^200 //' >"$WORK/scrape.txt"
expect_true "promtool check metrics passes with the gauge" \
	bash -c "promtool check metrics <'$WORK/scrape.txt'"
expect_eq "one HELP line for it" 1 "$(grep -c '^# HELP masqd_snat_address_present ' "$WORK/scrape.txt")"
st=$(q "$NODE" "$MASQCTL" status --socket "$SOCK")
expect_true "masqctl status shows the action" grep -qx 'final rule IPv4: snat to 203.0.113.9' <<<"$st"

echo "== the address goes: masquerade, the primary, logged once; it comes back"
node ip addr del 203.0.113.9/24 dev net0
expect_true "the IPv4 rule falls back to masquerade" wait_until 200 final_is 4 "masquerade fully-random"
expect_eq "IPv4: the receiver sees the primary 203.0.113.1" 203.0.113.1 \
	"$(seen_from "$POD" 203.0.113.2)"
expect_eq "IPv6 is not affected" 2001:db8::9 "$(seen_from "$POD" 2001:db8::2)"
expect_true "the gauge says 0" wait_until 100 present_is ipv4 0
expect_eq "logged once" 1 "$(count_in "$LOG" '203.0.113.9 is not on the node')"
st=$(q "$NODE" "$MASQCTL" status --socket "$SOCK")
expect_true "masqctl status shows the fallback" \
	grep -qx 'final rule IPv4: masquerade (fallback: 203.0.113.9 is not on the node)' <<<"$st"
node ip addr add 203.0.113.9/24 dev net0
expect_true "the IPv4 rule returns to 203.0.113.9" wait_until 200 final_is 4 "snat ip to 203.0.113.9 fully-random"
expect_eq "IPv4: the receiver sees 203.0.113.9 again" 203.0.113.9 "$(seen_from "$POD" 203.0.113.2)"
expect_true "the gauge says 1" wait_until 100 present_is ipv4 1

node ip addr del 2001:db8::9/64 dev net0
expect_true "the IPv6 rule falls back to masquerade" wait_until 200 final_is 6 "masquerade fully-random"
expect_eq "IPv6: the receiver sees the primary 2001:db8::1" 2001:db8::1 \
	"$(seen_from "$POD" 2001:db8::2)"
expect_true "the IPv6 gauge says 0" wait_until 100 present_is ipv6 0
# in duplicate address detection the address cannot be used yet: still masquerade
node ip addr add 2001:db8::9/64 dev net0
expect_true "the IPv6 rule returns to 2001:db8::9 once DAD is done" \
	wait_until 200 final_is 6 "snat ip6 to 2001:db8::9 fully-random"
expect_eq "IPv6: the receiver sees 2001:db8::9 again" 2001:db8::9 "$(seen_from "$POD" 2001:db8::2)"
expect_eq "an address change is a change of masqd's, not a drift repair" 0 \
	"$(scrape | awk '$1 == "masqd_drift_repairs_total" {print $2}')"
expect_eq "and is not logged as drift" 0 "$(count_in "$LOG" 'drifted')"

echo "== no flow leaves with the pod's address while the address comes and goes"
bg "$NET" python3 "$PEER" udp-count $UDP_PORT "$WORK/x.json"
count_x=$LAST_PID
wait_until 100 bash -c "[[ -n \$(ip netns exec $NET ss -Hlun 'sport = :$UDP_PORT') ]]"
bg "$POD" python3 "$PEER" udp-flood $UDP_PORT "$WORK/stop" 203.0.113.2
flood=$LAST_PID
switches=0
for i in $(seq 1 20); do
	q "$NODE" ip addr del 203.0.113.9/24 dev net0
	wait_until 200 final_is 4 "masquerade fully-random" && switches=$((switches + 1))
	q "$NODE" ip addr add 203.0.113.9/24 dev net0
	wait_until 200 final_is 4 "snat ip to 203.0.113.9 fully-random" && switches=$((switches + 1))
done
touch "$WORK/stop"
wait "$flood"
kill -TERM "$count_x"
wait "$count_x"
seen() { python3 -c "import json; print(json.load(open('$WORK/x.json')).get('$1', 0))"; }
echo "   switches: $switches of 40; flows seen from 203.0.113.9: $(seen 203.0.113.9)," \
	"203.0.113.1: $(seen 203.0.113.1), the pod 10.244.1.2: $(seen 10.244.1.2)"
expect_eq "all 40 switches were followed" 40 "$switches"
expect_eq "not a single flow carried the pod's address" 0 "$(seen 10.244.1.2)"
expect_true "flows left from the chosen address" test "$(seen 203.0.113.9)" -gt 0
expect_true "and from the primary while it was gone" test "$(seen 203.0.113.1)" -gt 0
stop_masqd

echo "== --snat-interface follows the interface's primary address"
start_masqd "$LOG" --config "$cfg" --metrics-bind-address "$M" --healthz-bind-address "" \
	--enable-ipv6 --snat-interface net0
# 203.0.113.9 is a secondary, 2001:db8::9 younger than 2001:db8::1
expect_eq "IPv4: the primary, 203.0.113.1" "snat ip to 203.0.113.1 fully-random" "$(final 4)"
expect_eq "IPv6: the oldest, 2001:db8::1" "snat ip6 to 2001:db8::1 fully-random" "$(final 6)"
expect_eq "IPv4: the receiver sees 203.0.113.1" 203.0.113.1 "$(seen_from "$POD" 203.0.113.2)"
# masqctl reads the interface where it runs: in the node's namespace here
want=$(q "$NODE" "$MASQCTL" render --enable-ipv6 --snat-interface net0 "$cfg")
expect_eq "masqctl render (in the node) prints what nft lists" "$want" "$(dump | normalize)"
node ip addr add 203.0.113.7/24 dev net0
expect_eq "a new (secondary) address does not move it" "snat ip to 203.0.113.1 fully-random" \
	"$(sleep 0.3; final 4)"
node ip addr del 203.0.113.1/24 dev net0
expect_true "the primary goes: the promoted one, 203.0.113.9, takes over" \
	wait_until 200 final_is 4 "snat ip to 203.0.113.9 fully-random"
expect_eq "IPv4: the receiver sees the new primary" 203.0.113.9 "$(seen_from "$POD" 203.0.113.2)"
node ip addr del 2001:db8::1/64 dev net0
expect_true "IPv6: the primary goes, 2001:db8::9 takes over" \
	wait_until 200 final_is 6 "snat ip6 to 2001:db8::9 fully-random"
expect_eq "IPv6: the receiver sees the new primary" 2001:db8::9 "$(seen_from "$POD" 2001:db8::2)"
node ip -6 addr flush dev net0 scope global
expect_true "no global IPv6 address: masquerade" wait_until 200 final_is 6 "masquerade fully-random"
expect_true "and the IPv6 gauge says 0" wait_until 100 present_is ipv6 0
expect_eq "IPv4 still follows its primary" 1 "$(present ipv4)"
node ip addr add 2001:db8::1/64 dev net0 nodad
expect_true "an address again: snat to it" wait_until 200 final_is 6 "snat ip6 to 2001:db8::1 fully-random"
expect_eq "IPv6: the receiver sees it" 2001:db8::1 "$(seen_from "$POD" 2001:db8::2)"
stop_masqd

echo "== without the flags: no gauge, masquerade in status"
start_masqd "$LOG" --config "$cfg" --metrics-bind-address "$M" --healthz-bind-address "" --enable-ipv6
expect_eq "no masqd_snat_address_present series" 0 "$(scrape | grep -c '^masqd_snat_address_present')"
expect_true "masqctl status: the final rule masquerades" \
	grep -qx 'final rule IPv4: masquerade' <<<"$(q "$NODE" "$MASQCTL" status --socket "$SOCK")"
stop_masqd

echo "== --to-ports keeps its ranges with snat"
out=$(node "$MASQD" --once --config "$cfg" --snat-to-address 203.0.113.9 --to-ports 40000-40999 2>&1)
expect_eq "--once exits 0" 0 $?
expect_true "the port rules snat to the address" \
	grep -q 'meta l4proto tcp counter snat ip to 203.0.113.9:40000-40999 fully-random' <<<"$(dump)"
expect_render_matches "snat with ports" "$cfg" --snat-to-address 203.0.113.9 --to-ports 40000-40999
bg "$NET" python3 "$PEER" echo-port 7790
wait_until 100 bash -c "[[ -n \$(ip netns exec $NET ss -Htln 'sport = :7790') ]]"
out=$(q "$POD" python3 "$PEER" ports tcp 203.0.113.2 7790 5 | awk '$1 == "203.0.113.9" && $2 >= 40000 && $2 <= 40999' | wc -l)
expect_eq "5 TCP flows from 203.0.113.9, ports in 40000-40999" 5 "$out"

r=$(reactions | sort -n | tr '\n' ' ')
echo "   reaction times (event read to kernel ack, ms): $r"
expect_true "masqd logged its reaction times" test -n "$r"
finish
