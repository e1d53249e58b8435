#!/usr/bin/env bash
# Instructions executed by one `masqd --once` at N CIDRs (default 10,000),
# counted by callgrind: repeatable whatever else the machine does, so a
# restructure can be compared before and after (issue 14: within 2 %).
# Runs masqd in a throw-away network namespace (unshare -n), never the host's.
#   tools/bench/callgrind.sh [BUILD_DIR] [N]      (as root)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${1:-build} N=${2:-10000}
WORK=$(mktemp -d /tmp/masqd-callgrind.XXXX)
trap 'rm -rf "$WORK"' EXIT
mkdir "$WORK/cfg"
cd "$ROOT"
python3 - "$WORK/cfg" "$N" <<'PY'
import random, sys
sys.path.insert(0, "tools/bench")
import program
program.write_config(sys.argv[1], program.prefixes(int(sys.argv[2]), False, random.Random(7)))
PY
unshare -n valgrind --tool=callgrind --callgrind-out-file="$WORK/out" "$BUILD/masqd" --once \
	--config "$WORK/cfg" --max-cidrs-per-file "$N" 2>&1 | sed -n 's/.*Collected : \([0-9]*\)/\1/p' |
	awk -v n="$N" '{printf "masqd --once at %d CIDRs: %d instructions\n", n, $1}'
