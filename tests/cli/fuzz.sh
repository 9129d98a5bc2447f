# The fuzz corpora (tests/fuzz): every checked-in input of each harness
# replayed through it, built with the suite's compiler and sanitizers
# (build/tests/fuzz/replay_NAME), so a machine without clang still runs
# them. A crash, a leak under make asan, or a harness check that fails is
# a FAIL naming the harness.
GROUP=fuzz
. "$(dirname "$0")/lib.sh"

BUILD_DIR=${NNSIM_BUILD:-$SRC/build}

for src in "$SRC"/tests/fuzz/fuzz_*.c; do
	name=$(basename "$src" .c)
	name=${name#fuzz_}
	replay=$BUILD_DIR/tests/fuzz/replay_$name
	corpus=$SRC/tests/fuzz/corpus/$name
	if [ ! -x "$replay" ]; then
		fail "$name" "$replay not built (make)"
		continue
	fi
	count=$(find "$corpus" -type f 2>/dev/null | wc -l)
	if [ "$count" -eq 0 ]; then
		fail "$name" "no corpus in $corpus"
		continue
	fi
	run_cmd "$replay" "$corpus"
	if [ "$rc" -ne 0 ]; then
		fail "$name" "exit $rc on $(tail -n 1 "$T/out"): $(tail -c 600 "$T/err")"
	elif ! grep -qx "replayed $count inputs" "$T/out"; then
		fail "$name" "expected \"replayed $count inputs\": $(tail -n 1 "$T/out")"
	else
		ok "$name"
	fi
done

# The replayer itself must fail on what it cannot read, or a corpus that
# went missing would pass.
run_cmd "$BUILD_DIR/tests/fuzz/replay_frame" "$T/missing"
if [ "$rc" -eq 1 ] && grep -q "missing" "$T/err"; then
	ok replay_refuses_missing
else
	fail replay_refuses_missing "exit $rc: $(head -c 300 "$T/err")"
fi
