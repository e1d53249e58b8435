#!/usr/bin/env bash
# deploy/Dockerfile's runtime stage installs every library masqd and masqctl
# need: each one ldd lists for the built binaries, and the two masqd loads
# with dlopen (their SONAMEs are read from the source). Each library's
# package comes from dpkg -S on its realpath (Debian 12 has a merged /usr).
# No Docker engine here: this is what can be checked without one.
set -u
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${BUILD:-build}
source "$ROOT/tests/assert.sh"

# The packages of the last stage's apt-get install.
runtime_pkgs=$(awk '/^FROM/ {stage++; pkgs=""} stage && /apt-get install/ {on=1}
	on {for (i = 1; i <= NF; i++) if ($i ~ /^[a-z0-9][a-z0-9.+-]+$/ && $i != "apt-get" &&
	$i != "install" && $i != "update" && $i != "rm" && $i != "RUN") pkgs = pkgs " " $i}
	on && !/\\$/ {on=0} END {print pkgs}' "$ROOT/deploy/Dockerfile")
expect_true "the runtime stage installs packages ($runtime_pkgs)" test -n "$runtime_pkgs"

package_of() { # a library path -> its Debian package
	local real pkg
	real=$(realpath "$1")
	pkg=$(dpkg -S "$real" 2>/dev/null || dpkg -S "${real/#\/usr\/lib/\/lib}" 2>/dev/null)
	pkg=${pkg%%:*}
	echo "${pkg%%,*}"
}
installed() { [[ " $runtime_pkgs " == *" $1 "* ]]; }

# The image holds a plain build: check that one, also in the SANITIZE pass
# (the sanitizer runtime is never in the image).
dir=$ROOT/build
[[ -x $dir/masqd && -x $dir/masqctl ]] || dir=$ROOT/$BUILD
sanitized=
ldd "$dir/masqd" | grep -q -e libasan -e libubsan && sanitized=1
libs=()
for bin in masqd masqctl; do
	while read -r path; do
		libs+=("$path")
	done < <(ldd "$dir/$bin" | awk '/=> \// {print $3} /^\t\/[^ ]+ \(/ {print $1}')
done
for so in $(sed -n 's/^#define [A-Z]*_SONAME "\(.*\)"$/\1/p' "$ROOT"/agent/*.c); do
	path=$(ldconfig -p | awk -v so="$so" '$1 == so && /x86-64|x86_64|64bit/ {print $NF; exit}')
	expect_true "dlopen'ed $so is on this machine" test -n "$path"
	[[ -n $path ]] && libs+=("$path")
done
expect_true "the binaries need libraries (${#libs[@]})" test "${#libs[@]}" -ge 6
for lib in $(printf '%s\n' "${libs[@]}" | sort -u); do
	pkg=$(package_of "$lib")
	if [[ -n $sanitized && " libasan8 libubsan1 libstdc++6 libgcc-s1 " == *" $pkg "* ]]; then
		skip "$lib: the sanitizer runtime of a SANITIZE build (no plain build here)"
		continue
	fi
	expect_true "$lib comes from ${pkg:-?}, which the Dockerfile installs" installed "$pkg"
done
finish
