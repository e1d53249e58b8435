# TAP-like assertions shared by the shell suites. Each prints one line;
# finish prints the summary line tests/run.sh reads: "N passed, M failed".
# Also the masqctl runner and JSON readers several suites share.
npass=0 nfail=0 nskip=0

ok() {
	npass=$((npass + 1))
	echo "ok - $1"
}
not_ok() {
	nfail=$((nfail + 1))
	echo "FAIL - $1"
}
skip() {
	nskip=$((nskip + 1))
	echo "SKIP - $1"
}
expect_eq() { # expect_eq DESCRIPTION WANT GOT
	if [[ $3 == "$2" ]]; then ok "$1"; else not_ok "$1: want '$2', got '$3'"; fi
}
expect_true() { # expect_true DESCRIPTION CMD...
	if "${@:2}"; then ok "$1"; else not_ok "$1"; fi
}
# Run masqctl ($MASQCTL, stderr through $WORK/err): sets out, err and rc.
# A suite that runs something else defines its own run after sourcing this.
run() { # run ARGS...
	out=$("$MASQCTL" "$@" 2>"$WORK/err")
	rc=$?
	err=$(cat "$WORK/err")
}
jq_() { python3 -c "import json,sys; d=json.load(sys.stdin); print($1)"; } # jq_ EXPR: of d, the JSON on stdin
json() { jq_ "$1" <<<"$out"; } # json EXPR: the same of $out, the JSON run printed
finish() {
	echo "$npass passed, $nfail failed$( ((nskip)) && echo ", $nskip skipped")"
	((nfail == 0))
}
