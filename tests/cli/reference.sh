# Reference accuracies: the real data sets in ../shared/data (skipped when
# absent) and the generated sets that ship with the examples.
GROUP=reference
. "$(dirname "$0")/lib.sh"

# accuracy NAME MIN NET.JSON: trains and checks the final test accuracy.
accuracy() {
	name=$1 min=$2 net=$3
	run_cmd "$NNSIM" train "$net" -o "$T/$name.nnm" --metrics "$T/$name.jsonl" -q
	if [ "$rc" -ne 0 ]; then
		fail "$name" "exit $rc: $(cat "$T/err")"
		return
	fi
	acc=$(json_field "$T/$name.jsonl" test_accuracy)
	if python3 -c "import sys; sys.exit(0 if float('$acc') >= $min else 1)"; then
		echo "ok $GROUP/$name (test accuracy $acc >= $min)"
	else
		fail "$name" "test accuracy $acc, expected >= $min"
	fi
}

# fann_net NAME HIDDEN EPOCHS: a net.json for a FANN classification set.
fann_net() {
	cat >"$T/$1.json" <<JSON
{
  "name": "$1",
  "layers": [{"units": $2, "activation": "relu"}, {"activation": "softmax"}],
  "loss": "cross_entropy",
  "data": {
    "train": {"path": "$DATA/fann/$1.train", "format": "fann"},
    "test": {"path": "$DATA/fann/$1.test", "format": "fann"},
    "normalize": "standard"
  },
  "train": {"epochs": $3, "batch": 32, "optimizer": {"type": "adam", "lr": 0.001}, "seed": 1}
}
JSON
}

accuracy xor 1.0 "$SRC/nnsim/examples/xor.json"
accuracy spiral 0.97 "$SRC/nnsim/examples/spiral.json"

if [ -f "$DATA/uci/letter-recognition.csv" ]; then
	sed "s|../../../shared/data|$DATA|g" "$SRC/nnsim/examples/letters.json" >"$T/letters.json"
	accuracy letters 0.95 "$T/letters.json"
else
	skip letters "no $DATA/uci/letter-recognition.csv"
fi
for set in "thyroid 64 30 0.97" "mushroom 32 5 0.995"; do
	set -- $set
	if [ -f "$DATA/fann/$1.train" ]; then
		fann_net "$1" "$2" "$3"
		accuracy "$1" "$4" "$T/$1.json"
	else
		skip "$1" "no $DATA/fann/$1.train"
	fi
done
