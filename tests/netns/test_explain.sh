#!/usr/bin/env bash
# End-to-end: masqctl explain --live asks the running masqd why a destination
# is masqueraded or keeps the pod IP: the deciding prefix with its origin
# (FILE:LINE, EgressNATPolicy/NAME), whether that is what was applied, and
# what the kernel's set says, which must agree with the packets the peers
# see. A client that sends no request still gets the status (old masqctl).
# Topology and safety rules: tests/netns/lib.sh. Needs root.
source "$(dirname "$0")/lib.sh"

[[ $(id -u) == 0 ]] || { echo "needs root for ip netns"; not_ok "run as root"; finish; exit 1; }

SOCK=$WORK/masqd.sock
live() { q "$NODE" "$MASQCTL" explain --live --socket "$SOCK" "$@"; }

topo_up
cfg=$WORK/config
pol=$WORK/policies
mkdir -p "$pol"
printf 'nonMasqueradeCIDRs:\n  - 10.0.0.0/8\nmasqueradeCIDRs:\n  - 10.10.0.0/16\n' >"$cfg"
cat >"$pol/net.yaml" <<EOP
apiVersion: networking.gke.io/v1
kind: EgressNATPolicy
metadata: {name: outside}
spec: {action: NoSNAT, destinations: [{cidr: 203.0.113.0/24}]}
EOP
log=$WORK/masqd.log
start_masqd "$log" --config "$cfg" --egress-nat-policy-dir "$pol" \
	--metrics-bind-address "" --healthz-bind-address ""

echo "== a destination masqueraded by an exception inside a kept range"
out=$(live 10.10.0.2)
rc=$?
expect_eq "exit 0: the kernel agrees" 0 "$rc"
expect_true "masqueraded" grep -q '^10.10.0.2: masqueraded' <<<"$out"
expect_true "decided by the exception, with its FILE:LINE" \
	grep -q "decided by 10.10.0.0/16 (masqueradeCIDRs), from $cfg:4" <<<"$out"
expect_true "the shorter prefix that lost, with its FILE:LINE" \
	grep -q "lost: 10.0.0.0/8 (nonMasquerade), from $cfg:2" <<<"$out"
expect_true "the kernel's set does not hold it, which agrees" \
	grep -q 'kernel: set nomasq4 does not hold it: agrees' <<<"$out"
expect_true "it leaves with the address of the interface it goes out by" \
	grep -q 'leaves with the address of the interface it goes out by (masquerade)' <<<"$out"
expect_true "and the VPC peer sees the node IP" test "$(seen_from "$POD" 10.10.0.2)" = 10.10.0.1

echo "== a destination kept by a policy"
out=$(live 203.0.113.2)
expect_true "keeps the pod IP" grep -q '^203.0.113.2: keeps the pod IP' <<<"$out"
expect_true "decided by the policy" \
	grep -q 'decided by 203.0.113.0/24 (nonMasquerade), from EgressNATPolicy/outside' <<<"$out"
expect_true "the kernel's set holds it, which agrees" \
	grep -q 'kernel: set nomasq4 holds it: agrees' <<<"$out"
expect_true "and the outside host sees the pod IP" test "$(seen_from "$POD" 203.0.113.2)" = 10.244.1.2
json=$(live --json 203.0.113.2)
expect_eq "--json: the decision, the kernel, and that it is what was applied" "False True True True" \
	"$(jq_ "d['explain']['masqueraded'], d['kernel']['holds'], d['kernel']['agrees'], d['current']" <<<"$json")"

echo "== the sources differ from what was applied"
put_cfg "$cfg" 'nonMasqueradeCIDRs:\n  - 10.0.0.1/8\n' # refused: the last good stays
wait_until 100 log_reaches "$log" 'host bits set' 1
out=$(live 10.10.0.2)
expect_true "said, with where to look" grep -q 'differ from what was applied last' <<<"$out"
expect_true "the kernel still agrees with what is applied" test "$(seen_from "$POD" 10.10.0.2)" = 10.10.0.1

echo "== bad requests, and a client that sends none"
out=$(live 10.10.0.300 2>&1)
expect_eq "a bad address: exit 1" 1 $?
expect_true "masqd says why" grep -q 'masqd: "10.10.0.300" is not an IPv4 or IPv6 address' <<<"$out"
out=$(q "$NODE" python3 -c "
import socket; s = socket.socket(socket.AF_UNIX); s.connect('$SOCK')
d = b''
while True:
    b = s.recv(65536)
    if not b: break
    d += b
print(d.decode())")
expect_true "a client that sends nothing gets the status document" \
	bash -c "python3 -c 'import json,sys; d=json.load(sys.stdin); assert \"version\" in d' <<<'$out'"
expect_true "masqctl status still answers" q "$NODE" "$MASQCTL" status --socket "$SOCK"
expect_true "masqd is running" kill -0 "$DAEMON"
stop_masqd

echo "== the address a masqueraded packet leaves with: masquerade, or --snat-to-address"
printf 'nonMasqueradeCIDRs:\n  - 10.0.0.0/8\nmasqueradeCIDRs:\n  - 10.10.0.0/16\n' >"$cfg"
rm "$pol/net.yaml"
dev=$(q "$NODE" ip -o -4 addr show to 203.0.113.1 | awk '{print $2}')
node ip addr add 203.0.113.9/24 dev "$dev"
start_masqd "$log" --config "$cfg" --egress-nat-policy-dir "$pol" \
	--metrics-bind-address "" --healthz-bind-address ""
out=$(live 203.0.113.2)
expect_true "without --snat-to-address: the interface's address (masquerade)" \
	grep -q 'leaves with the address of the interface it goes out by (masquerade)' <<<"$out"
stop_masqd
start_masqd "$log" --config "$cfg" --egress-nat-policy-dir "$pol" --snat-to-address 203.0.113.9 \
	--metrics-bind-address "" --healthz-bind-address ""
out=$(live 203.0.113.2)
expect_true "with it: that address" grep -q 'leaves with 203.0.113.9 (snat' <<<"$out"
expect_true "which the outside host sees" test "$(seen_from "$POD" 203.0.113.2)" = 203.0.113.9
expect_eq "--json says it too" 203.0.113.9 \
	"$(live --json 203.0.113.2 | jq_ "d['leavesWith']")"
stop_masqd
expect_true "no sanitizer report in the log" bash -c "! grep -qs Sanitizer '$log'"
finish
