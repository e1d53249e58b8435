#!/usr/bin/env bash
# Runs the unit tests, the network-namespace end-to-end suites and a fuzz
# smoke run, and ends with one line: "N passed, M failed".
#   tests/run.sh [all|unit|deploy|netns|fuzz]   (unit includes the CLI suites; deploy
#   renders the Helm chart and kustomize overlays, with helm from tools/k8s-tools.sh)
set -u
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
what=${1:-all}
passed=0 failed=0
logdir=$(mktemp -d /tmp/masqd-tests.XXXXXX)

count() { passed=$((passed + $1)); failed=$((failed + $2)); }

run_unit() {
	local t log p f
	for t in "$BUILD"/tests/unit/test_*; do
		[[ -x $t && $t != *.o && $t != *.d ]] || continue
		log=$logdir/$(basename "$t").log
		"$t" >"$log" 2>&1
		local rc=$?
		p=$(sed -n 's/^\[  PASSED  \] \([0-9]*\) test.*/\1/p' "$log" | tail -1)
		f=$(sed -n 's/^\[  FAILED  \] \([0-9]*\) test.*/\1/p' "$log" | tail -1)
		p=${p:-0} f=${f:-0}
		# a crash (sanitizer report, abort) without a cmocka summary is a failure
		((rc != 0 && f == 0)) && f=1
		printf 'unit  %-22s %3d passed, %d failed\n' "$(basename "$t")" "$p" "$f"
		((f > 0)) && sed 's/^/      /' "$log" | grep -v '^\s*\[ RUN\|OK \]' | tail -30
		count "$p" "$f"
	done
}

# Shell suites in $1 (tests/cli, tests/netns), each ending "N passed, M failed".
run_scripts() {
	local s log last kind=${1##*/}
	for s in "$1"/test_*.sh; do
		log=$logdir/$(basename "$s").log
		BUILD=$BUILD bash "$s" 2>&1 | tee "$log" | grep -E '^(FAIL|not ok|SKIP)' | sed 's/^/      /'
		last=$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$log" | tail -1)
		if [[ -z $last ]]; then
			echo "$kind $(basename "$s"): no summary line; counted as one failure"
			tail -20 "$log" | sed 's/^/      /'
			count 0 1
			continue
		fi
		printf '%-5s %-22s %s\n' "$kind" "$(basename "$s")" "$last"
		count "$(cut -d' ' -f1 <<<"$last")" "$(cut -d' ' -f3 <<<"$last")"
	done
}

# Each fuzz target replays its seed corpus and then runs a bounded number of
# mutations; a crash, leak or sanitizer report fails it.
run_fuzz() {
	local f name corpus log
	for f in build-fuzz/fuzz_*; do
		[[ -x $f ]] || continue
		name=${f##*/fuzz_}
		corpus=$(mktemp -d "$logdir/corpus-$name.XXXX")
		cp tests/fuzz/corpus/"$name"/* "$corpus"/ 2>/dev/null
		log=$logdir/fuzz-$name.log
		if "$f" -runs="${FUZZ_RUNS:-20000}" -max_len=4096 -timeout=10 \
			-artifact_prefix="$logdir/" "$corpus" >"$log" 2>&1; then
			printf 'fuzz  %-22s   1 passed, 0 failed\n' "$name"
			count 1 0
		else
			printf 'fuzz  %-22s   0 passed, 1 failed\n' "$name"
			tail -30 "$log" | sed 's/^/      /'
			count 0 1
		fi
	done
}

case $what in
all) run_unit; run_scripts tests/cli; run_scripts tests/deploy; run_scripts tests/netns; run_fuzz ;;
unit) run_unit; run_scripts tests/cli ;;
deploy) run_scripts tests/deploy ;;
netns) run_scripts tests/netns ;;
fuzz) run_fuzz ;;
*) echo "usage: $0 [all|unit|deploy|netns|fuzz]" >&2; exit 2 ;;
esac
((failed == 0)) && rm -rf "$logdir" || echo "logs: $logdir"
echo "$passed passed, $failed failed"
((failed == 0))
