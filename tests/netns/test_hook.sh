#!/usr/bin/env bash
# End-to-end: conflicts at the hook. masqd's `return` keeps the pod IP only
# within its own chain: another nat chain at the postrouting hook still
# masquerades. masqctl status and explain --live list each such chain (table,
# chain, family, priority, and whether it overrides the decision for DEST),
# masqd_foreign_nat_chains counts them, masqd logs once per change, and the
# receivers prove it: an iptables-nft rule and a plain nft table that run
# after masqd masquerade what it kept, and a chain that runs before decides
# for what masqd masquerades. A chain without NAT is not listed. A chain in a
# table owned by a process is unlisted once the process exits, though the
# kernel moves no generation for that.
# Topology and safety rules: tests/netns/lib.sh. Needs root.
source "$(dirname "$0")/lib.sh"

[[ $(id -u) == 0 ]] || { echo "needs root for ip netns"; not_ok "run as root"; finish; exit 1; }

SOCK=$WORK/masqd.sock
HTTP=$ROOT/tests/netns/http_client.py
M=127.0.0.1:9745
LOG=$WORK/masqd.log
status() { q "$NODE" "$MASQCTL" status --socket "$SOCK" "$@"; }
live() { q "$NODE" "$MASQCTL" explain --live --socket "$SOCK" "$@"; }
gauge() { q "$NODE" python3 "$HTTP" get "http://$M/metrics" | awk '$1 == "masqd_foreign_nat_chains" {print $2}'; }
gauge_is() { [[ $(gauge) == "$1" ]]; }
resyncs() { count_in "$LOG" 'sync (resync)'; }
# two more resyncs, each followed by a check, have passed
two_resyncs() { local n; n=$(resyncs); wait_until 100 log_reaches "$LOG" 'sync (resync)' $((n + 2)); }
warns() { count_in "$LOG" 'at the nat postrouting hook can override'; }
nones() { count_in "$LOG" 'no other NAT chain at the nat postrouting hook now'; }
KEPT=10.10.0.2 # in 10.10.0.0/16, kept by masqd
MASQ=203.0.113.2 # masqueraded by masqd

topo_up
cfg=$WORK/config
printf 'nonMasqueradeCIDRs: [10.10.0.0/16]\nresyncInterval: 1s\n' >"$cfg"
start_masqd "$LOG" --config "$cfg" --v 2 --metrics-bind-address "$M" --healthz-bind-address ""

echo "== masqd alone at the hook"
expect_true "status: none" grep -q 'other NAT chains at the nat postrouting hook: none' <<<"$(status)"
expect_eq "status --json: an empty list" 0 "$(status --json | jq_ "len(d['natConflicts'])")"
expect_true "explain --live: none" grep -q 'no other NAT chain at the nat postrouting hook' <<<"$(live $KEPT)"
expect_eq "the gauge is 0" 0 "$(gauge)"
expect_eq "the VPC peer sees the pod IP" 10.244.1.2 "$(seen_from "$POD" $KEPT)"
expect_eq "nothing logged" "0 0" "$(warns) $(nones)"
checks() { count_in "$LOG" 'nat postrouting hook checked in'; }
before=$(checks)
two_resyncs
expect_eq "a quiet host (the nftables generation stands still): the resyncs skip the check" \
	"$before" "$(checks)"
updates() { count_in "$LOG" 'msg="rules updated'; }
n=$(updates)
put_cfg "$cfg" 'nonMasqueradeCIDRs: [10.10.0.0/16, 192.0.2.0/24]\nresyncInterval: 1s\n'
expect_true "a config change: masqd commits" wait_until 100 log_reaches "$LOG" 'msg="rules updated' $((n + 1))
two_resyncs
expect_eq "its own commit moved the generation, by one: no check reads the chains again" \
	"$before" "$(checks)"

echo "== chains without NAT are not listed"
expect_true "a nat postrouting chain that only counts" node nft add table ip quiet
expect_true "...its chain" node nft add chain ip quiet post '{ type nat hook postrouting priority 50; }'
expect_true "...its rule" node nft add rule ip quiet post counter
expect_true "a filter postrouting chain" node nft add table inet filt
expect_true "...its chain" node nft add chain inet filt post '{ type filter hook postrouting priority 0; }'
expect_true "...its rule" node nft add rule inet filt post counter
expect_true "a nat prerouting chain that dnats" node nft add table ip pre
expect_true "...its chain" node nft add chain ip pre pre '{ type nat hook prerouting priority -100; }'
expect_true "...its rule" node nft add rule ip pre pre tcp dport 1 dnat to 10.10.0.9
two_resyncs
expect_true "someone else's commits: the chains are read again" test "$(checks)" -gt "$before"
expect_eq "status --json: still none" 0 "$(status --json | jq_ "len(d['natConflicts'])")"
expect_eq "the gauge is 0" 0 "$(gauge)"
expect_eq "nothing logged" 0 "$(warns)"

echo "== an iptables-nft rule masquerades what masqd keeps"
expect_true "iptables is iptables-nft" grep -q nf_tables <<<"$(iptables -V)"
node iptables -t nat -A POSTROUTING -d 10.10.0.0/16 -j MASQUERADE
wait_until 100 log_reaches "$LOG" 'at the nat postrouting hook can override' 1
expect_true "logged, naming it" grep -q '1 other NAT chain at the nat postrouting hook can override masqd.s decisions: ip nat POSTROUTING (priority 100, masquerade, conditional)' "$LOG"
out=$(status)
expect_true "status lists it" grep -q '  ip nat POSTROUTING, priority 100, runs after masqd: masquerade for some packets' <<<"$out"
expect_eq "status --json: family, table, chain, priority" "ip nat POSTROUTING 100 after masquerade" \
	"$(status --json | jq_ "' '.join(str(d['natConflicts'][0][k]) for k in ('family','table','chain','priority','runs','nat'))")"
out=$(live $KEPT)
expect_true "explain --live: it may override keeping $KEPT" \
	grep -q 'ip nat POSTROUTING (priority 100, masquerade, conditional): runs after masqd, MAY override this decision' <<<"$out"
expect_eq "explain --live --json says may" may "$(live --json $KEPT | jq_ "d['natConflicts'][0]['overrides']")"
expect_true "it cannot change what masqd masquerades ($MASQ)" \
	grep -q 'runs after masqd, cannot override this decision' <<<"$(live $MASQ)"
expect_eq "nor an IPv6 destination's (an ip table)" no \
	"$(live --json fd10:10::2 | jq_ "d['natConflicts'][0]['overrides']")"
expect_true "the gauge is 1" wait_until 50 gauge_is 1
expect_eq "and the traffic proves it: the VPC peer sees the node IP" 10.10.0.1 "$(seen_from "$POD" $KEPT)"
two_resyncs
expect_eq "logged once" 1 "$(warns)"
node iptables -t nat -D POSTROUTING -d 10.10.0.0/16 -j MASQUERADE
wait_until 100 log_reaches "$LOG" 'no other NAT chain at the nat postrouting hook now' 1
expect_eq "gone (its empty POSTROUTING chain stays, without NAT): the gauge is 0" 0 "$(gauge)"
expect_eq "and the VPC peer sees the pod IP again" 10.244.1.2 "$(seen_from "$POD" $KEPT)"

echo "== a plain nft table after masqd masquerades everything it keeps"
expect_true "table ip other" node nft add table ip other
expect_true "...its chain" node nft add chain ip other post '{ type nat hook postrouting priority 200; }'
expect_true "...its rule" node nft add rule ip other post masquerade
wait_until 100 log_reaches "$LOG" 'at the nat postrouting hook can override' 2
expect_true "logged, naming it" grep -q 'can override masqd.s decisions: ip other post (priority 200, masquerade, every packet)' "$LOG"
expect_true "status lists it" grep -q '  ip other post, priority 200, runs after masqd: masquerade for every packet' <<<"$(status)"
expect_true "explain --live: it overrides keeping $KEPT" \
	grep -q 'ip other post (priority 200, masquerade, every packet): runs after masqd, OVERRIDES this decision' <<<"$(live $KEPT)"
expect_eq "explain --live --json says does" does "$(live --json $KEPT | jq_ "d['natConflicts'][0]['overrides']")"
expect_true "the gauge is 1" wait_until 50 gauge_is 1
expect_eq "the VPC peer sees the node IP" 10.10.0.1 "$(seen_from "$POD" $KEPT)"

echo "== and a chain before masqd, through a jump, decides what masqd masquerades"
dev=$(q "$NODE" ip -o -4 addr show to 203.0.113.1 | awk '{print $2}')
node ip addr add 203.0.113.9/24 dev "$dev"
expect_true "table inet early" node nft add table inet early
expect_true "...its chain j" node nft add chain inet early j
expect_true "...which snats" node nft add rule inet early j ip daddr 203.0.113.0/24 snat ip to 203.0.113.9
expect_true "...its base chain" node nft add chain inet early post '{ type nat hook postrouting priority 50; }'
expect_true "...which jumps to j" node nft add rule inet early post jump j
wait_until 100 log_reaches "$LOG" 'at the nat postrouting hook can override' 3
expect_true "logged with both" grep -q '2 other NAT chains .*inet early post (priority 50, snat via j, conditional)' "$LOG"
expect_true "the gauge is 2" wait_until 50 gauge_is 2
out=$(live $MASQ)
expect_true "explain --live: it may override masquerading $MASQ" \
	grep -q 'inet early post (priority 50, snat via j, conditional): runs before masqd, MAY override this decision' <<<"$out"
expect_true "while the later one cannot" grep -q 'ip other post .*runs after masqd, cannot override this decision' <<<"$out"
expect_eq "status --json: runs before, via j" "before j snat" \
	"$(status --json | jq_ "' '.join(c['runs']+' '+c['via']+' '+c['nat'] for c in d['natConflicts'] if c['table']=='early')")"
expect_eq "the outside host sees its snat address, not masqd's masquerade" 203.0.113.9 "$(seen_from "$POD" $MASQ)"
node nft delete table inet early
node nft delete table ip other
wait_until 100 log_reaches "$LOG" 'no other NAT chain at the nat postrouting hook now' 2
expect_eq "both gone: the gauge is 0" 0 "$(gauge)"
expect_eq "the VPC peer sees the pod IP again" 10.244.1.2 "$(seen_from "$POD" $KEPT)"
expect_eq "the outside host sees the node's interface address again" 203.0.113.1 "$(seen_from "$POD" $MASQ)"
echo "== a table owned by a process goes with it, and moves no generation"
# nft -i holds its netlink socket: an owner table lives as long as it runs.
coproc OWN { exec ip netns exec "$NODE" nft -i >/dev/null 2>&1; }
own=$OWN_PID
BG_PIDS+=("$own")
expect_true "nft -i runs" kill -0 "$own"
printf '%s\n' 'add table ip own { flags owner; }' \
	'add chain ip own post { type nat hook postrouting priority 150; }' \
	'add rule ip own post masquerade' >&"${OWN[1]}"
has_own() { q "$NODE" nft list chain ip own post 2>/dev/null | grep -q masquerade; }
expect_true "nft -i holds the table, its chain and rule" wait_until 50 has_own
expect_true "masqd lists it at a resync" \
	wait_until 100 log_reaches "$LOG" 'at the nat postrouting hook can override' 4
expect_true "logged, its table owned by a process" \
	grep -q 'ip own post (priority 150, masquerade, every packet, table owned by a process)' "$LOG"
expect_true "status says its table goes with its owner" grep -q \
	'  ip own post, priority 150, runs after masqd: masquerade for every packet (its table goes when the process that owns it exits)' \
	<<<"$(status)"
expect_eq "status --json: tableOwned" True "$(status --json | jq_ "d['natConflicts'][0]['tableOwned']")"
expect_true "the gauge is 1" wait_until 50 gauge_is 1
expect_eq "the VPC peer sees the node IP" 10.10.0.1 "$(seen_from "$POD" $KEPT)"
before=$(checks)
expect_true "two resyncs" two_resyncs
expect_eq "while its owner runs, a quiet host's resyncs ask for its table, not every chain" \
	"$before" "$(checks)"
gen=$(genid)
expect_true "the generation is a number" grep -qE '^[0-9]+$' <<<"$gen"
kill "$own"
wait "$own" 2>/dev/null
forget_pid "$own"
expect_eq "its owner exits: the table goes, and the nftables generation stands still (the case tested)" \
	"0 $gen" "$(q "$NODE" nft list tables | grep -c '^table ip own$') $(genid)"
expect_true "masqd reads the hook again at a resync, all the same" \
	wait_until 100 log_reaches "$LOG" 'no other NAT chain at the nat postrouting hook now' 3
expect_eq "the gauge is 0" 0 "$(gauge)"
expect_eq "status --json: none" 0 "$(status --json | jq_ "len(d['natConflicts'])")"
expect_eq "the VPC peer sees the pod IP again" 10.244.1.2 "$(seen_from "$POD" $KEPT)"
before=$(checks)
expect_true "two resyncs" two_resyncs
expect_eq "nothing owned listed any more: a quiet host's resyncs skip the check again" \
	"$before" "$(checks)"

two_resyncs
expect_eq "one line per change: four warnings, three all-clear" "4 3" "$(warns) $(nones)"
expect_true "masqd is running" kill -0 "$DAEMON"
stop_masqd
expect_true "no sanitizer report in the log" bash -c "! grep -qs Sanitizer '$LOG'"
finish
