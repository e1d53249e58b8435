#!/usr/bin/env bash
# The fleet simulator (issue 13, point 1): N real masqd agents, each in its
# own network namespace with its own table, watching one event-driven fake
# API server (tools/fleet/fleetapi.py) over TLS with a bearer token.
#
#   sudo tools/fleet/run.sh --agents 20                 # quick: well under a minute
#   sudo tools/fleet/run.sh --agents 100,300,1000 --out fleet.md
#   sudo tools/fleet/run.sh --agents 20 -- --v 2       # more masqd flags after --
#
# Prints a markdown table (start-up, one edit, API server restart, 410 storm,
# footprint); tools/fleet/README.md says how each figure is measured.
# Wrap it in `flock /tmp/masqd-netns.lock` on a shared machine.
#
# Everything is created under the prefix mqfleet$$ and removed on exit, even
# after a failure or Ctrl-C: fleet.py stops what it started and deletes its
# namespaces; this trap is the last resort, for the namespaces and the PIDs
# (checked to still be ours) that a killed driver left.
set -u
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
PREFIX=mqfleet$$
WORK=/tmp/$PREFIX

[[ $(id -u) == 0 ]] || { echo "fleet: needs root (network namespaces)" >&2; exit 1; }
[[ -x $ROOT/build/masqd ]] || { echo "fleet: build masqd first (make -j2 all)" >&2; exit 1; }

sweep() {
	local pid ns
	trap '' INT TERM PIPE
	if [[ -f $WORK/pids ]]; then
		while read -r pid; do
			# only a process we started, still running our binaries
			if grep -qs -e "$ROOT/build/masqd" -e fleetapi.py "/proc/$pid/cmdline"; then
				kill -KILL "$pid" 2>/dev/null
			fi
		done <"$WORK/pids"
	fi
	for ns in $(ip netns list | awk -v p="$PREFIX-" 'index($1, p) == 1 {print $1}'); do
		ip netns del "$ns" 2>/dev/null
	done
	[[ -n ${KEEP_WORK:-} ]] || rm -rf "$WORK"
}
trap sweep EXIT
trap 'exit 130' INT TERM

# A run killed outright (SIGKILL, a reboot of the sandbox's runner) cannot run
# its trap. Its namespaces are removed here when the run that named them is
# gone and nothing runs inside any of them.
sweep_stale() {
	local pid ns busy
	for pid in $(ip netns list | sed -n 's/^mqfleet\([0-9][0-9]*\)-.*/\1/p' | sort -u); do
		[[ $pid != "$$" && ! -d /proc/$pid ]] || continue
		busy=
		for ns in $(ip netns list | awk -v p="mqfleet$pid-" 'index($1, p) == 1 {print $1}'); do
			[[ -z $(ip netns pids "$ns" 2>/dev/null) ]] || busy=1
		done
		[[ -z $busy ]] || continue
		echo "fleet: removing the namespaces of an earlier run that was killed (mqfleet$pid-*)" >&2
		for ns in $(ip netns list | awk -v p="mqfleet$pid-" 'index($1, p) == 1 {print $1}'); do
			ip netns del "$ns" 2>/dev/null
		done
		rm -rf "/tmp/mqfleet$pid"
	done
}
sweep_stale

# 1,000 agents and their server: raise the open-file limit as far as allowed
ulimit -n "$(ulimit -Hn)"
python3 "$ROOT/tools/fleet/fleet.py" --prefix "$PREFIX" --work "$WORK" "$@"
