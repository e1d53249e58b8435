#!/usr/bin/env bash
# End-to-end: --to-ports. Real TCP and UDP flows from the pod namespace to
# an echo peer in the outside host show the source port each left with: only
# ports inside the given ranges, every range used when there are several.
# Other protocols (ICMP here) keep the plain masquerade, the non-masquerade
# set still wins, `masqctl render` equals `nft list`, and a running masqd sees
# such a table as in sync (no endless reprogramming). Topology and safety
# rules: tests/netns/lib.sh. Needs root (ip netns).
#
#   pod ──── node (masqd --to-ports) ──── net: peer.py echo-port 7779
#                                   └──── vpc: peer.py echo-port 7779
source "$(dirname "$0")/lib.sh"

[[ $(id -u) == 0 ]] || { echo "needs root for ip netns"; not_ok "run as root"; finish; exit 1; }

# One echo port per section: a flow whose ports repeat one of an earlier
# section would match that section's conntrack entry and keep its mapping
# (NAT is decided on a connection's first packet).
ECHO_PORTS=(7779 7780 7781 7782 7783)
N=40 # flows per check: with two equal ranges, all in one has odds 2^-39

masqd() { node "$MASQD" "$@"; }
echo_listening() { [[ -n $(q "$1" ss -Htln "sport = :${ECHO_PORTS[-1]}") ]]; }
flows() { q "$POD" python3 "$PEER" ports "$@"; } # PROTO ADDR COUNT
# The flows' "ADDRESS PORT" lines as "ADDRESS RANGE" (the range a port is in,
# or "outside:PORT"), counted: "N ADDRESS RANGE" per line.
classify() { # RANGES (FIRST-LAST ...) < lines
	awk -v ranges="$*" 'BEGIN { n = split(ranges, r, " ") }
		{ where = "outside:" $2
		  for (i = 1; i <= n; i++) { split(r[i], b, "-"); if ($2 >= b[1] && $2 <= b[2]) where = r[i] }
		  print $1, where }' | sort | uniq -c | sed 's/^ *//'
}

topo_up
for ns in "$NET" "$VPC"; do
	bg "$ns" python3 "$PEER" echo-port "${ECHO_PORTS[@]}"
	wait_until 100 echo_listening "$ns" || { not_ok "echo peer in $ns did not start"; finish; exit 1; }
done
cfg=$WORK/ip-masq-agent
printf 'nonMasqueradeCIDRs: [10.10.0.0/16]\nresyncInterval: 1s\n' >"$cfg"

echo "== one range: TCP and UDP leave from it, IPv4 and IPv6"
masqd --once --config "$cfg" --enable-ipv6 --to-ports 40000-40999
expect_eq "--once --to-ports exits 0" 0 $?
expect_render_matches "one range" "$cfg" --enable-ipv6 --to-ports 40000-40999
for proto in tcp udp; do
	expect_eq "$proto: $N flows, all masqueraded into 40000-40999" "$N 203.0.113.1 40000-40999" \
		"$(flows $proto 203.0.113.2 ${ECHO_PORTS[0]} $N | classify 40000-40999)"
done
expect_eq "tcp over IPv6: all masqueraded into 40000-40999" "$N 2001:db8::1 40000-40999" \
	"$(flows tcp 2001:db8::2 ${ECHO_PORTS[0]} $N | classify 40000-40999)"
expect_eq "udp over IPv6: all masqueraded into 40000-40999" "$N 2001:db8::1 40000-40999" \
	"$(flows udp 2001:db8::2 ${ECHO_PORTS[0]} $N | classify 40000-40999)"
out=$(flows tcp 10.10.0.2 ${ECHO_PORTS[0]} 5 | cut -d' ' -f1 | sort -u)
expect_eq "the VPC peer still sees the pod IP (non-masquerade comes first)" 10.244.1.2 "$out"

echo "== other protocols: the catch-all, without ports"
before=$(masq_counter)
expect_eq "ICMP echo to the outside host is answered" reply \
	"$(q "$POD" python3 "$PEER" ping 203.0.113.2)"
expect_eq "and counted by the plain masquerade rule" $((before + 1)) "$(masq_counter)"

echo "== two ranges: new flows spread over both, none outside"
ranges="20000-20099 50000-50099"
masqd --once --config "$cfg" --to-ports 20000-20099,50000-50099
expect_render_matches "two ranges" "$cfg" --to-ports 20000-20099,50000-50099
for proto in tcp udp; do
	out=$(flows $proto 203.0.113.2 ${ECHO_PORTS[1]} $N | classify $ranges)
	expect_eq "$proto: $N flows, all from the node address" "$N" \
		"$(awk '$2 == "203.0.113.1" { s += $1 } END { print s + 0 }' <<<"$out")"
	expect_eq "$proto: no port outside the ranges" "" "$(grep outside <<<"$out")"
	expect_true "$proto: the first range is used" grep -q ' 20000-20099$' <<<"$out"
	expect_true "$proto: the second range is used" grep -q ' 50000-50099$' <<<"$out"
	echo "    $proto: $(tr '\n' ';' <<<"$out")"
done

echo "== --random-fully=false and a port range: still inside it"
masqd --once --config "$cfg" --random-fully=false --to-ports 33000-33499
expect_eq "no fully-random" 0 "$(dump | grep -c fully-random)"
expect_render_matches "plain masquerade to ports" "$cfg" --random-fully=false --to-ports 33000-33499
expect_eq "tcp: all flows inside 33000-33499" "$N 203.0.113.1 33000-33499" \
	"$(flows tcp 203.0.113.2 ${ECHO_PORTS[2]} $N | classify 33000-33499)"

echo "== a single port: nft -f loads the render, and masqd reads its own table back as equal"
masqd --cleanup
"$MASQCTL" render --to-ports 1024,2000-2999 "$cfg" >"$WORK/rendered.nft"
q "$NODE" nft -f "$WORK/rendered.nft"
expect_eq "nft -f loads the render" 0 $?
expect_render_matches "nft -f of the render" "$cfg" --to-ports 1024,2000-2999
masqd --cleanup
masqd --once --config "$cfg" --to-ports 1024,2000-2999
out=$(q "$NODE" "$MASQD" --once --config "$cfg" --to-ports 1024,2000-2999 -v 2 2>&1)
# an orphan with owner|persist is adopted, which also needs equal contents
expect_true "a second masqd --once finds its rules in the kernel, unchanged" \
	grep -Eq 'already holds these rules|adopted the table a previous masqd left, rules unchanged' <<<"$out"
expect_eq "and does not replace them" 0 "$(grep -c 'rules programmed' <<<"$out")"
expect_eq "udp to the single port or the range, nothing else" "" \
	"$(flows udp 203.0.113.2 ${ECHO_PORTS[3]} 10 | classify 1024-1024 2000-2999 | grep -v ' 203.0.113.1 [0-9]*-[0-9]*$')"

echo "== a running masqd sees a --to-ports table as in sync"
masqd --cleanup
log=$WORK/daemon.log
start_masqd "$log" --config "$cfg" --table-flags=plain --v=2 --to-ports 1024-29999,32768-65535 --enable-ipv6
g1=$(genid)
held=$(count_in "$log" 'already holds these rules')
wait_until 200 log_reaches "$log" 'already holds these rules' $((held + 2))
expect_true "two resyncs find the kernel holding these rules" \
	log_reaches "$log" 'already holds these rules' $((held + 2))
expect_eq "and send nothing: the generation id did not move" "$g1" "$(genid)"
q "$NODE" nft add table inet unrelated # moves the generation: masqd reads the table back
held=$(count_in "$log" 'already holds these rules')
wait_until 200 log_reaches "$log" 'already holds these rules' $((held + 1))
expect_eq "a read-back after another commit finds no drift" 0 "$(count_in "$log" 'drifted')"
expect_eq "nor is anything programmed again" 1 "$(count_in "$log" 'rules programmed')"
expect_render_matches "daemon" "$cfg" --to-ports 1024-29999,32768-65535 --enable-ipv6
q "$NODE" nft delete rule inet ip-masq-agent postrouting handle \
	"$(q "$NODE" nft -a list chain inet ip-masq-agent postrouting | sed -n 's/.*l4proto udp counter.*to :32768-65535.* # handle \([0-9]*\)$/\1/p' | head -1)"
wait_until 200 log_reaches "$log" 'drifted' 1
expect_eq "a port rule deleted by hand is drift, and repaired" 1 "$(count_in "$log" 'drifted')"
expect_render_matches "after the repair" "$cfg" --to-ports 1024-29999,32768-65535 --enable-ipv6
expect_eq "udp after the repair: inside the ranges" "" \
	"$(flows udp 203.0.113.2 ${ECHO_PORTS[4]} 10 | classify 1024-29999 32768-65535 | grep -v ' 203.0.113.1 [0-9]*-[0-9]*$')"
masqueraded() { "$MASQCTL" status --json --socket "$WORK/masqd.sock" |
	python3 -c 'import json,sys; print(json.load(sys.stdin)["counters"]["connections"]["ipv4"]["masqueraded"])'; }
before=$(masqueraded)
expect_eq "tcp after the repair: inside the ranges" "" \
	"$(flows tcp 203.0.113.2 ${ECHO_PORTS[4]} 10 | classify 1024-29999 32768-65535 | grep -v ' 203.0.113.1 [0-9]*-[0-9]*$')"
expect_eq "connections through the port rules are counted as masqueraded" $((before + 10)) "$(masqueraded)"
stop_masqd

finish
