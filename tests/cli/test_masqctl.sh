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

good=$WORK/good.yaml
printf 'nonMasqueradeCIDRs:\n  - 10.0.0.0/8\n  - 100.64.0.0/10\n  - 10.0.0.0/8\nresyncInterval: 1500ms\n' >"$good"

run validate "$good"
expect_eq "validate: exit 0 on a good file" 0 $rc
expect_eq "validate: prints PATH: OK" "$good: OK" "$out"
expect_eq "validate: warnings go to stderr with their position" \
	"$good:4:5: warning: duplicate CIDR 10.0.0.0/8 ignored" "$err"

wide=$WORK/wide.yaml
printf 'nonMasqueradeCIDRs: [0.0.0.0/1, 128.0.0.0/1]\n' >"$wide"
run validate "$wide"
expect_eq "validate: a config that keeps every address is valid" 0 $rc
expect_eq "validate: with a warning that nothing would be masqueraded" \
	"warning: the non-masquerade set covers every IPv4 address (0.0.0.0/0): nothing of that family would be masqueraded" "$err"
run render "$wide"
expect_true "render warns likewise" grep -q 'covers every IPv4 address' <<<"$err"

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
run --help
expect_true "--help describes the three commands" grep -q 'masqctl effective --json' <<<"$out"

echo "== --to-ports"
masq_comment='comment "ip-masq-agent: outbound traffic is subject to MASQUERADE (must be last in chain)"'
run render --to-ports 1024-29999,32768-65535 "$WORK/none"
expect_eq "render --to-ports: exit 0" 0 $rc
want=""
for proto in tcp udp sctp; do
	want+=$'\t\t'"meta nfproto ipv4 meta l4proto $proto numgen random mod 61744 < 28976 counter masquerade to :1024-29999 fully-random $masq_comment"$'\n'
	want+=$'\t\t'"meta nfproto ipv4 meta l4proto $proto counter masquerade to :32768-65535 fully-random $masq_comment"$'\n'
done
want+=$'\t\t'"meta nfproto ipv4 counter masquerade fully-random $masq_comment"
expect_eq "render --to-ports: per protocol, each range weighted by its size as upstream, then the catch-all" \
	"$want" "$(grep -F 'masquerade' <<<"$out")"
run render --to-ports 1024-29999,32768-65535 --enable-ipv6 --random-fully=false "$WORK/none"
expect_eq "render --to-ports --enable-ipv6: the IPv6 rules too" 6 \
	"$(grep -c 'meta nfproto ipv6 meta l4proto .* masquerade to :' <<<"$out")"
expect_eq "render --to-ports --random-fully=false: no fully-random" 0 "$(grep -c fully-random <<<"$out")"
run render --to-ports 40000 "$WORK/none"
expect_eq "render --to-ports PORT: one port, no numgen" 3 \
	"$(grep -c 'l4proto [a-z]* counter masquerade to :40000 fully-random comment' <<<"$out")"
run validate --to-ports=1024-65535 "$good"
expect_eq "validate --to-ports: OK" "0 $good: OK" "$rc $out"
for bad in 0 65536 2000-1000 1024, 1024,,2000 x 1-2-3 1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17; do
	run render --to-ports "$bad" "$good"
	expect_eq "--to-ports '$bad': exit 2, nothing on stdout" "2 " "$rc $out"
	expect_true "--to-ports '$bad': says what is wrong" grep -q '^masqctl: --to-ports: ' <<<"$err"
done

echo "== every masqd flag is accepted (a DaemonSet's args pasted as they are)"
MASQD=$ROOT/$BUILD/masqd
mkdir -p "$WORK/empty-policies"
value_for() { # a value masqctl can take for a masqd flag, by its metavar
	case $1 in
	PATH) echo "$good" ;;
	DIR) echo "$WORK/empty-policies" ;;
	N) echo 64 ;;
	DURATION) echo 60 ;;
	RANGES) echo 1024-29999,32768-65535 ;;
	NAME) echo IP-MASQ ;;
	IP:PORT) echo 127.0.0.1:9743 ;;
	NAMESPACE/NAME) echo kube-system/ip-masq-agent ;;
	URL) echo https://127.0.0.1:6443 ;;
	'auto|plain') echo plain ;;
	ADDR) echo 203.0.113.9 ;;
	IFACE) echo eth0 ;;
	'CIDR[,CIDR...]') echo 10.244.0.0/16 ;;
	*) echo "unknown metavar $1" >&2; echo x ;;
	esac
}
# "  --flag[ METAVAR]  help", the help on the next line when the left part is long
flags=$("$MASQD" --help | sed -n 's/^  \(--[a-z0-9-]*\)\( [^ ]\{1,\}\)\{0,1\}\(  .*\)\{0,1\}$/\1\2/p')
expect_true "masqd --help lists its flags" test "$(wc -l <<<"$flags")" -ge 25
while read -r flag meta; do
	case $flag in
	--help | --version)
		run "$flag"
		expect_eq "masqctl takes masqd's $flag too" 0 $rc
		continue
		;;
	esac
	arg=$flag
	[[ -n $meta ]] && arg="$flag=$(value_for "$meta")"
	run validate "$arg" "$good"
	expect_eq "masqctl takes masqd's $arg" "0 $good: OK" "$rc $out"
done <<<"$flags"
for klog in --logtostderr --alsologtostderr=false --v=4 --vmodule=x=2 --log_file=/dev/null \
	--stderrthreshold=INFO --skip_headers --log_dir=/tmp -v=3; do
	run validate "$klog" "$good"
	expect_eq "masqctl takes klog's $klog" "0 $good: OK" "$rc $out"
done
clean=$WORK/clean.yaml
printf 'nonMasqueradeCIDRs: [10.0.0.0/8]\n' >"$clean"
run validate --masq-chain IP-MASQ --status-socket /x --metrics-bind-address= "$clean"
expect_eq "the flags that do not change the rules are named once on stderr" \
	"masqctl: ignored, they do not change the rules: --masq-chain, --status-socket, --metrics-bind-address" "$err"
run validate --no-such-flag "$good"
expect_eq "a flag masqd lacks is still a usage error" \
	"2 masqctl: flag provided but not defined: -no-such-flag" "$rc $err"

daemonset=(--masq-chain=IP-MASQ --nomasq-all-reserved-ranges --enable-ipv6 --v=2 --logtostderr
	--resync-interval=60 --to-ports=1024-29999,32768-65535)
run render "${daemonset[@]}" "$WORK/none"
expect_eq "a pasted DaemonSet args line: render exits 0" 0 $rc
expect_eq "and names the ignored flags once" \
	"masqctl: ignored, they do not change the rules: --masq-chain, --v, --logtostderr" "$err"
pasted=$out
run render --nomasq-all-reserved-ranges --enable-ipv6 --to-ports=1024-29999,32768-65535 "$WORK/none"
expect_eq "the ignored flags change nothing in the render" "$out" "$pasted"
expect_true "the flags that matter took effect: reserved ranges" grep -qF '198.18.0.0/15' <<<"$pasted"
expect_true "the flags that matter took effect: IPv6 port ranges" \
	grep -qF 'meta nfproto ipv6 meta l4proto sctp counter masquerade to :32768-65535' <<<"$pasted"
run validate --config="$good" --once
expect_eq "masqd's --config gives PATH when there is no PATH argument" "0 $good: OK" "$rc $out"
run validate --config="$WORK/none" "$good"
expect_eq "a PATH argument wins over --config" "0 $good: OK" "$rc $out"

finish
