#!/usr/bin/env bash
# End-to-end: kubelet's probes keep answering while peers misbehave. masqd
# serves /healthz on 0.0.0.0:9744 in the node namespace; an attacker in the
# "net" namespace holds as many half-sent requests as it can from 32 source
# addresses (a byte a second, reconnecting 0.1 s after each cut: faster, it
# would fill the node's conntrack table, and the kernel would drop every new
# connection whatever masqd does), while the node probes itself every 0.5 s,
# as kubelet does for a host-network pod (the slots kept for the node's own
# addresses), and the VPC peer probes from outside (a newcomer evicts the
# connection that has waited longest for its request). Then: nobody else can
# take the port, and a restart can. Topology and safety rules:
# tests/netns/lib.sh. Needs root.
#
#   node (masqd on 0.0.0.0:9744) ───────── net (attacker)
#   10.10.0.1 probes itself              203.0.113.10 … 203.0.113.41
#        │
#        └──────────────────────────────── vpc (a probe from outside)
#                                          10.10.0.2
source "$(dirname "$0")/lib.sh"

[[ $(id -u) == 0 ]] || { echo "needs root for ip netns"; not_ok "run as root"; finish; exit 1; }

HTTP=$ROOT/tests/netns/http_client.py
H=0.0.0.0:9744
LOG=$WORK/masqd.log
ATTACKERS=$(seq -s, -f '203.0.113.%g' 10 41)

# Connections masqd itself holds (accepted, not in the kernel's queue) from
# peers in $1.
held_from() {
	q "$NODE" ss -Htnp state established "( sport = :9744 and dst $1 )" | grep -c "pid=$DAEMON," || true
}
holds_at_least() { (($(held_from "$1") >= $2)); }
probe_ok() { [[ $(q "$1" python3 "$HTTP" probes "$2" 9744 /healthz 1 0) == "1 ok, 0 failed" ]]; }

topo_up
for a in ${ATTACKERS//,/ }; do q "$NET" ip addr add "$a/24" dev eth0; done
cfg=$WORK/ip-masq-agent
printf 'nonMasqueradeCIDRs: [10.10.0.0/16]\nresyncInterval: 1s\n' >"$cfg"
# A hard deadline longer than the attack: only the short deadline for a whole
# request and eviction can free a slot the attacker holds.
start_masqd "$LOG" --config "$cfg" --metrics-bind-address "" --healthz-bind-address "$H" \
	--http-deadline 60s
expect_eq "the node's probe answers before the attack" "1 ok, 0 failed" \
	"$(q "$NODE" python3 "$HTTP" probes 10.10.0.1 9744 /healthz 1 0)"

echo "== a client trickling its request is cut before the hard deadline"
out=$(q "$NET" python3 "$HTTP" slow 203.0.113.1 9744)
expect_true "a request sent a byte a second is cut ($out)" grep -q '^cut after' <<<"$out"

echo "== 32 addresses x 12 slow connections; probes from the node and from the VPC"
rm -f "$WORK/stop"
bg "$NET" sh -c "python3 $HTTP slowloris $ATTACKERS 203.0.113.1 9744 12 $WORK/stop >$WORK/attack.out"
attack=$LAST_PID
expect_true "the attacker fills the slots open to it (48 or more held by masqd)" \
	wait_until 200 holds_at_least 203.0.113.0/24 48
bg "$VPC" sh -c "python3 $HTTP probes 10.10.0.1 9744 /healthz 10 1 >$WORK/vpc.out"
vpc_probes=$LAST_PID
pretty "$NODE" python3 "$HTTP" probes 10.10.0.1 9744 /healthz 30 0.5
out=$(q "$NODE" python3 "$HTTP" probes 10.10.0.1 9744 /healthz 30 0.5)
wait "$vpc_probes"
echo "$out" | sed 's/^/   node: /'
sed 's/^/   vpc: /' "$WORK/vpc.out"
expect_eq "30 probes from the node's own address: each 200 within 1 s" "30 ok, 0 failed" \
	"$(head -1 <<<"$out")"
expect_eq "10 probes from the VPC peer: each 200 within 1 s" "10 ok, 0 failed" \
	"$(head -1 "$WORK/vpc.out")"
expect_true "the attack still held connections after the probes" \
	wait_until 100 holds_at_least 203.0.113.0/24 48
expect_true "the attacker was still running" kill -0 "$attack"
touch "$WORK/stop"
wait "$attack"
out=$(cat "$WORK/attack.out")
echo "   attacker: $out"
cut=$(awk '$3 == "cut" {print $4}' <<<"$out")
expect_true "the attacker was cut and reconnected" test "${cut:-0}" -gt 0
expect_true "after the attack, a probe from an attacker's address is answered" \
	wait_until 100 probe_ok "$NET" 203.0.113.1
expect_true "and masqd is still running" kill -0 "$DAEMON"

echo "== nobody else can take the port"
out=$(q "$NODE" python3 "$HTTP" bind 0.0.0.0 9744)
expect_eq "a listener with SO_REUSEPORT on the same port gets 'address in use'" EADDRINUSE "$out"
pretty "$NODE" "$MASQD" --healthz-bind-address "$H" "..."
q "$NODE" timeout 10 "$MASQD" --config "$cfg" --metrics-bind-address "" \
	--healthz-bind-address "$H" --status-socket "" 2>"$WORK/second.log"
rc=$?
sed 's/^/   second: /' "$WORK/second.log"
expect_eq "a second masqd on the same address exits 1" 1 "$rc"
expect_true "and says the address is in use" \
	grep -q -- "--healthz-bind-address $H: .*[Aa]ddress already in use" "$WORK/second.log"

echo "== a restart binds again at once, over the connections it cut"
tw=$(q "$NODE" ss -Htn state time-wait '( sport = :9744 )' | wc -l)
expect_true "cut connections wait in TIME_WAIT ($tw)" test "$tw" -gt 0
stop_masqd
start_masqd "$LOG" --config "$cfg" --metrics-bind-address "" --healthz-bind-address "$H" \
	--http-deadline 60s
expect_eq "the restarted masqd answers the node's probe" "1 ok, 0 failed" \
	"$(q "$NODE" python3 "$HTTP" probes 10.10.0.1 9744 /healthz 1 0)"

stop_masqd
expect_eq "masqd exits 0" 0 $?
finish
