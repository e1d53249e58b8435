#!/usr/bin/env bash
# make demo: masqd with its built-in defaults in a throw-away topology of
# network namespaces (see tests/netns/lib.sh); real connections from a "pod"
# show which destinations see the pod IP and which see the node IP.
# Everything it creates is deleted on exit. Needs root.
source "$(dirname "$0")/../tests/netns/lib.sh"
[[ $(id -u) == 0 ]] || { echo "make demo needs root: run it as root (or with sudo where it is installed)" >&2; exit 1; }

pretty() { :; } # the demo narrates instead of echoing every command
echo "Building a sandbox: pod 10.244.1.2 -> node (masqd) -> VPC peer 10.10.0.2 and outside host 203.0.113.2"
topo_up
echo "Starting masqd in the node namespace with its built-in defaults (no config file):"
echo "  masqd --config $WORK/ip-masq-agent   # missing, so RFC 1918 + link-local stay unmasqueraded"
bg "$NODE" "$MASQD" --config "$WORK/ip-masq-agent" --status-socket "$WORK/masqd.sock"
daemon=$LAST_PID
wait_until 100 bash -c "ip netns exec $NODE nft list table inet ip-masq-agent >/dev/null 2>&1" ||
	{ echo "masqd did not program its table" >&2; exit 1; }
sleep 0.2 # let masqd's first log lines print before the table

row() { # DESTINATION DESCRIPTION
	local seen verdict
	seen=$(seen_from "$POD" "$1")
	case $seen in
	10.244.1.2 | fd00:244:1::2) verdict="no: keeps the pod IP" ;;
	unreachable*) verdict="(no answer)" ;;
	*) verdict="yes: node IP" ;;
	esac
	printf '  %-17s %-28s %-15s %s\n' "$1" "$2" "$seen" "$verdict"
}
echo
echo "Connections from the pod (10.244.1.2, fd00:244:1::2); each receiver reports the source it saw:"
printf '  %-17s %-28s %-15s %s\n' DESTINATION WHAT "SOURCE SEEN" MASQUERADED
row 10.10.0.2 "VPC peer (10.0.0.0/8)"
row 169.254.169.254 "link-local (metadata)"
row 203.0.113.2 "outside host"
row 2001:db8::2 "outside host, IPv6"
echo "  (IPv6 is left alone unless masqd runs with --enable-ipv6, as upstream.)"
echo
echo "The live table in the node namespace (nft list table inet ip-masq-agent):"
q "$NODE" nft list table inet ip-masq-agent | sed 's/^/  /'
echo
echo "What masqctl status says (over masqd's unix socket):"
q "$NODE" "$MASQCTL" status --socket "$WORK/masqd.sock" | sed 's/^/  /'
echo
echo "A few of its Prometheus metrics (curl http://127.0.0.1:9743/metrics on the node):"
q "$NODE" python3 "$ROOT/tests/netns/http_client.py" get http://127.0.0.1:9743/metrics |
	grep -E '^(masqd_(masqueraded|not_masqueraded)_connections_total\{family="ipv4"|masqd_nonmasquerade_cidrs|masqd_sync_duration_seconds_count)' |
	sed 's/^/  /'
echo
kill -TERM "$daemon"
wait "$daemon" 2>/dev/null
echo "masqd stopped (the rules stay in the kernel, as after a crash). Cleaning up the sandbox."
