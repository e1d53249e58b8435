#!/usr/bin/env bash
# End-to-end: masqd's metrics, health endpoints and status socket. A real
# Prometheus server scrapes masqd inside the node namespace, promtool checks
# a live scrape, the connection counters follow real flows, and hostile HTTP
# clients get errors while scrapes and probes still answer. Topology and
# safety rules: tests/netns/lib.sh. Needs root.
source "$(dirname "$0")/lib.sh"

[[ $(id -u) == 0 ]] || { echo "needs root for ip netns"; not_ok "run as root"; finish; exit 1; }

HTTP=$ROOT/tests/netns/http_client.py
M=127.0.0.1:9743 H=127.0.0.1:9744
SOCK=$WORK/masqd.sock
LOG=$WORK/masqd.log

http() { q "$NODE" python3 "$HTTP" "$@"; }
scrape() { http get "http://$M/metrics"; }
# The value of one sample, e.g. metric 'masqd_x_total{family="ipv4"}'.
metric() { scrape | awk -v k="$1" '$1 == k {print $2}'; }
status_code() { http get "$1" | awk 'NR == 1 {print $1}'; }
ready() { [[ $(status_code "http://$H/readyz") == 200 ]]; }

topo_up
cfg=$WORK/ip-masq-agent
printf 'nonMasqueradeCIDRs: [10.10.0.0/16]\nresyncInterval: 1s\n' >"$cfg"
bg "$NODE" "$MASQD" --config "$cfg" --metrics-bind-address "$M" --healthz-bind-address "$H" \
	--status-socket "$SOCK" --http-deadline 2s
daemon=$LAST_PID
wait_until 200 ready

echo "== the scrape"
out=$(scrape)
expect_eq "GET /metrics answers 200" 200 "$(awk 'NR == 1 {print $1}' <<<"$out")"
sed '1s/^200 //' <<<"$out" >"$WORK/scrape.txt"
expect_true "promtool check metrics passes on a live scrape" \
	bash -c "promtool check metrics <'$WORK/scrape.txt'"
for fam in masqd_build_info masqd_sync_duration_seconds masqd_last_sync_timestamp_seconds \
	masqd_sync_failures_total masqd_sync_retries_total masqd_sync_consecutive_failures \
	masqd_config_reloads_total masqd_config_last_load_success \
	masqd_nonmasquerade_cidrs masqd_masqueraded_connections_total \
	masqd_not_masqueraded_connections_total masqd_drift_repairs_total \
	process_cpu_seconds_total process_resident_memory_bytes process_start_time_seconds \
	process_open_fds process_max_fds; do
	expect_eq "one TYPE line for $fam" 1 "$(grep -c "^# TYPE $fam " "$WORK/scrape.txt")"
done
expect_eq "build info carries the version" 1 \
	"$(grep -c '^masqd_build_info{version="[0-9.]*",revision="[^"]*"} 1$' "$WORK/scrape.txt")"
expect_eq "histogram: +Inf bucket equals the count" \
	"$(awk '$1 ~ /^masqd_sync_duration_seconds_count/ {print $2}' "$WORK/scrape.txt")" \
	"$(awk '$1 ~ /le="\+Inf"/ {print $2}' "$WORK/scrape.txt")"
expect_eq "CIDR count by family (10.10.0.0/16 and link-local)" 2 \
	"$(awk '$1 == "masqd_nonmasquerade_cidrs{family=\"ipv4\"}" {print $2}' "$WORK/scrape.txt")"

echo "== every metric the Grafana dashboard queries exists"
# The conntrack cleanup's and the API watch's series exist only with their
# flags: tests/netns/test_conntrack.sh and test_api.sh check those panels.
expect_eq "dashboard metrics missing from the scrape (all but the flag-only ones)" "" \
	"$(dashboard_missing "$WORK/scrape.txt" . '^masqd_(conntrack|api)_')"

echo "== the connection counters follow real flows"
masq_key='masqd_masqueraded_connections_total{family="ipv4"}'
kept_key='masqd_not_masqueraded_connections_total{family="ipv4"}'
m0=$(metric "$masq_key") k0=$(metric "$kept_key")
for i in 1 2 3 4 5; do seen_from "$POD" 203.0.113.2 >/dev/null; done
for i in 1 2 3; do seen_from "$POD" 10.10.0.2 >/dev/null; done
m1=$(metric "$masq_key") k1=$(metric "$kept_key")
expect_eq "5 masqueraded connections raise the masqueraded counter by 5" 5 $((m1 - m0))
expect_eq "3 connections to the VPC raise the other counter by 3" 3 $((k1 - k0))
put_cfg "$cfg" 'nonMasqueradeCIDRs: [10.10.0.0/16, 198.18.0.0/15]\nresyncInterval: 1s\n'
wait_until 200 bash -c "ip netns exec $NODE nft list set inet ip-masq-agent nomasq4 | grep -q 198.18.0.0/15"
expect_eq "the totals survive a replacement of the table" "$m1 $k1" \
	"$(metric "$masq_key") $(metric "$kept_key")"

echo "== a real Prometheus server scrapes masqd"
cat >"$WORK/prometheus.yml" <<YML
global: { scrape_interval: 1s, evaluation_interval: 1s }
scrape_configs:
  - job_name: masqd
    static_configs: [ { targets: ["$M"] } ]
YML
bg "$NODE" prometheus --config.file="$WORK/prometheus.yml" --storage.tsdb.path="$WORK/prom" \
	--web.listen-address=127.0.0.1:9090 --log.level=warn
prom_query() { # PROMQL -> the first result's value, or nothing
	q "$NODE" python3 -c "
import json, sys, urllib.parse, urllib.request
u = 'http://127.0.0.1:9090/api/v1/query?query=' + urllib.parse.quote(sys.argv[1])
r = json.load(urllib.request.urlopen(u, timeout=5))['data']['result']
print(r[0]['value'][1] if r else '')" "$1" 2>/dev/null
}
has_result() { [[ -n $(prom_query "$1") ]]; }
wait_until 600 has_result 'masqd_build_info'
expect_eq "Prometheus has masqd_build_info" 1 "$(prom_query 'masqd_build_info')"
expect_true "Prometheus sees a non-zero sync count" \
	bash -c "[[ \$(ip netns exec $NODE python3 -c \"
import json, urllib.request
u = 'http://127.0.0.1:9090/api/v1/query?query=masqd_sync_duration_seconds_count'
r = json.load(urllib.request.urlopen(u, timeout=5))['data']['result']
print(r[0]['value'][1] if r else 0)\") != 0 ]]"
expect_eq "the scrape target is up" 1 "$(prom_query 'up{job="masqd"}')"

echo "== health"
expect_eq "/healthz answers 200" "200 ok" "$(http get "http://$H/healthz")"
expect_eq "/readyz answers 200 after the first sync" "200 ok" "$(http get "http://$H/readyz")"
expect_eq "unknown paths get 404" 404 "$(status_code "http://$H/nope")"
expect_eq "/metrics is not on the health port" 404 "$(status_code "http://$H/metrics")"
expect_eq "a body is refused" 413 "$(http raw 127.0.0.1 9743 body)"
out=$(q "$NODE" python3 -c "
import urllib.request, urllib.error
try:
    urllib.request.urlopen(urllib.request.Request('http://$M/metrics', data=b'', method='DELETE'), timeout=5)
except urllib.error.HTTPError as e:
    print(e.code, e.headers.get('Allow'))")
expect_eq "other methods get 405 with Allow" "405 GET, HEAD" "$out"

echo "== a bad config does not make masqd unready"
put_cfg "$cfg" 'nonMasqueradeCIDRs: [10.10.0.1/16]\n'
wait_until 200 bash -c "[[ \$(ip netns exec $NODE python3 $HTTP get http://$M/metrics | grep -c '^masqd_config_last_load_success{source=\"file\"} 0') == 1 ]]"
expect_eq "the last-load gauge drops to 0" 0 "$(metric 'masqd_config_last_load_success{source="file"}')"
expect_true "the failure is counted" test "$(metric 'masqd_config_reloads_total{source="file",result="failure"}')" -ge 1
expect_eq "/readyz stays 200: the last good rules are in place" 200 "$(status_code "http://$H/readyz")"
out=$(q "$NODE" "$MASQCTL" status --socket "$SOCK")
expect_true "masqctl status shows the error with its location" \
	grep -qF "error (the last good config stays in force): $cfg:1:22: CIDR" <<<"$out"
expect_true "masqctl status shows the last sync and the counts" \
	bash -c "grep -q '^last sync: .*succeeded' <<<'$out' && grep -q '^non-masquerade CIDRs: 3 IPv4, 0 IPv6' <<<'$out'"
expect_true "masqctl status shows the connection counters" \
	grep -q "^connections IPv4: $m1 masqueraded, $k1 kept the pod IP" <<<"$out"
expect_true "masqctl status --json is JSON" \
	bash -c "ip netns exec $NODE $MASQCTL status --json --socket $SOCK | python3 -c 'import json,sys; json.load(sys.stdin)'"
put_cfg "$cfg" 'nonMasqueradeCIDRs: [10.10.0.0/16]\nresyncInterval: 1s\n'
wait_until 200 bash -c "ip netns exec $NODE $MASQCTL status --socket $SOCK | grep -q ': OK$'"
expect_true "masqctl status shows OK once fixed" \
	bash -c "ip netns exec $NODE $MASQCTL status --socket $SOCK | grep -q '^  file $cfg: OK$'"

echo "== a masqd whose sync fails is not ready, and says why"
bg "$NODE" "$MASQD" --config "$cfg" --metrics-bind-address "" --healthz-bind-address 127.0.0.1:9745 \
	--status-socket "" 
second=$LAST_PID
wait_until 200 bash -c "[[ \$(ip netns exec $NODE python3 $HTTP get http://127.0.0.1:9745/readyz | awk 'NR==1{print \$1}') == 503 ]]"
out=$(http get http://127.0.0.1:9745/readyz)
expect_true "503 with one line naming the cause" \
	grep -q '^503 not ready: the last sync failed: table inet ip-masq-agent: Device or resource busy: owned by a running process' <<<"$out"
expect_eq "its /healthz still answers 200" 200 "$(status_code http://127.0.0.1:9745/healthz)"
expect_eq "with --metrics-bind-address \"\" nothing listens on 9743 for it" "" \
	"$(q "$NODE" ss -Htlnp 'sport = :9743' | grep "pid=$second,")"
kill -TERM "$second"
wait "$second"

echo "== masqctl status works with both HTTP endpoints off; IPv6 listen addresses work"
bg "$NODE" "$MASQD" --config "$cfg" --metrics-bind-address "" --healthz-bind-address "" \
	--status-socket "$WORK/third.sock"
third=$LAST_PID
wait_until 200 bash -c "ip netns exec $NODE $MASQCTL status --socket $WORK/third.sock | grep -q 'last sync failed'"
expect_true "masqctl status answers with no HTTP endpoint, and says why it is not ready" \
	bash -c "ip netns exec $NODE $MASQCTL status --socket $WORK/third.sock | grep -q '^masqd .*: the last sync failed: table inet ip-masq-agent'"
expect_eq "nothing of it listens on TCP" "" "$(q "$NODE" ss -Htlnp | grep "pid=$third,")"
kill -TERM "$third"
wait "$third"
bg "$NODE" "$MASQD" --config "$cfg" --metrics-bind-address "[::1]:9746" \
	--healthz-bind-address "[::]:9747" --status-socket ""
fourth=$LAST_PID
wait_until 200 bash -c "[[ \$(ip netns exec $NODE python3 $HTTP get 'http://[::1]:9747/healthz' | awk 'NR==1{print \$1}') == 200 ]]"
expect_eq "--healthz-bind-address [::]:9747 serves /healthz over IPv6" "200 ok" \
	"$(http get 'http://[::1]:9747/healthz')"
expect_eq "--metrics-bind-address [::1]:9746 serves /metrics over IPv6" 200 \
	"$(status_code 'http://[::1]:9746/metrics')"
kill -TERM "$fourth"
wait "$fourth"

echo "== malformed and hostile HTTP clients"
expect_true "an oversized request gets an error status or is closed" \
	bash -c "[[ \$(ip netns exec $NODE python3 $HTTP raw 127.0.0.1 9743 oversized) =~ ^(4[0-9][0-9]|closed)$ ]]"
expect_eq "a garbage request line gets 400" 400 "$(http raw 127.0.0.1 9744 garbage)"
out=$(http slow 127.0.0.1 9743)
expect_true "a client sending a byte a second is cut at the deadline ($out)" grep -q '^cut after' <<<"$out"
echo "   1000 idle connections from 127.0.0.2 to both ports, probes from 127.0.0.1"
rm -f "$WORK/stop"
bg "$NODE" sh -c "python3 $HTTP idle 127.0.0.2 127.0.0.1 9743,9744 1000 $WORK/stop >$WORK/idle.out"
flood=$LAST_PID
wait_until 200 grep -q '^open 1000' "$WORK/idle.out"
expect_eq "a scrape still answers" 200 "$(status_code "http://$M/metrics")"
expect_eq "the health probe still answers" 200 "$(status_code "http://$H/healthz")"
expect_eq "the readiness probe still answers" 200 "$(status_code "http://$H/readyz")"
touch "$WORK/stop"
wait "$flood"
expect_eq "afterwards masqd still serves" 200 "$(status_code "http://$M/metrics")"
expect_true "and is still running" kill -0 "$daemon"

kill -TERM "$daemon"
wait "$daemon"
expect_eq "masqd exits 0" 0 $?
expect_true "the status socket is removed on exit" test ! -e "$SOCK"
finish
