# The live displays in a pty (tests/cli/display.py) and the --metrics done
# line. train's bar at 70 columns, then 50: never wrapped, no trail. A
# sweep on two daemons at 120 columns, a session moved mid-run, then 70
# and 50 columns: rows fit and appear once, done rows show the last step,
# the step never drops back across the move, the first rates match the
# epochs'. A detached data job followed by nnsim attach shows the same
# table. train, the sweep and the data job end with the same final keys.
GROUP=display
. "$(dirname "$0")/lib.sh"

two_hosts $((43000 + ($$ % 1000) * 20))
start_host 1
start_host 2
up2() {
	[ "$("$NNSIM_BIN/agentctl" --connect "127.0.0.1:$((base + 1))" \
	    --key "$T/key" --json hosts | python3 -c 'import json,sys
print(sum(h["state"] in ("up","self") for h in json.load(sys.stdin)["hosts"]))')" = 2 ]
}
# 4800 training rows in batches of 8: 600 steps an epoch.
net() {
	cat <<JSON
{"name": "$1", "layers": [{"units": 64, "activation": "relu"},
                         {"units": 64, "activation": "relu"},
                         {"activation": "softmax"}],
 "loss": "cross_entropy",
 "data": {"train": {"generate": "spiral", "n": 6000, "classes": 3,
                    "seed": 1}, "split": 0.2},
 "train": {"epochs": $2, "batch": 8,
           "optimizer": {"type": "adam", "lr": 0.005}, "seed": 1}$3}
JSON
}
net t 25 >"$T/t.json"
net s 50 ', "parallel": {"mode": "session",
               "grid": {"train.optimizer.lr": [0.005, 0.003, 0.001]},
               "select": "test_accuracy", "replicas": 0}' \
    >"$T/s.json"
net d 6 ', "parallel": {"mode": "data", "partitions": 2}' >"$T/d.json"
PY=$SRC/tests/cli/display.py

python3 "$PY" train 70 50 "$NNSIM" train "$T/t.json" -o "$T/t.nnm" \
    --metrics "$T/t.jsonl"

if ! wait_for 10 up2; then
	fail cluster "2 daemons did not form a cluster"
	exit 0
fi
C="$NNSIM_BIN/agentctl --connect 127.0.0.1:$((base + 1)) --key $T/key"
DISPLAY_EPOCHS=50 DISPLAY_STEPS=$((600 * 50)) python3 "$PY" submit 70 "$C" "$T/s.jsonl" \
    "$NNSIM" submit "$T/s.json" --connect "127.0.0.1:$((base + 1))" \
    --key "$T/key" -o "$T/s.nnm" --metrics "$T/s.jsonl"

export NNSIM_JOBS="$T/jobs"
run_cmd "$NNSIM" submit "$T/d.json" --connect "127.0.0.1:$((base + 1))" \
    --key "$T/key" -o "$T/d.nnm" --metrics "$T/d.jsonl" --detach
id=$(cat "$T/out")
if [ "$rc" -ne 0 ]; then
	fail attach "submit --detach: exit $rc: $(head -c 300 "$T/err")"
else
	DISPLAY_EPOCHS=6 python3 "$PY" attach 70 $((600 * 6)) "$NNSIM" attach "$id"
fi

# One schema: train's final keys, top-level in every done line.
if python3 - "$T/t.jsonl" "$T/s.jsonl" "$T/d.jsonl" <<'PY'
import json, sys
done = []
for path in sys.argv[1:]:
    lines = [json.loads(l) for l in open(path) if l.strip()]
    assert lines[-1]["event"] == "done", (path, lines[-1])
    done.append((lines, lines[-1]))
keys = set(done[0][1])
assert keys == {"event", "epochs", "loss", "accuracy", "test_loss",
                "params_sha256",
                "test_accuracy", "samples_per_sec", "elapsed_s",
                "model"}, keys
for lines, d in done[1:]:
    assert keys <= set(d) and "final" not in d, d
    assert d["samples_per_sec"] > 0 and d["elapsed_s"] > 0, d
# The sweep's are the best session's last epoch; the data job's are
# partition 0's.
lines, d = done[1]
best = [o for o in lines if o.get("event") == "session" and o["best"]][0]
last = [o for o in lines if o.get("epoch") == d["epochs"] and
        o.get("session") == best["session"]][0]
for k in ("loss", "accuracy", "test_loss", "test_accuracy"):
    assert d[k] == best["final"][k] == last[k], (k, d, best)
assert d["epochs"] == 50 and done[2][1]["epochs"] == 6, d
lines, d = done[2]
last = [o for o in lines if o.get("epoch") == 6][0]
assert d["test_accuracy"] == last["test_accuracy"], (d, last)
PY
then
	ok done_line_one_schema
else
	fail done_line_one_schema "see above"
fi
