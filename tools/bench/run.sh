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
	program_args=(--sizes 64,1000,10000,100000 --v6-sizes 1000,10000 --repeat 5)
	incremental_args=(--sizes 1000,10000,100000 --steps 100)
	load_args=(--sizes 10000,100000 --steps 100)
	footprint_args=(--sizes 64,100000)
	api_args=(--sizes 64,10000,99000 --edits 200)
	apiscale_args=()
	conn_args=(--sizes 64,1000,10000 --repeat 7 --probes 500)
	snat_args=(--switches 200)
	hook_args=(--sizes 0,1000,10000,50000 --checks 20)
	conntrack_args=(--sizes 0,10000,100000 --rounds 10)
else
	reload_args=(--swaps 200 --sizes 64,10000 --reloads 2000 --idle 10)
	program_args=(--sizes 64,1000,10000 --v6-sizes 1000 --repeat 3)
	incremental_args=(--sizes 1000,10000 --steps 10)
	load_args=(--sizes 10000,100000 --steps 10)
	footprint_args=(--sizes 64,10000)
	api_args=(--sizes 64,10000 --edits 50)
	apiscale_args=(--quick)
	conn_args=(--sizes 64,1000,10000 --repeat 3 --probes 200)
	snat_args=(--switches 20)
	hook_args=(--sizes 0,1000,10000 --checks 10)
	conntrack_args=(--sizes 0,10000 --rounds 3)
fi
# each benchmark in a network namespace of its own; lo up so masqd serves its endpoints
in_netns() { unshare -n sh -c 'ip link set lo up && exec "$@"' - "$@"; }
echo "== programming time ($(uname -r), $(nproc) cores)"
in_netns python3 tools/bench/program.py --masqd "$PWD/$BUILD/masqd" \
	--masqctl "$PWD/$BUILD/masqctl" "${program_args[@]}" --out "bench-results/program-$stamp.md"
echo "== incremental change"
in_netns python3 tools/bench/incremental.py --masqd "$PWD/$BUILD/masqd" "${incremental_args[@]}" \
	--out "bench-results/incremental-$stamp.md"
echo "== config load before a sync (no kernel)"
"$BUILD/tools/bench/load" "${load_args[@]}" | tee "bench-results/load-$stamp.md"
echo "== reload"
in_netns python3 tools/bench/reload.py --masqd "$PWD/$BUILD/masqd" "${reload_args[@]}" \
	--out "bench-results/reload-$stamp.md"
echo "== API edit convergence"
in_netns python3 tools/bench/api.py --masqd "$PWD/$BUILD/masqd" "${api_args[@]}" \
	--out "bench-results/api-$stamp.md"
echo "== API state at scale"
in_netns python3 tools/bench/apiscale.py --masqd "$PWD/$BUILD/masqd" ${apiscale_args[@]+"${apiscale_args[@]}"} \
	--out "bench-results/apiscale-$stamp.md"
echo "== the check for other NAT chains at the hook"
in_netns python3 tools/bench/hook.py --masqd "$PWD/$BUILD/masqd" "${hook_args[@]}" \
	--out "bench-results/hook-$stamp.md"
echo "== SNAT address changes"
in_netns python3 tools/bench/snat.py --masqd "$PWD/$BUILD/masqd" "${snat_args[@]}" \
	--out "bench-results/snat-$stamp.md"
echo "== conntrack cleanup (--conntrack-cleanup=udp)"
in_netns python3 tools/bench/conntrack.py --masqd "$PWD/$BUILD/masqd" \
	--nfthelper "$PWD/$BUILD/tests/netns/nfthelper" "${conntrack_args[@]}" \
	--out "bench-results/conntrack-$stamp.md"
echo "== per-connection cost"
python3 tools/bench/conn.py --masqd "$PWD/$BUILD/masqd" --flood "$PWD/$BUILD/tools/bench/flood" \
	"${conn_args[@]}" --out "bench-results/conn-$stamp.md"
echo "== footprint"
in_netns python3 tools/bench/footprint.py --masqd "$PWD/$BUILD/masqd" --masqctl "$PWD/$BUILD/masqctl" \
	"${footprint_args[@]}" --out "bench-results/footprint-$stamp.md"
echo "tables written to bench-results/"
