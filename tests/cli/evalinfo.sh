# nnsim eval's per-class and regression figures, nnsim info, and predict's
# input formats, checked against python on the same small files.
GROUP=evalinfo
. "$(dirname "$0")/lib.sh"

# Three named classes of 2-D blobs, and two regression targets of three
# inputs; train and test files of each, with headers.
python3 - "$T" <<'PY'
import math, random, sys
r = random.Random(7)
def cls(path, n):
    with open(path, "w") as f:
        f.write("a,b,species\n")
        for i in range(n):
            c = i % 3
            f.write("%.4f,%.4f,%s\n" % (r.gauss(c, 0.8), r.gauss(-c / 2, 0.8),
                                       ["cat", "dog", "eel"][c]))
def reg(path, n):
    with open(path, "w") as f:
        f.write("x1,x2,x3,height,weight\n")
        for i in range(n):
            x = [r.uniform(-1, 1) for _ in range(3)]
            f.write("%.4f,%.4f,%.4f,%.4f,%.4f\n" % (x[0], x[1], x[2],
                    x[0] + 0.5 * x[1] * x[2], 2 * x[2] - x[0] ** 2))
cls(sys.argv[1] + "/cls.csv", 240)
cls(sys.argv[1] + "/cls-test.csv", 90)
reg(sys.argv[1] + "/reg.csv", 240)
reg(sys.argv[1] + "/reg-test.csv", 90)
PY
cat >"$T/cls.json" <<'JSON'
{"name": "cls", "layers": [{"units": 8, "activation": "tanh"}, {"activation": "softmax"}],
 "loss": "cross_entropy",
 "data": {"train": {"path": "cls.csv", "label": 2, "header": true},
          "test": {"path": "cls-test.csv", "label": 2, "header": true},
          "normalize": "standard"},
 "train": {"epochs": 3, "batch": 16, "optimizer": {"type": "adam", "lr": 0.01}, "seed": 3}}
JSON
cat >"$T/reg.json" <<'JSON'
{"name": "reg", "layers": [{"units": 8, "activation": "leaky_relu"}, {"activation": "linear"}],
 "loss": "mse",
 "data": {"train": {"path": "reg.csv", "targets": [3, 4], "header": true},
          "normalize": "minmax"},
 "train": {"epochs": 4, "batch": 16, "optimizer": {"type": "sgd", "lr": 0.05, "momentum": 0.9}, "seed": 5}}
JSON
"$NNSIM" train "$T/cls.json" -o "$T/cls.nnm" -q --threads 1 &&
    "$NNSIM" train "$T/reg.json" -o "$T/reg.nnm" -q --threads 1 ||
    fail train "could not train the test models"

# Classification: the confusion matrix and per-class figures equal those
# python computes from predict's classes on the same file.
"$NNSIM" eval "$T/cls.nnm" "$T/cls-test.csv" --json --threads 1 >"$T/cls-eval.json"
"$NNSIM" predict "$T/cls.nnm" "$T/cls-test.csv" --threads 1 >"$T/cls-pred.csv"
if python3 - "$T/cls-eval.json" "$T/cls-pred.csv" "$T/cls-test.csv" <<'PY'
import csv, json, sys
e = json.load(open(sys.argv[1]))
pred = [row[0] for row in list(csv.reader(open(sys.argv[2])))[1:]]
true = [row[2] for row in list(csv.reader(open(sys.argv[3])))[1:]]
names = ["cat", "dog", "eel"]
assert e["classes"] == names, e["classes"]
assert e["samples"] == 90 == len(pred), e["samples"]
conf = [[sum(1 for t, p in zip(true, pred) if t == a and p == b)
         for b in names] for a in names]
assert e["confusion"] == conf, (e["confusion"], conf)
# A model that gets everything right tests nothing.
assert 0 < sum(conf[i][i] for i in range(3)) < 90, conf
close = lambda a, b: abs(a - b) < 1e-7
ps, rs, fs = [], [], []
for i, c in enumerate(names):
    tp = conf[i][i]
    npred = sum(conf[j][i] for j in range(3))
    nact = sum(conf[i])
    p = tp / npred if npred else 0.0
    r = tp / nact if nact else 0.0
    f = 2 * p * r / (p + r) if p + r else 0.0
    got = e["per_class"][i]
    assert got["class"] == c and got["support"] == nact, got
    assert close(got["precision"], p) and close(got["recall"], r) and \
        close(got["f1"], f), (got, p, r, f)
    ps.append(p); rs.append(r); fs.append(f)
m = e["macro"]
assert close(m["precision"], sum(ps) / 3) and close(m["recall"], sum(rs) / 3) \
    and close(m["f1"], sum(fs) / 3), m
assert close(e["accuracy"], sum(t == p for t, p in zip(true, pred)) / 90.0)
PY
then ok classification_figures; else fail classification_figures "$(head -c 400 "$T/cls-eval.json")"; fi

# The text report shows the same matrix under the class names.
run_cmd "$NNSIM" eval "$T/cls.nnm" "$T/cls-test.csv" --threads 1
if [ "$rc" -eq 0 ] && grep -q '^confusion matrix' "$T/out" &&
    grep -Eq '^ +cat +dog +eel$' "$T/out" &&
    grep -Eq '^macro avg( +[01]\.[0-9]{4}){3}$' "$T/out" &&
    [ "$(grep -c '^\(cat\|dog\|eel\) ' "$T/out")" -eq 6 ]; then
	ok classification_text
else
	fail classification_text "rc $rc: $(cat "$T/out" "$T/err")"
fi

# Regression: MAE, RMSE and R^2 of predict's outputs, per target column
# (named as in the training CSV) and over both.
"$NNSIM" eval "$T/reg.nnm" "$T/reg-test.csv" --json --threads 1 >"$T/reg-eval.json"
"$NNSIM" predict "$T/reg.nnm" "$T/reg-test.csv" --threads 1 >"$T/reg-pred.csv"
if python3 - "$T/reg-eval.json" "$T/reg-pred.csv" "$T/reg-test.csv" <<'PY'
import csv, json, math, sys
e = json.load(open(sys.argv[1]))
rows = list(csv.reader(open(sys.argv[2])))
assert rows[0] == ["height", "weight"], rows[0]
pred = [[float(v) for v in r] for r in rows[1:]]
true = [[float(v) for v in r[3:]] for r in list(csv.reader(open(sys.argv[3])))[1:]]
n = len(true)
assert n == 90 == e["samples"]
close = lambda a, b: abs(a - b) <= 1e-5 * max(1, abs(b))
r2s, abs_all, sq_all = [], 0, 0
for j, name in enumerate(["height", "weight"]):
    err = [p[j] - t[j] for p, t in zip(pred, true)]
    mean = sum(t[j] for t in true) / n
    tot = sum((t[j] - mean) ** 2 for t in true)
    mae = sum(abs(x) for x in err) / n
    sq = sum(x * x for x in err)
    r2 = 1 - sq / tot
    got = e["per_output"][j]
    assert got["name"] == name, got
    assert close(got["mae"], mae) and close(got["rmse"], math.sqrt(sq / n)) \
        and close(got["r2"], r2), (got, mae, math.sqrt(sq / n), r2)
    r2s.append(r2); abs_all += mae * n; sq_all += sq
assert close(e["mae"], abs_all / (2 * n)), e
assert close(e["rmse"], math.sqrt(sq_all / (2 * n))), e
assert close(e["r2"], sum(r2s) / 2), e
assert "accuracy" not in e and "confusion" not in e
PY
then ok regression_figures; else fail regression_figures "$(head -c 400 "$T/reg-eval.json")"; fi

run_cmd "$NNSIM" eval "$T/reg.nnm" "$T/reg-test.csv" --threads 1
if [ "$rc" -eq 0 ] && grep -Eq '^height +[0-9.e-]+ +[0-9.e-]+ +-?[0-9.]+$' "$T/out" &&
    grep -q '^all ' "$T/out"; then
	ok regression_text
else
	fail regression_text "rc $rc: $(cat "$T/out" "$T/err")"
fi

# predict decides the format by content: a .txt copy of the CSV, standard
# input, and a FANN file named .txt give the same rows.
cp "$T/reg-test.csv" "$T/reg-test.txt"
"$NNSIM" predict "$T/reg.nnm" "$T/reg-test.txt" --threads 1 >"$T/p-txt.csv" 2>"$T/err"
if cmp -s "$T/reg-pred.csv" "$T/p-txt.csv"; then ok predict_txt_extension
else fail predict_txt_extension "$(head -3 "$T/p-txt.csv" "$T/err")"; fi
"$NNSIM" predict "$T/reg.nnm" - --threads 1 <"$T/reg-test.csv" >"$T/p-stdin.csv" 2>"$T/err"
if cmp -s "$T/reg-pred.csv" "$T/p-stdin.csv"; then ok predict_stdin
else fail predict_stdin "$(head -3 "$T/p-stdin.csv" "$T/err")"; fi
python3 - "$T/reg-test.csv" "$T/fann.txt" <<'PY'
import sys
rows = [l.strip().split(",") for l in open(sys.argv[1])][1:]
with open(sys.argv[2], "w") as f:
    f.write("%d 3 2\n" % len(rows))
    for r in rows:
        f.write(" ".join(r[:3]) + "\n" + " ".join(r[3:]) + "\n")
PY
cat "$T/fann.txt" | "$NNSIM" predict "$T/reg.nnm" - --threads 1 >"$T/p-fann.csv" 2>"$T/err"
if cmp -s "$T/reg-pred.csv" "$T/p-fann.csv"; then ok predict_fann_by_content
else fail predict_fann_by_content "$(head -3 "$T/p-fann.csv" "$T/err")"; fi
printf '1,2\n' >"$T/short.txt"
expect_error predict_stdin_error 2 '^nnsim predict: standard input:1: 2 columns \(expected 3 inputs' \
	sh -c '"$1" predict "$2" - <"$3"' sh "$NNSIM" "$T/reg.nnm" "$T/short.txt"

# info: layers, parameters, names, the training configuration and the
# run's final figures.
run_cmd "$NNSIM" info "$T/reg.nnm" --json
if [ "$rc" -eq 0 ] && python3 - "$T/out" <<'PY'
import json, sys
o = json.load(open(sys.argv[1]))
assert o["task"] == "regression" and o["inputs"] == 3 and o["outputs"] == 2, o
assert o["input_names"] == ["x1", "x2", "x3"], o
assert o["output_names"] == ["height", "weight"], o
assert [(l["units"], l["activation"], l["params"]) for l in o["layers"]] == \
    [(8, "leaky_relu", 32), (2, "linear", 18)], o["layers"]
assert o["params"] == 50 and o["loss"] == "mse" and o["normalize"] == "minmax"
t = o["train"]
assert t["epochs"] == 4 and t["batch"] == 16 and t["seed"] == 5, t
assert t["optimizer"]["type"] == "sgd" and abs(t["optimizer"]["momentum"] - 0.9) < 1e-6, t
assert o["metrics"]["epochs"] == 4 and o["metrics"]["loss"] > 0, o["metrics"]
PY
then ok info_json; else fail info_json "rc $rc: $(cat "$T/out" "$T/err")"; fi
run_cmd "$NNSIM" info "$T/cls.nnm"
if [ "$rc" -eq 0 ] && grep -q '^task: classification, 3 classes$' "$T/out" &&
    grep -q '^outputs: 3 (cat, dog, eel)$' "$T/out" &&
    grep -Eq '^ +1 +dense +8 units +tanh +24 params$' "$T/out" &&
    grep -q '^parameters: 51$' "$T/out" &&
    grep -q '^training: batch 16, epochs 3, optimizer adam (.*lr 0.01.*), seed 3' "$T/out" &&
    grep -q '^final figures: accuracy .*test_accuracy' "$T/out"; then
	ok info_text
else
	fail info_text "rc $rc: $(cat "$T/out" "$T/err")"
fi
expect_error info_missing 2 '^nnsim info: .*nope.nnm: No such file' "$NNSIM" info "$T/nope.nnm"
cp "$T/cls.nnm" "$T/corrupt.nnm"
printf 'X' | dd of="$T/corrupt.nnm" bs=1 seek=40 conv=notrunc 2>/dev/null
expect_error info_corrupt 2 '^nnsim info: .*corrupt.nnm: checksum mismatch' "$NNSIM" info "$T/corrupt.nnm"
expect_error info_usage 2 'missing MODEL' "$NNSIM" info
run_cmd "$NNSIM" info --help
if [ "$rc" -eq 0 ] && grep -q '^usage: nnsim info MODEL' "$T/out"; then ok info_help; else fail info_help "rc $rc"; fi
expect_error info_bad_option 2 'unknown option "--bogus"' "$NNSIM" info "$T/cls.nnm" --bogus
