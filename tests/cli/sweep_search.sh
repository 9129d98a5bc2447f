# nnsim submit: random search, sweeps over the network's shape, and the
# --set/--epochs overrides, on embedded clusters of real daemons.
GROUP=sweep_search
. "$(dirname "$0")/lib.sh"

cat >"$T/search.json" <<'JSON'
{
  "name": "search",
  "layers": [{"units": 8, "activation": "tanh"}, {"activation": "softmax"}],
  "loss": "cross_entropy",
  "data": {"train": {"generate": "xor", "n": 200, "seed": 1}, "split": 0.25},
  "train": {"epochs": 5, "batch": 16,
            "optimizer": {"type": "adam", "lr": 0.01}, "seed": 1},
  "parallel": {"search": {"samples": 5, "seed": 7, "space": {
      "train.optimizer.lr": {"log_uniform": [0.001, 0.1]},
      "train.optimizer.beta1": {"uniform": [0.8, 0.95]},
      "layers[0].units": {"randint": [2, 12]},
      "layers[0].activation": {"choice": ["tanh", "relu"]}}}}
}
JSON

# check_search FILE EPOCHS: five sessions, each named by its sample and
# values, every value in its range, the network's size following the
# drawn units, every session trained EPOCHS epochs.
check_search() {
	python3 - "$1" "$2" <<'PY'
import json, re, sys
lines = [json.loads(l) for l in open(sys.argv[1])]
sess = sorted((o for o in lines if o.get("event") == "session"),
              key=lambda o: o["session"])
assert len(sess) == 5 and lines[-1]["sessions"] == 5, lines[-1]
for i, o in enumerate(sess):
    m = re.fullmatch(r"sample (\d+): train\.optimizer\.lr=(\S+) "
                     r"train\.optimizer\.beta1=(\S+) layers\[0\]\.units=(\d+) "
                     r"layers\[0\]\.activation=\"(\w+)\"", o["label"])
    assert m and int(m.group(1)) == i, o["label"]
    lr, b1, units = float(m.group(2)), float(m.group(3)), int(m.group(4))
    assert 0.001 <= lr <= 0.1 and 0.8 <= b1 <= 0.95, o["label"]
    assert 2 <= units <= 12 and m.group(5) in ("tanh", "relu"), o["label"]
    # xor: 2 inputs, 2 classes.
    assert o["params"] == units * 2 + units + 2 * units + 2, o
    epochs = [e["epoch"] for e in lines
              if "epoch" in e and e.get("agent") == o["agent"]]
    assert epochs == list(range(1, int(sys.argv[2]) + 1)), epochs
assert len({o["label"] for o in sess}) == 5
assert len({o["params"] for o in sess}) > 1, "every draw had one shape"
print("\n".join(o["label"] + " " + o["params_sha256"] for o in sess))
PY
}

# A search of five samples, overridden to 2 epochs and batch 8 on the
# command line; then again: the same sessions, bit for bit.
run_cmd "$NNSIM" submit "$T/search.json" --local 2 -q -o "$T/s.nnm" \
    --metrics "$T/s1.jsonl" --epochs 2 --set train.batch=8
if [ "$rc" -ne 0 ]; then
	fail search_sessions "exit $rc: $(head -c 300 "$T/err")"
elif check_search "$T/s1.jsonl" 2 >"$T/s1.txt" 2>"$T/why" &&
    grep -q '"batch":8' "$T/s.nnm"; then
	ok search_sessions
else
	fail search_sessions "$(tail -c 300 "$T/why")"
fi
run_cmd "$NNSIM" submit "$T/search.json" --local 2 -q -o "$T/s2.nnm" \
    --metrics "$T/s2.jsonl" --epochs 2 --set train.batch=8
if [ "$rc" -eq 0 ] && check_search "$T/s2.jsonl" 2 >"$T/s2.txt" 2>"$T/why" &&
    cmp -s "$T/s1.txt" "$T/s2.txt"; then
	ok search_repeatable
else
	fail search_repeatable "rc $rc: $(tail -c 300 "$T/why") $(diff "$T/s1.txt" "$T/s2.txt" | head -4)"
fi

# A grid over whole layer lists: networks of three shapes train, and the
# best one's model has its own shape.
python3 - "$T/search.json" "$T/layers.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
d["parallel"] = {"select": "loss", "grid": {"layers": [
    [{"units": 4, "activation": "tanh"}, {"activation": "softmax"}],
    [{"units": 8, "activation": "relu"}, {"units": 8, "activation": "relu"},
     {"activation": "softmax"}],
    [{"units": 16, "activation": "tanh"}, {"activation": "softmax"}]]}}
json.dump(d, open(sys.argv[2], "w"))
PY
run_cmd "$NNSIM" submit "$T/layers.json" --local 2 -q -o "$T/l.nnm" \
    --metrics "$T/l.jsonl" --epochs 2
if [ "$rc" -eq 0 ] && python3 - "$T/l.jsonl" "$T/l.nnm" 2>"$T/why" <<'PY'
import json, struct, sys
lines = [json.loads(l) for l in open(sys.argv[1])]
sess = {o["session"]: o for o in lines if o.get("event") == "session"}
assert [sess[i]["params"] for i in range(3)] == [22, 114, 82], sess
best = lines[-1]["best"]
b = open(sys.argv[2], "rb").read()
h, p = struct.unpack("<IQ", b[12:24])
assert p == 4 * sess[best]["params"], (p, best)
PY
then
	ok layers_grid
else
	fail layers_grid "rc $rc: $(head -c 300 "$T/err") $(tail -c 300 "$T/why")"
fi

# Bad searches and overrides: one line, exit 2, before any daemon starts.
python3 - "$T/search.json" "$T/bad.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
d["parallel"]["search"]["space"]["train.optimizer.lr"] = {"log_uniform": [0, 1]}
json.dump(d, open(sys.argv[2], "w"))
PY
expect_error search_bad_range 2 "bad.json: parallel.search.space.train.optimizer.lr.log_uniform: expected LOW above 0" \
    "$NNSIM" submit "$T/bad.json" --local 1
expect_error submit_set_bad_path 2 "search.json: --set layers\[5\].units: .*not an index of an array of 2" \
    "$NNSIM" submit "$T/search.json" --local 1 --set 'layers[5].units=3'
expect_error submit_epochs_bad 2 "--epochs: expected an integer" \
    "$NNSIM" submit "$T/search.json" --local 1 --epochs x
