#!/usr/bin/env bash
# Pod-source scoping through masqctl: --pod-cidr in render (the podsrc sets
# and the head rules), its usage errors, masqctl explain with --source
# inside and outside the pod CIDRs, text and --json, both families, and
# masqctl status printing the status document's podSource. No root.
set -u
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${BUILD:-build}
MASQCTL=$ROOT/$BUILD/masqctl
MASQD=$ROOT/$BUILD/masqd
source "$ROOT/tests/assert.sh"
WORK=$(mktemp -d /tmp/masqctl-podsrc.XXXX)
trap 'rm -rf "$WORK"' EXIT

cfg=$WORK/ip-masq-agent
printf 'nonMasqueradeCIDRs: [10.10.0.0/16]\n' >"$cfg"
pods=(--enable-ipv6 --pod-cidr 10.244.1.0/24,10.244.2.0/24 --pod-cidr fd00:244:1::/64)

echo "== render"
run render "${pods[@]}" "$cfg"
expect_eq "render exits 0" 0 "$rc"
expect_eq "the IPv4 scope rule heads the chain" \
	'ip saddr != @podsrc4 return comment "masqd: sources outside the pod CIDRs keep their address"' \
	"$(sed -n '/policy accept;/{n;s/^\t*//;p}' <<<"$out")"
expect_true "then the IPv6 one" grep -q $'^\t\tip6 saddr != @podsrc6 return' <<<"$out"
expect_eq "the pod sets, merged" "10.244.1.0-10.244.2.255|fd00:244:1::/64" \
	"$(sed -n '/set podsrc4 {/,/}/s/.*elements = { \(.*\) }/\1/p' <<<"$out")|$(sed -n '/set podsrc6 {/,/}/s/.*elements = { \(.*\) }/\1/p' <<<"$out")"
run render "$cfg"
expect_eq "without --pod-cidr: no scope (upstream's every source)" 0 "$(grep -c podsrc <<<"$out")"
run render --pod-cidr 10.244.1.0/24 --enable-ipv6 "$cfg"
expect_eq "IPv4 only: IPv6 stays unscoped" "1 0" \
	"$(grep -c 'ip saddr != @podsrc4' <<<"$out") $(grep -c podsrc6 <<<"$out")"

echo "== usage errors, located"
run render --pod-cidr 10.244.1.1/24 "$cfg"
expect_eq "host bits: the aligned form" \
	"2 masqctl: --pod-cidr: 10.244.1.1/24 has host bits set (did you mean 10.244.1.0/24?)" "$rc $err"
run render --pod-cidr fd00::/64 "$cfg"
expect_eq "IPv6 needs --enable-ipv6" \
	"2 masqctl: --pod-cidr: fd00::/64 is IPv6: add --enable-ipv6 (without it masqd leaves IPv6 alone)" \
	"$rc $err"
run render --pod-cidr 10.244.1.0/24,,10.0.0.0/8 "$cfg"
expect_eq "an empty entry" '2 masqctl: --pod-cidr: "" is not a CIDR' "$rc $err"
run explain --live --socket "$WORK/none.sock" --source 10.244.1.2 203.0.113.2
expect_eq "explain --live with --source: refused, not silently ignored" \
	"2 masqctl: explain --live takes no --source: it shows the scope in force; ask offline with --source and --pod-cidr" \
	"$rc $err"
run render --pod-cidr 10.1.0.0/16 --pod-cidr 10.2.0.0/16 --pod-cidr 10.3.0.0/16 \
	--pod-cidr 10.4.0.0/16 --pod-cidr 10.5.0.0/16 "$cfg"
expect_eq "five uses of the flag: over its bound (comma lists carry more)" \
	"2 masqctl: flag --pod-cidr given more than 4 times" "$rc $err"
many=$(python3 -c "print(','.join('10.%d.0.0/16' % i for i in range(65)))")
run render --pod-cidr "$many" "$cfg"
expect_eq "65 IPv4 CIDRs: over the bound" "2 masqctl: --pod-cidr: more than 64 IPv4 CIDRs" "$rc $err"
out=$("$MASQD" --once --config "$cfg" --pod-cidr-from-node 2>&1)
expect_eq "masqd --pod-cidr-from-node without a node name: exit 2" 2 $?
out=$(env -u NODE_NAME "$MASQD" --config "$cfg" --pod-cidr-from-node 2>&1)
expect_eq "and the message says where the name comes from" \
	"2 masqd: --pod-cidr-from-node needs the node's name: --node-name, or the NODE_NAME variable (the chart sets it from spec.nodeName)" \
	"$? $out"
out=$(NODE_NAME=Node_1 "$MASQD" --config "$cfg" --pod-cidr-from-node 2>&1)
expect_eq "a name that is no node name" \
	"2 masqd: node name \"Node_1\" is not a Kubernetes node name (at most 253 of a-z, 0-9, '.' and '-')" \
	"$? $out"
out=$(NODE_NAME=node-a "$MASQD" --once --config "$cfg" --pod-cidr-from-node 2>&1)
expect_eq "--once cannot watch the Node" \
	"2 masqd: --once and --cleanup read files only; the API watch needs the daemon" "$? $out"

echo "== explain"
run explain "${pods[@]}" --source 10.245.0.2 "$cfg" 203.0.113.2
expect_eq "a source outside the pod CIDRs: not masqd's decision" \
	"203.0.113.2: not masqd's decision: source outside the pod CIDRs, keeps its source
  for a source in the pod CIDRs:
  no prefix contains 203.0.113.2: masqueraded, as everything not listed
  source 10.245.0.2: outside the pod CIDRs (10.244.1.0/24, 10.244.2.0/24)" "$out"
run explain "${pods[@]}" --source 10.244.2.9 "$cfg" 203.0.113.2
expect_eq "a pod source: decided, the scope shown" \
	"203.0.113.2: masqueraded|  source 10.244.2.9: in the pod CIDRs (10.244.1.0/24, 10.244.2.0/24)" \
	"$(sed -n '1p' <<<"$out")|$(sed -n '$p' <<<"$out")"
run explain "${pods[@]}" "$cfg" 10.10.1.1
expect_eq "no --source: the scope is said" \
	"10.10.1.1: keeps the pod IP|  pod-source scope: only sources in 10.244.1.0/24, 10.244.2.0/24 are decided; others keep theirs" \
	"$(sed -n '1p' <<<"$out")|$(sed -n '$p' <<<"$out")"
run explain "${pods[@]}" --json --source fd10:10::1 "$cfg" 2001:db8::2
expect_eq "--json, IPv6 outside" \
	"False False True ['fd00:244:1::/64'] source outside the pod CIDRs keeps its source" \
	"$(json "d['masqueraded'], d['decidedByMasqd'], d['sourceScoped'], d['podCIDRs'], d['reason']" | tr -d '(),')"
run explain "${pods[@]}" --json --source fd00:244:1::5 "$cfg" 2001:db8::2
expect_eq "--json, IPv6 pod source" "True True True" \
	"$(json "d['masqueraded'], d['decidedByMasqd'], d['sourceScoped']" | tr -d '(),')"
run explain --json --source 10.245.0.2 "$cfg" 203.0.113.2
expect_eq "--json without scoping: every source" "True True False None" \
	"$(json "d['masqueraded'], d['decidedByMasqd'], d['sourceScoped'], d['podCIDRs']" | tr -d '(),')"
run explain "${pods[@]}" --source 10.244.1.2 "$cfg" 2001:db8::2
expect_eq "--source of the other family" \
	"2 masqctl: --source 10.244.1.2 and 2001:db8::2 are not of the same family" "$rc $err"
echo "== status: podSource's arrays, as people read them"
# One status answer from a stand-in for masqd's socket (masqctl status reads
# a line's request and the document up to EOF).
status_from() { # status_from JSON: sets out, err, rc of masqctl status
	rm -f "$WORK/status.sock"
	python3 -c '
import socket, sys
s = socket.socket(socket.AF_UNIX); s.bind(sys.argv[1]); s.listen(1)
c, _ = s.accept(); c.recv(64); c.sendall(sys.argv[2].encode()); c.close()' \
		"$WORK/status.sock" "$1" &
	for _ in $(seq 100); do [[ -S $WORK/status.sock ]] && break; sleep 0.05; done
	run status --socket "$WORK/status.sock"
	wait $!
}
status_from '{"podSource": {"ipv4": ["10.244.1.0/24", "10.244.2.0/24"], "ipv6": []}}'
expect_eq "two IPv4 pod CIDRs, none for IPv6" \
	"0|pod-source scope IPv4: 10.244.1.0/24, 10.244.2.0/24|pod-source scope IPv6: every source (no pod CIDR known)" \
	"$rc|$(grep '^pod-source' <<<"$out" | paste -sd'|')"
status_from '{"podSource": {"ipv4": [], "ipv6": ["fd00:244:1::/64"], "fromNode": {"name": "node-a", "listed": true, "exists": true}}}'
expect_eq "from a Node" \
	"pod-source scope IPv4: every source (no pod CIDR known), from node node-a|pod-source scope IPv6: fd00:244:1::/64, from node node-a" \
	"$(grep '^pod-source' <<<"$out" | paste -sd'|')"
status_from '{}'
expect_eq "no podSource: no scope lines" 0 "$(grep -c '^pod-source' <<<"$out")"
finish
