#!/usr/bin/env bash
# End-to-end: config from more than one owner. A config directory merged as
# ip-masq-agent-v2 does (one ConfigMap volume, several ip-masq* keys), and
# EgressNATPolicy files, decide which destinations keep the pod IP, seen with
# real traffic. Topology and safety rules: tests/netns/lib.sh. Needs root.
source "$(dirname "$0")/lib.sh"

[[ $(id -u) == 0 ]] || { echo "needs root for ip netns"; not_ok "run as root"; finish; exit 1; }

pod_ip() { [[ $(seen_from "$POD" "$1") == 10.244.1.2 ]]; }
vpc_kept() { pod_ip 10.10.0.2; }
net_kept() { pod_ip 203.0.113.2; }
a_vpc=$'nonMasqueradeCIDRs: [10.10.0.0/16]\n'
b_net=$'nonMasqueradeCIDRs: [203.0.113.0/24]\nmasqLinkLocal: false\n'

topo_up

echo "== a config directory: the keys of one ConfigMap merged (ip-masq-agent-v2)"
dir=$WORK/etc-config
log=$WORK/dir.log
mkdir -p "$dir"
kubelet_swap_files "$dir" ip-masq-agent "$a_vpc" ip-masq-agent-user "$b_net"
start_masqd "$log" --config "$dir" --resync-interval 30
expect_true "both files count: the VPC peer sees the pod IP" vpc_kept
expect_true "both files count: the outside host sees the pod IP" net_kept
expect_eq "and the defaults are not added" "" "$(set4 | grep -o 192.168.0.0/16)"

kubelet_swap_files "$dir" ip-masq-agent $'nonMasqueradeCIDRs: [198.18.0.0/15]\n' \
	ip-masq-agent-user $'nonMasqueradeCIDRs: [203.0.113.9/24]\n'
wait_until 200 has_cidr 198.18.0.0/15
expect_true "a good file updates while the other turns bad" has_cidr 198.18.0.0/15
expect_eq "the updated file's old CIDR is gone: the VPC peer sees the node IP" 10.10.0.1 \
	"$(seen_from "$POD" 10.10.0.2)"
expect_true "the bad file keeps contributing its last good version" net_kept
expect_true "the error names the file" grep -qF "$dir/ip-masq-agent-user:1:22: CIDR" "$log"

kubelet_swap_files "$dir" ip-masq-agent $'nonMasqueradeCIDRs: [198.18.0.0/15]\n'
wait_until 200 lacks_cidr 203.0.113.0/24
expect_eq "a key removed from the ConfigMap stops contributing" 203.0.113.1 \
	"$(seen_from "$POD" 203.0.113.2)"
kubelet_swap_files "$dir" other-key $'nonMasqueradeCIDRs: [203.0.113.0/24]\n'
wait_until 200 has_cidr 192.168.0.0/16
expect_true "with no ip-masq* file left, the defaults apply" has_cidr 192.168.0.0/16
expect_true "and a file not named ip-masq* is ignored" lacks_cidr 203.0.113.0/24
stop_masqd

echo "== EgressNATPolicy files"
pol=$WORK/policies
log=$WORK/pol.log
mkdir -p "$pol"
policy() { # NAME ACTION CIDR...
	local name=$1 action=$2 c
	shift 2
	printf 'apiVersion: networking.gke.io/v1\nkind: EgressNATPolicy\nmetadata:\n  name: %s\nspec:\n  action: %s\n  destinations:\n' "$name" "$action"
	for c in "$@"; do printf '  - cidr: %s\n' "$c"; done
}
policy default NoSNAT 10.0.0.0/8 >"$pol/default.yaml"
q "$NODE" "$MASQD" --cleanup 2>/dev/null
start_masqd "$log" --config "$WORK/no-such-file" --egress-nat-policy-dir "$pol"
expect_true "a NoSNAT policy keeps the pod IP for its destinations" vpc_kept
expect_true "with a policy and no config file there are no built-in defaults" lacks_cidr 192.168.0.0/16
expect_eq "other destinations are masqueraded" 203.0.113.1 "$(seen_from "$POD" 203.0.113.2)"

policy peering NoSNAT 203.0.113.0/24 >"$pol/.peering.tmp"
mv "$pol/.peering.tmp" "$pol/peering.yaml"
wait_until 200 has_cidr 203.0.113.0/24
expect_true "creating a policy applies it" net_kept

policy peering NoSNAT 198.51.100.0/24 >"$pol/peering.yaml"
wait_until 200 lacks_cidr 203.0.113.0/24
expect_eq "editing a policy applies the edit" 203.0.113.1 "$(seen_from "$POD" 203.0.113.2)"

policy default Masquerade 10.0.0.0/8 >"$pol/default.yaml"
wait_until 200 log_reaches "$log" 'policy default: spec.action' 1
expect_true "an unknown action is rejected with a clear error" \
	grep -qF "$pol/default.yaml:6:11: policy default: spec.action \\\"Masquerade\\\" is not supported (only NoSNAT)" "$log"
expect_true "and the rejected policy keeps its last good version" vpc_kept
out=$(q "$NODE" "$MASQCTL" status --socket "$WORK/masqd.sock")
expect_true "masqctl status shows the policy source's error" \
	grep -q "^  egress-nat-policy-dir $pol: error (the last good config stays in force): .*policy default" <<<"$out"
expect_true "and the config file source as OK" grep -q "^  file $WORK/no-such-file: OK" <<<"$out"

rm "$pol/default.yaml" "$pol/peering.yaml"
wait_until 200 has_cidr 192.168.0.0/16
expect_true "deleting every policy brings back the defaults" has_cidr 192.168.0.0/16
expect_true "deleting a policy removes its destinations" lacks_cidr 198.51.100.0/24
stop_masqd
expect_eq "masqd exits 0" 0 $?

finish
