#!/usr/bin/env bash
# The long fuzz run, by hand and outside CI (make check only smoke-runs each
# target for 20,000 inputs). Every tests/fuzz/fuzz_*.c target runs alone, one
# after the other, under libFuzzer with ASan+UBSan, from its seed corpus to
# RUNS executions, and a table says per target: executions, exec/s, coverage
# (libFuzzer's "cov:" edges and "ft:" features), corpus size and crashes.
#
#   tools/fuzz.sh [target...]       default: every target; RUNS=10000000
#   RUNS=N  MAX_TIME=SECONDS (per target, 0 = none)  NICE=19  TIMEOUT=60  OUT=build-fuzz/long
#
# libFuzzer stops at the first crash, leak or timeout; the input is kept as
# $OUT/<target>/crash-* and named in the table. Fix it, then copy that input
# into tests/fuzz/corpus/<target>/ so the smoke run replays it from then on.
# The grown corpus stays in $OUT/<target>/corpus, so a rerun starts from it.
set -u
cd "$(dirname "$0")/.."
RUNS=${RUNS:-10000000}
MAX_TIME=${MAX_TIME:-0}
NICE=${NICE:-19}
# per input; an input takes milliseconds, but at nice 19 on a shared machine a
# busy minute (a fleet run) starves the fuzzer past 10 s of wall time
TIMEOUT=${TIMEOUT:-60}
OUT=${OUT:-build-fuzz/long}

make -s fuzz >/dev/null || exit 1
if (($#)); then
	targets=("$@")
else
	targets=()
	for f in tests/fuzz/fuzz_*.c; do
		n=${f##*/fuzz_}
		targets+=("${n%.c}")
	done
fi

# Inputs are at most 4096 bytes, except pstore's: its 256 names are covered by
# 512 operations, and its model check costs per operation, so 1024 bytes run
# about twice as many inputs per second for the same reach.
max_len() { [[ $1 == pstore ]] && echo 1024 || echo 4096; }

# One libFuzzer run; prints "execs exec/s cov ft corpus crashes seconds".
run_one() {
	local name=$1 dir=$OUT/$1 log rc start secs execs rate cov ft units crash
	mkdir -p "$dir/corpus"
	cp -n tests/fuzz/corpus/"$name"/* "$dir/corpus/" 2>/dev/null
	log=$dir/fuzz.log
	start=$(date +%s)
	nice -n "$NICE" build-fuzz/fuzz_"$name" -runs="$RUNS" -max_total_time="$MAX_TIME" \
		-max_len="$(max_len "$name")" -timeout="$TIMEOUT" -rss_limit_mb=2048 -print_final_stats=1 \
		-artifact_prefix="$dir/" "$dir/corpus" >"$log" 2>&1
	rc=$?
	secs=$(($(date +%s) - start))
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
	rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
	# the last status line: "#N  DONE/pulse/NEW  cov: C ft: F corp: U/..."
	cov=$(grep -oE 'cov: [0-9]+' "$log" | tail -1 | cut -d' ' -f2)
	ft=$(grep -oE 'ft: [0-9]+' "$log" | tail -1 | cut -d' ' -f2)
	units=$(find "$dir/corpus" -type f | wc -l)
	crash=$(grep -oE 'Test unit written to [^ ]+' "$log" | tail -1 | cut -d' ' -f5)
	if ((rc != 0)) && [[ -z $crash ]]; then
		crash="exit-$rc(see $log)"
	fi
	# a crash run prints no final stats: count the executions from the log
	[[ -z $execs ]] && execs=$(grep -oE '^#[0-9]+' "$log" | tail -1 | tr -d '#')
	[[ -z $rate ]] && ((secs > 0)) && rate=$((${execs:-0} / secs))
	printf '%s %s %s %s %s %s %s\n' "${execs:-0}" "${rate:-0}" "${cov:-?}" "${ft:-?}" \
		"$units" "${crash:-0}" "$secs"
}

printf '| %-10s | %11s | %7s | %5s | %6s | %6s | %7s | %s\n' target executions exec/s cov ft corpus time crashes
printf '|%s|\n' '------------|-------------|---------|-------|--------|--------|---------|--------'
failed=0
for t in "${targets[@]}"; do
	read -r execs rate cov ft units crash secs < <(run_one "$t")
	printf '| %-10s | %11s | %7s | %5s | %6s | %6s | %6ss | %s\n' \
		"$t" "$execs" "$rate" "$cov" "$ft" "$units" "$secs" "$crash"
	[[ $crash != 0 ]] && failed=$((failed + 1))
	((execs < RUNS)) && [[ $crash == 0 ]] &&
		echo "  $t: stopped at MAX_TIME=${MAX_TIME}s before RUNS=$RUNS (at $rate exec/s)"
done
((failed == 0))
