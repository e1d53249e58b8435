#!/usr/bin/env bash
# End-to-end: the daemon's incremental path (the resolution kept between
# reloads, config/incr.h) against a build from scratch. A v2 directory of
# two files with nested nonMasqueradeCIDRs and masqueradeCIDRs in both
# families is edited at random, kubelet-style; after each edit the kernel's
# table must be what `masqctl render` prints for the same directory, without
# a full replacement. A resync in between (the full path, after updates from
# the index) changes nothing, and real connections show the decisions at the
# end. Needs root (ip netns).
source "$(dirname "$0")/lib.sh"

[[ $(id -u) == 0 ]] || { echo "needs root for ip netns"; not_ok "run as root"; finish; exit 1; }

POD4=10.244.1.2 NODE4=10.10.0.1 POD6=fd00:244:1::2 NODE6=fd10:10::1
DIR=$WORK/config
FLAGS=(--enable-ipv6 --max-cidrs-per-file 1000)
EDITS=${EDITS:-40}
mkdir -p "$DIR"

# Two files for edit $1: random prefixes nested under 10.0.0.0/8 and
# fd10::/16, some masqueraded, a few in both files; never one prefix in both
# lists (that load would be refused). The last edit is the fixed layout the
# connections check.
gen() {
	python3 - "$1" "$EDITS" "$WORK" <<'PY'
import ipaddress, random, sys
step, last, work = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
rnd = random.Random(step)
def sub(net, rnd):
    net = ipaddress.ip_network(net)
    plen = min(net.max_prefixlen, net.prefixlen + rnd.randint(1, 10 if net.version == 4 else 24))
    off = rnd.getrandbits(plen - net.prefixlen) << (net.max_prefixlen - plen)
    return str(ipaddress.ip_network((int(net.network_address) + off, plen)))
keep, masq = set(), set()
if step == last:
    keep, masq = {"10.0.0.0/8", "10.1.2.0/24", "fd10::/16", "fd10:1:2::/48"}, {"10.1.0.0/16", "fd10:1::/32"}
else:
    pool = ["10.0.0.0/8", "fd10::/16"]
    for _ in range(rnd.randint(20, 120)):
        c = sub(rnd.choice(pool), rnd)
        pool.append(c)
        (masq if rnd.random() < 0.3 else keep).add(c)
    keep -= masq
    if rnd.random() < 0.5:
        keep.add("10.0.0.0/8")
files, files_m = ([], []), []
for c in sorted(keep, key=lambda _: rnd.random()):
    files[rnd.random() < 0.5].append(c)
    if rnd.random() < 0.1:
        files[0].append(c)  # in both files: it stays while either names it
for i, f in enumerate(files):
    m = [c for c in sorted(masq) if rnd.random() < 0.5] if i == 0 else sorted(masq - set(files_m))
    with open("%s/f%d" % (work, i), "w") as out:
        out.write("nonMasqueradeCIDRs: [%s]\n" % ", ".join('"%s"' % c for c in dict.fromkeys(f)))
        files_m.extend(m)
        if m:
            out.write("masqueradeCIDRs: [%s]\n" % ", ".join('"%s"' % c for c in sorted(m)))
PY
}

swap() { # edit number
	gen "$1"
	kubelet_swap_files "$DIR" ip-masq-a "$(cat "$WORK/f0")" ip-masq-b "$(cat "$WORK/f1")"
}

render_matches() { [[ $(dump | normalize) == "$("$MASQCTL" render "${FLAGS[@]}" "$DIR")" ]]; }

topo_up
vpc ip addr add 10.1.5.2/32 dev eth0
vpc ip addr add 10.1.2.2/32 dev eth0
vpc ip addr add fd10:1:5::2/128 dev eth0 nodad
node ip route add 10.1.0.0/16 via 10.10.0.2
node ip -6 route add fd10:1::/32 via fd10:10::2

if ! kernel_owns; then
	skip "this kernel has no persistent owned tables (6.9+): the incremental path"
	finish
	exit
fi
node "$MASQD" --cleanup

echo "== $EDITS random edits of a two-file directory, each against masqctl render"
swap 0
log=$WORK/daemon.log
start_masqd "$log" --config "$DIR" "${FLAGS[@]}" --resync-interval 3600
expect_render_matches "start" "$DIR" "${FLAGS[@]}"
matched=0
for ((i = 1; i < EDITS; i++)); do
	swap "$i"
	if wait_until 200 render_matches; then matched=$((matched + 1)); else
		expect_render_matches "edit $i" "$DIR" "${FLAGS[@]}"
	fi
done
expect_eq "every edit: the kernel holds what masqctl render prints" $((EDITS - 1)) $matched
expect_true "the edits went through the incremental path" log_reaches "$log" 'rules updated (' 10
expect_eq "no full replacement after start" 1 "$(count_in "$log" 'rules programmed (')"
expect_eq "no incremental update failed" 0 "$(count_in "$log" 'incremental update failed')"

echo "== resyncs (the full path) between updates from the index change nothing"
before=$(dump | normalize)
stop_masqd
start_masqd "$log" --config "$DIR" "${FLAGS[@]}" --resync-interval 1 -v 2
expect_true "the restarted daemon adopted the table unchanged" \
	log_reaches "$log" 'adopted the table a previous masqd left, rules unchanged' 1
expect_eq "the kernel still holds what the last edit gave" "$before" "$(dump | normalize)"
resyncs() { count_in "$log" 'sync (resync): the kernel already holds these rules'; }
expect_true "a resync finds the kernel as it should be" wait_until 100 log_reaches "$log" \
	'sync (resync): the kernel already holds these rules' 1
updates=$(count_in "$log" 'rules updated (')
swap "$EDITS"
expect_true "the last edit is programmed" wait_until 200 render_matches
expect_eq "by an update from the index" $((updates + 1)) "$(count_in "$log" 'rules updated (')"
n=$(resyncs)
expect_true "the next resync finds the kernel as it should be" wait_until 100 log_reaches "$log" \
	'sync (resync): the kernel already holds these rules' $((n + 1))
expect_render_matches "after the resync" "$DIR" "${FLAGS[@]}"
expect_eq "no full replacement in all of it" 1 "$(count_in "$log" 'rules programmed (')"

echo "== the decisions, by real connections"
expect_eq "10.1.2.2 (10.1.2.0/24 kept inside a masqueraded /16) sees the pod IP" $POD4 \
	"$(seen_from "$POD" 10.1.2.2)"
expect_eq "10.1.5.2 (10.1.0.0/16, masqueraded) sees the node IP" $NODE4 \
	"$(seen_from "$POD" 10.1.5.2)"
expect_eq "fd10:1:5::2 (fd10:1::/32, masqueraded) sees the node IP" $NODE6 \
	"$(seen_from "$POD" fd10:1:5::2)"
stop_masqd
node "$MASQD" --cleanup
finish
