# The trainer's optimisation features end to end: learning-rate schedules
# (the rate in the metrics; shards and partition agents at one rate),
# dropout (repeatable, off at eval), adamw with clipping and init torch in
# the model's record, and their errors.
GROUP=trainer
. "$(dirname "$0")/lib.sh"

# net FILE LAYER0_EXTRA TRAIN_EXTRA [TOP_EXTRA]: a small spiral net.
net() {
	cat >"$1" <<JSON
{
  "name": "t",
  "layers": [{"units": 16, "activation": "relu"$2},
             {"activation": "softmax"}],
  "loss": "cross_entropy",
  "data": {"train": {"generate": "spiral", "n": 240, "classes": 3,
                     "seed": 1}, "split": 0.25},
  "train": {"epochs": 6, "batch": 16, "seed": 3,
            "optimizer": {"type": "adamw", "lr": 0.01, "clip_norm": 1.0}$3}$4
}
JSON
}
# lrs FILE.jsonl: each epoch's rate, one a line.
lrs() {
	sed -n 's/^{"epoch":.*"lr":\([^,}]*\).*/\1/p' "$1"
}
# header MODEL: the model file's JSON header (docs/model-format.md).
header() {
	python3 -c 'import json, struct, sys
b = open(sys.argv[1], "rb").read()
h = struct.unpack("<I", b[12:16])[0]
print(json.dumps(json.loads(b[24:24 + h])))' "$1"
}

# Each schedule's rates, as docs/net-json.md gives them.
net "$T/step.json" "" ', "schedule": {"type": "step", "every": 2, "gamma": 0.5}'
net "$T/cos.json" "" ', "schedule": {"type": "cosine", "warmup": 2, "min_lr": 0.001}'
net "$T/plat.json" "" ', "schedule": {"type": "plateau", "patience": 0, "factor": 0.5, "threshold": 0.5}'
for s in step cos plat; do
	"$NNSIM" train "$T/$s.json" -o "$T/$s.nnm" --metrics "$T/$s.jsonl" \
	    -q --threads 1 2>"$T/e$s" || fail "schedule_$s" "$(cat "$T/e$s")"
done
if python3 - "$(lrs "$T/step.jsonl")" "$(lrs "$T/cos.jsonl")" \
    "$(lrs "$T/plat.jsonl")" <<'PY'
import math, sys
step, cos, plat = ([float(v) for v in a.split()] for a in sys.argv[1:])
near = lambda a, b: abs(a - b) <= 1e-7
assert all(near(a, 0.01 * 0.5 ** (e // 2)) for e, a in enumerate(step)), step
# The rate of each epoch's last step: two warmup epochs rise to lr, then
# 4 epochs anneal towards min_lr (reached after the last, as in torch).
want = [0.005, 0.01] + [0.001 + 0.009 * (1 + math.cos(math.pi * e / 4)) / 2
                        for e in range(4)]
assert len(cos) == 6 and all(near(a, b) for a, b in zip(cos, want)), cos
# Epoch 1 is the only gain that counts: a cut after every later epoch.
assert all(near(a, 0.01 * 0.5 ** max(0, e - 1))
           for e, a in enumerate(plat)) and len(plat) == 6, plat
PY
then ok schedule_rates; else fail schedule_rates "step $(lrs "$T/step.jsonl" | tr '\n' ' ') cos $(lrs "$T/cos.jsonl" | tr '\n' ' ') plateau $(lrs "$T/plat.jsonl" | tr '\n' ' ')"; fi

# The model records how it trained; the default init is torch.
if header "$T/cos.nnm" | python3 -c 'import json, sys
h = json.load(sys.stdin)
t = h["train"]
assert t["optimizer"]["type"] == "adamw", t
assert t["optimizer"]["clip_norm"] == 1.0, t
assert t["optimizer"]["weight_decay"] == 0.01, t
assert t["schedule"] == {"type": "cosine", "warmup": 2, "min_lr": 0.001}, t
assert [l["init"] for l in h["arch"]["layers"]] == ["torch", "torch"], h'
then ok model_records_training; else fail model_records_training "$(header "$T/cos.nnm" | head -c 600)"; fi

# Plateau with dropout and clipping in data mode: nnsim train's shards and
# the partition agents cut the rate at the same epochs, to the bit, and
# agree on the losses; deterministic runs repeat bit for bit.
net "$T/par.json" ', "dropout": 0.2' \
    ', "schedule": {"type": "plateau", "patience": 0, "factor": 0.5, "threshold": 0.5, "warmup": 1}' \
    ', "parallel": {"mode": "data", "partitions": 2, "deterministic": true}'
"$NNSIM" train "$T/par.json" -o "$T/par_t.nnm" --metrics "$T/par_t.jsonl" \
    -q --threads 1 2>"$T/epar"
"$NNSIM" train "$T/par.json" -o "$T/par_t2.nnm" -q --threads 1 2>>"$T/epar"
NNSIM_NO_LIVE=1 "$NNSIM" submit "$T/par.json" --local 2 -q \
    -o "$T/par_s.nnm" --metrics "$T/par_s.jsonl" 2>>"$T/epar"
rs=$?
if [ $rs -eq 0 ] && [ "$(lrs "$T/par_t.jsonl")" = "$(lrs "$T/par_s.jsonl")" ] &&
    [ "$(lrs "$T/par_t.jsonl" | sort -u | wc -l)" -ge 2 ] &&
    python3 - "$T/par_t.jsonl" "$T/par_s.jsonl" <<'PY'
import json, sys
t, s = ([json.loads(l) for l in open(p) if l.startswith('{"epoch"')]
        for p in sys.argv[1:])
assert len(t) == len(s) == 6, (len(t), len(s))
for a, b in zip(t, s):
    assert abs(a["loss"] - b["loss"]) <= 1e-3 * abs(a["loss"]), (a, b)
PY
then
	ok schedule_shards_match_agents
else
	fail schedule_shards_match_agents "exit $rs: $(head -c 300 "$T/epar"); train $(lrs "$T/par_t.jsonl" | tr '\n' ' '), agents $(lrs "$T/par_s.jsonl" | tr '\n' ' ')"
fi
if cmp -s "$T/par_t.nnm" "$T/par_t2.nnm"; then
	ok dropout_repeats_bitwise
else
	fail dropout_repeats_bitwise "two runs of $T/par.json differ"
fi

# Dropout 0 is no dropout; dropout changes the training.
net "$T/d0.json" ', "dropout": 0'
net "$T/dn.json" ""
net "$T/d3.json" ', "dropout": 0.3'
for s in d0 dn d3; do
	"$NNSIM" train "$T/$s.json" -o "$T/$s.nnm" --metrics "$T/$s.jsonl" \
	    -q --threads 1 2>"$T/e$s"
done
if cmp -s "$T/d0.nnm" "$T/dn.nnm" && ! cmp -s "$T/d3.nnm" "$T/dn.nnm"; then
	ok dropout_zero_is_none
else
	fail dropout_zero_is_none "d0/dn: $(cmp "$T/d0.nnm" "$T/dn.nnm" 2>&1); d3 equal to dn?"
fi

# eval and predict do not drop: eval gives the last epoch's test loss
# (computed without dropout), and predict the network's plain forward
# pass, worked here from the model's weights.
"$NNSIM" eval "$T/d3.nnm" "$T/d3.json" --json >"$T/ev" 2>"$T/eev"
printf 'x1,x2\n0.1,0.2\n-0.5,0.3\n0.7,-0.9\n' >"$T/in.csv"
"$NNSIM" predict "$T/d3.nnm" "$T/in.csv" -o "$T/pred.csv" 2>>"$T/eev"
if python3 - "$T/ev" "$T/d3.jsonl" "$T/d3.nnm" "$T/in.csv" "$T/pred.csv" <<'PY'
import json, math, struct, sys
ev = json.load(open(sys.argv[1]))
done = [json.loads(l) for l in open(sys.argv[2])][-1]
assert abs(ev["loss"] - done["test_loss"]) <= 1e-6 * done["test_loss"], (ev, done)
b = open(sys.argv[3], "rb").read()
h, p = struct.unpack("<IQ", b[12:24])
w = struct.unpack("<%df" % (p // 4), b[24 + h:24 + h + p])
W1, b1 = w[:32], w[32:48]
W2, b2 = w[48:96], w[96:99]
rows = [list(map(float, l.split(","))) for l in open(sys.argv[4]).read().split()[1:]]
got = [list(map(float, l.split(",")[1:])) for l in open(sys.argv[5]).read().split()[1:]]
for x, g in zip(rows, got):
    hid = [max(0, W1[2 * j] * x[0] + W1[2 * j + 1] * x[1] + b1[j]) for j in range(16)]
    z = [sum(W2[16 * k + j] * hid[j] for j in range(16)) + b2[k] for k in range(3)]
    e = [math.exp(v - max(z)) for v in z]
    want = [v / sum(e) for v in e]
    assert all(abs(a - c) < 1e-4 for a, c in zip(g, want)), (x, g, want)
assert len(got) == 3, got
PY
then ok eval_predict_without_dropout; else fail eval_predict_without_dropout "$(head -c 300 "$T/ev") $(head -c 300 "$T/eev") $(head -3 "$T/pred.csv")"; fi

# Bad keys: one line naming the JSON path, exit 2.
net "$T/good.json" "" ""
# bad NAME SED_EXPRESSION PATTERN
bad() {
	sed "$2" "$T/good.json" >"$T/bad.json"
	expect_error "$1" 2 "$3" "$NNSIM" train "$T/bad.json" -o "$T/bad.nnm"
}
bad bad_schedule_type 's/"clip_norm": 1.0}/&, "schedule": "cosin"/' \
    '^nnsim train: [^ ]*bad.json: train.schedule: unknown "cosin" \(expected constant, step, cosine, plateau\)$'
bad bad_schedule_key 's/"clip_norm": 1.0}/&, "schedule": {"type": "step", "patience": 3}/' \
    'train.schedule.patience: not used by step'
bad bad_schedule_gamma 's/"clip_norm": 1.0}/&, "schedule": {"type": "step", "gamma": 1}/' \
    'train.schedule.gamma: expected a number from 0 to below 1, got 1$'
bad bad_warmup_cosine 's/"clip_norm": 1.0}/&, "schedule": {"type": "cosine", "warmup": 6}/' \
    'train.schedule.warmup: 6 epochs leave none of train.epochs \(6\) to anneal'
bad bad_schedule_rprop 's/{"type": "adamw", "lr": 0.01, "clip_norm": 1.0}/"rprop", "schedule": "step"/' \
    'train.schedule: rprop has no learning rate to schedule'
bad bad_clip_norm 's/"clip_norm": 1.0/"clip_norm": -1/' \
    'train.optimizer.clip_norm: expected a number >= 0, got -1$'
bad bad_dropout 's/"relu"/"relu", "dropout": 1/' \
    'layers\[0\].dropout: expected a number from 0 to below 1, got 1$'
bad bad_dropout_output 's/"softmax"/"softmax", "dropout": 0.5/' \
    'layers\[1\].dropout: the output layer drops nothing'
bad bad_init 's/"relu"/"relu", "init": "kaiming"/' \
    'layers\[0\].init: unknown "kaiming" \(expected auto, he, xavier, torch\)$'
