# The fake API server's helpers for the namespace suites that use it
# (test_api.sh, test_api_scale.sh). Source it after lib.sh; the server runs
# on the node namespace's loopback.

FAKEAPI=$ROOT/tests/fakeapi/fakeapi.py
API_PORT=6443
PKI=$WORK/pki
SA=$WORK/serviceaccount
M=127.0.0.1:9743 H=127.0.0.1:9744
HTTP=$ROOT/tests/netns/http_client.py

pod_ip() { [[ $(seen_from "$POD" "$1") == 10.244.1.2 ]]; }
node_ip() { [[ $(seen_from "$POD" "$1") == "$2" ]]; }
vpc_kept() { pod_ip 10.10.0.2; }
net_kept() { pod_ip 203.0.113.2; }
alive() { kill -0 "$DAEMON" 2>/dev/null; }

API_HOST=127.0.0.1
ctl() { q "$NODE" python3 "$FAKEAPI" ctl --host "$API_HOST" --port "$API_PORT" --ca "$PKI/ca.crt" "$1"; }
policy() { # NAME CIDR [ACTION]
	ctl "{\"op\":\"put\",\"resource\":\"egressnatpolicies\",\"object\":{\"apiVersion\":\"networking.gke.io/v1\",\"kind\":\"EgressNATPolicy\",\"metadata\":{\"name\":\"$1\"},\"spec\":{\"action\":\"${3:-NoSNAT}\",\"destinations\":[{\"cidr\":\"$2\"}]}}}" >/dev/null
}
configmap() { # CONFIG-TEXT (JSON-escaped)
	ctl "{\"op\":\"put\",\"resource\":\"configmaps\",\"object\":{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"ip-masq-agent\",\"namespace\":\"kube-system\"},\"data\":{\"config\":\"$1\"}}}" >/dev/null
}
unpolicy() { ctl "{\"op\":\"delete\",\"resource\":\"egressnatpolicies\",\"name\":\"$1\"}" >/dev/null; }
fault() { ctl "{\"op\":\"fault\",$1}" >/dev/null; }
kick() { ctl '{"op":"kick"}' >/dev/null; }
# A Python expression over the server's request log r (a list of dicts).
requests() { ctl '{"op":"requests"}' | python3 -c "import json,sys; r=json.load(sys.stdin)['requests']; print($1)"; }
lists() { requests "len([x for x in r if x['resource'] == 'egressnatpolicies' and x['phase'] == 'list'])"; }
more_lists() { (($(lists) > $1)); }
metric() { q "$NODE" python3 "$HTTP" get "http://$M/metrics" | awk -v k="$1" '$1 == k {print $2}'; }
metric_ge() { local v; v=$(metric "$1"); [[ -n $v ]] && (($(printf '%.0f' "$v") >= $2)); }
restarts() { metric "masqd_api_watch_restarts_total{resource=\"egressnatpolicies\",reason=\"$1\"}"; }
api_listening() { [[ -n $(q "$NODE" ss -Htln "sport = :$API_PORT") ]]; }
apiget() { # TOKEN PATH: the HTTP status the fake server gives a request of ours
	q "$NODE" python3 "$FAKEAPI" get --host "$API_HOST" --port "$API_PORT" --ca "$PKI/ca.crt" \
		${1:+--token "$1"} "$2"
}
# Poll a command until it succeeds, for at most SECONDS: a bound on the poll
# loop, not a timing assertion.
within() { # SECONDS CMD...
	local end=$((${EPOCHREALTIME/./} + $1 * 1000000))
	shift
	until "$@" >/dev/null 2>&1; do
		((${EPOCHREALTIME/./} < end)) || return 1
		sleep 0.05
	done
}

start_api() { # ARGS...: the fake API server on the node's loopback
	bg "$NODE" python3 "$FAKEAPI" serve --port "$API_PORT" --cert "$PKI/server.crt" \
		--key "$PKI/server.key" --token-file "$WORK/api-token" -v "$@" 2>>"$WORK/fakeapi.log"
	API_PID=$LAST_PID
	wait_until 100 api_listening || not_ok "the fake API server did not start"
	ctl '{"op":"bookmarks","seconds":0.5}' >/dev/null
}
stop_api() { kill "$API_PID" && wait "$API_PID" 2>/dev/null; }

# Make masqd list again: its resourceVersion compacted away, its watch ended.
# No bookmarks meanwhile: one would move it past the compaction.
relist() {
	local n
	ctl '{"op":"bookmarks","seconds":0}' >/dev/null
	n=$(lists)
	ctl '{"op":"compact"}' >/dev/null
	kick
	wait_until 40 more_lists "$n"
	ctl '{"op":"bookmarks","seconds":0.5}' >/dev/null
}

