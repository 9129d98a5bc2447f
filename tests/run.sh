#!/bin/sh
# Runs every unit test binary and every tests/cli/*.sh script, then prints
# "N passed, N failed, N skipped". Each test prints one line starting with
# ok, FAIL or skip. Filter with TESTS=pattern.
BUILD=${BUILD:-build}
BIN=${BIN:-bin}
export NNSIM_SRC="$(pwd)"
export NNSIM_BIN="$(cd "$BIN" && pwd)"
export NNSIM_BUILD="$(cd "$BUILD" && pwd)"
log=$(mktemp)
one=$(mktemp)
trap 'rm -f "$log" "$one"' EXIT
for t in "$BUILD"/tests/test_* tests/cli/*.sh; do
	[ -f "$t" ] || continue
	case "$t" in *.d|*.o) continue ;; esac
	if [ -n "$TESTS" ] && ! echo "$t" | grep -q -- "$TESTS"; then
		continue
	fi
	case "$t" in
	*.sh) sh "$t" ;;
	*) "$t" ;;
	esac >"$one" 2>&1
	rc=$?
	# A test that dies without reporting its failure still fails.
	if [ $rc -ne 0 ] && ! grep -q "^FAIL" "$one"; then
		echo "FAIL $t: exited with status $rc" >>"$one"
	fi
	cat "$one"
	cat "$one" >>"$log"
done
passed=$(grep -c '^ok ' "$log")
failed=$(grep -c '^FAIL ' "$log")
skipped=$(grep -c '^skip ' "$log")
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
