#!/usr/bin/env bash
# End-to-end: a small fleet (issue 13, point 1). 20 real masqd agents, each
# in its own network namespace, watch one fake API server over TLS with a
# token (tools/fleet/run.sh builds and removes all of it). Asserted:
# behaviour only, never a time. Every agent programs the API's policies
# and ConfigMap, reading each whole once at start; every edit reaches every
# agent's kernel; after the API server is down and back with the same
# state, every agent watches again; after a compaction (410 on every watch)
# every agent lists again, once per resource; no agent dies.
set -u
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
source "$ROOT/tests/assert.sh"
N=20 EDITS=3

[[ $(id -u) == 0 ]] || { not_ok "needs root for ip netns"; finish; exit 1; }
out=$(mktemp -d /tmp/masqd-fleet-test.XXXX)
trap 'rm -rf "$out"' EXIT

# what a run killed outright leaves: namespaces named after a PID now gone
true &
dead=$!
wait "$dead"
ip netns add "mqfleet$dead-a0" && ip netns add "mqfleet$dead-api" || not_ok "stale namespaces made"
trap 'rm -rf "$out"; ip netns del "mqfleet$dead-a0" 2>/dev/null; ip netns del "mqfleet$dead-api" 2>/dev/null' EXIT

# in the background only to learn its PID: run.sh names everything it makes
# mqfleet<its PID>-*, and only those are this run's to count afterwards
bash "$ROOT/tools/fleet/run.sh" --agents "$N" --edits "$EDITS" --down 3 --json "$out/fleet.json" \
	>"$out/table.md" 2>"$out/fleet.log" &
fleet_pid=$!
wait "$fleet_pid"
rc=$?
expect_eq "the fleet tool ran through every phase" 0 "$rc"
((rc == 0)) || sed 's/^/    /' "$out/fleet.log" | tail -20
[[ -f $out/fleet.json ]] || { not_ok "no figures written"; finish; exit 1; }
j() { python3 -c "import json,sys; r=json.load(open('$out/fleet.json'))[0]; print($1)"; }

expect_eq "every agent programmed the policies at start" "$N" "$(j 'r["startup"]["programmed"]')"
# 3 ConfigMap ranges, link-local, 10 x 5 policy destinations, the edited one
expect_eq "each agent's rules hold the ConfigMap's and the policies' CIDRs" "['55']" \
	"$(j 'r["startup"]["intervals_v4"]')"
expect_eq "no agent gave up on the API and started from files" 0 "$(j 'r["startup"]["fallback"]')"
expect_eq "one list of the policies per agent at start (min, max)" "[1, 1]" \
	"$(j 'r["startup"]["lists"]["egressnatpolicies"]')"
expect_eq "one list of the ConfigMap per agent at start (min, max)" "[1, 1]" \
	"$(j 'r["startup"]["lists"]["configmaps"]')"
expect_eq "every edit reached every agent's kernel" "$((N * EDITS))" "$(j 'r["edits"]["applied"]')"
expect_eq "every agent watches again after the API server's restart" "$N" \
	"$(j 'r["restart"]["watching_again"]')"
expect_eq "at most one list per resource and agent after the restart" "True" \
	"$(j 'max(r["restart"]["lists"]["egressnatpolicies"][1], r["restart"]["lists"]["configmaps"][1]) <= 1')"
expect_eq "after the 410 storm, one list of the policies per agent" "[1, 1]" \
	"$(j 'r["storm"]["lists"]["egressnatpolicies"]')"
expect_eq "after the 410 storm, one list of the ConfigMap per agent" "[1, 1]" \
	"$(j 'r["storm"]["lists"]["configmaps"]')"
expect_eq "no agent read the whole state twice in a row" "[]" "$(j 'r["twice_in_a_row"]')"
expect_eq "every agent is still running" "$N" "$(j 'r["alive"]')"
left=$(ip netns list | grep -c "^mqfleet$fleet_pid-" || true)
expect_eq "no fleet namespace left behind" 0 "$left"
expect_eq "a killed run's namespaces were removed by this one" 0 \
	"$(ip netns list | grep -c "^mqfleet$dead-" || true)"
expect_true "and it said so" grep -q "namespaces of an earlier run that was killed (mqfleet$dead-\\*)" "$out/fleet.log"
finish
