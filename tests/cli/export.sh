# nnsim export: ONNX graphs that onnx accepts and that compute what
# nnsim predict does, raw inputs and normalisation included.
GROUP=export
. "$(dirname "$0")/lib.sh"

PY=/usr/bin/python3
CHECK=$SRC/tests/cli/export_check.py
have_onnx=1
if ! "$PY" -c 'import onnx, numpy' 2>/dev/null; then
	have_onnx=0
fi

# Two inputs of very different scales, so that normalisation matters.
python3 - "$T" <<'PY'
import random, sys
r = random.Random(11)
for name, n in (("train.csv", 200), ("test.csv", 60)):
    with open(sys.argv[1] + "/" + name, "w") as f:
        f.write("u,v,w,kind,level\n")
        for i in range(n):
            u, v, w = r.uniform(-1, 1), r.uniform(0, 500), r.gauss(3, 2)
            kind = ["lo", "mid", "hi"][(u > 0) + (v > 250)]
            f.write("%.4f,%.3f,%.4f,%s,%.4f\n" % (u, v, w, kind,
                    u * w + v / 500))
PY
# Every activation nnsim has, each normalisation, softmax and a single
# sigmoid output.
net() {
	cat >"$T/$1.json" <<JSON
{"name": "$1", "layers": $2, "loss": "$3",
 "data": {"train": {"path": "train.csv", "header": true, $4},
          "normalize": "$5"},
 "train": {"epochs": 3, "batch": 20, "optimizer": {"type": "adam", "lr": 0.02}, "seed": 2}}
JSON
}
net soft '[{"units": 6, "activation": "relu"}, {"units": 5, "activation": "tanh"}, {"activation": "softmax"}]' \
	cross_entropy '"label": 3, "inputs": [0, 1, 2]' standard
net reg '[{"units": 7, "activation": "leaky_relu"}, {"units": 4, "activation": "sigmoid"}, {"activation": "linear"}]' \
	mse '"targets": [4], "inputs": [0, 1, 2]' minmax
net raw '[{"units": 5, "activation": "tanh"}, {"units": 3, "activation": "linear"}, {"units": 1, "activation": "sigmoid"}]' \
	mse '"targets": [4], "inputs": [0, 2]' none

for m in soft reg raw; do
	if ! "$NNSIM" train "$T/$m.json" -o "$T/$m.nnm" -q --threads 1 2>"$T/err"; then
		fail "train_$m" "$(cat "$T/err")"
		continue
	fi
	run_cmd "$NNSIM" export "$T/$m.nnm" -o "$T/$m.onnx"
	if [ "$rc" -ne 0 ] || [ ! -s "$T/$m.onnx" ]; then
		fail "export_$m" "rc $rc: $(cat "$T/err")"
		continue
	fi
	if [ $have_onnx -eq 0 ]; then
		skip "onnx_matches_predict_$m" "$PY has no onnx or numpy (apt-get install python3-onnx python3-numpy)"
		continue
	fi
	# predict reads the raw inputs: the columns the model was trained on.
	if [ $m = raw ]; then
		cut -d, -f1,3 "$T/test.csv" >"$T/in-$m.csv"
		nin=2
	else
		cut -d, -f1-3 "$T/test.csv" >"$T/in-$m.csv"
		nin=3
	fi
	"$NNSIM" predict "$T/$m.nnm" "$T/in-$m.csv" --threads 1 >"$T/pred-$m.csv"
	if "$PY" "$CHECK" "$T/$m.onnx" "$T/in-$m.csv" $nin "$T/pred-$m.csv" >"$T/out" 2>&1; then
		ok "onnx_matches_predict_$m"
	else
		fail "onnx_matches_predict_$m" "$(tail -3 "$T/out")"
	fi
done

# The default name is the model's with .onnx; an existing file needs
# --force and is left alone without it.
cp "$T/reg.nnm" "$T/copy.nnm"
run_cmd "$NNSIM" export "$T/copy.nnm"
if [ "$rc" -eq 0 ] && cmp -s "$T/copy.onnx" "$T/reg.onnx"; then ok default_output; else fail default_output "rc $rc: $(cat "$T/err")"; fi
echo keep >"$T/keep.onnx"
expect_error exists_needs_force 2 'keep.onnx: exists \(use --force to overwrite\)' \
	"$NNSIM" export "$T/soft.nnm" -o "$T/keep.onnx"
if [ "$(cat "$T/keep.onnx")" = keep ]; then ok exists_untouched; else fail exists_untouched "file changed"; fi
run_cmd "$NNSIM" export "$T/soft.nnm" -o "$T/keep.onnx" --force
if [ "$rc" -eq 0 ] && cmp -s "$T/keep.onnx" "$T/soft.onnx"; then ok force_overwrites; else fail force_overwrites "rc $rc: $(cat "$T/err")"; fi
expect_error missing_model 2 '^nnsim export: .*nope.nnm: No such file' \
	"$NNSIM" export "$T/nope.nnm" -o "$T/nope.onnx"
expect_error no_folder 2 'nosuchdir/x.onnx' \
	"$NNSIM" export "$T/soft.nnm" -o "$T/nosuchdir/x.onnx"
head -c 200 "$T/soft.nnm" >"$T/cut.nnm"
expect_error corrupt_model 2 'cut.nnm: truncated' \
	"$NNSIM" export "$T/cut.nnm" -o "$T/cut.onnx"
if [ ! -e "$T/cut.onnx" ] && [ ! -e "$T/nope.onnx" ]; then ok no_output_on_error; else fail no_output_on_error "an output was written"; fi
run_cmd "$NNSIM" export --help
if [ "$rc" -eq 0 ] && grep -q '^usage: nnsim export MODEL' "$T/out" &&
    grep -q -- '--force' "$T/out"; then ok export_help; else fail export_help "rc $rc"; fi
expect_error export_no_model 2 'missing MODEL' "$NNSIM" export
