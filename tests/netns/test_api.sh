#!/usr/bin/env bash
# End-to-end: the Kubernetes API watch against the fake API server
# (tests/fakeapi/fakeapi.py, TLS with a throw-away CA), which runs on the
# node namespace's loopback. EgressNATPolicies created, edited and deleted
# through the API change which destinations keep the pod IP, seen with real
# traffic; every fault the server can inject ends with the right rules and
# masqd still running; an outage changes nothing; the watched ConfigMap wins
# over the mounted file while the API answers. A kubeconfig's inline token
# authenticates; a token revoked and replaced seconds later is read again at
# the next retry; a 401 says which token was refused, or that there was none.
# Topology and safety rules: tests/netns/lib.sh. Needs root.
source "$(dirname "$0")/lib.sh"

[[ $(id -u) == 0 ]] || { echo "needs root for ip netns"; not_ok "run as root"; finish; exit 1; }

source "$(dirname "$0")/api_lib.sh"

# A change made through the API after a fault: it must reach the kernel.
probe=0
recovers() { # DESCRIPTION
	probe=$((probe + 1))
	policy probe "198.18.$probe.0/24"
	wait_until 300 has_cidr "198.18.$probe.0/24"
	has_cidr "198.18.$probe.0/24" || tail -15 "$log" | cut -c1-240 | sed 's/^/    masqd: /'
	expect_true "$1: a later edit reaches the kernel" has_cidr "198.18.$probe.0/24"
	expect_true "$1: masqd is still running" alive
}

topo_up
"$ROOT/tests/fakeapi/certs.sh" "$PKI"
echo tok-1 >"$WORK/api-token"
mkdir -p "$SA" "$WORK/etc-config"
kubelet_swap_files "$SA" token tok-1 ca.crt "$(cat "$PKI/ca.crt")" namespace kube-system

echo "== in-cluster: EgressNATPolicies through the API"
start_api
policy vpc 10.10.0.0/16
log=$WORK/incluster.log
export KUBERNETES_SERVICE_HOST=127.0.0.1 KUBERNETES_SERVICE_PORT=$API_PORT
start_masqd "$log" --config "$WORK/absent" --watch-egress-nat-policies \
	--serviceaccount-dir "$SA" --api-stall-timeout 3s --api-not-found-retry 1s \
	--metrics-bind-address "$M" --healthz-bind-address "$H" --v 2
unset KUBERNETES_SERVICE_HOST KUBERNETES_SERVICE_PORT
expect_true "the first sync has the API's policy: the VPC peer sees the pod IP" vpc_kept
expect_eq "a policy and no file: no built-in defaults (as GKE)" "" "$(set4 | grep -o 192.168.0.0/16)"
list_rv=$(requests "[x['query'].get('resourceVersion') for x in r if x['phase'] == 'watch'][0]")
expect_eq "the watch starts from the list's resourceVersion" 101 "$list_rv"
last_list() { requests "[x['query'].get('$1', '-') for x in r if x['phase'] == 'list'][-1]"; }
expect_eq "the first list asks the watch cache (resourceVersion=0), as client-go's" 0 \
	"$(requests "[x for x in r if x['phase'] == 'list'][0]['query'].get('resourceVersion')")"
expect_eq "the first request tries the streaming list (sendInitialEvents)" watchlist \
	"$(requests "r[0]['phase']")"
expect_true "refused with 422 (the WatchList gate off): masqd lists, then watches" \
	grep -q 'no streaming list of egressnatpolicies (HTTP 422' "$log"
expect_eq "with bookmarks" true \
	"$(requests "[x['query'].get('allowWatchBookmarks') for x in r if x['phase'] == 'watch'][0]")"
expect_eq "the token is sent" "Bearer tok-1" "$(requests "r[0]['auth']")"
to=$(requests "[x['query'].get('timeoutSeconds') for x in r if x['phase'] == 'watch'][0]")
expect_true "timeoutSeconds is 5 to 10 minutes, as client-go's ($to)" test "$to" -ge 300 -a "$to" -lt 600

policy net 203.0.113.0/24
wait_until 200 has_cidr 203.0.113.0/24
expect_true "a policy created through the API: the outside host sees the pod IP" net_kept
policy net 198.51.100.0/24
wait_until 200 lacks_cidr 203.0.113.0/24
expect_true "a policy edited: its old destination is masqueraded again" node_ip 203.0.113.2 203.0.113.1
unpolicy vpc
wait_until 200 lacks_cidr 10.10.0.0/16
expect_true "a policy deleted: the VPC peer sees the node IP" node_ip 10.10.0.2 10.10.0.1

policy net 198.51.100.0/24 SNAT
wait_until 200 log_reaches "$log" 'spec.action \\"SNAT\\" is not supported' 1
expect_true "a bad edit is refused, naming the policy" \
	grep -q 'apiserver EgressNATPolicy/net.*spec.action' "$log"
expect_true "the bad policy keeps its last good version" has_cidr 198.51.100.0/24
expect_eq "and its source reports the failure" 0 \
	"$(metric 'masqd_config_last_load_success{source="egress-nat-policy-api"}')"
policy net 198.51.100.0/24
wait_until 200 metric_ge 'masqd_config_last_load_success{source="egress-nat-policy-api"}' 1
expect_eq "a good version clears it" 1 \
	"$(metric 'masqd_config_last_load_success{source="egress-nat-policy-api"}')"

echo "== faults: each ends with the right rules and masqd running"
ctl '{"op":"split","bytes":3}' >/dev/null
recovers "events split every 3 bytes"
ctl '{"op":"split","bytes":0}' >/dev/null

cm_rv=$(ctl '{"op":"put","resource":"configmaps","object":{"metadata":{"name":"x","namespace":"default"},"data":{}}}' |
	python3 -c 'import json,sys; print(json.load(sys.stdin)["rv"])')
watch_rv() { requests "[x['query'].get('resourceVersion') for x in r if x['phase'] == 'watch'][-1]"; }
rewatched_from_cm() { (($(watch_rv) >= cm_rv)); }
bookmarked() { kick && wait_until 10 rewatched_from_cm; }
wait_until 5 bookmarked
expect_true "a BOOKMARK moves the resourceVersion the next watch starts from" \
	test "$(watch_rv)" -ge "$cm_rv"

n=$(lists)
relist
expect_true "HTTP 410 on a watch: masqd lists again" more_lists "$n"
expect_eq "consistently: the list after a 410 has no resourceVersion" "-" "$(last_list resourceVersion)"
recovers "HTTP 410"

n=$(lists)
fault '"resource":"egressnatpolicies","on":"watch","kind":"gone-event"'
kick
wait_until 40 more_lists "$n"
expect_true "an ERROR event with 410 inside a 200 stream: masqd lists again" more_lists "$n"
expect_true "both count as expired restarts" metric_ge \
	'masqd_api_watch_restarts_total{resource="egressnatpolicies",reason="expired"}' 2
recovers "ERROR 410 event"

echo tok-2 >"$WORK/api-token"
kubelet_swap_files "$SA" token tok-2 ca.crt "$(cat "$PKI/ca.crt")" namespace kube-system
kick
recovers "401 after the token rotated"
expect_true "the 401 was seen and counted" metric_ge \
	'masqd_api_requests_total{resource="egressnatpolicies",code="401"}' 1
expect_eq "the next request carries the new token" "Bearer tok-2" "$(requests "r[-1]['auth']")"

echo "== a token revoked, and its replacement written a few seconds later"
# The server refuses tok-2 from now on; the new token reaches the file only
# after masqd was refused several times (about 3 s with the backoff). masqd
# reads the file again before every retry that follows a 401, so the retry
# after the swap succeeds; it used to read it once, then wait a minute.
first=$(requests "len(r)")
n401=$(metric 'masqd_api_requests_total{resource="egressnatpolicies",code="401"}')
refused() { requests "len([x for x in r[$first:] if not x['ok']])"; }
several_refused() { (($(refused) >= 3)); }
echo tok-3 >"$WORK/api-token"
kick
wait_until 200 several_refused
expect_true "a revoked token: masqd retries and is refused several times" several_refused
expect_true "backing off: a handful of tries, not a busy loop ($(refused))" test "$(refused)" -le 6
expect_true "its log says which token was refused" \
	grep -q "HTTP 401.*the token read from $SA/token was refused" "$log"
kubelet_swap_files "$SA" token tok-3 ca.crt "$(cat "$PKI/ca.crt")" namespace kube-system
probe=$((probe + 1))
policy probe "198.18.$probe.0/24"
within 10 has_cidr "198.18.$probe.0/24"
has_cidr "198.18.$probe.0/24" || tail -15 "$log" | cut -c1-240 | sed 's/^/    masqd: /'
expect_true "the new token is read at the next retry: a later edit reaches the kernel" \
	has_cidr "198.18.$probe.0/24"
expect_eq "every refused request carried the revoked token" "['Bearer tok-2']" \
	"$(requests "sorted(set(x['auth'] for x in r[$first:] if not x['ok']))")"
expect_eq "then the new token was sent and accepted" "True" \
	"$(requests "[x['ok'] for x in r[$first:] if x['auth'] == 'Bearer tok-3'][0]")"
expect_true "masqd's metrics count the 401s ($n401 before)" metric_ge \
	'masqd_api_requests_total{resource="egressnatpolicies",code="401"}' $((${n401:-0} + 3))
expect_eq "and the API is up again" 1 "$(metric 'masqd_api_up{resource="egressnatpolicies"}')"

fault '"resource":"egressnatpolicies","on":"list","kind":"403"'
relist
wait_until 200 log_reaches "$log" 'check the RBAC' 1
expect_true "403: a loud error that names RBAC" grep -q 'level=error.*403.*check the RBAC' "$log"
recovers "403"

ctl '{"op":"crd","installed":false}' >/dev/null
kick
wait_until 200 log_reaches "$log" 'is the EgressNATPolicy CRD installed' 1
expect_true "404: the CRD is missing; the rules stay" has_cidr 198.51.100.0/24
ctl '{"op":"crd","installed":true}' >/dev/null
recovers "404, then the CRD installed"

fault '"resource":"egressnatpolicies","on":"watch","kind":"429","retry_after":2'
kick
wait_until 200 log_reaches "$log" 'HTTP 429' 1
wait_until 100 log_reaches "$log" 'next try in 2\.' 1
expect_true "429 with Retry-After: 2: the next try waits 2 s" grep -q 'next try in 2\.' "$log"
recovers "429"

fault '"resource":"egressnatpolicies","on":"watch","kind":"500","count":2'
kick
recovers "500 twice"

fault '"resource":"egressnatpolicies","on":"watch","kind":"disconnect"'
kick
recovers "an abrupt disconnect mid-event"

fault '"resource":"egressnatpolicies","on":"list","kind":"empty200"'
relist
recovers "a 200 list with an empty body"

n=$(lists)
fault '"resource":"egressnatpolicies","on":"watch","kind":"garbage"'
kick
wait_until 100 more_lists "$n"
expect_eq "a dropped watch relists from the cache, not older than what was seen" \
	NotOlderThan "$(last_list resourceVersionMatch)"
expect_true "with the last resourceVersion seen" test "$(last_list resourceVersion)" -gt 101
recovers "a line that is not JSON in the stream"

ctl '{"op":"stall","on":true}' >/dev/null
wait_until 200 log_reaches "$log" 'watch sent nothing' 1
expect_true "a stalled watch (no bytes, no bookmarks) is restarted" \
	grep -q 'egressnatpolicies watch sent nothing' "$log"
ctl '{"op":"stall","on":false}' >/dev/null
recovers "a stalled watch"

for why in expired unauthorized forbidden not-found throttled server-error error bad-response stall; do
	expect_true "restarts counted by reason: $why" metric_ge \
		"masqd_api_watch_restarts_total{resource=\"egressnatpolicies\",reason=\"$why\"}" 1
done
q "$NODE" python3 "$HTTP" get "http://$M/metrics" | sed '1s/^200 //' >"$WORK/scrape.txt"
expect_true "promtool check metrics passes with the API families" \
	bash -c "promtool check metrics <'$WORK/scrape.txt'"
expect_eq "the Grafana dashboard's API metrics are all in the scrape" "" \
	"$(dashboard_missing "$WORK/scrape.txt" '^masqd_api_')"

echo "== an API outage changes nothing"
before=$(set4)
stop_api
api_down() { [[ $(metric 'masqd_api_up{resource="egressnatpolicies"}') == 0 ]]; }
wait_until 100 api_down
expect_eq "the API is reported down" 0 "$(metric 'masqd_api_up{resource="egressnatpolicies"}')"
q "$NODE" kill -HUP "$DAEMON"
sleep 0.5 # a reload during the outage, then compare
expect_eq "the rules stay as the API last said" "$before" "$(set4)"
expect_eq "masqd stays ready" 200 \
	"$(q "$NODE" python3 "$HTTP" get "http://$H/readyz" | awk 'NR == 1 {print $1}')"
expect_true "and running" alive
stop_masqd

echo "== the watched ConfigMap wins over the mounted file (kubeconfig access)"
start_api
cat >"$WORK/kubeconfig" <<EOF
apiVersion: v1
kind: Config
current-context: test
contexts:
- name: test
  context: {cluster: fake, user: masqd}
clusters:
- name: fake
  cluster:
    server: https://127.0.0.1:$API_PORT
    certificate-authority: pki/ca.crt
users:
- name: masqd
  user:
    token: stale-inline
    tokenFile: serviceaccount/token
EOF
cfgdir=$WORK/etc-config
kubelet_swap "$cfgdir" $'nonMasqueradeCIDRs: [10.10.0.0/16]\n'
configmap 'nonMasqueradeCIDRs: [203.0.113.0/24]\n'
log=$WORK/configmap.log
start_masqd "$log" --config "$cfgdir/ip-masq-agent" --watch-configmap kube-system/ip-masq-agent \
	--kubeconfig "$WORK/kubeconfig" --metrics-bind-address "$M" --healthz-bind-address ""
expect_true "the API's ConfigMap is programmed: the outside host sees the pod IP" net_kept
expect_true "the mounted file's CIDR is not" lacks_cidr 10.10.0.0/16
expect_eq "the list asks for the one ConfigMap by name" "metadata.name=ip-masq-agent" \
	"$(requests "[x['query'].get('fieldSelector') for x in r if x['resource'] == 'configmaps'][0]")"
expect_eq "tokenFile wins over an inline token, as in client-go" "Bearer tok-3" \
	"$(requests "r[0]['auth']")"
configmap 'nonMasqueradeCIDRs: [198.51.100.0/24]\n'
wait_until 200 has_cidr 198.51.100.0/24
expect_true "an edit through the API applies" lacks_cidr 203.0.113.0/24
configmap 'nonMasqueradeCIDRs: [198.18.0.1/15]\n'
wait_until 200 log_reaches "$log" 'configmap kube-system/ip-masq-agent:1:' 1
expect_true "a bad ConfigMap is refused, naming it" \
	grep -q 'configmap kube-system/ip-masq-agent:1:.*198.18.0.0/15' "$log"
expect_true "and its last good version stays" has_cidr 198.51.100.0/24
stop_api
wait_until 200 log_reaches "$log" "keeping the API's version" 1
kubelet_swap "$cfgdir" $'nonMasqueradeCIDRs: [10.10.0.0/16]\n'
q "$NODE" kill -HUP "$DAEMON"
sleep 0.5 # the reload that must not switch to the file
expect_true "outage: a kubelet swap with the same content keeps the API's version" \
	has_cidr 198.51.100.0/24
kubelet_swap "$cfgdir" $'nonMasqueradeCIDRs: [10.10.0.0/17]\n'
wait_until 200 has_cidr 10.10.0.0/17
expect_true "outage: a real change of the mounted file takes over" has_cidr 10.10.0.0/17
expect_true "and the API's version goes" lacks_cidr 198.51.100.0/24
stop_masqd

echo "== a kubeconfig with an inline token (as for nodes run by systemd)"
start_api
kubeconfig_user() { # FILE USER: a kubeconfig whose user is USER (a YAML flow map)
	cat >"$1" <<EOF
current-context: c
contexts: [{name: c, context: {cluster: k, user: node}}]
clusters: [{name: k, cluster: {server: 'https://127.0.0.1:$API_PORT', certificate-authority: pki/ca.crt}}]
users: [{name: node, user: $2}]
EOF
}
kubeconfig_user "$WORK/kubeconfig-inline" "{token: tok-3}"
policy vpc 10.10.0.0/16
log=$WORK/inline.log
start_masqd "$log" --config "$WORK/absent" --watch-egress-nat-policies \
	--kubeconfig "$WORK/kubeconfig-inline" --metrics-bind-address "$M" --healthz-bind-address ""
expect_eq "the inline token is sent" "Bearer tok-3" "$(requests "r[0]['auth']")"
policy net 203.0.113.0/24
wait_until 200 has_cidr 203.0.113.0/24
expect_true "a policy created through the API: the outside host sees the pod IP" net_kept
expect_true "and the policy listed at the start is programmed too" has_cidr 10.10.0.0/16
expect_eq "no request was refused" 0 "$(requests "len([x for x in r if not x['ok']])")"
stop_masqd
# what makes the case above a test: this server refuses anything else
path=/apis/networking.gke.io/v1/egressnatpolicies
expect_eq "the fake server refuses a request without a token" 401 "$(apiget "" $path)"
expect_eq "and one with another token" 401 "$(apiget tok-2 $path)"
expect_eq "and takes the right one" 200 "$(apiget tok-3 $path)"

kubeconfig_user "$WORK/kubeconfig-none" "{}"
log=$WORK/notoken.log
start_masqd "$log" --config "$WORK/absent" --watch-egress-nat-policies \
	--kubeconfig "$WORK/kubeconfig-none" --metrics-bind-address "" --healthz-bind-address ""
wait_until 100 log_reaches "$log" 'HTTP 401' 1
expect_true "a 401 with no token configured says so" grep -q \
	"HTTP 401.*no token configured: the kubeconfig $WORK/kubeconfig-none has no token or tokenFile" \
	"$log"
stop_masqd
kubeconfig_user "$WORK/kubeconfig-wrong" "{token: revoked-inline}"
log=$WORK/wrongtoken.log
start_masqd "$log" --config "$WORK/absent" --watch-egress-nat-policies \
	--kubeconfig "$WORK/kubeconfig-wrong" --metrics-bind-address "" --healthz-bind-address ""
wait_until 100 log_reaches "$log" 'HTTP 401' 1
expect_true "a 401 with an inline token says the token was refused" \
	grep -q "HTTP 401.*the kubeconfig's inline token was refused" "$log"
stop_masqd
stop_api

echo "== --cleanup-on-uninstall: SIGTERM removes the table only when the DaemonSet is going"
API_HOST=127.0.0.1
start_api
daemonset() { # [DELETION-TIMESTAMP]
	local del=${1:+,\"deletionTimestamp\":\"$1\"}
	ctl "{\"op\":\"put\",\"resource\":\"daemonsets\",\"object\":{\"apiVersion\":\"apps/v1\",\"kind\":\"DaemonSet\",\"metadata\":{\"name\":\"masqd\",\"namespace\":\"kube-system\"$del}}}" >/dev/null
}
uninstall_run() { # LOG: start masqd, stop it with SIGTERM
	start_masqd "$1" --config "$WORK/absent" --cleanup-on-uninstall kube-system/masqd \
		--kubeconfig "$WORK/kubeconfig" --metrics-bind-address "" --healthz-bind-address ""
	stop_masqd
}
daemonset
uninstall_run "$WORK/update.log"
expect_true "the DaemonSet is there (an update): the rules stay" table_present
expect_true "and masqd says why" grep -q 'still there (an update or a restart)' "$WORK/update.log"
daemonset 2026-11-29T10:00:00Z
uninstall_run "$WORK/foreground.log"
expect_true "the DaemonSet has a deletionTimestamp: the table is removed" \
	bash -c "! ip netns exec $NODE nft list table inet ip-masq-agent >/dev/null 2>&1"
ctl '{"op":"delete","resource":"daemonsets","name":"masqd","namespace":"kube-system"}' >/dev/null
uninstall_run "$WORK/uninstall.log"
expect_true "the DaemonSet is gone (helm uninstall): the table is removed" \
	bash -c "! ip netns exec $NODE nft list table inet ip-masq-agent >/dev/null 2>&1"
expect_true "and masqd says so" grep -q 'masqd is being uninstalled; table inet ip-masq-agent removed' \
	"$WORK/uninstall.log"
stop_api
uninstall_run "$WORK/noapi.log"
expect_true "no API to ask: the rules stay" table_present
expect_true "and masqd says how to remove them" grep -q 'masqd --cleanup' "$WORK/noapi.log"

echo "== in-cluster over IPv6: the service host is bracketed"
API_HOST=::1
start_api --host ::1
policy v6 10.10.0.0/16
log=$WORK/v6.log
export KUBERNETES_SERVICE_HOST=::1 KUBERNETES_SERVICE_PORT=$API_PORT
start_masqd "$log" --config "$WORK/absent" --watch-egress-nat-policies --serviceaccount-dir "$SA" \
	--metrics-bind-address "" --healthz-bind-address ""
unset KUBERNETES_SERVICE_HOST KUBERNETES_SERVICE_PORT
expect_true "KUBERNETES_SERVICE_HOST=::1 reaches https://[::1]:$API_PORT" \
	grep -q "at https://\[::1\]:$API_PORT" "$log"
expect_true "and its policy is programmed" has_cidr 10.10.0.0/16
stop_masqd
stop_api

echo "== a client certificate from kubeconfig data; --apiserver-url with the service account"
API_HOST=127.0.0.1
start_api --client-ca "$PKI/ca.crt"
policy cert 10.10.0.0/16
cat >"$WORK/kubeconfig-cert" <<EOF
current-context: c
contexts: [{name: c, context: {cluster: k, user: node}}]
clusters: [{name: k, cluster: {server: 'https://127.0.0.1:$API_PORT', certificate-authority-data: $(base64 -w0 "$PKI/ca.crt")}}]
users: [{name: node, user: {client-certificate-data: $(base64 -w0 "$PKI/client.crt"), client-key-data: $(base64 -w0 "$PKI/client.key")}}]
EOF
log=$WORK/cert.log
start_masqd "$log" --config "$WORK/absent" --watch-egress-nat-policies \
	--kubeconfig "$WORK/kubeconfig-cert" --metrics-bind-address "" --healthz-bind-address ""
expect_true "a client certificate and CA given as base64 data authenticate" has_cidr 10.10.0.0/16
expect_eq "without a token" "" "$(requests "r[0]['auth']")"
stop_masqd
log=$WORK/url.log
policy url 203.0.113.0/24
start_masqd "$log" --config "$WORK/absent" --watch-egress-nat-policies \
	--apiserver-url "https://127.0.0.1:$API_PORT/" --serviceaccount-dir "$SA" \
	--metrics-bind-address "" --healthz-bind-address ""
expect_true "--apiserver-url uses the service account's token and CA" has_cidr 203.0.113.0/24
expect_eq "the token sent is the service account's" "Bearer tok-3" "$(requests "r[-1]['auth']")"
stop_masqd
stop_api

echo "== bad access settings are clear errors"
out=$(q "$NODE" "$MASQD" --watch-egress-nat-policies --config "$WORK/absent" \
	--metrics-bind-address "" --healthz-bind-address "" --status-socket "" 2>&1)
expect_true "outside a pod without --kubeconfig: says how to fix it" \
	grep -q 'KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT are not set' <<<"$out"
printf 'apiVersion: v1\nkind: Config\ncurrent-context: x\n' >"$WORK/bad-kubeconfig"
out=$(q "$NODE" "$MASQD" --watch-egress-nat-policies --kubeconfig "$WORK/bad-kubeconfig" \
	--metrics-bind-address "" --healthz-bind-address "" --status-socket "" 2>&1)
expect_true "a kubeconfig without the context: FILE:LINE:COL" \
	grep -q "bad-kubeconfig:.*current-context \\\\\"x\\\\\" names no entry" <<<"$out"

echo "== the streaming watch list (sendInitialEvents), and a server that ignores it"
start_api
policy net 203.0.113.0/24
ctl '{"op":"watch_list","mode":"on"}' >/dev/null
log=$WORK/watchlist.log
start_masqd "$log" --config "$WORK/absent" --watch-egress-nat-policies \
	--apiserver-url "https://127.0.0.1:$API_PORT/" --serviceaccount-dir "$SA" \
	--metrics-bind-address "$M" --healthz-bind-address ""
expect_true "the state comes by the streaming list: the outside host sees the pod IP" net_kept
expect_true "masqd says so" grep -q 'listed 1 egressnatpolicies at resourceVersion [0-9]* by a streaming list' "$log"
expect_eq "no list request at all" 0 "$(lists)"
expect_eq "masqd_api_watch_list is 1" 1 "$(metric 'masqd_api_watch_list{resource="egressnatpolicies"}')"
expect_eq "it asks for initial events not older than the watch cache's (resourceVersion=0)" \
	"true NotOlderThan 0" \
	"$(requests "' '.join(r[0]['query'].get(k, '-') for k in ('sendInitialEvents', 'resourceVersionMatch', 'resourceVersion'))")"
unpolicy net
wait_until 200 lacks_cidr 203.0.113.0/24
expect_true "a change after the initial events reaches the kernel" node_ip 203.0.113.2 203.0.113.1
policy net 203.0.113.0/24
wait_until 200 has_cidr 203.0.113.0/24
ctl '{"op":"bookmarks","seconds":0}' >/dev/null
ctl '{"op":"compact"}' >/dev/null
kick
streamed_twice() { log_reaches "$log" 'by a streaming list' 2; }
wait_until 200 streamed_twice
expect_true "a 410 brings a new streaming list, consistent (no resourceVersion)" \
	test "$(requests "[x['query'].get('resourceVersion', '-') for x in r if x['phase'] == 'watchlist'][-1]")" = -
expect_eq "still no list request" 0 "$(lists)"
recovers "a streaming list after a 410"
stop_masqd
ctl '{"op":"bookmarks","seconds":0.5}' >/dev/null
ctl '{"op":"watch_list","mode":"ignore"}' >/dev/null
log=$WORK/watchlist-ignored.log
start_masqd "$log" --config "$WORK/absent" --watch-egress-nat-policies \
	--apiserver-url "https://127.0.0.1:$API_PORT/" --serviceaccount-dir "$SA" \
	--metrics-bind-address "$M" --healthz-bind-address ""
expect_true "a server that ignores sendInitialEvents: masqd notices and lists" \
	grep -q 'no streaming list of egressnatpolicies' "$log"
expect_true "the state is right: the outside host sees the pod IP" net_kept
expect_eq "masqd_api_watch_list is 0" 0 "$(metric 'masqd_api_watch_list{resource="egressnatpolicies"}')"
recovers "list+watch after the fallback"
stop_masqd
stop_api
expect_true "no sanitizer report in any masqd log" bash -c "! grep -qs Sanitizer '$WORK'/*.log"
finish
