#!/usr/bin/env bash
# End-to-end: masqd programs the node namespace's nftables from an
# ip-masq-agent config, and real TCP connections from the pod namespace show
# which destinations see the pod IP and which see the node IP. Topology and
# safety rules: tests/netns/lib.sh. Needs root (ip netns).
source "$(dirname "$0")/lib.sh"

[[ $(id -u) == 0 ]] || { echo "needs root for ip netns"; not_ok "run as root"; finish; exit 1; }

dump() { q "$NODE" nft -s list table inet ip-masq-agent 2>&1; }
masqd() { node "$MASQD" "$@"; }
rule_count() { dump | grep -c 'comment "ip-masq-agent' || true; }

# The decisions every config must get right, for the given expectations.
check_traffic() { # MODE WANT_NET WANT_LINKLOCAL WANT_NET6
	expect_eq "$1: pod -> VPC peer keeps the pod IP" 10.244.1.2 "$(seen_from "$POD" 10.10.0.2)"
	expect_eq "$1: pod -> outside host" "$2" "$(seen_from "$POD" 203.0.113.2)"
	expect_eq "$1: pod -> link-local 169.254.169.254" "$3" "$(seen_from "$POD" 169.254.169.254)"
	expect_eq "$1: pod -> IPv6 outside host" "$4" "$(seen_from "$POD" 2001:db8::2)"
	expect_eq "$1: node -> its own address is not masqueraded" 10.10.0.1 \
		"$(seen_from "$NODE" 203.0.113.1 10.10.0.1)"
	expect_eq "$1: pod -> node address (INPUT, never POSTROUTING)" 10.244.1.2 \
		"$(seen_from "$POD" 10.10.0.1)"
}

suite() { # MODE: auto or plain
	local m=$1 tf=--table-flags=$1 cfg=$WORK/ip-masq-agent
	rm -f "$cfg"
	echo "== $m: built-in defaults (no config file)"
	masqd --once $tf --config "$cfg"
	expect_eq "$m: --once exits 0" 0 $?
	check_traffic "$m defaults" 203.0.113.1 10.244.1.2 fd00:244:1::2
	expect_render_matches "$m defaults" "$cfg"
	if [[ $m == plain ]]; then
		expect_eq "$m: the table has no flags" 0 "$(dump | grep -c $'^\tflags')"
	fi

	echo "== $m: running --once again replaces, never duplicates"
	masqd --once $tf --config "$cfg"
	expect_eq "$m: still three rules after a second run" 3 "$(rule_count)"
	expect_eq "$m: one table" 1 "$(q "$NODE" nft list tables | grep -c ip-masq-agent)"

	echo "== $m: --nomasq-all-reserved-ranges"
	masqd --once $tf --config "$cfg" --nomasq-all-reserved-ranges
	expect_eq "$m reserved: 203.0.113.0/24 is reserved, so the pod IP is kept" 10.244.1.2 \
		"$(seen_from "$POD" 203.0.113.2)"
	expect_render_matches "$m reserved" "$cfg" --nomasq-all-reserved-ranges

	echo "== $m: masqLinkLocal: true"
	printf 'nonMasqueradeCIDRs:\n  - 10.10.0.0/16\nmasqLinkLocal: true\n' >"$cfg"
	masqd --once $tf --config "$cfg"
	check_traffic "$m masqLinkLocal" 203.0.113.1 169.254.0.1 fd00:244:1::2

	echo "== $m: --enable-ipv6 with a VPC IPv6 prefix"
	printf 'nonMasqueradeCIDRs: [10.10.0.0/16, "fd10:10::/64"]\nresyncInterval: 30s\n' >"$cfg"
	masqd --once $tf --config "$cfg" --enable-ipv6
	check_traffic "$m ipv6" 203.0.113.1 10.244.1.2 2001:db8::1
	expect_eq "$m ipv6: pod -> IPv6 VPC peer keeps the pod IP" fd00:244:1::2 \
		"$(seen_from "$POD" fd10:10::2)"
	expect_render_matches "$m ipv6" "$cfg" --enable-ipv6
	expect_eq "$m ipv6: fe80::/10 is not masqueraded by default" 1 "$(dump | grep -c 'fe80::/10')"
	printf 'nonMasqueradeCIDRs: ["fd10:10::/64"]\nmasqLinkLocalIPv6: true\n' >"$cfg"
	masqd --once $tf --config "$cfg" --enable-ipv6
	expect_eq "$m ipv6: masqLinkLocalIPv6 removes fe80::/10" 0 "$(dump | grep -c 'fe80::')"

	echo "== $m: --random-fully=false"
	masqd --once $tf --config "$cfg" --enable-ipv6 --random-fully=false
	expect_eq "$m: bare masquerade" 0 "$(dump | grep -c fully-random)"
	expect_eq "$m: still masqueraded" 203.0.113.1 "$(seen_from "$POD" 203.0.113.2)"

	echo "== $m: a bad config changes nothing"
	printf 'nonMasqueradeCIDRs: [10.10.0.0/16]\n' >"$cfg"
	masqd --once $tf --config "$cfg"
	local before after out rc
	before=$(dump)
	printf 'nonMasqueradeCIDRs:\n  - 10.10.0.0/16\n  - 203.0.113.7/24\n' >"$cfg"
	out=$(q "$NODE" "$MASQD" --once $tf --config "$cfg" 2>&1)
	rc=$?
	after=$(dump)
	expect_eq "$m bad config: masqd --once exits 1" 1 $rc
	expect_true "$m bad config: the error names FILE:LINE:COL and the aligned form" \
		grep -q "$cfg:3:5: CIDR \\\\\"203.0.113.7/24\\\\\" has host bits set; the aligned form is 203.0.113.0/24" <<<"$out"
	expect_eq "$m bad config: kernel rules byte-for-byte unchanged" "$before" "$after"
	expect_eq "$m bad config: traffic still decided by the old rules" 203.0.113.1 \
		"$(seen_from "$POD" 203.0.113.2)"
	rm -f "$cfg"
}

topo_up
suite auto
suite plain

echo "== a transaction the kernel rejects: errors map to objects, nothing is committed"
masqd --cleanup
out=$(q "$NODE" "$ROOT/$BUILD/tests/netns/nfthelper" reject)
expect_eq "the duplicate elements are named by their message" \
	"err=EEXIST what=set nomasq4 elements 1-8 count=1" "$out"
expect_eq "all or nothing: no table was created" 1 "$(dump | grep -c 'No such file')"
masqd --once --config /nonexistent
expect_eq "the feature probe leaves no table behind" "table inet ip-masq-agent" \
	"$(q "$NODE" nft list tables)"

echo "== incremental updates: random edit sequences, each checked against the kernel"
for run in "300 200 1" "300 200 2" "1000 150 3" "1000 150 4" "3000 60 5"; do
	set -- $run
	out=$(q "$NODE" "$ROOT/$BUILD/tests/netns/nfthelper" random-edits "$1" "$2" "$3")
	expect_true "$1 CIDRs, $2 add/delete/replace edits (seed $3): $out" grep -q "^ok $2 edits" <<<"$out"
done
masqd --cleanup

echo "== upstream's manifest flags, klog's included"
masqd --cleanup
out=$(q "$NODE" "$MASQD" --once --config /nonexistent --logtostderr --alsologtostderr=true \
	--v=2 --log_file=/tmp/unused --stderrthreshold INFO --masq-chain=IP-MASQ 2>&1)
expect_eq "masqd --once with klog flags exits 0" 0 $?
expect_true "klog flags are named once in a warning" \
	grep -q 'klog flags accepted for compatibility and ignored: --logtostderr, --alsologtostderr, --log_file, --stderrthreshold' <<<"$out"
expect_true "--v=2 logs the rendered ruleset at debug level" grep -q 'level=debug msg="ruleset:' <<<"$out"

echo "== lifecycle (owner|persist)"
if ! kernel_owns; then
	skip "this kernel has no persistent owned tables (6.9+): lifecycle tests"
	finish
	exit
fi
expect_eq "orphaned persist table lists with a bare flags line" 1 "$(dump | grep -c $'^\tflags $')"

masqd --cleanup
expect_eq "--cleanup deletes an orphaned table" 1 "$(dump | grep -c 'No such file')"
masqd --cleanup
expect_eq "--cleanup on a missing table succeeds" 0 $?
masqd --once --table-flags=plain --config /nonexistent
masqd --cleanup
expect_eq "--cleanup deletes a plain table" 1 "$(dump | grep -c 'No such file')"

echo "== a table with other flags and an admin's extra rule is recreated in one batch"
q "$NODE" nft -f - <<'NFT'
table inet ip-masq-agent {
	chain postrouting {
		type nat hook postrouting priority srcnat; policy accept;
		ip daddr 203.0.113.2 counter return
	}
}
NFT
masqd --once --config /nonexistent
expect_eq "recreated with owner|persist" 1 "$(dump | grep -c $'^\tflags $')"
expect_eq "the admin's rule is gone" 0 "$(dump | grep -c 'ip daddr 203.0.113.2')"
expect_eq "three rules" 3 "$(rule_count)"
expect_eq "traffic masqueraded again" 203.0.113.1 "$(seen_from "$POD" 203.0.113.2)"

echo "== a running masqd owns the table"
bg "$NODE" "$MASQD" --config /nonexistent --status-socket "$WORK/masqd.sock"
daemon=$LAST_PID
wait_until 100 bash -c "ip netns exec $NODE nft list table inet ip-masq-agent | grep -q 'progname masqd'"
expect_true "the daemon's table carries its owner" \
	bash -c "ip netns exec $NODE nft list table inet ip-masq-agent | grep -q '# progname masqd'"
out=$(q "$NODE" "$MASQD" --cleanup 2>&1)
expect_eq "--cleanup against a live owner exits 1" 1 $?
expect_true "--cleanup says to stop masqd first and names the owner" \
	grep -q 'owned by a running process (netlink port id [0-9]*): stop masqd first' <<<"$out"
out=$(q "$NODE" "$MASQD" --once 2>&1)
expect_eq "--once against a live owner exits 1" 1 $?
expect_true "--once says to stop masqd first" grep -q 'stop masqd first' <<<"$out"
expect_true "nft delete table is refused while masqd runs" \
	bash -c "! ip netns exec $NODE nft delete table inet ip-masq-agent 2>/dev/null"
kill -TERM "$daemon"
wait "$daemon"
expect_eq "masqd exits 0 on SIGTERM" 0 $?
expect_eq "rules stay after masqd exits" 203.0.113.1 "$(seen_from "$POD" 203.0.113.2)"
masqd --once --config /nonexistent
expect_eq "a new masqd adopts the orphan" 0 $?
expect_eq "without duplicates" 3 "$(rule_count)"

finish
