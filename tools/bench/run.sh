#!/usr/bin/env bash
# make bench: masqd's benchmarks, each in a network namespace of its own
# (unshare -n) that disappears with it. Tables go to stdout and to
# bench-results/ (git-ignored). FULL=1 runs the full sizes and counts.
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build}
[[ $(id -u) == 0 ]] || { echo "make bench needs root (network namespaces)" >&2; exit 1; }
mkdir -p bench-results
stamp=$(date +%Y%m%d-%H%M%S)
if [[ ${FULL:-0} == 1 ]]; then
	reload_args=(--swaps 200 --sizes 64,10000 --reloads 10000 --idle 60)
else
	reload_args=(--swaps 200 --sizes 64,10000 --reloads 2000 --idle 10)
fi
echo "== reload ($(uname -r), $(nproc) cores)"
# lo up: masqd serves /metrics and /healthz on loopback while it is measured
unshare -n sh -c 'ip link set lo up && exec python3 "$@"' - tools/bench/reload.py \
	--masqd "$PWD/$BUILD/masqd" "${reload_args[@]}" --out "bench-results/reload-$stamp.md"
echo "tables written to bench-results/"
