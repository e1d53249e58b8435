#!/usr/bin/env bash
# End-to-end: whom masqd trusts with its bearer token (issue 12, point 2).
#
#   node namespace                                  vpc namespace
#   ┌───────────────────────────────────────────┐   ┌──────────────────────────┐
#   │ masqd, in a private mount namespace whose │   │ a plain TCP listener on  │
#   │ /etc/ssl/certs is a temp dir holding CA2  │   │ 10.10.0.2:6443 that      │
#   │ (a "public CA": bundle + hashed link)     │   │ records each connection  │
#   │ fakeapi.py on 127.0.0.1:6443, its server  │   └──────────────────────────┘
#   │ certificate signed by CA1 or CA2          │
#   └───────────────────────────────────────────┘
#   (the full topology and its safety rules: tests/netns/lib.sh)
#
# 1. A CA configured (kubeconfig certificate-authority or -data, in-cluster
#    ca.crt) is the only one trusted: a server whose certificate CA2 signed
#    gets no request at all, although CA2 is in the system store. The same
#    store without a configured CA does reach it: the store is really used.
# 2. The configured CA still works: a policy created through the API reaches
#    the kernel and real traffic.
# 3. No bearer token over plain http:// except to a loopback address.
#
# The host's /etc/ssl is never touched: the bind mount exists only in the
# mount namespace of the one masqd process, and goes with it. Needs root.
source "$(dirname "$0")/lib.sh"

[[ $(id -u) == 0 ]] || { echo "needs root for ip netns"; not_ok "run as root"; finish; exit 1; }

FAKEAPI=$ROOT/tests/fakeapi/fakeapi.py
API_PORT=6443
PKI=$WORK/pki
STORE=$WORK/system-certs # bind-mounted over /etc/ssl/certs for masqd only
REQLOG=$WORK/requests.jsonl
SA=$WORK/serviceaccount
TOKEN=tok-tls

# --- certificates: two unrelated throw-away CAs, distinct subjects ---------
mkca() { # NAME: $PKI/NAME.crt, $PKI/NAME.key
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
		-subj "/CN=masqd-tls-test-$1" -keyout "$PKI/$1.key" -out "$PKI/$1.crt" 2>/dev/null
}
mkserver() { # CA: $PKI/server-CA.{crt,key}, for 127.0.0.1
	openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj /CN=fakeapi \
		-keyout "$PKI/server-$1.key" -out "$PKI/server-$1.csr" 2>/dev/null
	printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\n' >"$PKI/server.ext"
	openssl x509 -req -in "$PKI/server-$1.csr" -CA "$PKI/$1.crt" -CAkey "$PKI/$1.key" \
		-CAcreateserial -days 2 -extfile "$PKI/server.ext" -out "$PKI/server-$1.crt" 2>/dev/null
}
mkdir -p "$PKI" "$STORE" "$SA"
mkca ca1 && mkca ca2 && mkserver ca1 && mkserver ca2 || { not_ok "openssl made the test PKI"; finish; exit 1; }
# The "system store": CA2 as libcurl's default bundle and as a hashed link in
# its default CA path (both /etc/ssl/certs here, see curl-config --configure).
cp "$PKI/ca2.crt" "$STORE/ca2.pem"
cp "$PKI/ca2.crt" "$STORE/ca-certificates.crt"
ln -s ca2.pem "$STORE/$(openssl x509 -hash -noout -in "$PKI/ca2.crt").0"
kubelet_swap_files "$SA" token "$TOKEN" ca.crt "$(cat "$PKI/ca1.crt")" namespace kube-system

# --- the fake API server -------------------------------------------------
SERVER_CA=ca1
api_listening() { [[ -n $(q "$NODE" ss -Htln "sport = :$API_PORT") ]]; }
ctl() { q "$NODE" python3 "$FAKEAPI" ctl --port "$API_PORT" --ca "$PKI/$SERVER_CA.crt" "$1"; }
start_api() { # CA: serve a certificate that CA signed
	SERVER_CA=$1
	: >"$REQLOG"
	echo "$TOKEN" >"$WORK/api-token"
	bg "$NODE" python3 "$FAKEAPI" serve --port "$API_PORT" --cert "$PKI/server-$1.crt" \
		--key "$PKI/server-$1.key" --token-file "$WORK/api-token" --request-log "$REQLOG" \
		-v 2>>"$WORK/fakeapi.log"
	API_PID=$LAST_PID
	wait_until 100 api_listening || not_ok "the fake API server did not start"
}
stop_api() { kill "$API_PID" && wait "$API_PID" 2>/dev/null; }
policy() { # NAME CIDR
	ctl "{\"op\":\"put\",\"resource\":\"egressnatpolicies\",\"object\":{\"apiVersion\":\"networking.gke.io/v1\",\"kind\":\"EgressNATPolicy\",\"metadata\":{\"name\":\"$1\"},\"spec\":{\"action\":\"NoSNAT\",\"destinations\":[{\"cidr\":\"$2\"}]}}}" >/dev/null
}
# API requests the server received (each past the TLS handshake).
received() { wc -l <"$REQLOG"; }
reached() { (($(received) >= 1)); }

kubeconfig() { # FILE CLUSTER-EXTRA: a kubeconfig with the token and, maybe, a CA
	cat >"$1" <<EOF
current-context: c
contexts: [{name: c, context: {cluster: k, user: node}}]
clusters: [{name: k, cluster: {server: 'https://127.0.0.1:$API_PORT'$2}}]
users: [{name: node, user: {token: $TOKEN}}]
EOF
}

# --- masqd with $STORE as its system trust store --------------------------
# ip netns exec already gives a mount namespace (slave to the host's);
# unshare -m makes another, private, so the bind mount propagates nowhere.
start_masqd_store() { # LOG ARGS...: in the background; sets DAEMON
	local log=$1
	shift
	pretty "$NODE" "unshare -m: /etc/ssl/certs := $STORE;" "$MASQD" "$@" "2>>$log &"
	ip netns exec "$NODE" unshare -m --propagation private sh -c \
		'mount --bind "$0" /etc/ssl/certs && exec "$@"' "$STORE" \
		"$MASQD" --config "$WORK/absent" --watch-egress-nat-policies --status-socket "" \
		--metrics-bind-address "" --healthz-bind-address "" "$@" 2>>"$log" &
	DAEMON=$!
	BG_PIDS+=("$DAEMON")
}
alive() { kill -0 "$DAEMON" 2>/dev/null; }
tls_error() { grep -q 'SSL certificate problem' "$1"; }
show_log() { tail -5 "$1" | cut -c1-240 | sed 's/^/    masqd: /'; }

# One case of check 1: CA1 configured, the server's certificate from CA2.
refused_case() { # DESCRIPTION LOG ARGS...
	local what=$1 log=$2
	shift 2
	: >"$REQLOG"
	start_masqd_store "$log" "$@"
	wait_until 200 tls_error "$log"
	sleep 2 # more tries (a retry must not get through either), then count
	expect_true "$what: masqd reports a certificate verification error" tls_error "$log"
	tls_error "$log" || show_log "$log"
	expect_eq "$what: the server got no request, so never the token" 0 "$(received)"
	expect_true "$what: masqd keeps running (and retrying)" alive
	stop_masqd
}

topo_up
# The store must really be what libcurl reads, or check 1 proves nothing.
expect_true "the bind-mounted store is seen inside masqd's mount namespace only" \
	ip netns exec "$NODE" unshare -m --propagation private sh -c \
	"mount --bind '$STORE' /etc/ssl/certs && test -e /etc/ssl/certs/ca2.pem"
expect_true "and not on the host" test ! -e /etc/ssl/certs/ca2.pem

echo "== 1. a CA in the system store but not the configured one gets no request"
start_api ca2
policy vpc 10.10.0.0/16
kubeconfig "$WORK/kc-noca" ""
log=$WORK/control.log
: >"$REQLOG"
start_masqd_store "$log" --kubeconfig "$WORK/kc-noca"
wait_until 200 reached
expect_true "control: no CA configured, libcurl's default store (CA2) is trusted: the server is reached" reached
expect_eq "control: with the token" true \
	"$(python3 -c 'import json,sys; print(str(json.loads(sys.stdin.readline())["auth"]).lower())' <"$REQLOG")"
reached || show_log "$log"
stop_masqd

kubeconfig "$WORK/kc-ca-file" ", certificate-authority: '$PKI/ca1.crt'"
refused_case "kubeconfig certificate-authority" "$WORK/ca-file.log" --kubeconfig "$WORK/kc-ca-file"
kubeconfig "$WORK/kc-ca-data" ", certificate-authority-data: $(base64 -w0 "$PKI/ca1.crt")"
refused_case "kubeconfig certificate-authority-data" "$WORK/ca-data.log" --kubeconfig "$WORK/kc-ca-data"
export KUBERNETES_SERVICE_HOST=127.0.0.1 KUBERNETES_SERVICE_PORT=$API_PORT
refused_case "in-cluster ca.crt" "$WORK/incluster.log" --serviceaccount-dir "$SA"
unset KUBERNETES_SERVICE_HOST KUBERNETES_SERVICE_PORT
stop_api

echo "== 2. the configured CA still works"
start_api ca1
policy vpc 10.10.0.0/16
log=$WORK/ca1.log
start_masqd_store "$log" --kubeconfig "$WORK/kc-ca-file"
wait_until 200 has_cidr 10.10.0.0/16
expect_true "CA1 configured, the server's certificate from CA1: the listed policy is programmed" \
	has_cidr 10.10.0.0/16
has_cidr 10.10.0.0/16 || show_log "$log"
policy net 203.0.113.0/24
wait_until 200 has_cidr 203.0.113.0/24
expect_true "a policy created through the API reaches the kernel" has_cidr 203.0.113.0/24
expect_eq "and real traffic: the outside host sees the pod IP" 10.244.1.2 "$(seen_from "$POD" 203.0.113.2)"
expect_eq "no request was refused" 0 "$(grep -c '"ok": false' "$REQLOG")"
stop_masqd
log=$WORK/ca1-incluster.log
export KUBERNETES_SERVICE_HOST=127.0.0.1 KUBERNETES_SERVICE_PORT=$API_PORT
start_masqd_store "$log" --serviceaccount-dir "$SA"
unset KUBERNETES_SERVICE_HOST KUBERNETES_SERVICE_PORT
policy probe 198.18.1.0/24
wait_until 200 has_cidr 198.18.1.0/24
expect_true "in-cluster ca.crt (CA1): a policy created through the API reaches the kernel" \
	has_cidr 198.18.1.0/24
stop_masqd
stop_api

echo "== 3. no bearer token over plain http:// except to loopback"
CONNS=$WORK/conns
: >"$CONNS"
listener_up() { [[ -n $(q "$VPC" ss -Htln "src 10.10.0.2 and sport = :$API_PORT") ]]; }
cat >"$WORK/listener.py" <<'EOF'
import socket, sys  # listener.py PORT FILE: one line per connection accepted
s = socket.create_server(("10.10.0.2", int(sys.argv[1])))
while True:
    c, peer = s.accept()
    with open(sys.argv[2], "a") as f:
        f.write("%s\n" % peer[0])
    c.close()
EOF
bg "$VPC" python3 "$WORK/listener.py" "$API_PORT" "$CONNS"
wait_until 100 listener_up || not_ok "the listener in the vpc namespace did not start"
# what makes the check below a test: the listener is reachable from the node
q "$NODE" python3 -c 'import socket, sys; socket.create_connection((sys.argv[1], int(sys.argv[2])), 5).close()' \
	10.10.0.2 "$API_PORT"
one_conn() { (($(wc -l <"$CONNS") == 1)); }
wait_until 100 one_conn
expect_eq "control: the listener on 10.10.0.2:$API_PORT records a connection from the node" 1 "$(wc -l <"$CONNS")"
pretty "$NODE" "$MASQD" --apiserver-url "http://10.10.0.2:$API_PORT" --serviceaccount-dir "$SA" ...
out=$(q "$NODE" timeout 10 "$MASQD" --config "$WORK/absent" --watch-egress-nat-policies \
	--apiserver-url "http://10.10.0.2:$API_PORT" --serviceaccount-dir "$SA" --status-socket "" \
	--metrics-bind-address "" --healthz-bind-address "" 2>&1)
rc=$?
expect_eq "http:// to a non-loopback address with a token: masqd exits 1 at start" 1 "$rc"
expect_true "saying it refuses to send the token" \
	grep -q "refusing to send a bearer token over plain http:// to http://10.10.0.2:$API_PORT" <<<"$out"
[[ $rc == 1 ]] || sed 's/^/    masqd: /' <<<"$out" | tail -5 | cut -c1-240
sleep 0.5 # a connection masqd made would be recorded by now
expect_eq "and the listener got no connection from masqd" 1 "$(wc -l <"$CONNS")"

log=$WORK/http-loopback.log
pretty "$NODE" "$MASQD" --apiserver-url "http://127.0.0.1:$API_PORT" --serviceaccount-dir "$SA" "2>>$log &"
ip netns exec "$NODE" "$MASQD" --config "$WORK/absent" --watch-egress-nat-policies \
	--apiserver-url "http://127.0.0.1:$API_PORT" --serviceaccount-dir "$SA" --status-socket "" \
	--metrics-bind-address "" --healthz-bind-address "" 2>>"$log" &
DAEMON=$!
BG_PIDS+=("$DAEMON")
sleep 2 # poll bound: an exit at start would have happened by now
expect_true "http:// to 127.0.0.1 with a token is allowed: masqd keeps running" alive
expect_true "without the refusal" bash -c "! grep -q 'refusing to send a bearer token' '$log'"
alive || show_log "$log"
stop_masqd

expect_true "no sanitizer report in any masqd log" bash -c "! grep -qs Sanitizer '$WORK'/*.log"
finish
