#!/bin/sh
# make fuzz: runs each named libFuzzer harness (build/fuzz/fuzz_NAME) for
# FUZZ_SECONDS on its corpus, new inputs going to build/fuzz/new/NAME and
# crashes to build/fuzz/crash/; with FUZZ_MERGE=1 the new inputs that add
# coverage are merged (-merge=1) into tests/fuzz/corpus/NAME. Prints one
# line per harness and fails when any harness found a crash.
FUZZ_BUILD=${FUZZ_BUILD:-build/fuzz}
FUZZ_SECONDS=${FUZZ_SECONDS:-60}
FUZZ_MERGE=${FUZZ_MERGE:-0}
failed=0
mkdir -p "$FUZZ_BUILD/crash" "$FUZZ_BUILD/log"
for name in "$@"; do
	bin=$FUZZ_BUILD/fuzz_$name
	corpus=tests/fuzz/corpus/$name
	new=$FUZZ_BUILD/new/$name
	log=$FUZZ_BUILD/log/$name.log
	mkdir -p "$new" "$corpus"
	# tests/fuzz/NAME.dict: words the parser looks for, if there is one.
	dict=
	[ -f "tests/fuzz/$name.dict" ] && dict="-dict=tests/fuzz/$name.dict"
	# -max_len: 64 KiB, the largest seed the corpus may hold.
	"$bin" -max_total_time="$FUZZ_SECONDS" -max_len=65536 \
	    -rss_limit_mb=2048 -timeout=10 -print_final_stats=1 \
	    -artifact_prefix="$FUZZ_BUILD/crash/$name-" $dict \
	    "$new" "$corpus" >"$log" 2>&1
	rc=$?
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
	cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1)
	if [ $rc -ne 0 ]; then
		echo "fuzz $name: FAILED (status $rc) after ${execs:-?} runs; see $log and $FUZZ_BUILD/crash/"
		failed=1
		continue
	fi
	if [ "$FUZZ_MERGE" = 1 ]; then
		"$bin" -merge=1 -max_len=65536 "$corpus" "$new" \
		    >>"$log" 2>&1 || { echo "fuzz $name: merge failed; see $log"; failed=1; }
	fi
	files=$(ls "$corpus" | wc -l)
	bytes=$(cat "$corpus"/* 2>/dev/null | wc -c)
	echo "fuzz $name: ${FUZZ_SECONDS} s, ${execs:-?} runs, $cov, corpus $files files $bytes bytes$( [ "$FUZZ_MERGE" = 1 ] && echo ' (merged)')"
done
exit $failed
