#!/usr/bin/env bash
# Drop-in fidelity: the configs of upstream ip-masq-agent's and
# ip-masq-agent-v2's own Go test suites (TestSyncConfig, TestConfigValidate),
# written as they write them (JSON indented with tabs), read by masqctl
# with --enable-ipv6 as those tests set it. Each case is a file (upstream:
# one config file) or a directory (v2: its ip-masq* files merged) under
# tests/cli/compat/, beside NAME.want: the effective config upstream's test
# expects, or "error" where upstream's test expects an error. No root.
set -u
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${BUILD:-build}
MASQCTL=$ROOT/$BUILD/masqctl
CASES=$ROOT/tests/cli/compat
source "$ROOT/tests/assert.sh"
WORK=$(mktemp -d /tmp/masqd-compat.XXXX)
trap 'rm -rf "$WORK"' EXIT

# The effective config without masqd's own "sources" object, compact.
effective() {
	"$MASQCTL" effective --json --enable-ipv6 "$1" >"$WORK/out" 2>"$WORK/err" ||
		{ echo "exit $?: $(head -1 "$WORK/err")"; return; }
	python3 -c '
import json, sys
d = json.load(sys.stdin)
d.pop("sources", None)
print(json.dumps(d))' <"$WORK/out"
}

check_case() { # KIND PATH WANT_FILE
	local name=$1/$(basename "${2%.conf}") want got rc
	want=$(cat "$3")
	if [[ $want == error ]]; then
		"$MASQCTL" validate --enable-ipv6 "$2" >/dev/null 2>"$WORK/err"
		rc=$?
		expect_eq "$name: refused (exit 1)" 1 $rc
		# every refusal names the file, line and column, or the file at least
		expect_true "$name: the error is located" grep -qE "^$2(/[^:]+)?:([0-9]+:[0-9]+:)? " "$WORK/err"
		return
	fi
	got=$(effective "$2")
	expect_eq "$name: effective config as upstream's test expects" "$want" "$got"
	"$MASQCTL" validate --enable-ipv6 "$2" >/dev/null 2>&1
	expect_eq "$name: validate accepts it" 0 $?
}

n=0
for want in "$CASES"/upstream/*.want; do
	check_case upstream "${want%.want}.conf" "$want"
	n=$((n + 1))
done
for want in "$CASES"/v2/*.want; do
	check_case v2 "${want%.want}" "$want"
	n=$((n + 1))
done
expect_true "all $n cases ran (at least 30)" test "$n" -ge 30
# The cases that need jansson are really there: tab-indented JSON.
expect_true "the fixtures hold tab-indented JSON" grep -qP '^\t+\{' "$CASES/upstream/json-ipv6-tabs.conf"
finish
