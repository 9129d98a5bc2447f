# nnsim plot: figures of real metrics files (nnsim train, a sweep in which
# a session moves, a data job on two daemons), each format checked by
# tests/cli/plot.py; bad inputs get one line and exit 2.
GROUP=plot
. "$(dirname "$0")/lib.sh"

CHECK="python3 $SRC/tests/cli/plot.py"
CTL=$NNSIM_BIN/agentctl

"$NNSIM" train "$SRC/nnsim/examples/xor.json" -q --threads 1 \
    -o "$T/xor.nnm" --metrics "$T/xor.jsonl"

two_hosts $((38000 + ($$ % 2000) * 10))
start_host 1
start_host 2
C="--connect 127.0.0.1:$((base + 1)) --key $T/key"
up2() {
	[ "$("$CTL" $C --json hosts | python3 -c 'import json,sys
print(sum(h["state"] in ("up","self") for h in json.load(sys.stdin)["hosts"]))')" = 2 ]
}
if ! wait_for 10 up2; then
	fail cluster "2 daemons did not form a cluster"
	exit 0
fi

# A two-session sweep long enough (about a second) for session 0 to be
# moved to the other host after its second epoch: a "moved" event.
cat >"$T/sweep.json" <<'JSON'
{
  "name": "sweep",
  "layers": [{"units": 256, "activation": "relu"},
             {"units": 256, "activation": "relu"},
             {"activation": "softmax"}],
  "loss": "cross_entropy",
  "data": {"train": {"generate": "spiral", "n": 3000, "classes": 3,
                     "seed": 1}, "split": 0.2},
  "train": {"epochs": 12, "batch": 16,
            "optimizer": {"type": "adam", "lr": 0.005}, "seed": 1},
  "parallel": {"mode": "session",
               "grid": {"train.optimizer.lr": [0.01, 0.003]}}
}
JSON
"$NNSIM" submit "$T/sweep.json" $C -q -o "$T/sweep.nnm" \
    --metrics "$T/sweep.jsonl" 2>"$T/esweep" &
sub=$!
pids="$pids $sub"
moved=
i=0
while [ $i -lt 300 ] && [ -z "$moved" ] && kill -0 "$sub" 2>/dev/null; do
	l=$(grep -m 1 '^{"epoch":2,.*"session":0,' "$T/sweep.jsonl" 2>/dev/null)
	if [ -n "$l" ]; then
		agent=$(echo "$l" | sed 's/.*"agent":"\([^"]*\)".*/\1/')
		to=h2
		echo "$l" | grep -q '"host":"h2"' && to=h1
		"$NNSIM" console $C -c "migrate $agent $to" >/dev/null 2>&1 &&
		    moved=$to
	fi
	sleep 0.05
	i=$((i + 1))
done
wait "$sub"
rs=$?
# A data job of two partitions on the same daemons.
sed 's/"epochs": 12/"epochs": 4/; s/"units": 256/"units": 16/g;
    s/"grid": {"train.optimizer.lr": \[0.01, 0.003\]}/"partitions": 2/;
    s/"session"/"data"/' "$T/sweep.json" >"$T/data.json"
"$NNSIM" submit "$T/data.json" $C -q -o "$T/data.nnm" \
    --metrics "$T/data.jsonl" 2>"$T/edata"
rd=$?
if [ $rs -ne 0 ] || [ $rd -ne 0 ] || [ -z "$moved" ] ||
    ! grep -q '"event":"moved".*"session":0' "$T/sweep.jsonl"; then
	fail metrics_files "sweep exit $rs, moved to '$moved', data exit $rd: $(head -c 300 "$T/esweep" "$T/edata")"
	exit 0
fi

# The default figure: the first input's name as .png, 800 x 600, and one
# line that says what it drew.
run_cmd "$NNSIM" plot "$T/xor.jsonl"
if [ $rc -eq 0 ] && $CHECK png "$T/xor.png" 800 600 2>"$T/why" &&
    grep -q "^$T/xor.png: 4 panels (loss, test_loss, accuracy, test_accuracy), 1 run (xor), 0 event markers, epochs 1 to 40$" "$T/out"; then
	ok png_default_name
else
	fail png_default_name "exit $rc: $(cat "$T/err" "$T/why" "$T/out")"
fi

# Never overwritten unasked; --force does.
expect_error png_exists 2 "^nnsim plot: $T/xor.png: exists \(use --force" \
    "$NNSIM" plot "$T/xor.jsonl"
run_cmd "$NNSIM" plot "$T/xor.jsonl" --force --width 400 --height 300 \
    --title xor
if [ $rc -eq 0 ] && $CHECK png "$T/xor.png" 400 300 2>"$T/why"; then
	ok png_force_size
else
	fail png_force_size "exit $rc: $(cat "$T/err" "$T/why")"
fi

# SVG of all three files: a curve per run and panel, a legend entry per
# run naming it, the move marked in each panel.
run_cmd "$NNSIM" plot "$T/sweep.jsonl" "$T/data.jsonl" "$T/xor.jsonl" \
    -o "$T/all.svg" --metric loss,test_accuracy
runs="sweep: train.optimizer.lr=0.01; sweep: train.optimizer.lr=0.003; data; xor"
# The scheduler may move the session back: at least the one move is marked.
nev=$(sed -n 's/.*), \([0-9]*\) event markers*,.*/\1/p' "$T/out")
if [ $rc -eq 0 ] && grep -q "2 panels (loss, test_accuracy), 4 runs ($runs), [1-9][0-9]* event marker" "$T/out" &&
    $CHECK svg "$T/all.svg" 2 "$nev" "sweep: train.optimizer.lr=0.01" \
    "sweep: train.optimizer.lr=0.003" data xor 2>"$T/why"; then
	ok svg_runs_legend_event
else
	fail svg_runs_legend_event "exit $rc: $(cat "$T/err" "$T/why" "$T/out")"
fi

# PDF: one page. The sweep's sessions are labelled by their variant.
run_cmd "$NNSIM" plot "$T/sweep.jsonl" -o "$T/sweep.pdf" --metric test_loss
if [ $rc -eq 0 ] && $CHECK pdf "$T/sweep.pdf" 1 2>"$T/why" &&
    grep -q "1 panel (test_loss), 2 runs (train.optimizer.lr=0.01; train.optimizer.lr=0.003), 1 event marker, epochs 1 to 12" "$T/out"; then
	ok pdf_one_page
else
	fail pdf_one_page "exit $rc: $(cat "$T/err" "$T/why" "$T/out")"
fi

# Bad input: one line, exit 2, and no figure.
expect_error unknown_metric 2 \
    'no "bogus" in the epoch lines \(metrics present: loss, accuracy, test_loss, test_accuracy, samples_per_sec, elapsed_s, lr\)' \
    "$NNSIM" plot "$T/xor.jsonl" -o "$T/bad.png" --metric loss,bogus
[ -e "$T/bad.png" ] && fail unknown_metric_no_file "$T/bad.png made"
tail -n 1 "$T/xor.jsonl" >"$T/done.jsonl"
expect_error no_epoch_lines 2 "^nnsim plot: $T/done.jsonl: no epoch lines" \
    "$NNSIM" plot "$T/done.jsonl" -o "$T/bad.png"
{ head -n 2 "$T/xor.jsonl"; echo '{"epoch": 3, "loss": '; } >"$T/badjson.jsonl"
expect_error bad_json_line 2 "^nnsim plot: $T/badjson.jsonl:3: bad JSON: " \
    "$NNSIM" plot "$T/badjson.jsonl" -o "$T/bad.png"
{ head -n 2 "$T/xor.jsonl"; echo '{"epoch": 0, "loss": 1}'; } >"$T/badepoch.jsonl"
expect_error bad_epoch 2 "^nnsim plot: $T/badepoch.jsonl:3: epoch: expected an integer of at least 1$" \
    "$NNSIM" plot "$T/badepoch.jsonl" -o "$T/bad.png"
expect_error not_object 2 "^nnsim plot: $T/data.json:1: bad JSON|$T/data.json:1: expected a JSON object" \
    "$NNSIM" plot "$T/data.json" -o "$T/bad.png"
expect_error missing_input 2 "^nnsim plot: $T/none.jsonl: " \
    "$NNSIM" plot "$T/none.jsonl" -o "$T/bad.png"
expect_error unknown_format 2 'unknown format \(expected \.png, \.svg or \.pdf\)' \
    "$NNSIM" plot "$T/xor.jsonl" -o "$T/bad.jpg"
expect_error bad_width 2 '--width: expected an integer from 200 to 10000' \
    "$NNSIM" plot "$T/xor.jsonl" -o "$T/bad.png" --width 10
expect_error no_input 2 'missing METRICS.JSONL' "$NNSIM" plot
expect_error no_folder 2 "$T/nodir/x.png" \
    "$NNSIM" plot "$T/xor.jsonl" -o "$T/nodir/x.png"
if [ -e "$T/bad.png" ] || [ -e "$T/bad.jpg" ]; then
	fail bad_input_no_figure "a figure was made for bad input"
else
	ok bad_input_no_figure
fi
