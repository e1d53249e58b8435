# TAP-like assertions shared by the shell suites. Each prints one line;
# finish prints the summary line tests/run.sh reads: "N passed, M failed".
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
finish() {
	echo "$npass passed, $nfail failed$( ((nskip)) && echo ", $nskip skipped")"
	((nfail == 0))
}
