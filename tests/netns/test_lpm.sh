#!/usr/bin/env bash
# End-to-end: masqueradeCIDRs carve exceptions out of nonMasqueradeCIDRs by
# longest prefix, nested three levels deep, in both families, and real TCP
# connections from the pod show each decision; the same from the ConfigMap
# and EgressNATPolicies served by the fake API server. Needs root (ip netns).
#
# On top of tests/netns/lib.sh's topology, the VPC peer answers on
# addresses at each level of the nesting (routed by the node through vpc0):
#
#   level                        config                      VPC address    seen
#   10.0.0.0/8    fd10::/16      nonMasqueradeCIDRs (kept)   10.2.0.2       pod IP
#                                                            fd10:2::2
#   10.1.0.0/16   fd10:1::/32    masqueradeCIDRs             10.1.5.2       node IP (vpc0)
#                                                            fd10:1:5::2
#   10.1.2.0/24   fd10:1:2::/48  nonMasqueradeCIDRs (kept)   10.1.2.2       pod IP
#                                                            fd10:1:2::2
source "$(dirname "$0")/lib.sh"

[[ $(id -u) == 0 ]] || { echo "needs root for ip netns"; not_ok "run as root"; finish; exit 1; }

POD4=10.244.1.2 POD6=fd00:244:1::2 NODE4=10.10.0.1 NODE6=fd10:10::1
CFG=$WORK/ip-masq-agent

nested_addresses() {
	vpc ip addr add 10.2.0.2/32 dev eth0
	vpc ip addr add 10.1.5.2/32 dev eth0
	vpc ip addr add 10.1.2.2/32 dev eth0
	vpc ip addr add fd10:2::2/128 dev eth0 nodad
	vpc ip addr add fd10:1:5::2/128 dev eth0 nodad
	vpc ip addr add fd10:1:2::2/128 dev eth0 nodad
	node ip route add 10.1.0.0/16 via 10.10.0.2
	node ip route add 10.2.0.0/16 via 10.10.0.2
	node ip -6 route add fd10:1::/32 via fd10:10::2
	node ip -6 route add fd10:2::/32 via fd10:10::2
}

write_nested() {
	cat >"$CFG" <<'EOF'
nonMasqueradeCIDRs:
  - 10.0.0.0/8
  - 10.1.2.0/24
  - "fd10::/16"
  - "fd10:1:2::/48"
masqueradeCIDRs:
  - 10.1.0.0/16
  - "fd10:1::/32"
EOF
}

# The decisions at each level: kept, masqueraded, kept; none: masqueraded.
check_nested() { # MODE
	expect_eq "$1: 10.2.0.2 (10.0.0.0/8, kept) sees the pod IP" $POD4 "$(seen_from "$POD" 10.2.0.2)"
	expect_eq "$1: 10.1.5.2 (10.1.0.0/16, masqueraded) sees the node IP" $NODE4 \
		"$(seen_from "$POD" 10.1.5.2)"
	expect_eq "$1: 10.1.2.2 (10.1.2.0/24, kept) sees the pod IP" $POD4 "$(seen_from "$POD" 10.1.2.2)"
	expect_eq "$1: fd10:2::2 (fd10::/16, kept) sees the pod IP" $POD6 \
		"$(seen_from "$POD" fd10:2::2)"
	expect_eq "$1: fd10:1:5::2 (fd10:1::/32, masqueraded) sees the node IP" $NODE6 \
		"$(seen_from "$POD" fd10:1:5::2)"
	expect_eq "$1: fd10:1:2::2 (fd10:1:2::/48, kept) sees the pod IP" $POD6 \
		"$(seen_from "$POD" fd10:1:2::2)"
	expect_eq "$1: 203.0.113.2 (no prefix) is masqueraded" 203.0.113.1 \
		"$(seen_from "$POD" 203.0.113.2)"
	expect_eq "$1: 2001:db8::2 (no prefix) is masqueraded" 2001:db8::1 \
		"$(seen_from "$POD" 2001:db8::2)"
}

rules() { dump | grep 'comment "ip-masq-agent' | sed 's/counter packets [0-9]* bytes [0-9]*/counter/'; }

topo_up
nested_addresses

echo "== without masqueradeCIDRs everything under 10.0.0.0/8 keeps the pod IP"
printf 'nonMasqueradeCIDRs: [10.0.0.0/8, "fd10::/16"]\n' >"$CFG"
node "$MASQD" --once --enable-ipv6 --config "$CFG"
expect_eq "plain: 10.1.5.2 sees the pod IP" $POD4 "$(seen_from "$POD" 10.1.5.2)"
expect_eq "plain: fd10:1:5::2 sees the pod IP" $POD6 "$(seen_from "$POD" fd10:1:5::2)"
plain_rules=$(rules)

echo "== three levels: kept, masqueraded, kept"
write_nested
node "$MASQD" --once --enable-ipv6 --config "$CFG"
expect_eq "masqd --once exits 0" 0 $?
check_nested once
expect_render_matches nested "$CFG" --enable-ipv6
expect_eq "nested: the chain is the same rules as without exceptions" "$plain_rules" "$(rules)"
expect_true "nested: nomasq4 holds the resolved intervals" \
	grep -qF '10.0.0.0/16, 10.1.2.0/24' <<<"$(set4)"

echo "== masquerade only these: nonMasqueradeCIDRs: [0.0.0.0/0] + masqueradeCIDRs"
cat >"$CFG" <<'EOF'
nonMasqueradeCIDRs: [0.0.0.0/0, "::/0"]
masqueradeCIDRs: [10.1.0.0/16, 203.0.113.0/24, "fd10:1::/32"]
EOF
node "$MASQD" --once --enable-ipv6 --config "$CFG"
expect_eq "only these: 10.1.5.2 is masqueraded" $NODE4 "$(seen_from "$POD" 10.1.5.2)"
expect_eq "only these: 203.0.113.2 is masqueraded" 203.0.113.1 "$(seen_from "$POD" 203.0.113.2)"
expect_eq "only these: 10.2.0.2 keeps the pod IP" $POD4 "$(seen_from "$POD" 10.2.0.2)"
expect_eq "only these: 2001:db8::2 keeps the pod IP" $POD6 "$(seen_from "$POD" 2001:db8::2)"
expect_eq "only these: fd10:1:5::2 is masqueraded" $NODE6 "$(seen_from "$POD" fd10:1:5::2)"
expect_render_matches "only these" "$CFG" --enable-ipv6

echo "== the same prefix in both lists: a located error, the kernel unchanged"
before=$(dump)
printf 'nonMasqueradeCIDRs: [10.0.0.0/8]\nmasqueradeCIDRs:\n  - 10.0.0.0/8\n' >"$CFG"
out=$(q "$NODE" "$MASQD" --once --config "$CFG" 2>&1)
expect_eq "conflict: masqd --once exits 1" 1 $?
expect_true "conflict: the error names FILE:LINE:COL" \
	grep -qF "$CFG:3:5: 10.0.0.0/8 is in both masqueradeCIDRs and nonMasqueradeCIDRs (line 1)" <<<"$out"
expect_eq "conflict: kernel rules byte-for-byte unchanged" "$before" "$(dump)"

echo "== the daemon: a change of masqueradeCIDRs alone, applied incrementally"
node "$MASQD" --cleanup
incremental=0
kernel_owns && incremental=1
node "$MASQD" --cleanup
printf 'nonMasqueradeCIDRs: [10.0.0.0/8, 10.1.2.0/24, "fd10::/16", "fd10:1:2::/48"]\n' >"$CFG"
log=$WORK/daemon.log
start_masqd "$log" --config "$CFG" --enable-ipv6
wait_until 200 has_cidr 10.0.0.0/8
expect_eq "daemon: 10.1.5.2 keeps the pod IP before" $POD4 "$(seen_from "$POD" 10.1.5.2)"
updates=$(count_in "$log" 'rules updated (')

write_nested
wait_until 200 has_cidr 10.0.0.0/16
check_nested "daemon, masqueradeCIDRs added"
if ((incremental)); then
	expect_true "daemon: the addition went through the incremental path" \
		log_reaches "$log" 'rules updated (' $((updates + 1))
fi

sed -i 's|10.1.0.0/16|10.1.4.0/22|' "$CFG"
wait_until 200 has_cidr 10.0.0.0-10.1.3.255
expect_eq "daemon, exception narrowed: 10.1.5.2 (10.1.4.0/22) still masqueraded" $NODE4 \
	"$(seen_from "$POD" 10.1.5.2)"
expect_eq "daemon, exception narrowed: 10.1.2.2 keeps the pod IP" $POD4 "$(seen_from "$POD" 10.1.2.2)"

printf 'nonMasqueradeCIDRs: [10.0.0.0/8, 10.1.2.0/24, "fd10::/16", "fd10:1:2::/48"]\n' >"$CFG"
wait_until 200 has_cidr 10.0.0.0/8
expect_eq "daemon, masqueradeCIDRs removed: 10.1.5.2 keeps the pod IP again" $POD4 \
	"$(seen_from "$POD" 10.1.5.2)"
expect_eq "daemon, masqueradeCIDRs removed: fd10:1:5::2 keeps the pod IP again" $POD6 \
	"$(seen_from "$POD" fd10:1:5::2)"
if ((incremental)); then
	expect_true "daemon: three config changes, three incremental updates" \
		log_reaches "$log" 'rules updated (' $((updates + 3))
	expect_eq "daemon: no full replacement after start" 1 "$(count_in "$log" 'rules programmed (')"
else
	skip "this kernel has no persistent owned tables (6.9+): the incremental path"
fi

before=$(dump)
errors=$(count_in "$log" 'is in both masqueradeCIDRs')
printf 'nonMasqueradeCIDRs: [10.0.0.0/8]\nmasqueradeCIDRs: [10.1.0.0/16, 10.0.0.0/8]\n' >"$CFG"
wait_until 200 log_reaches "$log" 'is in both masqueradeCIDRs' $((errors + 1))
expect_true "daemon: a conflict is logged with its location" \
	grep -qF "$CFG:2:32: 10.0.0.0/8 is in both" "$log"
expect_eq "daemon: a conflict leaves the kernel as it was" "$before" "$(dump)"
stop_masqd
node "$MASQD" --cleanup

echo "== through the API: the watched ConfigMap has the key; a NoSNAT policy is a non-masquerade prefix"
source "$(dirname "$0")/api_lib.sh"
"$ROOT/tests/fakeapi/certs.sh" "$PKI" >/dev/null
echo tok-1 >"$WORK/api-token"
mkdir -p "$SA"
kubelet_swap_files "$SA" token tok-1 ca.crt "$(cat "$PKI/ca.crt")" namespace kube-system
start_api
configmap 'nonMasqueradeCIDRs: [10.0.0.0/8, 10.1.2.0/24]\nmasqueradeCIDRs: [10.1.0.0/16]\n'
log=$WORK/api.log
export KUBERNETES_SERVICE_HOST=127.0.0.1 KUBERNETES_SERVICE_PORT=$API_PORT
start_masqd "$log" --config "$WORK/absent" --watch-configmap kube-system/ip-masq-agent \
	--watch-egress-nat-policies --serviceaccount-dir "$SA" --api-not-found-retry 1s \
	--metrics-bind-address "" --healthz-bind-address ""
unset KUBERNETES_SERVICE_HOST KUBERNETES_SERVICE_PORT
wait_until 200 has_cidr 10.0.0.0/16
expect_eq "api: 10.1.5.2 (the ConfigMap's exception) is masqueraded" $NODE4 "$(seen_from "$POD" 10.1.5.2)"
expect_eq "api: 10.1.2.2 keeps the pod IP" $POD4 "$(seen_from "$POD" 10.1.2.2)"
policy onprem 10.1.5.0/24
wait_until 200 has_cidr 10.1.5.0/24
expect_eq "api: a NoSNAT /24 inside the exception keeps the pod IP (longest prefix)" $POD4 \
	"$(seen_from "$POD" 10.1.5.2)"
before=$(dump)
policy onprem 10.1.0.0/16
wait_until 200 log_reaches "$log" 'a non-masquerade prefix from EgressNATPolicy/onprem' 1
expect_true "api: a NoSNAT destination equal to an exception is refused at the ConfigMap's entry" \
	grep -qF 'configmap kube-system/ip-masq-agent:2:19: 10.1.0.0/16 is in masqueradeCIDRs here' "$log"
expect_eq "api: and the kernel keeps the last good rules" "$before" "$(dump)"
unpolicy onprem
configmap 'nonMasqueradeCIDRs: [10.0.0.0/8]\n'
wait_until 200 has_cidr 10.0.0.0/8
expect_eq "api: the exception removed from the ConfigMap: 10.1.5.2 keeps the pod IP" $POD4 \
	"$(seen_from "$POD" 10.1.5.2)"
stop_masqd
stop_api
node "$MASQD" --cleanup
finish
