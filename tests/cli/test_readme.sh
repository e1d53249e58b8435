#!/usr/bin/env bash
# The README's set-up is two commands that must work as written on a fresh
# Debian 12 machine where the user is root and sudo is not installed: no
# sudo in them, and each names a real make target. No root.
set -u
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
source "$ROOT/tests/assert.sh"

# The first fenced block after the "## Set-up" heading.
setup=$(awk '/^## Set-up/ {s=1; next} s && /^```/ {if (in_block) exit; in_block=1; next} in_block' "$ROOT/README.md")
mapfile -t cmds < <(sed 's/ *#.*//; /^$/d' <<<"$setup")
expect_eq "the set-up block has two commands" 2 "${#cmds[@]}"
expect_eq "the first shows masqd at work" "make demo" "${cmds[0]:-}"
expect_eq "the second runs the tests" "make check" "${cmds[1]:-}"
expect_true "no sudo in the set-up commands (absent on a root-only Debian)" \
	bash -c '! grep -q sudo <<<"$1"' _ "$setup"
for c in "${cmds[@]}"; do
	expect_true "'$c' is a target of the Makefile" \
		bash -c 'make -C "$1" -n "$2" >/dev/null 2>&1' _ "$ROOT" "${c#make }"
done
expect_true ".ci/run runs the README's test command" grep -q '^make check' "$ROOT/.ci/run"
finish
