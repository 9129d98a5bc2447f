# Bad net.json, data and model files: exit 2 and one line naming the
# file, the JSON path or line, and what was expected.
GROUP=errors
. "$(dirname "$0")/lib.sh"

# write NAME JSON: a net.json in $T whose data is the xor generator.
write() {
	printf '%s\n' "$2" >"$T/$1.json"
}
GOOD_DATA='"data": {"train": {"generate": "xor", "n": 64}}'

write act '{"layers": [{"units": 4, "activation": "relux"}, {"activation": "softmax"}], '"$GOOD_DATA"'}'
expect_error unknown_activation 2 'act.json: layers\[0\]\.activation: unknown "relux" \(expected .*relu' \
	"$NNSIM" train "$T/act.json"
write zero '{"layers": [{"units": 0}, {"activation": "softmax"}], '"$GOOD_DATA"'}'
expect_error zero_units 2 'zero.json: layers\[0\]\.units: expected an integer from 1' \
	"$NNSIM" train "$T/zero.json"
write neg '{"layers": [{"units": -3}, {"activation": "softmax"}], '"$GOOD_DATA"'}'
expect_error negative_units 2 'neg.json: layers\[0\]\.units: .*-3' \
	"$NNSIM" train "$T/neg.json"
write nodata '{"layers": [{"units": 4}, {"activation": "softmax"}]}'
expect_error missing_data 2 'nodata.json: data: missing' "$NNSIM" train "$T/nodata.json"
write type '{"layers": [{"units": 4}, {"activation": "softmax"}], '"$GOOD_DATA"', "train": {"epochs": "ten"}}'
expect_error wrong_type 2 'type.json: train\.epochs: expected an integer' \
	"$NNSIM" train "$T/type.json"
write key '{"layers": [{"units": 4, "activaton": "relu"}, {"activation": "softmax"}], '"$GOOD_DATA"'}'
expect_error unknown_key 2 'key.json: layers\[0\]\.activaton: unknown key' \
	"$NNSIM" train "$T/key.json"
write nofile '{"layers": [{"units": 4}, {"activation": "softmax"}], "data": {"train": {"path": "nope.csv", "label": 0}}}'
expect_error missing_data_file 2 'nofile.json: data\.train\.path: cannot open ".*nope.csv"' \
	"$NNSIM" train "$T/nofile.json"
expect_error missing_netjson_file 2 'absent.json' "$NNSIM" train "$T/absent.json"
printf '{"layers": [\n' >"$T/syntax.json"
expect_error json_syntax 2 'syntax.json:[0-9]+:[0-9]+: ' "$NNSIM" train "$T/syntax.json"
write ce '{"layers": [{"units": 4}, {"units": 2, "activation": "relu"}], "loss": "cross_entropy", '"$GOOD_DATA"'}'
expect_error loss_pairing 2 'ce.json: loss: cross_entropy needs a softmax or sigmoid' \
	"$NNSIM" train "$T/ce.json"
write out '{"layers": [{"units": 4}, {"units": 3, "activation": "softmax"}], '"$GOOD_DATA"'}'
expect_error output_units 2 'out.json: .*3.* 2' "$NNSIM" train "$T/out.json"

# Malformed data files, through the command line.
csvjson() {
	write "$1" '{"layers": [{"units": 4}, {"activation": "softmax"}], "data": {"train": {"path": "'"$1"'.csv", "label": 0, "header": '"$2"'}}}'
}
printf 'y,x1\nA,1,2\nB,2,3\n' >"$T/hdr.csv"
csvjson hdr true
expect_error csv_bad_header 2 'hdr.csv:(1: .*header|2: expected 2 columns, found 3)' \
	"$NNSIM" train "$T/hdr.json"
printf 'A,1,2\nB,2\nA,3,4\n' >"$T/cols.csv"
csvjson cols false
expect_error csv_wrong_columns 2 'cols.csv:2: expected 3 columns, found 2' \
	"$NNSIM" train "$T/cols.json"
printf 'A,1,2\nB,2,abc\n' >"$T/nan.csv"
csvjson nan false
expect_error csv_not_a_number 2 'nan.csv:2: column 2: "abc" is not a number' \
	"$NNSIM" train "$T/nan.json"
: >"$T/empty.csv"
csvjson empty false
expect_error csv_empty 2 'empty.csv: .*empty' "$NNSIM" train "$T/empty.json"

fannjson() {
	write "$1" '{"layers": [{"units": 4}, {"activation": "sigmoid"}], "loss": "mse", "data": {"train": {"path": "'"$1"'.data"}}}'
}
printf '3 2 1\n0 0\n0\n0 1\n1\n' >"$T/trunc.data"
fannjson trunc
expect_error fann_truncated 2 'trunc.data: .*(truncated|3 pairs)' "$NNSIM" train "$T/trunc.json"
printf 'three 2 1\n0 0\n0\n' >"$T/fhdr.data"
fannjson fhdr
expect_error fann_bad_header 2 'fhdr.data:1: bad header' "$NNSIM" train "$T/fhdr.json"
printf '1 2 1\n0 x\n0\n' >"$T/fnan.data"
fannjson fnan
expect_error fann_not_a_number 2 'fnan.data:2: .*"x"' "$NNSIM" train "$T/fnan.json"
: >"$T/fempty.data"
fannjson fempty
expect_error fann_empty 2 'fempty.data: .*empty' "$NNSIM" train "$T/fempty.json"

# Broken model files: eval names the file and the problem.
"$NNSIM" train "$SRC/nnsim/examples/xor.json" -o "$T/m.nnm" -q --threads 1
size=$(stat -c %s "$T/m.nnm")
head -c $((size / 2)) "$T/m.nnm" >"$T/cut.nnm"
expect_error model_truncated 2 'cut.nnm: truncated' "$NNSIM" eval "$T/cut.nnm" "$SRC/nnsim/examples/xor.json"
cp "$T/m.nnm" "$T/flip.nnm"
printf '\377' | dd of="$T/flip.nnm" bs=1 seek=$((size - 40)) conv=notrunc 2>/dev/null
expect_error model_corrupt 2 'flip.nnm: checksum mismatch' "$NNSIM" eval "$T/flip.nnm" "$SRC/nnsim/examples/xor.json"
printf 'hello' >"$T/junk.nnm"
expect_error model_not_a_model 2 'junk.nnm: ' "$NNSIM" eval "$T/junk.nnm" "$SRC/nnsim/examples/xor.json"
printf '1 3 2\n0 0 0\n0 1\n' >"$T/three.data"
expect_error eval_wrong_inputs 2 'three.data: 3 inputs but the model takes 2' \
	"$NNSIM" eval "$T/m.nnm" "$T/three.data"
printf '1,2\n' >"$T/gen.csv"
expect_error eval_csv_layout_unknown 2 'gen.csv: the model was not trained on CSV data' \
	"$NNSIM" eval "$T/m.nnm" "$T/gen.csv"
printf 'x' >"$T/data.bin"
expect_error eval_unknown_format 2 'data.bin: unknown data format' \
	"$NNSIM" eval "$T/m.nnm" "$T/data.bin"
