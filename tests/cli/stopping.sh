# Validation data, early stopping, divergence and the loss/target pairing:
# nnsim train in this process, then nnsim submit on one pair of daemons.
GROUP=stopping
. "$(dirname "$0")/lib.sh"
PY=/usr/bin/python3

# A spiral that a small net overfits, held-out rows for validation and the
# test set apart; patience 2 with a min_delta stops it early.
cat >"$T/es.json" <<'JSON'
{
  "name": "es",
  "layers": [{"units": 16, "activation": "relu"}, {"activation": "softmax"}],
  "data": {"train": {"generate": "spiral", "n": 300, "classes": 3, "seed": 1},
           "split": 0.2, "validation_split": 0.2},
  "train": {"epochs": 200, "batch": 16, "seed": 1,
            "optimizer": {"type": "adam", "lr": 0.05},
            "early_stopping": {"monitor": "val_loss", "patience": 2,
                               "min_delta": 0.002, "restore_best": true}}
}
JSON

# Stops early; the model holds the best epoch's parameters, which eval
# shows on the test rows that training never looked at.
run_cmd "$NNSIM" train "$T/es.json" -o "$T/es.nnm" --metrics "$T/es.jsonl"
if [ "$rc" -ne 0 ]; then
	fail restore_best "exit $rc: $(head -c 300 "$T/err")"
else
	"$NNSIM" eval "$T/es.nnm" "$T/es.json" --json >"$T/eval.json" 2>&1
	if $PY - "$T/es.jsonl" "$T/eval.json" "$T/out" >"$T/why" 2>&1 <<'PY'
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1])]
ev = json.load(open(sys.argv[2]))
epochs = [o for o in lines if "epoch" in o]
done = lines[-1]
n = len(epochs)
assert done["event"] == "done" and done["stopped_early"], done
assert 3 <= n < 200 and done["epochs"] == n, (n, done)
assert epochs[-1]["stopped"] and not any(o.get("stopped") for o in epochs[:-1])
for o in epochs:
    for k in ("loss", "accuracy", "val_loss", "val_accuracy", "test_loss",
              "test_accuracy"):
        assert k in o, (k, o)
best = done["best_epoch"]
assert best == n - 2, (best, n)
b = epochs[best - 1]
assert all(o["val_loss"] > b["val_loss"] - 0.002 for o in epochs[best:])
assert done["val_loss"] == b["val_loss"] and done["test_loss"] == b["test_loss"]
# The model is the best epoch's, not the last one's.
assert abs(ev["loss"] - b["test_loss"]) < 1e-5, (ev, b)
assert abs(ev["loss"] - epochs[-1]["test_loss"]) > 1e-5, (ev, epochs[-1])
assert "best val_loss" in open(sys.argv[3]).read()
PY
	then ok restore_best; else fail restore_best "$(tail -c 300 "$T/why")"; fi
fi

# A validation source of its own, watched on val_accuracy.
cat >"$T/vs.json" <<'JSON'
{
  "layers": [{"units": 8, "activation": "tanh"}, {"activation": "softmax"}],
  "data": {"train": {"generate": "xor", "n": 200, "seed": 1},
           "validation": {"generate": "xor", "n": 60, "seed": 9}},
  "train": {"epochs": 3, "batch": 20,
            "early_stopping": {"monitor": "val_accuracy", "patience": 50}}
}
JSON
run_cmd "$NNSIM" train "$T/vs.json" -o "$T/vs.nnm" --metrics "$T/vs.jsonl"
if [ "$rc" -eq 0 ] && $PY -c 'import json, sys
l = [json.loads(x) for x in open(sys.argv[1])]
assert [o["epoch"] for o in l[:-1]] == [1, 2, 3], l
assert all("val_accuracy" in o and "test_loss" not in o for o in l[:-1])
assert l[-1]["epochs"] == 3 and "stopped_early" not in l[-1], l[-1]' \
    "$T/vs.jsonl" 2>"$T/why"; then
	ok validation_source
else
	fail validation_source "exit $rc: $(head -c 300 "$T/err" "$T/why")"
fi

# Bad pairings and monitors: one line naming the JSON path, exit 2.
sed 's/"monitor": "val_accuracy"/"monitor": "test_loss"/' "$T/vs.json" \
    >"$T/notest.json"
expect_error monitor_needs_test 2 \
    'notest.json: train.early_stopping.monitor: "test_loss" needs test data' \
    "$NNSIM" train "$T/notest.json" -o "$T/x.nnm"
{
	echo "x,a,b"
	for i in 1 2 3 4 5 6 7 8; do echo "$i,$((i * 2)),$((i + 3))"; done
} >"$T/reg.csv"
cat >"$T/soft.json" <<'JSON'
{"layers": [{"units": 4}, {"activation": "softmax"}],
 "data": {"train": {"path": "reg.csv", "header": true, "targets": [1, 2]}}}
JSON
expect_error softmax_regression 2 \
    'soft.json: layers\[1\]\.activation: softmax needs one-hot targets; data.train row 1 ' \
    "$NNSIM" train "$T/soft.json" -o "$T/x.nnm"
cat >"$T/sig.json" <<'JSON'
{"layers": [{"units": 4}, {"activation": "sigmoid"}], "loss": "cross_entropy",
 "data": {"train": {"path": "reg.csv", "header": true, "targets": [1, 2]}}}
JSON
expect_error sigmoid_range 2 \
    'sig.json: layers\[1\]\.activation: sigmoid with cross-entropy needs targets in \[0, 1\]; data.train row 1 has 2' \
    "$NNSIM" train "$T/sig.json" -o "$T/x.nnm"
cat >"$T/regacc.json" <<'JSON'
{"layers": [{"units": 4}, {}],
 "data": {"train": {"path": "reg.csv", "header": true, "targets": [1, 2]},
          "validation_split": 0.25},
 "train": {"early_stopping": {"monitor": "val_accuracy"}}}
JSON
expect_error monitor_needs_classes 2 \
    'regacc.json: train.early_stopping.monitor: "val_accuracy" needs a classification task' \
    "$NNSIM" train "$T/regacc.json" -o "$T/x.nnm"

# Divergence: exit 1, one line with the epoch, the step and the hint.
cat >"$T/div.json" <<'JSON'
{"layers": [{"units": 4}, {}],
 "data": {"train": {"path": "reg.csv", "header": true, "targets": [1, 2]}},
 "train": {"epochs": 50, "batch": 2, "optimizer": {"type": "sgd", "lr": 1e30}}}
JSON
expect_error diverge_train 1 \
    '^nnsim train: training diverged in epoch 1, step [0-9]+: the loss is (-?nan|-?inf).*lower the learning rate' \
    "$NNSIM" train "$T/div.json" -o "$T/div.nnm"
[ ! -e "$T/div.nnm" ] && ok diverge_no_model || fail diverge_no_model "a model was written"

# eval and predict of a model whose outputs are not finite: its last
# parameter, the second output's bias, made NaN (the checksum made right
# again).
sed 's/"lr": 1e30/"lr": 0.01/; s/"epochs": 50/"epochs": 1/' "$T/div.json" \
    >"$T/fine.json"
"$NNSIM" train "$T/fine.json" -o "$T/fine.nnm" -q
$PY - "$T/fine.nnm" "$T/nan.nnm" <<'PY'
import hashlib, struct, sys
b = bytearray(open(sys.argv[1], "rb").read())
h = struct.unpack_from("<I", b, 12)[0]
p = struct.unpack_from("<Q", b, 16)[0]
struct.pack_into("<f", b, 24 + h + p - 4, float("nan"))
body = bytes(b[:-32])
open(sys.argv[2], "wb").write(body + hashlib.sha256(body).digest())
PY
expect_error eval_not_finite 1 \
    '^nnsim eval: .*nan.nnm: .*row 1: output 2 is -?nan \(the model.s outputs are not finite' \
    "$NNSIM" eval "$T/nan.nnm" "$T/reg.csv"
printf 'x,a,b\n1,2,3\n' >"$T/in.csv"
expect_error predict_not_finite 1 \
    '^nnsim predict: .*nan.nnm: .*in.csv: row 1: output 2 is -?nan' \
    "$NNSIM" predict "$T/nan.nnm" "$T/in.csv" -o "$T/pred.csv"
[ ! -e "$T/pred.csv" ] && ok predict_no_file || fail predict_no_file "pred.csv was written"

# nnsim submit on one pair of daemons for the rest.
two_hosts 7640
start_host 1
start_host 2
C="--connect 127.0.0.1:7641 --key $T/key"
up2() {
	[ "$("${NNSIM_BIN:-$(pwd)/bin}/agentctl" $C --json hosts | python3 -c 'import json,sys
print(sum(h["state"] in ("up","self") for h in json.load(sys.stdin)["hosts"]))')" = 2 ]
}
if ! wait_for 10 up2; then
	fail cluster "2 daemons did not form a cluster"
	exit 0
fi

# A sweep: one session learns and stops early, the other diverges. The
# select is by val_loss, at each session's best epoch.
$PY - "$T/es.json" "$T/sweep.json" <<'PY'
import json, sys
n = json.load(open(sys.argv[1]))
n["parallel"] = {"grid": {"train.optimizer.lr": [0.05, 1e30]}, "retries": 1,
                 "select": "val_loss"}
json.dump(n, open(sys.argv[2], "w"))
PY
run_cmd "$NNSIM" submit "$T/sweep.json" $C -o "$T/sweep.nnm" \
    --metrics "$T/sweep.jsonl"
if [ "$rc" -ne 0 ]; then
	fail submit_sweep "exit $rc: $(head -c 300 "$T/err")"
else
	"$NNSIM" eval "$T/sweep.nnm" "$T/es.json" --json >"$T/seval.json" 2>&1
	if $PY - "$T/sweep.jsonl" "$T/seval.json" "$T/out" "$T/es.jsonl" \
	    >"$T/why" 2>&1 <<'PY'
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1])]
ev = json.load(open(sys.argv[2]))
out = open(sys.argv[3]).read()
alone = [json.loads(l) for l in open(sys.argv[4])]
done = lines[-1]
assert done["select"] == "val_loss" and done["best"] == 0, done
assert done["failed"] == 1, done
sess = {o["session"]: o for o in lines if o.get("event") == "session"}
bad = [o for o in lines if o.get("event") == "session-failed"]
assert len(bad) == 1 and bad[0]["retry"] == 0, bad
assert bad[0]["reason"].startswith("training diverged in epoch 1, step "), bad
assert "lower the learning rate" in sess[1]["failed"], sess[1]
ep = [o for o in lines if o.get("session") == 0 and "epoch" in o
      and "event" not in o]
best = [o for o in ep if o["epoch"] == alone[-1]["best_epoch"]][0]
# The final figures, the score and the model are the best epoch's.
assert sess[0]["final"]["epoch"] == best["epoch"] < ep[-1]["epoch"], sess[0]
assert done["score"] == best["val_loss"], (done, best)
assert abs(ev["loss"] - best["test_loss"]) < 1e-5, (ev, best)
assert len(ep) == len(alone) - 1, (len(ep), len(alone))
assert "failed: session 1" in out and "training diverged" in out, out
PY
	then ok submit_sweep; else fail submit_sweep "$(tail -c 400 "$T/why")"; fi
fi

# A session moved in the middle of training keeps its early-stopping
# state: it stops at the same epoch, with the same best epoch and the
# same figures, bit for bit, as nnsim train on one thread.
cat >"$T/mv.json" <<'JSON'
{"name": "mv",
 "layers": [{"units": 64, "activation": "relu"},
            {"units": 64, "activation": "relu"}, {"activation": "softmax"}],
 "data": {"train": {"generate": "spiral", "n": 12000, "classes": 3, "seed": 1},
          "split": 0.2, "validation_split": 0.2},
 "train": {"epochs": 300, "batch": 32, "seed": 1,
           "optimizer": {"type": "adam", "lr": 0.001},
           "early_stopping": {"patience": 4, "restore_best": true}}}
JSON
CTL="${NNSIM_BIN:-$(pwd)/bin}/agentctl"
"$NNSIM" submit "$T/mv.json" $C -q -o "$T/mv.nnm" --metrics "$T/mv.jsonl" \
    2>"$T/mv.err" &
sub=$!
moved=
i=0
while [ $i -lt 300 ] && [ -z "$moved" ] && kill -0 "$sub" 2>/dev/null; do
	for n in 1 2; do
		a=$("$CTL" --connect "127.0.0.$n:$((7640 + n))" --key "$T/key" \
		    agents 2>/dev/null |
		    awk '$2 == "session" && $5 + 0 > 3 { print $1; exit }')
		if [ -n "$a" ] && "$CTL" $C migrate "$a" "h$((3 - n))" \
		    >/dev/null 2>&1; then
			moved=$a
			break
		fi
	done
	sleep 0.1
	i=$((i + 1))
done
wait "$sub"
rs=$?
"$NNSIM" train "$T/mv.json" --threads 1 -q -o "$T/mv1.nnm" \
    --metrics "$T/mv1.jsonl"
if [ -n "$moved" ] && [ $rs -eq 0 ] && $PY - "$T/mv.jsonl" "$T/mv1.jsonl" \
    >"$T/why" 2>&1 <<'PY'
import json, sys
sub = [json.loads(l) for l in open(sys.argv[1])]
one = [json.loads(l) for l in open(sys.argv[2])]
assert any(o.get("event") == "moved" for o in sub), "no move"
es = [o for o in sub if "epoch" in o and "event" not in o]
e1 = [o for o in one if "epoch" in o and "event" not in o]
assert len(es) == len(e1) < 300 and es[-1]["stopped"], (len(es), len(e1))
for a, b in zip(es, e1):
    assert (a["epoch"], a["val_loss"], a["best_epoch"]) == \
        (b["epoch"], b["val_loss"], b["best_epoch"]), (a, b)
sess = [o for o in sub if o.get("event") == "session"][0]
assert sess["final"]["epoch"] == one[-1]["best_epoch"], sess
assert sess["final"]["test_loss"] == one[-1]["test_loss"], (sess, one[-1])
PY
then
	ok moved_keeps_stopping_state
else
	fail moved_keeps_stopping_state "moved '$moved', exit $rs: $(head -c 200 "$T/mv.err") $(tail -c 300 "$T/why")"
fi

# A sweep whose override of the loss makes a bad pairing: refused before
# any agent starts, naming the session; from the data cache, whose rows
# the submitter does not hold, the session's agent refuses at its start.
cat >"$T/swp.json" <<JSON
{"layers": [{"units": 4}, {"activation": "sigmoid"}],
 "data": {"train": {"path": "$T/reg.csv", "header": true, "targets": [1, 2]}},
 "train": {"epochs": 2},
 "parallel": {"grid": {"loss": ["mse", "cross_entropy"]}, "retries": 0}}
JSON
expect_error submit_pairing 2 \
    'swp.json: layers\[1\]\.activation: sigmoid with cross-entropy needs targets in \[0, 1\]; data.train row 1 has 2 .*\(session 1, loss="cross_entropy"\)$' \
    "$NNSIM" submit "$T/swp.json" $C --no-cache -o "$T/swp.nnm"
run_cmd "$NNSIM" submit "$T/swp.json" $C -o "$T/swp.nnm" \
    --metrics "$T/swp.jsonl"
if [ "$rc" -eq 0 ] && grep -q '^failed: session 1 (loss="cross_entropy"): .*sigmoid with cross-entropy needs targets in \[0, 1\]' "$T/out" &&
    [ "$(json_field "$T/swp.jsonl" failed)" = 1 ]; then
	ok submit_pairing_cached
else
	fail submit_pairing_cached "exit $rc: $(tail -c 300 "$T/out" "$T/err")"
fi

# The same rows, now in the cache: a softmax output is refused from what
# the set's manifest says (regression targets), before any agent starts.
cat >"$T/smx.json" <<JSON
{"layers": [{"units": 4}, {"activation": "softmax"}],
 "data": {"train": {"path": "$T/reg.csv", "header": true, "targets": [1, 2]}}}
JSON
expect_error submit_pairing_cached_set 2 \
    'smx.json: layers\[1\]\.activation: softmax needs one-hot targets; data.train has regression targets' \
    "$NNSIM" submit "$T/smx.json" $C -q -o "$T/smx.nnm"

# Data mode: validation figures from partition 0; a diverged job fails
# with the reason, exit 1.
$PY - "$T/es.json" "$T/data.json" "$T/datadiv.json" <<'PY'
import json, sys
n = json.load(open(sys.argv[1]))
del n["train"]["early_stopping"]
n["train"]["epochs"] = 3
n["parallel"] = {"mode": "data", "partitions": 2}
json.dump(n, open(sys.argv[2], "w"))
n["train"]["optimizer"]["lr"] = 1e30
n["train"]["optimizer"]["type"] = "sgd"
json.dump(n, open(sys.argv[3], "w"))
PY
run_cmd "$NNSIM" submit "$T/data.json" $C -q -o "$T/data.nnm" \
    --metrics "$T/data.jsonl"
if [ "$rc" -eq 0 ] && $PY -c 'import json, sys
l = [json.loads(x) for x in open(sys.argv[1])]
ep = [o for o in l if "epoch" in o and "backup" not in o]
assert sorted({o["epoch"] for o in ep}) == [1, 2, 3], ep
assert all("val_loss" in o and "test_loss" in o for o in ep), ep
assert l[-1]["event"] == "done" and "val_loss" in l[-1], l[-1]' \
    "$T/data.jsonl" 2>"$T/why"; then
	ok submit_data_validation
else
	fail submit_data_validation "exit $rc: $(head -c 300 "$T/err" "$T/why")"
fi
expect_error submit_data_diverged 1 \
    '^nnsim submit: training diverged in epoch 1, step [0-9]+: .*lower the learning rate' \
    "$NNSIM" submit "$T/datadiv.json" $C -q -o "$T/datadiv.nnm"
