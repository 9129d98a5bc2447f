# nnsim train and submit: --set and --epochs reach the run and the model;
# outputs are checked before any work and never overwritten without
# --force (tests/cli/resume.sh tests the overrides' errors).
GROUP=trainopts
. "$(dirname "$0")/lib.sh"

X=$SRC/nnsim/examples/xor.json

# --epochs and --set reach the run and the model's record of it.
run_cmd "$NNSIM" train "$X" -o "$T/a.nnm" --metrics "$T/a.jsonl" -q \
    --epochs 3 --set train.optimizer.lr=0.05 --set 'layers[0].units=5' \
    --threads 1
if [ "$rc" -eq 0 ] && [ "$(grep -c '"epoch"' "$T/a.jsonl")" -eq 3 ] &&
    python3 - "$T/a.nnm" <<'PY'
import json, sys
raw = open(sys.argv[1], "rb").read()
# The model file starts with its JSON header (nnsim/nn/model.c).
start = raw.index(b"{")
doc, _ = json.JSONDecoder().raw_decode(raw[start:].decode("latin-1"))
text = json.dumps(doc)
assert '"epochs": 3' in text, text[:400]
assert "0.05" in text, text[:400]
assert '"units": 5' in text, text[:400]
PY
then
	ok set_and_epochs_train
else
	fail set_and_epochs_train "exit $rc: $(head -c 300 "$T/err")"
fi

# Outputs: an existing model is refused before training (the file and the
# metrics stay as they were), --force overwrites; a missing folder is
# refused before the first epoch.
cp "$T/a.nnm" "$T/keep.nnm"
expect_error exists_refused 2 'a\.nnm: exists \(use --force to overwrite\)' \
    "$NNSIM" train "$X" -o "$T/a.nnm" --metrics "$T/c.jsonl" -q
if cmp -s "$T/a.nnm" "$T/keep.nnm" && [ ! -s "$T/c.jsonl" ]; then
	ok exists_untouched
else
	fail exists_untouched "the model or metrics were written"
fi
run_cmd "$NNSIM" train "$X" -o "$T/a.nnm" -q --epochs 2 --force --threads 1
if [ "$rc" -eq 0 ] && ! cmp -s "$T/a.nnm" "$T/keep.nnm"; then
	ok force_overwrites
else
	fail force_overwrites "exit $rc: $(head -c 300 "$T/err")"
fi
expect_error missing_folder_first 2 'no/such/x\.nnm: folder .*no/such does not exist' \
    "$NNSIM" train "$X" -o "$T/no/such/x.nnm" --epochs 10000000 -q
expect_error folder_as_output 2 ': is a folder' \
    "$NNSIM" train "$X" -o "$T" -q

# Submit: the overrides reach every session; an existing model is refused
# before any daemon starts.
run_cmd env NNSIM_NO_LIVE=1 "$NNSIM" submit "$X" --local 1 -o "$T/s.nnm" \
    --metrics "$T/s.jsonl" -q --epochs 2 --set train.batch=32
if [ "$rc" -eq 0 ] && [ "$(grep -c '^{"epoch"' "$T/s.jsonl")" -eq 2 ]; then
	ok submit_epochs
else
	fail submit_epochs "exit $rc: $(head -c 300 "$T/err") $(grep -c epoch "$T/s.jsonl")"
fi
expect_error submit_exists_refused 2 '^nnsim submit: .*s\.nnm: exists \(use --force' \
    "$NNSIM" submit "$X" --local 1 -o "$T/s.nnm" -q
