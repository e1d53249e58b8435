#!/usr/bin/env bash
# A throw-away test CA and a server certificate for 127.0.0.1 and localhost,
# plus a client certificate, for the fake API server. Usage: certs.sh DIR [IP...]
# (each IP is one more subjectAltName: tools/fleet/ serves on a bridge's address)
set -euo pipefail
d=$1
shift
san=IP:127.0.0.1,IP:::1,DNS:localhost
for ip in "$@"; do san+=,IP:$ip; done
mkdir -p "$d"
cd "$d"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
	-subj /CN=masqd-test-ca -keyout ca.key -out ca.crt 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
	-subj /CN=fakeapi -keyout server.key -out server.csr 2>/dev/null
printf 'subjectAltName=%s\n' "$san" >server.ext
openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 2 \
	-extfile server.ext -out server.crt 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
	-subj /CN=system:node:test -keyout client.key -out client.csr 2>/dev/null
openssl x509 -req -in client.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 2 \
	-out client.crt 2>/dev/null
