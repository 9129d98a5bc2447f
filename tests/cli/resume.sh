# nnsim train: checkpoints, resuming bit for bit (after a kill -9 too),
# --init from a model, and --set/--epochs overrides of net.json.
GROUP=resume
. "$(dirname "$0")/lib.sh"

cat >"$T/net.json" <<'JSON'
{
  "name": "tiny",
  "layers": [{"units": 16, "activation": "relu"},
             {"units": 16, "activation": "relu"}, {"activation": "softmax"}],
  "loss": "cross_entropy",
  "data": {"train": {"generate": "spiral", "n": 600, "classes": 3, "seed": 1},
           "split": 0.2},
  "train": {"epochs": 6, "batch": 32,
            "optimizer": {"type": "adam", "lr": 0.01}, "seed": 3}
}
JSON
train() { "$NNSIM" train --threads 1 "$@"; }

# same_run NAME STRAIGHT RESUMED FIRST: the resumed metrics' epoch lines
# from FIRST on and its final weights are the straight run's, timings
# aside.
same_run() {
	if python3 - "$2" "$3" "$4" 2>"$T/why" <<'PY'
import json, sys
def lines(p):
    return [json.loads(l) for l in open(p)]
def figures(o):
    return {k: v for k, v in o.items()
            if k not in ("samples_per_sec", "elapsed_s", "model")}
a, b, first = lines(sys.argv[1]), lines(sys.argv[2]), int(sys.argv[3])
ea = [figures(o) for o in a if "epoch" in o and o["epoch"] >= first]
eb = [figures(o) for o in b if "epoch" in o]
assert ea and ea == eb, (ea, eb)
assert a[-1]["params_sha256"] == b[-1]["params_sha256"], (a[-1], b[-1])
PY
	then ok "$1"; else fail "$1" "$(tail -c 300 "$T/why")"; fi
}

# Six epochs straight, and three with a checkpoint then on to six.
train "$T/net.json" -q -o "$T/a.nnm" --metrics "$T/a.jsonl"
run_cmd train "$T/net.json" -q -o "$T/b.nnm" --metrics "$T/b1.jsonl" \
    --epochs 3 --checkpoint "$T/b.ck"
if [ "$rc" -eq 0 ] && [ -s "$T/b.ck" ] &&
    [ "$(grep -c '"epoch"' "$T/b1.jsonl")" -eq 3 ]; then
	ok checkpoint_written
else
	fail checkpoint_written "exit $rc: $(cat "$T/err")"
fi
run_cmd train --resume "$T/b.ck" --epochs 6 -o "$T/b.nnm" --force \
    --metrics "$T/b2.jsonl"
if [ "$rc" -eq 0 ] && grep -q "^resuming $T/b.ck at epoch 3 of 6" "$T/out"
then
	same_run resume_bitwise "$T/a.jsonl" "$T/b2.jsonl" 4
else
	fail resume_bitwise "exit $rc: $(cat "$T/err")"
fi
# The first three epochs were the straight run's too.
if python3 - "$T/a.jsonl" "$T/b1.jsonl" <<'PY'
import json, sys
def first3(p):
    return [{k: v for k, v in json.loads(l).items()
             if k not in ("samples_per_sec", "elapsed_s")}
            for l in open(p).readlines()[:3]]
assert first3(sys.argv[1]) == first3(sys.argv[2])
PY
then ok first_epochs_same; else fail first_epochs_same "epochs 1-3 differ"; fi

# kill -9 while it trains and checkpoints every epoch: the checkpoint
# left behind is whole, and the run resumed from it ends as the
# straight run did.
BIG="--set data.train.n=4000 --set layers[0].units=64 --epochs 150"
# shellcheck disable=SC2086
train "$T/net.json" $BIG -q -o "$T/s.nnm" --metrics "$T/s.jsonl"
# shellcheck disable=SC2086
train "$T/net.json" $BIG -q -o "$T/k.nnm" --checkpoint "$T/k.ck" &
pid=$!
wait_for 20 test -s "$T/k.ck"
sleep 0.3
kill -9 $pid 2>/dev/null
wait $pid 2>/dev/null
krc=$?
run_cmd train --resume "$T/k.ck" -q -o "$T/k.nnm" --metrics "$T/k.jsonl"
first=$(python3 -c 'import json,sys
print(json.loads(open(sys.argv[1]).readline())["epoch"])' "$T/k.jsonl" 2>/dev/null)
if [ "$krc" -ne 137 ]; then
	fail kill9_resume "the trainer was not killed mid-run (exit $krc)"
elif [ "$rc" -ne 0 ] || [ -z "$first" ]; then
	fail kill9_resume "resume: exit $rc: $(cat "$T/err")"
else
	same_run kill9_resume "$T/s.jsonl" "$T/k.jsonl" "$first"
fi
ls "$T"/k.ck.tmp.* >/dev/null 2>&1 && leftover=1 || leftover=0

# Broken checkpoints: one line naming the file, exit 2.
cp "$T/b.ck" "$T/bad.ck"
printf 'X' | dd of="$T/bad.ck" bs=1 seek=100 conv=notrunc 2>/dev/null
expect_error corrupt_checkpoint 2 "bad.ck: SHA-256 mismatch" \
    "$NNSIM" train --resume "$T/bad.ck" --epochs 6
head -c 300 "$T/b.ck" >"$T/short.ck"
expect_error truncated_checkpoint 2 "short.ck: 300 bytes, expected [0-9]+ .*truncated" \
    "$NNSIM" train --resume "$T/short.ck" --epochs 6
expect_error not_a_checkpoint 2 "net.json: not an nnsim checkpoint" \
    "$NNSIM" train --resume "$T/net.json"
expect_error resume_all_done 2 "b.ck: all 6 epochs are done \(--epochs N" \
    "$NNSIM" train --resume "$T/b.ck" -q
expect_error resume_and_net 2 "give NET.JSON or --resume FILE, not both" \
    "$NNSIM" train "$T/net.json" --resume "$T/b.ck"
expect_error every_alone 2 "--every goes with --checkpoint" \
    "$NNSIM" train "$T/net.json" --every 2
expect_error checkpoint_no_folder 2 "$T/none/x.ck: " \
    "$NNSIM" train "$T/net.json" --checkpoint "$T/none/x.ck"
# A changed data set is refused rather than trained on as if the same.
sed 's/"seed": 1}/"seed": 2}/' "$T/net.json" >"$T/other.json"
train "$T/other.json" -q -o "$T/o.nnm" --epochs 2 --checkpoint "$T/o.ck"
python3 - "$T/o.ck" <<'PY'
import hashlib, json, struct, sys
b = open(sys.argv[1], "rb").read()
h, p, s = struct.unpack("<QQQ", b[16:40])
head = json.loads(b[40:40 + h])
head["data"]["train"]["sha256"] = "0" * 64
t = json.dumps(head).encode()
out = b[:16] + struct.pack("<QQQ", len(t), p, s) + t + b[40 + h:-32]
open(sys.argv[1], "wb").write(out + hashlib.sha256(out).digest())
PY
expect_error resume_other_data 2 "o.ck: the data differs from what it was trained on" \
    "$NNSIM" train --resume "$T/o.ck" --epochs 4

# --init: the model's weights are where training starts (a step too
# small to move a float keeps them bit for bit); other sizes are refused.
run_cmd train "$T/net.json" --init "$T/a.nnm" --epochs 1 -q -o "$T/i.nnm" \
    --metrics "$T/i.jsonl" --set train.optimizer.type=sgd \
    --set train.optimizer.lr=1e-30
if [ "$rc" -eq 0 ] && [ "$(json_field "$T/i.jsonl" params_sha256)" = \
    "$(json_field "$T/a.jsonl" params_sha256)" ]; then
	ok init_weights
else
	fail init_weights "exit $rc: $(cat "$T/err")"
fi
expect_error init_mismatch 2 "a.nnm: layers\[0\] has 16 units, but .*net.json's has 8" \
    "$NNSIM" train "$T/net.json" --init "$T/a.nnm" --set 'layers[0].units=8'

# --set and --epochs: applied before checks, errors at the JSON path.
run_cmd train "$T/net.json" -q -o "$T/e.nnm" --metrics "$T/e.jsonl" \
    --set 'layers[1].units=4' --set train.optimizer=sgd --epochs 2
if [ "$rc" -eq 0 ] && [ "$(json_field "$T/e.jsonl" epochs)" = 2 ] &&
    "$NNSIM" eval "$T/e.nnm" "$T/net.json" --json >/dev/null &&
    [ "$(wc -c <"$T/e.nnm")" -lt "$(wc -c <"$T/a.nnm")" ]; then
	ok set_overrides
else
	fail set_overrides "exit $rc: $(cat "$T/err")"
fi
expect_error set_bad_index 2 "net.json: --set layers\[9\].units: .*not an index of an array of 3" \
    "$NNSIM" train "$T/net.json" --set 'layers[9].units=3'
expect_error set_bad_value 2 "net.json: train.optimizer.lr: expected a number, got string" \
    "$NNSIM" train "$T/net.json" --set train.optimizer.lr=fast
expect_error set_unknown_key 2 "net.json: train.optimzer" \
    "$NNSIM" train "$T/net.json" --set train.optimzer.lr=0.1
expect_error set_no_equals 2 "--set: expected KEY=VALUE" \
    "$NNSIM" train "$T/net.json" --set train.epochs
expect_error epochs_bad 2 "--epochs: expected an integer" \
    "$NNSIM" train "$T/net.json" --epochs 0
if [ "$leftover" -eq 0 ]; then ok no_temp_left; else
	fail no_temp_left "a killed write's temporary file is left"; fi
