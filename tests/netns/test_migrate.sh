#!/usr/bin/env bash
# End-to-end: migrating from upstream ip-masq-agent. Upstream never removes
# its iptables chain; left in table ip nat (iptables-nft), it still
# masquerades first and overrides masqd's decisions. masqd finds it, warns
# and reports it in a metric; with --remove-legacy-chain it deletes the
# chain and its POSTROUTING jump in one transaction, and nothing else.
# Topology and safety rules: tests/netns/lib.sh. Needs root.
source "$(dirname "$0")/lib.sh"

[[ $(id -u) == 0 ]] || { echo "needs root for ip netns"; not_ok "run as root"; finish; exit 1; }

M=127.0.0.1:9743
HTTP=$ROOT/tests/netns/http_client.py
ipt() { q "$NODE" iptables-nft -t nat "$@"; }
metric() { q "$NODE" python3 "$HTTP" get "http://$M/metrics" | awk -v k="$1" '$1 == k {print $2}'; }
net_seen() { seen_from "$POD" 203.0.113.2; }
chain_there() { ipt -S "$1" >/dev/null 2>&1; }
chain_gone() { ! chain_there "$1"; }
says_not() { ! grep -q "$1" <<<"$2"; }
jumps() { ipt -S POSTROUTING | grep -c -- "-j $1" || true; }
legacy_reported() { [[ $(metric 'masqd_legacy_chain_present{family="ipv4"}') == 1 ]]; }

# upstream's exact chain (pkg/iptables in ip-masq-agent), with its default CIDRs
upstream_chain() { # NAME
	ipt -N "$1"
	for c in 10.0.0.0/8 172.16.0.0/12 192.168.0.0/16; do
		ipt -A "$1" -d "$c" -m comment \
			--comment "ip-masq-agent: cluster-local traffic should not be subject to MASQUERADE" -j RETURN
	done
	ipt -A "$1" -m comment \
		--comment "ip-masq-agent: outbound traffic is subject to MASQUERADE (must be last in chain)" \
		-j MASQUERADE --random-fully
	ipt -A POSTROUTING -m comment \
		--comment "ip-masq-agent: ensure nat POSTROUTING directs all non-LOCAL destination traffic to our custom $1 chain" \
		-m addrtype ! --dst-type LOCAL -j "$1"
}

topo_up
cfg=$WORK/ip-masq-agent
printf 'nonMasqueradeCIDRs: [10.0.0.0/8, 203.0.113.0/24]\n' >"$cfg"
upstream_chain IP-MASQ-AGENT
ipt -A POSTROUTING -d 198.51.100.7/32 -j RETURN # someone else's rule
expect_eq "the switch without cleanup: upstream's chain masquerades the outside host" \
	203.0.113.1 "$(net_seen)"

echo "== without --remove-legacy-chain: found, reported, left alone"
out=$(q "$NODE" "$MASQD" --once --config "$cfg" 2>&1)
expect_true "masqd --once warns, naming the chain and the way out" \
	grep -q "chain IP-MASQ-AGENT is still in table ip nat.*--remove-legacy-chain" <<<"$out"
expect_true "the chain is left in place" chain_there IP-MASQ-AGENT
expect_eq "so it still overrides masqd: the outside host sees the node IP" 203.0.113.1 "$(net_seen)"
log=$WORK/daemon.log
start_masqd "$log" --config "$cfg" --metrics-bind-address "$M" --healthz-bind-address ""
wait_until 100 legacy_reported
expect_eq "the daemon reports it in a metric" 1 \
	"$(metric 'masqd_legacy_chain_present{family="ipv4"}')"
expect_eq "for IPv4 only" 0 "$(metric 'masqd_legacy_chain_present{family="ipv6"}')"
expect_eq "and warns once" 1 "$(count_in "$log" 'chain IP-MASQ-AGENT is still in table ip nat')"
stop_masqd

echo "== with --remove-legacy-chain"
out=$(q "$NODE" "$MASQD" --once --config "$cfg" --remove-legacy-chain 2>&1)
expect_true "masqd says what it removed" \
	grep -q "removed upstream ip-masq-agent's chain IP-MASQ-AGENT from table ip nat (4 rules) and 1 POSTROUTING jumps" <<<"$out"
expect_true "the chain is gone" chain_gone IP-MASQ-AGENT
expect_eq "and the jump to it" 0 "$(jumps IP-MASQ-AGENT)"
expect_true "someone else's POSTROUTING rule stays" grep -q 198.51.100.7 <<<"$(ipt -S POSTROUTING)"
expect_eq "masqd's decision now holds: the outside host sees the pod IP" 10.244.1.2 "$(net_seen)"

echo "== the daemon removes it: the hook check does not keep listing it"
# masqd's own commit that removes the chain changes the nat postrouting hook:
# the check after it must read the chains again, not carry the old result
# over to the generation masqd's commit made.
upstream_chain IP-MASQ-AGENT
gauge() { metric masqd_foreign_nat_chains; }
gauge_is() { [[ $(gauge) == "$1" ]]; }
log=$WORK/daemon-remove.log
start_masqd "$log" --config "$cfg" --metrics-bind-address "$M" --healthz-bind-address "" \
	--remove-legacy-chain
expect_true "the daemon removes the chain" wait_until 100 chain_gone IP-MASQ-AGENT
expect_true "its check first saw it (logged)" \
	grep -q 'other NAT chain at the nat postrouting hook can override.*via IP-MASQ-AGENT' "$log"
expect_true "the gauge of other NAT chains at the hook falls to 0" wait_until 60 gauge_is 0
expect_true "and the all-clear is logged" \
	grep -q 'no other NAT chain at the nat postrouting hook now' "$log"
expect_true "status lists none" \
	grep -q 'other NAT chains at the nat postrouting hook: none' \
	<<<"$(q "$NODE" "$MASQCTL" status --socket "$WORK/masqd.sock")"
stop_masqd

echo "== GKE's chain name"
upstream_chain IP-MASQ
out=$(q "$NODE" "$MASQD" --once --config "$cfg" 2>&1)
expect_true "the default name does not see GKE's chain" says_not 'still in table' "$out"
out=$(q "$NODE" "$MASQD" --once --config "$cfg" --masq-chain IP-MASQ --remove-legacy-chain 2>&1)
expect_true "--masq-chain IP-MASQ finds and removes it" grep -q "chain IP-MASQ from table ip nat" <<<"$out"
expect_true "gone" chain_gone IP-MASQ
expect_eq "the outside host sees the pod IP" 10.244.1.2 "$(net_seen)"
finish
