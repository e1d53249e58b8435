#!/usr/bin/env bash
# Install the Debian 12 packages masqd's build, tests and demo need.
# Idempotent: asks apt only for what is missing. Needs root.
set -eu
pkgs=(
	gcc make pkg-config                           # build
	libnftnl-dev libmnl-dev libyaml-dev libjansson-dev  # libraries linked
	libnl-3-dev libnl-route-3-dev                  # node addresses (--snat-*), linked
	libcmocka-dev                                  # unit tests
	clang libclang-rt-14-dev                       # fuzz targets (libFuzzer)
	iproute2 nftables procps python3               # namespace tests and demo
	clang-format                                   # make format-check
	libmicrohttpd-dev                              # /metrics, /healthz, /readyz
	libcurl4-openssl-dev openssl                   # the API watch; the fake API server's CA
	prometheus                                     # promtool and a real scrape in the tests
	iptables time                                  # make bench: the reference rule shape, peak RSS
	conntrack gnuplot-nox                          # make bench: per-connection runs, PNG plots
)
missing=()
for p in "${pkgs[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if ((${#missing[@]} == 0)); then
	echo "deps: all ${#pkgs[@]} packages present"
	exit 0
fi
if [[ $(id -u) != 0 ]]; then
	echo "deps: missing ${missing[*]}; run make deps as root" >&2
	exit 1
fi
echo "deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
# prometheus ships a service: nothing of ours may start on the host, so
# forbid service starts during the install (the Debian way, policy-rc.d).
policy=/usr/sbin/policy-rc.d
if [[ ! -e $policy ]]; then
	printf '#!/bin/sh\nexit 101\n' >"$policy"
	chmod 755 "$policy"
	trap 'rm -f "$policy"' EXIT
fi
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "deps: done"
