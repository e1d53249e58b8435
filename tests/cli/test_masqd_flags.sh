#!/usr/bin/env bash
# masqd's command line: Go-style flags, usage errors exit 2 before anything
# touches the kernel. No root (nothing here opens a netlink socket).
set -u
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
MASQD=$ROOT/${BUILD:-build}/masqd
source "$ROOT/tests/assert.sh"

# A flag accepted by mistake would start a daemon that programs the kernel:
# as root, every run is in a throw-away network namespace (never the host's),
# and none may outlive 10 s.
if [[ $(id -u) == 0 ]] && unshare -n true 2>/dev/null; then
	sandbox=(unshare -n)
else
	sandbox=()
fi
run() { out=$("${sandbox[@]}" timeout 10 "$MASQD" "$@" 2>&1); rc=$?; }

run --help
expect_eq "--help exits 0" 0 $rc
expect_true "--help lists upstream's flags" grep -q -- '--nomasq-all-reserved-ranges' <<<"$out"
run -h
expect_eq "-h is --help" 0 $rc
run --version
expect_true "--version names masqd" grep -q '^masqd [0-9]' <<<"$out"
run --no-such-flag
expect_eq "unknown flag: exit 2" 2 $rc
expect_true "unknown flag: Go's message" grep -q 'flag provided but not defined: -no-such-flag' <<<"$out"
run --table-flags=sometimes
expect_eq "bad --table-flags: exit 2" 2 $rc
for bad in tcp UDP on "" "udp,tcp"; do
	run --conntrack-cleanup="$bad"
	expect_eq "--conntrack-cleanup=$bad: exit 2, saying what it takes" \
		"2 masqd: --conntrack-cleanup must be off or udp, not \"$bad\"" "$rc $out"
done
for good in off udp; do
	run --conntrack-cleanup "$good" --once --cleanup
	expect_eq "--conntrack-cleanup $good is accepted" \
		"2 masqd: --once and --cleanup exclude each other" "$rc $out"
done
# A good --to-ports passes its check and reaches the last one (which needs no kernel).
for good in 1024-2047 1024-29999,32768-65535 1024 1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16; do
	run --to-ports "$good" --once --cleanup
	expect_eq "--to-ports $good is accepted" "2 masqd: --once and --cleanup exclude each other" \
		"$rc $out"
done
run --to-ports=1024-29999,32768-65535 --help
expect_eq "--to-ports with --help exits 0" 0 $rc
for bad in 0 65536 2047-1024 1024-2047, ,1024 1024,,2047 abc 1024-2047-4095 ' 1024' \
	1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17; do
	run --to-ports "$bad"
	expect_eq "--to-ports '$bad' is a usage error: exit 2" 2 $rc
	expect_true "--to-ports '$bad' says what is wrong" grep -q '^masqd: --to-ports: ..*' <<<"$out"
done
run --to-ports 2047-1024
expect_eq "a reversed range is named" 'masqd: --to-ports: range "2047-1024" is reversed' "$out"
run --to-ports 1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17
expect_eq "too many ranges is named" 'masqd: --to-ports: more than 16 port ranges' "$out"
run --help
expect_true "--help describes --to-ports" grep -q -- '--to-ports RANGES .*TCP, UDP and SCTP' <<<"$out"
run --once --cleanup
expect_eq "--once with --cleanup: exit 2" 2 $rc
run --random-fully=maybe
expect_eq "a bad boolean: exit 2" 2 $rc
run --config
expect_eq "--config without a value: exit 2" 2 $rc
run stray-argument
expect_eq "a positional argument: exit 2" 2 $rc
run --watch-configmap ip-masq-agent
expect_eq "--watch-configmap without a namespace: exit 2" 2 $rc
expect_true "--watch-configmap says the form" grep -q 'NAMESPACE/NAME' <<<"$out"
run --watch-configmap kube-system/IP_Masq
expect_eq "--watch-configmap with a name Kubernetes refuses: exit 2" 2 $rc
run --watch-egress-nat-policies --once
expect_eq "--once with the API watch: exit 2" 2 $rc
expect_true "and says the watch needs the daemon" grep -q 'needs the daemon' <<<"$out"
run --api-stall-timeout 0s
expect_eq "--api-stall-timeout under 1s: exit 2" 2 $rc
run --api-watch-timeout 2h
expect_eq "--api-watch-timeout over 1h: exit 2" 2 $rc
run --api-not-found-retry soon
expect_eq "--api-not-found-retry not a duration: exit 2" 2 $rc
run --max-api-cidrs -1
expect_eq "--max-api-cidrs below 0: exit 2" 2 $rc
expect_true "and says the range" grep -q -- '--max-api-cidrs 0..10000000' <<<"$out"
run --max-api-policies 1000001
expect_eq "--max-api-policies over 1,000,000: exit 2" 2 $rc
run --api-min-prefix-v4 33
expect_eq "--api-min-prefix-v4 over 32: exit 2" 2 $rc
run --api-min-prefix-v6 129
expect_eq "--api-min-prefix-v6 over 128: exit 2" 2 $rc
expect_true "and says the ranges" grep -q -- '--api-min-prefix-v6 0..128' <<<"$out"
run --cleanup-on-uninstall masqd
expect_eq "--cleanup-on-uninstall without a namespace: exit 2" 2 $rc
run --help
expect_true "--help lists the API flags" grep -q -- '--watch-egress-nat-policies' <<<"$out"

# a flag's name too long for its kernel structure is a usage error, not a
# stack overflow (it used to smash a 512-byte buffer)
run --masq-chain "$(printf 'A%.0s' {1..600})" --once --config /nonexistent
expect_eq "a 600-byte --masq-chain: exit 2" 2 $rc
expect_true "a 600-byte --masq-chain says the limit" grep -q 'at most 28 printable' <<<"$out"
run --masq-chain "$(printf 'A%.0s' {1..29})" --once --config /nonexistent
expect_eq "a 29-byte --masq-chain: exit 2 (iptables allows 28)" 2 $rc
run --masq-chain "IP MASQ" --once --config /nonexistent
expect_eq "a --masq-chain with a space: exit 2" 2 $rc
# --snat-to-address / --snat-interface: checked before the kernel is touched
for good in "--snat-to-address 203.0.113.9" "--enable-ipv6 --snat-to-address 2001:db8::9" \
	"--enable-ipv6 --snat-to-address 203.0.113.9 --snat-to-address 2001:db8::9" \
	"--snat-interface eth1" "--snat-interface 123456789012345"; do
	run $good --once --cleanup
	expect_eq "$good is accepted" "2 masqd: --once and --cleanup exclude each other" "$rc $out"
done
while IFS='|' read -r args msg; do
	run $args
	expect_eq "$args: exit 2" 2 $rc
	expect_true "$args: says '$msg'" grep -qF -- "$msg" <<<"$out"
done <<'EOF'
--snat-to-address 203.0.113.0/24|is not an IPv4 or IPv6 address (a single address, without a prefix length)
--snat-to-address eth0|"eth0" is not an IPv4 or IPv6 address
--snat-to-address 127.0.0.1|127.0.0.1 is a loopback address
--snat-to-address 2001:db8::9|2001:db8::9 is IPv6: it needs --enable-ipv6
--snat-to-address 203.0.113.9 --snat-to-address 203.0.113.10|two IPv4 addresses (203.0.113.9 and 203.0.113.10)
--snat-to-address 203.0.113.9 --snat-interface eth1|--snat-to-address and --snat-interface exclude each other
--snat-interface 1234567890123456|"1234567890123456" is not 1 to 15 bytes long
--snat-interface eth0:1|"eth0:1" is not an interface name
--snat-to-address=1.2.3.4 --snat-to-address=1.2.3.5 --snat-to-address=1.2.3.6 --snat-to-address=1.2.3.7 --snat-to-address=1.2.3.8|flag --snat-to-address given more than 4 times
EOF

finish
