#!/usr/bin/env bash
# make install into a DESTDIR: the binaries, the man pages (every masqd flag
# documented in masqd(8)), and the hardened systemd unit pointing at the
# installed masqd, which systemd-analyze accepts. No root.
set -u
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
source "$ROOT/tests/assert.sh"
DEST=$(mktemp -d /tmp/masqd-install.XXXX)
trap 'rm -rf "$DEST"' EXIT

make -C "$ROOT" -s install DESTDIR="$DEST" PREFIX=/usr BUILD="${BUILD:-build}" >/dev/null 2>&1
expect_true "make install: masqd and masqctl in sbin" test -x "$DEST/usr/sbin/masqd" -a -x "$DEST/usr/sbin/masqctl"
expect_true "make install: masqd(8) and masqctl(8)" \
	test -f "$DEST/usr/share/man/man8/masqd.8" -a -f "$DEST/usr/share/man/man8/masqctl.8"
unit=$DEST/usr/lib/systemd/system/masqd.service
expect_true "make install: the systemd unit" test -f "$unit"
expect_eq "the unit starts the installed masqd" /usr/sbin/masqd \
	"$(sed -n 's/^ExecStart=\([^ ]*\).*/\1/p' "$unit")"
for setting in CapabilityBoundingSet=CAP_NET_ADMIN ProtectSystem=strict NoNewPrivileges=yes \
	ProtectKernelModules=yes RestrictAddressFamilies= SystemCallFilter=@system-service \
	PrivateDevices=yes MemoryDenyWriteExecute=yes; do
	expect_true "the unit is hardened: $setting" grep -q "^$setting" "$unit"
done
if command -v systemd-analyze >/dev/null; then
	# verify wants the binary where ExecStart says; point it at the DESTDIR copy
	sed "s|^ExecStart=/usr/sbin/masqd|ExecStart=$DEST/usr/sbin/masqd|" "$unit" >"$DEST/masqd.service"
	out=$(systemd-analyze verify --man=no "$DEST/masqd.service" 2>&1)
	expect_eq "systemd-analyze verify accepts the unit" "" \
		"$(grep masqd.service <<<"$out")"
else
	skip "systemd-analyze is not installed"
fi
page=$(man -l "$DEST/usr/share/man/man8/masqd.8" 2>/dev/null | col -b)
expect_true "masqd(8) renders" test -n "$page"
for f in $("$DEST/usr/sbin/masqd" --help | sed -n 's/^  \(--[a-z0-9-]*\).*/\1/p'); do
	expect_true "masqd(8) documents $f" grep -q -- "$f" <<<"$page"
done
make -C "$ROOT" -s uninstall DESTDIR="$DEST" PREFIX=/usr >/dev/null 2>&1
expect_eq "make uninstall removes what install put" "" \
	"$(find "$DEST/usr" -type f 2>/dev/null)"
finish
