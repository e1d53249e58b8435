#!/usr/bin/env bash
# masqueradeCIDRs through masqctl: the resolved set render prints, the key in
# effective --json, the FILE:LINE:COL errors for a prefix in both lists, in
# a file, across a directory's files and against an EgressNATPolicy; and
# masqctl explain on a nested config, both families. No root.
set -u
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${BUILD:-build}
MASQCTL=$ROOT/$BUILD/masqctl
source "$ROOT/tests/assert.sh"
WORK=$(mktemp -d /tmp/masqctl-lpm.XXXX)
trap 'rm -rf "$WORK"' EXIT

elements() { sed -n '/set nomasq'"$1"' {/,/}/p' <<<"$out" | tr -d '\n\t' | sed 's/.*elements = { //; s/ }.*//'; }

nested=$WORK/nested.yaml
cat >"$nested" <<'EOF'
nonMasqueradeCIDRs:
  - 10.0.0.0/8
  - 10.1.2.0/24
  - "fd10::/16"
  - "fd10:1:2::/48"
masqueradeCIDRs:
  - 10.1.0.0/16
  - "fd10:1::/32"
EOF
run validate --enable-ipv6 "$nested"
expect_eq "validate: a nested config is OK" "0 $nested: OK" "$rc $out"
run render --enable-ipv6 "$nested"
expect_eq "render: IPv4 resolved by longest prefix" \
	"10.0.0.0/16, 10.1.2.0/24,     10.2.0.0-10.255.255.255, 169.254.0.0/16" "$(elements 4)"
expect_eq "render: IPv6 resolved by longest prefix" \
	"fd10::/32,     fd10:1:2::/48,     fd10:2::-fd10:ffff:ffff:ffff:ffff:ffff:ffff:ffff,     fe80::/10" \
	"$(elements 6)"
expect_eq "render: the chain has the usual five rules" 5 "$(grep -c 'comment "ip-masq-agent' <<<"$out")"
run effective --json --enable-ipv6 "$nested"
expect_eq "effective: masqueradeCIDRs in input order" "['10.1.0.0/16', 'fd10:1::/32']" \
	"$(json "d['masqueradeCIDRs']")"
expect_eq "effective: sources name the file for them too" "['$nested']" \
	"$(json "d['sources']['fd10:1::/32']")"
run effective --json "$WORK/none"
expect_eq "effective: no masqueradeCIDRs key when none is set (upstream's shape)" False \
	"$(json "'masqueradeCIDRs' in d")"

only=$WORK/only.yaml
printf 'nonMasqueradeCIDRs: [0.0.0.0/0, "::/0"]\nmasqueradeCIDRs: [203.0.113.0/24]\n' >"$only"
run validate --enable-ipv6 "$only"
expect_eq "masquerade only these: 0.0.0.0/0 with exceptions is not 'masquerading off'" \
	"0 $only: OK|warning: the non-masquerade set covers every IPv6 address (::/0): nothing of that family would be masqueraded" \
	"$rc $out|$err"

both=$WORK/both.yaml
printf 'nonMasqueradeCIDRs:\n  - 10.0.0.0/8\nmasqueradeCIDRs: [10.1.0.0/16, 10.0.0.0/8]\n' >"$both"
run validate "$both"
expect_eq "the same prefix in both lists: exit 1, located at the masqueradeCIDRs entry" \
	"1 $both:3:32: 10.0.0.0/8 is in both masqueradeCIDRs and nonMasqueradeCIDRs (line 2); the longest prefix decides, so keep it in one list" \
	"$rc $err"
run render "$both"
expect_eq "render refuses it too" "1 " "$rc $out"

dir=$WORK/dir
mkdir "$dir"
printf 'nonMasqueradeCIDRs: [10.0.0.0/8]\n' >"$dir/ip-masq-a"
printf 'masqueradeCIDRs:\n  - 10.1.0.0/16\n' >"$dir/ip-masq-b"
run render "$dir"
expect_eq "directory: the union of each list, then resolved" \
	"10.0.0.0/16, 10.2.0.0-10.255.255.255,     169.254.0.0/16" "$(elements 4)"
printf 'nonMasqueradeCIDRs: [10.1.0.0/16]\n' >"$dir/ip-masq-c"
run validate "$dir"
expect_eq "directory: a prefix in both lists across files is located" \
	"1 $dir/ip-masq-b:2:5: 10.1.0.0/16 is in masqueradeCIDRs here and a non-masquerade prefix from $dir/ip-masq-c; the longest prefix decides, so keep it in one list" \
	"$rc $err"
rm "$dir/ip-masq-c"

pol=$WORK/pol
mkdir "$pol"
cat >"$pol/onprem.yaml" <<'EOF'
apiVersion: networking.gke.io/v1
kind: EgressNATPolicy
metadata:
  name: onprem
spec:
  action: NoSNAT
  destinations:
    - cidr: 10.1.5.0/24
EOF
run render --egress-nat-policy-dir "$pol" "$dir"
expect_eq "policy: a NoSNAT destination inside the exception is kept (longest prefix)" \
	"10.0.0.0/16, 10.1.5.0/24,     10.2.0.0-10.255.255.255, 169.254.0.0/16" "$(elements 4)"
sed -i 's|10.1.5.0/24|10.1.0.0/16|' "$pol/onprem.yaml"
run validate --egress-nat-policy-dir "$pol" "$dir"
expect_eq "policy: the same prefix as a masqueradeCIDRs entry is located" \
	"1 $dir/ip-masq-b:2:5: 10.1.0.0/16 is in masqueradeCIDRs here and a non-masquerade prefix from EgressNATPolicy/onprem; the longest prefix decides, so keep it in one list" \
	"$rc $err"

echo "== masqctl explain"
run explain --enable-ipv6 "$nested" 10.1.5.2
expect_eq "explain: 10.1.5.2 is masqueraded by the /16 exception, the /8 lost" \
	"10.1.5.2: masqueraded
  decided by 10.1.0.0/16 (masqueradeCIDRs), from $nested:7
  lost: 10.0.0.0/8 (nonMasquerade), from $nested:2: shorter than 10.1.0.0/16
  not in the running: 10.1.2.0/24 (nonMasquerade), from $nested:3: does not contain 10.1.5.2
  source any: every source is decided (no pod-source scoping)" "$out"
run explain --enable-ipv6 "$nested" 10.1.2.2
expect_eq "explain: 10.1.2.2 keeps the pod IP by the /24" \
	"10.1.2.2: keeps the pod IP|decided by 10.1.2.0/24 (nonMasquerade), from $nested:3" \
	"$(sed -n '1p' <<<"$out")|$(sed -n '2s/^  //p' <<<"$out")"
run explain --enable-ipv6 --json --source fd00:244:1::2 "$nested" fd10:1:5::2
expect_eq "explain --json: IPv6 decided by fd10:1::/32 from its line" \
	"True fd10:1::/32 masqueradeCIDRs ['$nested:8'] ['fd10::/16'] ['fd10:1:2::/48'] fd00:244:1::2" \
	"$(json "d['masqueraded'], d['decidedBy']['cidr'], d['decidedBy']['list'], d['decidedBy']['origins'], [x['cidr'] for x in d['shorter']], [x['cidr'] for x in d['notContaining']], d['source']" | tr -d '(),')"
run explain --enable-ipv6 --json "$nested" fd10:1:2::2
expect_eq "explain --json: fd10:1:2::2 keeps the pod IP" "False fd10:1:2::/48" \
	"$(json "d['masqueraded'], d['decidedBy']['cidr']" | tr -d '(),')"
run explain "$WORK/none" 198.51.100.7
expect_eq "explain: no prefix contains it" \
	"198.51.100.7: masqueraded|no prefix contains 198.51.100.7: masqueraded, as everything not listed" \
	"$(sed -n '1p' <<<"$out")|$(sed -n '2s/^  //p' <<<"$out")"
run explain "$WORK/none" 169.254.169.254
expect_eq "explain: link-local is named as such" "decided by 169.254.0.0/16 (nonMasquerade), from link-local" \
	"$(sed -n '2s/^  //p' <<<"$out")"
run explain "$WORK/none" 2001:db8::1
expect_eq "explain: IPv6 without --enable-ipv6 is left untouched" "2001:db8::1: keeps the pod IP" \
	"$(sed -n '1p' <<<"$out")"
run explain "$WORK/none" 10.0.0.256
expect_eq "explain: a bad address is a usage error" \
	"2 masqctl: \"10.0.0.256\" is not an IPv4 or IPv6 address" "$rc $err"
run explain "$both" 10.1.1.1
expect_eq "explain: a config with errors is refused, located" 1 $rc

limit=$WORK/limit.yaml
printf 'cidrLimit: 2\nnonMasqueradeCIDRs: [10.0.0.0/8, 11.0.0.0/8]\nmasqueradeCIDRs: [10.1.0.0/16]\n' >"$limit"
run validate "$limit"
expect_eq "cidrLimit counts both lists" \
	"1 $limit:3:1: nonMasqueradeCIDRs and masqueradeCIDRs have 3 entries together, over the cidrLimit of 2" \
	"$rc $err"
finish
