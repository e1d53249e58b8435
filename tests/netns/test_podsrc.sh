#!/usr/bin/env bash
# End-to-end: pod-source scoping. Receivers report the source each new
# connection arrived from. With --pod-cidr, traffic from the pod address is
# masqueraded; traffic from a host-network process (the node's own vpc0
# address as source) and from another CNI's address (10.245.0.2, a second
# address in the pod namespace) keeps its source; traffic forwarded inbound
# from the outside host to the pod keeps the outside host's address. Without
# the flag all of them are masqueraded, as upstream. Both families. Drift of
# the pod set is repaired. With --pod-cidr-from-node the fake API server
# serves a Node with no spec.podCIDRs: masqd decides for every source until
# they are set, then switches the scope on in one transaction, proven with
# packets; a bad value is refused and the scope stays; a change of the
# Node's status changes nothing. Topology and safety rules: tests/netns/lib.sh.
#
#   pod ── 10.244.1.2 (pod CIDR 10.244.1.0/24), 10.245.0.2 (another CNI's)
#    │     fd00:244:1::2 (pod CIDR fd00:244:1::/64)
#   node (masqd) ─ vpc0 10.10.0.1, fd10:10::1 (host-network sources)
#    │
#   net: peer.py 203.0.113.2, 2001:db8::2
source "$(dirname "$0")/lib.sh"

[[ $(id -u) == 0 ]] || { echo "needs root for ip netns"; not_ok "run as root"; finish; exit 1; }

source "$(dirname "$0")/api_lib.sh"
LOG=$WORK/masqd.log
SOCK=$WORK/masqd.sock

topo_up
# the other CNI's address, and the routes back to the sources that keep theirs
pod ip addr add 10.245.0.2/24 dev eth0
node ip route add 10.245.0.0/24 dev pod0
net ip route add 10.245.0.0/24 via 203.0.113.1
net ip route add 10.10.0.0/24 via 203.0.113.1
net ip -6 route add fd10:10::/64 via 2001:db8::1
bg "$POD" python3 "$PEER" serve "$PORT" # inbound: the pod reports who reached it
wait_until 100 listening "$POD" || not_ok "the pod's receiver did not start"
cfg=$WORK/ip-masq-agent
printf 'nonMasqueradeCIDRs: [10.10.0.0/16]\nresyncInterval: 60s\n' >"$cfg"
pods=(--enable-ipv6 --pod-cidr 10.244.1.0/24 --pod-cidr fd00:244:1::/64)

# The source the outside host sees: from the pod, another CNI's address, a
# host-network process in the node; and the source the pod sees from outside.
from_pod() { seen_from "$POD" 203.0.113.2; }
from_pod6() { seen_from "$POD" 2001:db8::2; }
from_cni() { seen_from "$POD" 203.0.113.2 10.245.0.2; }
from_host() { seen_from "$NODE" 203.0.113.2 10.10.0.1; }
from_host6() { seen_from "$NODE" 2001:db8::2 fd10:10::1; }
inbound() { seen_from "$NET" 10.244.1.2; }
scrape() { q "$NODE" python3 "$HTTP" get "http://$M/metrics"; }
gauge() { scrape | awk -v k="masqd_pod_cidrs{family=\"$1\"}" '$1 == k {print $2}'; }
gauge_is() { [[ $(gauge "$1") == "$2" ]]; }
scoped() { dump | grep -q 'ip saddr != @podsrc4 return'; }
cni_masqueraded() { [[ $(from_cni) == 203.0.113.1 ]]; }
pods_json() { # the status document's podSource, one family per line
	q "$NODE" "$MASQCTL" status --json --socket "$SOCK" |
		python3 -c 'import json,sys; p=json.load(sys.stdin)["podSource"]; print(p["ipv4"]); print(p["ipv6"])'
}

echo "== without the flag: every source is masqueraded (upstream)"
start_masqd "$LOG" --config "$cfg" --enable-ipv6 --metrics-bind-address "$M" --healthz-bind-address ""
expect_eq "the pod: the node's address" 203.0.113.1 "$(from_pod)"
expect_eq "another CNI's address: masqueraded too" 203.0.113.1 "$(from_cni)"
expect_eq "a host-network process from 10.10.0.1: masqueraded too" 203.0.113.1 "$(from_host)"
expect_eq "IPv6 host-network from fd10:10::1: masqueraded too" 2001:db8::1 "$(from_host6)"
expect_eq "inbound to the pod: masqueraded to the node's pod0 address (upstream #65)" \
	10.244.1.1 "$(inbound)"
expect_eq "no masqd_pod_cidrs series without scoping" 0 "$(scrape | grep -c '^masqd_pod_cidrs')"
stop_masqd

echo "== --pod-cidr: only the pod's traffic is decided"
start_masqd "$LOG" --config "$cfg" "${pods[@]}" --metrics-bind-address "$M" --healthz-bind-address ""
expect_eq "the pod: masqueraded" 203.0.113.1 "$(from_pod)"
expect_eq "the pod, IPv6: masqueraded" 2001:db8::1 "$(from_pod6)"
expect_eq "the VPC peer still sees the pod (non-masquerade)" 10.244.1.2 "$(seen_from "$POD" 10.10.0.2)"
expect_eq "another CNI's address keeps its source" 10.245.0.2 "$(from_cni)"
expect_eq "a host-network process keeps its source" 10.10.0.1 "$(from_host)"
expect_eq "IPv6 host-network keeps its source" fd10:10::1 "$(from_host6)"
expect_eq "inbound to the pod keeps the outside host's address" 203.0.113.2 "$(inbound)"
expect_render_matches "--pod-cidr" "$cfg" "${pods[@]}"
expect_eq "masqd_pod_cidrs{family=\"ipv4\"} 1" 1 "$(gauge ipv4)"
expect_eq "masqd_pod_cidrs{family=\"ipv6\"} 1" 1 "$(gauge ipv6)"
st=$(q "$NODE" "$MASQCTL" status --socket "$SOCK")
expect_true "masqctl status shows the scope" grep -qx 'pod-source scope IPv4: 10.244.1.0/24' <<<"$st"
expect_eq "status --json: podSource's CIDR arrays" "['10.244.1.0/24']|['fd00:244:1::/64']" \
	"$(pods_json | paste -sd'|')"
expect_true "the log says it" grep -q 'IPv4 traffic is decided only from 10.244.1.0/24 (--pod-cidr)' "$LOG"
out=$(q "$NODE" "$MASQCTL" explain --live --socket "$SOCK" 203.0.113.2)
expect_true "explain --live shows the scope" \
	grep -q 'pod-source scope: only sources in 10.244.1.0/24 are decided' <<<"$out"
if owned_table; then
	updates=$(count_in "$LOG" 'rules updated (')
	printf 'nonMasqueradeCIDRs: [10.10.0.0/16, 10.20.0.0/16]\nresyncInterval: 60s\n' >"$cfg"
	expect_true "a config change with the scope still goes incrementally" \
		wait_until 200 log_reaches "$LOG" 'rules updated (' $((updates + 1))
	expect_render_matches "--pod-cidr, after the incremental update" "$cfg" "${pods[@]}"
	expect_eq "another CNI's address still keeps its source" 10.245.0.2 "$(from_cni)"
	printf 'nonMasqueradeCIDRs: [10.10.0.0/16]\nresyncInterval: 60s\n' >"$cfg"
	wait_until 200 log_reaches "$LOG" 'rules updated (' $((updates + 2))
else
	skip "this kernel has no persistent owned tables (6.9+): the incremental path"
fi
stop_masqd

echo "== drift of the pod set is repaired (plain table: anyone can change it)"
start_masqd "$LOG" --config "$cfg" "${pods[@]}" --table-flags plain --metrics-bind-address "" \
	--healthz-bind-address ""
node nft flush set inet ip-masq-agent podsrc4
pod_set_back() { q "$NODE" nft list set inet ip-masq-agent podsrc4 | grep -q 10.244.1.0/24; }
expect_true "the pod set's element is back" wait_until 200 pod_set_back
expect_true "logged as drift" grep -q 'drifted' "$LOG"
expect_eq "and the pod is masqueraded again" 203.0.113.1 "$(from_pod)"
stop_masqd

echo "== --once with --pod-cidr"
out=$(node "$MASQD" --once --config "$cfg" "${pods[@]}" 2>&1)
expect_eq "--once exits 0" 0 $?
expect_eq "another CNI's address keeps its source" 10.245.0.2 "$(from_cni)"
node "$MASQD" --cleanup >/dev/null 2>&1

echo "== --pod-cidr-from-node: the Node's podCIDRs appear after start"
"$ROOT/tests/fakeapi/certs.sh" "$PKI" >/dev/null
echo tok-1 >"$WORK/api-token"
mkdir -p "$SA"
kubelet_swap_files "$SA" token tok-1 ca.crt "$(cat "$PKI/ca.crt")" namespace kube-system
start_api
nodeobj() { # PODCIDRS-JSON [LABEL]
	ctl "{\"op\":\"put\",\"resource\":\"nodes\",\"object\":{\"apiVersion\":\"v1\",\"kind\":\"Node\",\"metadata\":{\"name\":\"node-a\",\"labels\":{\"l\":\"${2:-x}\"}},\"spec\":{${1:+\"podCIDRs\":$1}}}}" >/dev/null
}
nodeobj ""
ctl '{"op":"put","resource":"nodes","object":{"apiVersion":"v1","kind":"Node","metadata":{"name":"node-b"},"spec":{"podCIDRs":["10.99.0.0/24"]}}}' >/dev/null
export KUBERNETES_SERVICE_HOST=127.0.0.1 KUBERNETES_SERVICE_PORT=$API_PORT NODE_NAME=node-a
start_masqd "$LOG" --config "$cfg" --enable-ipv6 --pod-cidr-from-node --serviceaccount-dir "$SA" \
	--metrics-bind-address "$M" --healthz-bind-address "" --v 2
unset KUBERNETES_SERVICE_HOST KUBERNETES_SERVICE_PORT NODE_NAME
expect_eq "the Node is asked for by name (NODE_NAME)" "metadata.name=node-a" \
	"$(requests "[x['query'].get('fieldSelector') for x in r if x['resource'] == 'nodes'][0]")"
expect_true "not assigned yet: said in the log" grep -q 'node node-a has no spec.podCIDRs yet' "$LOG"
expect_eq "every source is decided meanwhile: another CNI's is masqueraded" 203.0.113.1 "$(from_cni)"
expect_eq "no scope rule yet" 0 "$(dump | grep -c podsrc)"
expect_eq "masqd_pod_cidrs{family=\"ipv4\"} 0 meanwhile" 0 "$(gauge ipv4)"
st=$(q "$NODE" "$MASQCTL" status --socket "$SOCK")
expect_true "masqctl status says so" \
	grep -qx 'pod-source scope IPv4: every source (no pod CIDR known), from node node-a' <<<"$st"
expect_eq "status --json: empty arrays meanwhile" "[]|[]" "$(pods_json | paste -sd'|')"
syncs=$(count_in "$LOG" 'rules programmed')
nodeobj '["10.244.1.0/24","fd00:244:1::/64"]'
expect_true "IPAM assigns them: the scope rule appears" wait_until 200 scoped
expect_eq "one sync did it" $((syncs + 1)) "$(count_in "$LOG" 'rules programmed')"
expect_true "logged with its reason" grep -q 'rules programmed (node pod CIDRs changed)' "$LOG"
expect_eq "another CNI's address now keeps its source" 10.245.0.2 "$(from_cni)"
expect_eq "a host-network process keeps its source" 10.10.0.1 "$(from_host)"
expect_eq "IPv6 host-network keeps its source" fd10:10::1 "$(from_host6)"
expect_eq "the pod is masqueraded" 203.0.113.1 "$(from_pod)"
expect_eq "the pod, IPv6, is masqueraded" 2001:db8::1 "$(from_pod6)"
expect_true "the gauge says 1" wait_until 100 gauge_is ipv4 1
expect_eq "the kernel's table is what masqctl render prints with the same CIDRs" \
	"$(q "$NODE" "$MASQCTL" render --config "$cfg" "${pods[@]}")" "$(dump | normalize)"
out=$(q "$NODE" "$MASQCTL" explain --live --socket "$SOCK" 203.0.113.2)
expect_true "explain --live shows the Node's scope" \
	grep -q 'only sources in 10.244.1.0/24 are decided' <<<"$out"

echo "== the Node's status changes: nothing to program"
syncs=$(count_in "$LOG" 'rules programmed')
nodeobj '["10.244.1.0/24","fd00:244:1::/64"]' y
nodeobj '["10.244.1.0/24","fd00:244:1::/64"]' z
wait_until 100 bash -c "[[ \$(grep -c 'nodes changed node-a' '$LOG') -ge 3 ]]"
expect_true "masqd saw the events" test "$(count_in "$LOG" 'nodes changed node-a')" -ge 3
expect_eq "and synced nothing" "$syncs" "$(count_in "$LOG" 'rules programmed')"

echo "== a bad podCIDRs is refused; the last good scope stays"
nodeobj '["10.244.1.0/24","10.244.2.0/24"]'
wait_until 100 log_reaches "$LOG" 'two IPv4 CIDRs' 1
expect_true "logged, naming the Node and the field" \
	grep -q 'node node-a: spec.podCIDRs has two IPv4 CIDRs: at most one per family' "$LOG"
expect_true "the scope stays" scoped
expect_eq "another CNI's address still keeps its source" 10.245.0.2 "$(from_cni)"
expect_true "masqd is still running" alive
nodeobj '["10.245.0.0/24"]'
expect_true "a new valid value moves the scope: 10.245.0.2 is a pod's now" \
	wait_until 200 cni_masqueraded
expect_eq "and 10.244.1.2 keeps its source" 10.244.1.2 "$(from_pod)"
expect_eq "IPv6 has no pod CIDR now: every source is decided (host-network masqueraded)" \
	2001:db8::1 "$(from_host6)"

echo "== the Node deleted: its pods keep their addresses, so the scope stays"
ctl '{"op":"delete","resource":"nodes","name":"node-a"}' >/dev/null
gone_seen() { grep -Eq 'node node-a (is gone|does not exist)' "$LOG"; }
expect_true "masqd saw it" wait_until 200 gone_seen
expect_true "logged as kept" grep -q 'node node-a is gone from the API: its last pod CIDRs stay' "$LOG"
expect_true "the scope rule stays" scoped
expect_eq "10.244.1.2 still keeps its source" 10.244.1.2 "$(from_pod)"
expect_eq "10.245.0.2 is still masqueraded" 203.0.113.1 "$(from_cni)"
expect_eq "masqd_pod_cidrs{family=\"ipv4\"} still 1" 1 "$(gauge ipv4)"
nodeobj '["10.244.1.0/24","fd00:244:1::/64"]'
expect_true "the Node back with other ranges moves the scope" \
	wait_until 200 log_reaches "$LOG" 'decided only from 10.244.1.0/24 (the Node' 2
expect_eq "10.245.0.2 keeps its source again" 10.245.0.2 "$(from_cni)"
stop_masqd

echo "== restarted while the API does not answer: the kernel's pod set stays in use"
export KUBERNETES_SERVICE_HOST=127.0.0.1 KUBERNETES_SERVICE_PORT=1 NODE_NAME=node-a
start_masqd "$LOG" --config "$cfg" --enable-ipv6 --pod-cidr-from-node --serviceaccount-dir "$SA" \
	--metrics-bind-address "$M" --healthz-bind-address ""
unset KUBERNETES_SERVICE_HOST KUBERNETES_SERVICE_PORT NODE_NAME
expect_true "it started from the files after the wait" grep -q 'no answer from the API in' "$LOG"
expect_true "and said it keeps the kernel's pod CIDRs" \
	grep -q 'nothing usable from the API for node node-a yet: the pod CIDRs in the kernel stay' "$LOG"
expect_true "the scope rule stays" scoped
expect_eq "10.245.0.2 still keeps its source" 10.245.0.2 "$(from_cni)"
expect_eq "the pod is masqueraded" 203.0.113.1 "$(from_pod)"
expect_eq "IPv6 too: a host-network process keeps its source" fd10:10::1 "$(from_host6)"
expect_eq "and the pod, IPv6, is masqueraded" 2001:db8::1 "$(from_pod6)"
expect_eq "masqd_pod_cidrs{family=\"ipv4\"} 1" 1 "$(gauge ipv4)"
stop_masqd

echo "== restarted while the API gives a Node masqd refuses: the kernel's pod set stays too"
nodeobj '["10.244.1.1/24"]' # host bits: the API takes it, masqd does not
export KUBERNETES_SERVICE_HOST=127.0.0.1 KUBERNETES_SERVICE_PORT=$API_PORT NODE_NAME=node-a
start_masqd "$LOG" --config "$cfg" --enable-ipv6 --pod-cidr-from-node --serviceaccount-dir "$SA" \
	--metrics-bind-address "$M" --healthz-bind-address ""
unset KUBERNETES_SERVICE_HOST KUBERNETES_SERVICE_PORT NODE_NAME
expect_true "the Node is refused, named" grep -q 'node node-a: spec.podCIDRs\[0\]: 10.244.1.1/24 has host bits' "$LOG"
expect_true "the kernel's pod CIDRs are kept" \
	log_reaches "$LOG" 'nothing usable from the API for node node-a yet' 2
expect_true "the scope rule stays" scoped
expect_eq "10.245.0.2 still keeps its source" 10.245.0.2 "$(from_cni)"
expect_eq "IPv6 host-network still keeps its source" fd10:10::1 "$(from_host6)"
nodeobj '["10.245.0.0/24"]'
expect_true "a usable version then takes over: 10.245.0.2 is a pod's" wait_until 200 cni_masqueraded
expect_eq "IPv6 is no longer scoped (the Node has no IPv6 CIDR)" 2001:db8::1 "$(from_host6)"
stop_masqd
expect_true "no sanitizer report in the log" bash -c "! grep -qs Sanitizer '$LOG'"
finish
