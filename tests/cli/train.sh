# nnsim train, eval and predict end to end on generated data.
GROUP=train
. "$(dirname "$0")/lib.sh"

X=$SRC/nnsim/examples/xor.json

# xor trains to 100% on held-out data, with metrics and a model.
run_cmd "$NNSIM" train "$X" -o "$T/xor.nnm" --metrics "$T/xor.jsonl" --threads 1
if [ "$rc" -ne 0 ]; then
	fail xor_trains "exit $rc: $(cat "$T/err")"
else
	acc=$(json_field "$T/xor.jsonl" test_accuracy)
	if python3 -c "import sys; sys.exit(0 if float('$acc') == 1.0 else 1)"; then
		ok xor_trains
	else
		fail xor_trains "test_accuracy $acc, expected 1.0"
	fi
fi

# Every epoch line has the required fields; the last is the done event.
if python3 - "$T/xor.jsonl" <<'PY'
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1])]
need = ["epoch", "loss", "accuracy", "test_loss", "test_accuracy",
        "samples_per_sec", "elapsed_s"]
assert len(lines) == 41, len(lines)
for i, o in enumerate(lines[:-1]):
    assert o["epoch"] == i + 1, o
    for k in need:
        assert k in o, (k, o)
    assert o["samples_per_sec"] > 0
done = lines[-1]
assert done["event"] == "done" and done["epochs"] == 40, done
for k in ["loss", "accuracy", "test_loss", "test_accuracy", "elapsed_s"]:
    assert k in done, k
assert done["test_accuracy"] == lines[-2]["test_accuracy"]
PY
then ok metrics_lines; else fail metrics_lines "bad metrics file"; fi

# Plain output when not on a terminal: one line per epoch and a summary.
n=$(grep -c '^epoch [0-9]*/40 loss' "$T/out")
if [ "$n" -eq 40 ] && grep -q '^done: 40 epochs' "$T/out"; then
	ok plain_progress
else
	fail plain_progress "$n epoch lines: $(head -3 "$T/out")"
fi

# The same seed gives a bitwise-identical model; another seed does not.
"$NNSIM" train "$X" -o "$T/xor2.nnm" -q --threads 1
if cmp -s "$T/xor.nnm" "$T/xor2.nnm"; then
	ok same_seed_bitwise
else
	fail same_seed_bitwise "models differ"
fi
sed 's/"seed": 1}$/"seed": 2}/' "$X" >"$T/xor-seed2.json"
"$NNSIM" train "$T/xor-seed2.json" -o "$T/xor3.nnm" -q --threads 1
if ! cmp -s "$T/xor.nnm" "$T/xor3.nnm"; then
	ok other_seed_differs
else
	fail other_seed_differs "seed 2 gave the same model"
fi

# eval reproduces the held-out accuracy from the model file.
run_cmd "$NNSIM" eval "$T/xor.nnm" "$X" --json
if [ "$rc" -eq 0 ] && python3 - "$T/out" "$T/xor.jsonl" <<'PY'
import json, sys
e = json.load(open(sys.argv[1]))
done = json.loads(open(sys.argv[2]).read().splitlines()[-1])
assert e["samples"] == 100, e
assert abs(e["accuracy"] - done["test_accuracy"]) < 1e-9, (e, done)
assert abs(e["loss"] - done["test_loss"]) < 1e-6 * max(1, done["test_loss"]), (e, done)
PY
then ok eval_matches; else fail eval_matches "rc $rc: $(cat "$T/out" "$T/err")"; fi

# predict: four corners of xor; classes 0 and 1 by parity.
printf 'x1,x2\n-1,-1\n-1,1\n1,-1\n1,1\n' >"$T/in.csv"
run_cmd "$NNSIM" predict "$T/xor.nnm" "$T/in.csv"
if [ "$rc" -eq 0 ] && [ "$(cut -d, -f1 "$T/out" | tr '\n' ' ')" = "class 0 1 1 0 " ]; then
	ok predict_xor
else
	fail predict_xor "rc $rc: $(cat "$T/out" "$T/err" | head -5)"
fi
run_cmd "$NNSIM" predict "$T/xor.nnm" "$T/in.csv" -o "$T/pred.csv"
if [ "$rc" -eq 0 ] && [ "$(wc -l <"$T/pred.csv")" -eq 5 ] && [ ! -s "$T/out" ]; then
	ok predict_output_file
else
	fail predict_output_file "rc $rc"
fi
printf '1,2,3\n' >"$T/bad.csv"
expect_error predict_wrong_columns 2 'bad.csv:1: 3 columns \(expected 2 inputs' \
	"$NNSIM" predict "$T/xor.nnm" "$T/bad.csv"

# Default model name comes from net.json's name, in the current folder
# (a fresh one, so only this run can have written it).
mkdir "$T/cwd"
(cd "$T/cwd" && "$NNSIM" train "$X" -q --threads 1)
if [ -f "$T/cwd/xor.nnm" ] && [ "$(ls "$T/cwd")" = xor.nnm ]; then
	ok default_model_path
else
	fail default_model_path "no xor.nnm"
fi

# Help on every command, and usage errors with status 2.
for c in train eval predict; do
	run_cmd "$NNSIM" $c --help
	if [ "$rc" -eq 0 ] && grep -q "^usage: nnsim $c" "$T/out"; then
		ok "help_$c"
	else
		fail "help_$c" "rc $rc"
	fi
done
run_cmd "$NNSIM" --help
if [ "$rc" -eq 0 ] && grep -q "train" "$T/out"; then ok help_main; else fail help_main "rc $rc"; fi
expect_error unknown_command 2 'unknown command "trian" .expected one of train, submit, jobs, attach, console, data, eval, predict, plot, info, export; see nnsim --help.' "$NNSIM" trian
expect_error unknown_option 2 'unknown option "--bogus"' "$NNSIM" train "$X" --bogus
expect_error bad_threads 2 '--threads: expected an integer from 1 to 1024, got "0"' \
	"$NNSIM" train "$X" --threads 0
expect_error missing_netjson 2 'missing NET.JSON' "$NNSIM" train
expect_error metrics_unwritable 2 'nosuchdir/m.jsonl: cannot open for writing' \
	"$NNSIM" train "$X" --metrics "$T/nosuchdir/m.jsonl"
