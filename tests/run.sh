#!/bin/sh
# Runs every unit test binary and every tests/cli/*.sh script, then prints
# "N passed, N failed, N skipped". Each test prints one line starting with
# ok, FAIL or skip. Filter with TESTS=pattern.
#
# The suite mostly waits (daemons' heartbeats, timeouts), so test files run
# NNSIM_TEST_JOBS at a time (default 2), the longest first (SLOW), the
# quick unit tests last. Files in SERIAL run alone afterwards: they pin
# cores and measure load. A new test file runs in parallel by default, so
# it must keep to its own temporary folder (lib.sh's $T), ports and
# processes (tests/README.md says how).
BUILD=${BUILD:-build}
BIN=${BIN:-bin}
JOBS=${NNSIM_TEST_JOBS:-2}
SERIAL='balance.sh'
SLOW='elastic.sh data.sh netns.sh agents.sh sandbox.sh valgrind.sh join.sh
    console.sh storm.sh lifecycle.sh cachehosts.sh agentd.sh model.sh
    exhaust.sh cacheshare.sh'

# xargs hands the file last.
[ "$1" = --one-of ] && set -- --one "$3" "$2"
# One file: its lines, and a FAIL for a test that dies without reporting.
if [ "$1" = --one ]; then
	t=$2 out=$3/$(echo "$2" | tr / _)
	case "$t" in
	*.sh) sh "$t" ;;
	*) "$t" ;;
	esac >"$out" 2>&1
	rc=$?
	if [ $rc -ne 0 ] && ! grep -q "^FAIL" "$out"; then
		echo "FAIL $t: exited with status $rc" >>"$out"
	fi
	flock "$3/.lock" cat "$out"
	exit 0
fi

export NNSIM_SRC="$(pwd)"
export NNSIM_BIN="$(cd "$BIN" && pwd)"
export NNSIM_BUILD="$(cd "$BUILD" && pwd)"
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
: >"$dir/.lock"

wanted() {
	[ -f "$1" ] || return 1
	case "$1" in *.d|*.o) return 1 ;; esac
	[ -z "$TESTS" ] || echo "$1" | grep -q -- "$TESTS"
}
in_list() {
	for x in $2; do [ "$x" = "${1##*/}" ] && return 0; done
	return 1
}

# The quick unit tests go last, to fill the gaps the long files leave.
{
	for s in $SLOW; do
		wanted "tests/cli/$s" && ! in_list "$s" "$SERIAL" &&
		    echo "tests/cli/$s"
	done
	for t in tests/cli/*.sh; do
		wanted "$t" && ! in_list "$t" "$SLOW" && ! in_list "$t" "$SERIAL" &&
		    echo "$t"
	done
	for t in "$BUILD"/tests/test_*; do
		wanted "$t" && echo "$t"
	done
} | xargs -r -P "$JOBS" -n 1 sh "$0" --one-of "$dir"
for s in $SERIAL; do
	wanted "tests/cli/$s" && sh "$0" --one "tests/cli/$s" "$dir"
done

cat "$dir"/* >"$dir/.all" 2>/dev/null
passed=$(grep -c '^ok ' "$dir/.all")
failed=$(grep -c '^FAIL ' "$dir/.all")
skipped=$(grep -c '^skip ' "$dir/.all")
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
