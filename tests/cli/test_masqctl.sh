#!/usr/bin/env bash
# masqctl's interface (DESIGN.md §5), which admins and acceptance tests script
# against: output, exit codes and the FILE:LINE:COL error lines. No root.
set -u
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${BUILD:-build}
MASQCTL=$ROOT/$BUILD/masqctl
source "$ROOT/tests/assert.sh"
WORK=$(mktemp -d /tmp/masqctl-test.XXXX)
trap 'rm -rf "$WORK"' EXIT

run() { # run ARGS...: sets out, err, rc
	out=$("$MASQCTL" "$@" 2>"$WORK/err")
	rc=$?
	err=$(cat "$WORK/err")
}
json() { python3 -c "import json,sys; d=json.load(sys.stdin); print($1)" <<<"$out"; }

good=$WORK/good.yaml
printf 'nonMasqueradeCIDRs:\n  - 10.0.0.0/8\n  - 100.64.0.0/10\n  - 10.0.0.0/8\nresyncInterval: 1500ms\n' >"$good"

run validate "$good"
expect_eq "validate: exit 0 on a good file" 0 $rc
expect_eq "validate: prints PATH: OK" "$good: OK" "$out"
expect_eq "validate: warnings go to stderr with their position" \
	"$good:4:5: warning: duplicate CIDR 10.0.0.0/8 ignored" "$err"

bad=$WORK/bad.yaml
printf 'nonMasqueradeCIDRs:\n  - 10.0.0.1/8\n  - "fd00::/8"\nmasqLinkLocal: "yes"\nmasqLinkLocal: true\n' >"$bad"
run validate "$bad"
expect_eq "validate: exit 1 on a bad file" 1 $rc
expect_eq "validate: nothing on stdout for a bad file" "" "$out"
expect_eq "validate: one FILE:LINE:COL line per problem, in file order" \
	"$bad:2:5: CIDR \"10.0.0.1/8\" has host bits set; the aligned form is 10.0.0.0/8
$bad:3:5: IPv6 CIDR fd00::/8 needs the --enable-ipv6 flag
$bad:4:16: masqLinkLocal must be true or false (unquoted), got \"yes\"
$bad:5:1: duplicate key \"masqLinkLocal\" (first on line 4)" "$err"
run validate --enable-ipv6 "$WORK/none"
expect_eq "validate: a missing file is an error" "1 $WORK/none: no such file" "$rc $err"

run effective --json "$good"
expect_eq "effective: exit 0" 0 $rc
expect_eq "effective: CIDRs deduplicated in input order" "['10.0.0.0/8', '100.64.0.0/10']" \
	"$(json 'd["nonMasqueradeCIDRs"]')"
expect_eq "effective: resyncIntervalSeconds is a number of seconds" 1.5 \
	"$(json 'd["resyncIntervalSeconds"]')"
expect_eq "effective: keys" \
	"['nonMasqueradeCIDRs', 'masqLinkLocal', 'masqLinkLocalIPv6', 'resyncIntervalSeconds', 'cidrLimit', 'sources']" \
	"$(json 'list(d)')"
run effective --json "$WORK/none"
expect_eq "effective: no file gives the defaults" \
	"['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16'] False False 60 64" \
	"$(json '" ".join(str(v) for k, v in d.items() if k != "sources")')"
expect_eq "effective: the defaults are named as such in sources" "['defaults']" \
	"$(json 'd["sources"]["10.0.0.0/8"]')"
run effective --json --nomasq-all-reserved-ranges "$WORK/none"
expect_eq "effective: --nomasq-all-reserved-ranges gives 11 ranges" 11 \
	"$(json 'len(d["nonMasqueradeCIDRs"])')"
run effective "$good"
expect_eq "effective: needs --json" 2 $rc

run render "$good"
expect_eq "render: exit 0" 0 $rc
expect_true "render: the set holds the merged CIDRs and link-local" \
	grep -qF 'elements = { 10.0.0.0/8, 100.64.0.0/10,' <<<"$out"
run render --random-fully=false "$WORK/none"
expect_true "render: --random-fully=false gives a bare masquerade" \
	grep -qF 'counter masquerade comment' <<<"$out"
run render --enable-ipv6 "$WORK/none"
expect_true "render: --enable-ipv6 adds the IPv6 rules" grep -qF 'ip6 daddr @nomasq6' <<<"$out"
run render "$bad"
expect_eq "render: a bad file exits 1 with nothing on stdout" "1 " "$rc $out"

echo "== directories (ip-masq-agent-v2) and EgressNATPolicy files"
dir=$WORK/dir
mkdir -p "$dir/..2026_01_01" && ln -s ..2026_01_01 "$dir/..data"
printf 'nonMasqueradeCIDRs: [10.0.0.0/8, 192.168.0.0/16]\n' >"$dir/ip-masq-agent"
printf 'nonMasqueradeCIDRs: [100.64.0.0/10, 10.0.0.0/8]\nmasqLinkLocal: true\nresyncInterval: 5s\n' >"$dir/ip-masq-agent-user"
printf 'nonMasqueradeCIDRs: [1.0.0.0/8]\n' >"$dir/not-ours"
run validate "$dir"
expect_eq "validate DIR: OK" "0 $dir: OK" "$rc $out"
expect_eq "validate DIR: resyncInterval in a directory is warned about" \
	"$dir/ip-masq-agent-user:3:1: warning: resyncInterval is ignored in a config directory (as ip-masq-agent-v2 does); use --resync-interval" "$err"
run effective --json --resync-interval 90 "$dir"
expect_eq "effective DIR: union in file-name order, duplicates merged" \
	"['10.0.0.0/8', '192.168.0.0/16', '100.64.0.0/10']" "$(json 'd["nonMasqueradeCIDRs"]')"
expect_eq "effective DIR: link-local flags OR'ed, resync from the flag" "True 90" \
	"$(json 'd["masqLinkLocal"], d["resyncIntervalSeconds"]' | tr -d '(),')"
expect_eq "effective DIR: sources name the files" \
	"['$dir/ip-masq-agent', '$dir/ip-masq-agent-user']" "$(json 'd["sources"]["10.0.0.0/8"]')"
printf 'nonMasqueradeCIDRs: [100.64.0.1/10]\n' >"$dir/ip-masq-agent-user"
run validate "$dir"
expect_eq "validate DIR: errors name the file" \
	"1 $dir/ip-masq-agent-user:1:22: CIDR \"100.64.0.1/10\" has host bits set; the aligned form is 100.64.0.0/10" "$rc $err"
empty=$WORK/empty
mkdir -p "$empty"
run effective --json "$empty"
expect_eq "effective: a directory without ip-masq files gives the defaults" \
	"['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16']" "$(json 'd["nonMasqueradeCIDRs"]')"
pol=$WORK/policies
mkdir -p "$pol"
cat >"$pol/default.yaml" <<'YAML'
apiVersion: networking.gke.io/v1
kind: EgressNATPolicy
metadata:
  name: default
spec:
  action: NoSNAT
  destinations:
  - cidr: 10.0.0.0/8
  - cidr: 203.0.113.0/24
YAML
run effective --json --egress-nat-policy-dir "$pol" "$WORK/none"
expect_eq "effective: with a policy and no config file, no built-in defaults" \
	"['10.0.0.0/8', '203.0.113.0/24']" "$(json 'd["nonMasqueradeCIDRs"]')"
expect_eq "effective: sources name the policy" "['EgressNATPolicy/default']" \
	"$(json 'd["sources"]["203.0.113.0/24"]')"
run effective --json --egress-nat-policy-dir "$pol" "$good"
expect_eq "effective: a CIDR from a file and a policy names both" \
	"['$good', 'EgressNATPolicy/default']" "$(json 'd["sources"]["10.0.0.0/8"]')"
sed -i 's/NoSNAT/Masquerade/' "$pol/default.yaml"
run validate --egress-nat-policy-dir "$pol" "$good"
expect_eq "validate: an unknown action rejects that policy, clearly" \
	"1 $pol/default.yaml:6:11: policy default: spec.action \"Masquerade\" is not supported (only NoSNAT)" \
	"$rc $(grep -v warning <<<"$err")"

run frobnicate "$good"
expect_eq "unknown command: exit 2" 2 $rc
run validate
expect_eq "missing PATH: exit 2" 2 $rc
run validate --to-ports 1000-2000 "$good"
expect_eq "--to-ports is refused, not ignored" 2 $rc
run --help
expect_true "--help describes the three commands" grep -q 'masqctl effective --json' <<<"$out"

finish
