# nnsim submit: session jobs on embedded clusters of real daemons.
GROUP=submit
. "$(dirname "$0")/lib.sh"

# Embedded clusters go in TMPDIR, here $T: other test files may run
# theirs at the same time.
export TMPDIR="$T"

# No daemon, worker or cluster folder of ours may outlive a job. Workers
# are found by the TMPDIR their daemon passed on.
ours() {
	for p in $(pgrep -f "$1"); do
		tr '\0' '\n' 2>/dev/null <"/proc/$p/environ" |
		    grep -qxF "TMPDIR=$T" && echo "$p"
	done
}
leftovers() {
	[ -n "$(ours "$T/nnsim-cluster\.")$(ours "agentd worker")" ] && return 0
	ls -d "$T"/nnsim-cluster.* >/dev/null 2>&1
}

cat >"$T/sweep.json" <<'JSON'
{
  "name": "sweep",
  "layers": [{"units": 8, "activation": "tanh"}, {"activation": "softmax"}],
  "loss": "cross_entropy",
  "data": {"train": {"generate": "xor", "n": 400, "seed": 1}, "split": 0.25},
  "train": {"epochs": 5, "batch": 16,
            "optimizer": {"type": "adam", "lr": 0.01}, "seed": 1},
  "parallel": {"mode": "session", "select": "test_loss",
               "grid": {"train.optimizer.lr": [0.1, 0.01, 0.001],
                        "train.batch": [16, 32]}}
}
JSON

# Six variants over three daemons: every result comes back, every host
# takes a share, and the best by test_loss is the one picked.
run_cmd "$NNSIM" submit "$T/sweep.json" --local 3 -o "$T/best.nnm" \
    --metrics "$T/sweep.jsonl"
if [ "$rc" -ne 0 ]; then
	fail sweep_six_sessions "exit $rc: $(head -c 400 "$T/err")"
elif python3 - "$T/sweep.jsonl" >"$T/best" 2>"$T/why" <<'PY'
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1])]
sess = [o for o in lines if o.get("event") == "session"]
done = lines[-1]
assert done["event"] == "done" and done["sessions"] == 6, done
assert sorted(o["session"] for o in sess) == list(range(6)), sess
assert {o["host"] for o in sess} == {"local1", "local2", "local3"}, sess
for o in sess:
    epochs = [e for e in lines if "epoch" in e and e.get("agent") == o["agent"]]
    assert [e["epoch"] for e in epochs] == [1, 2, 3, 4, 5], (o, epochs)
    assert epochs[-1]["test_loss"] == o["final"]["test_loss"], o
best = min(sess, key=lambda o: (o["final"]["test_loss"], o["session"]))
assert done["best"] == best["session"] and best["best"], (done, best)
assert sum(o["best"] for o in sess) == 1
print(best["label"])
PY
then
	ok sweep_six_sessions
else
	fail sweep_six_sessions "$(tail -c 400 "$T/why")"
fi

# The best session's model is bitwise the model nnsim train makes of the
# same variant: same weights, trained in an agent on another host.
label=$(cat "$T/best" 2>/dev/null)
python3 - "$T/sweep.json" "$T/variant.json" "$label" <<'PY'
import json, sys
cfg = json.load(open(sys.argv[1]))
del cfg["parallel"]
for kv in sys.argv[3].split():
    k, v = kv.split("=")
    node = cfg
    parts = k.split(".")
    for p in parts[:-1]:
        node = node.setdefault(p, {})
    node[parts[-1]] = json.loads(v)
json.dump(cfg, open(sys.argv[2], "w"))
PY
run_cmd "$NNSIM" train "$T/variant.json" -o "$T/ref.nnm" --threads 1 -q
if [ "$rc" -ne 0 ] || ! python3 - "$T/best.nnm" "$T/ref.nnm" <<'PY'
import struct, sys
def params(path):
    b = open(path, "rb").read()
    h, p = struct.unpack_from("<IQ", b, 12)
    return b[24 + h:24 + h + p]
a, b = params(sys.argv[1]), params(sys.argv[2])
assert len(a) > 0 and a == b, (len(a), len(b))
PY
then
	fail best_model_matches_train "label '$label', train exit $rc"
else
	ok best_model_matches_train
fi

if leftovers; then
	fail no_process_left "a daemon or cluster folder outlived the job"
else
	ok no_process_left
fi

# More sessions than cores: they queue, and still all finish.
cores=$(nproc)
python3 - "$T/sweep.json" "$T/queue.json" $((cores + 2)) <<'PY'
import json, sys
cfg = json.load(open(sys.argv[1]))
cfg["parallel"] = {"mode": "session",
                   "grid": {"train.seed": list(range(1, int(sys.argv[3]) + 1))}}
json.dump(cfg, open(sys.argv[2], "w"))
PY
run_cmd "$NNSIM" submit "$T/queue.json" --local 1 -o "$T/q.nnm" \
    --metrics "$T/q.jsonl" -q
if [ "$rc" -eq 0 ] && [ "$(grep -c '"event":"session"' "$T/q.jsonl")" -eq $((cores + 2)) ]; then
	ok queue_beyond_cores
else
	fail queue_beyond_cores "exit $rc: $(head -c 300 "$T/err")"
fi

# A worker killed mid-training (a crash) does not fail the sweep: the
# session starts again from the start (parallel.retries, 2 by default) and
# the job completes; with "retries": 0 it is reported failed, and the
# sweep still ends with the best of the rest.
cat >"$T/long.json" <<'JSON'
{
  "name": "long",
  "layers": [{"units": 64, "activation": "tanh"}, {"activation": "softmax"}],
  "loss": "cross_entropy",
  "data": {"train": {"generate": "spiral", "n": 8000, "seed": 1}, "split": 0.2},
  "train": {"epochs": 150, "batch": 16, "seed": 1},
  "parallel": {"mode": "session", "grid": {"train.seed": [1, 2]}RETRIES}
}
JSON
# crash_run NAME RETRIES: runs the sweep, kills one of its workers once it
# trains, and leaves the exit status in rc (124 if still running at 60 s).
crash_run() {
	sed "s/RETRIES/$2/" "$T/long.json" >"$T/$1.json"
	NNSIM_NO_LIVE=1 "$NNSIM" submit "$T/$1.json" --local 2 -o "$T/$1.nnm" \
	    --metrics "$T/$1.jsonl" >"$T/$1.out" 2>"$T/$1.err" &
	pid=$!
	# This job's workers only (children of its daemons, children of
	# nnsim): other tests' agents may run on this machine.
	job_worker() {
		d=$(pgrep -d, -P "$pid") && pgrep -n -P "$d" -f "agentd worker"
	}
	if wait_for 20 job_worker; then
		sleep 0.5
		w=$(job_worker) && kill -9 "$w"
	fi
	reap "$pid" 600
}
crash_run retried ""
if [ "$rc" -eq 0 ] && grep -q 'resuming from its commit after epoch [0-9]*, held on local[12] (retry 1 of 2)' "$T/retried.out" &&
    grep -q '"event":"resumed".*"reason":"failed on local[12]: .*\(signal\|killed\)' "$T/retried.jsonl" &&
    [ "$(grep -c '"event":"session".*"final"' "$T/retried.jsonl")" -eq 2 ] && [ -s "$T/retried.nnm" ]; then
	ok crash_retried
else
	fail crash_retried "exit $rc: $(head -c 300 "$T/retried.err") $(grep -v epoch "$T/retried.out" | head -c 300)"
fi
crash_run failed ', "retries": 0'
if [ "$rc" -eq 0 ] && grep -Eq '^failed: session [01] \(.*\): failed on local[12]: .*(signal|killed)' "$T/failed.out" &&
    grep -q '"event":"done".*"failed":1' "$T/failed.jsonl" && [ -s "$T/failed.nnm" ]; then
	ok crash_reported_sweep_goes_on
else
	fail crash_reported_sweep_goes_on "exit $rc: $(head -c 300 "$T/failed.err") $(grep -v epoch "$T/failed.out" | head -c 300)"
fi
# A session that diverges (its loss turns NaN) is reported failed with the
# epoch and step at once: a retry would diverge again. The sweep ends with
# the other session's model, exit 0.
cat >"$T/div.json" <<'JSON'
{
  "name": "div",
  "layers": [{"units": 32, "activation": "relu"}, {"activation": "linear"}],
  "loss": "mse",
  "data": {"train": {"generate": "spiral", "n": 2000, "seed": 1}, "split": 0.2},
  "train": {"epochs": 20, "batch": 16, "seed": 1,
            "optimizer": {"type": "sgd", "lr": 0.01}},
  "parallel": {"mode": "session", "grid": {"train.optimizer.lr": [0.01, 50]}}
}
JSON
NNSIM_NO_LIVE=1 timeout 120 "$NNSIM" submit "$T/div.json" --local 2 -o "$T/div.nnm" \
    --metrics "$T/div.jsonl" >"$T/div.out" 2>"$T/div.err"
rc=$?
if [ "$rc" -eq 0 ] && [ -s "$T/div.nnm" ] &&
    grep -Eq '^failed: session 1 \(.*\): training diverged in epoch [0-9]+, step [0-9]+: .*lower the learning rate' "$T/div.out" &&
    grep -q '"event":"session-failed","session":1,.*diverged.*"retry":0' "$T/div.jsonl" &&
    [ "$(grep -c '"event":"\(resumed\|retried\)","session":1' "$T/div.jsonl")" -eq 0 ] &&
    grep -q '"event":"done".*"failed":1' "$T/div.jsonl" &&
    grep -q '"event":"session","session":0,.*"final"' "$T/div.jsonl"; then
	ok diverged_session_reported_sweep_goes_on
else
	fail diverged_session_reported_sweep_goes_on "exit $rc: $(head -c 300 "$T/div.err") $(grep -v epoch "$T/div.out" | head -c 400)"
fi
if wait_for 10 sh -c "! ls -d '$T'/nnsim-cluster.* && ! pgrep -f '$T/nnsim-cluster\\.'" &&
    [ -z "$(ours "agentd worker")" ]; then
	ok crash_leaves_nothing
else
	fail crash_leaves_nothing "processes left: $(pgrep -af 'agentd' | head -3)"
fi

# Bad input: one line, status 2, naming the field.
printf '{"layers":[{"units":2}],"data":{"train":{"generate":"xor","n":10}},"train":{"batch":4},"parallel":{"mode":"data","partitions":8}}' >"$T/data.json"
expect_error data_more_partitions_than_batch 2 'parallel.partitions: 8 is more than train.batch \(4\)' \
    "$NNSIM" submit "$T/data.json" --local 1
printf '{"layers":[{"units":2}],"data":{"train":{"generate":"xor","n":10}},"parallel":{"mode":"data","partitions":2,"grid":{"train.seed":[1]}}}' >"$T/data2.json"
expect_error data_mode_no_grid 2 'parallel.grid: not used in data mode' \
    "$NNSIM" submit "$T/data2.json" --local 1
printf '{"layers":[{"units":2}],"data":{"train":{"generate":"xor","n":10}},"parallel":{"grid":{"train.seed":[]}}}' >"$T/g.json"
expect_error empty_grid 2 'parallel.grid.train.seed: expected a non-empty array' \
    "$NNSIM" submit "$T/g.json" --local 1
printf '{"layers":[{"units":2}],"data":{"train":{"generate":"xor","n":10}},"parallel":{"sessions":[{"data.train.n":5}]}}' >"$T/s.json"
expect_error shared_data_override 2 'parallel.sessions\[0\]: "data.train.n": sessions share the data' \
    "$NNSIM" submit "$T/s.json" --local 1
printf '{"layers":[{"units":2}],"data":{"train":{"generate":"xor","n":10}},"train":{"optimizer":{"type":"sgd"}},"parallel":{"sessions":[{"train.optimizer.lr":"fast"}]}}' >"$T/v.json"
expect_error bad_override_value 2 'train.optimizer.lr.*parallel.sessions\[0\]' \
    "$NNSIM" submit "$T/v.json" --local 1
expect_error local_range 2 'local' "$NNSIM" submit "$T/sweep.json" --local 0
expect_error key_without_connect 2 'key goes with --connect' \
    "$NNSIM" submit "$T/sweep.json" --key /nonexistent
expect_error connect_refused 1 '127.0.0.1:1' \
    "$NNSIM" submit "$T/sweep.json" --connect 127.0.0.1:1
printf '{"hosts": [{"name": "a", "address": "127.0.0.1:1"}, {"name": "b", "address": "127.0.0.1:2"}]}' >"$T/dead.json"
expect_error hosts_none_answers 1 'no host of the inventory answers \(last, 127.0.0.1:2: ' \
    "$NNSIM" submit "$T/sweep.json" --hosts "$T/dead.json"
expect_error hosts_and_connect 2 'give one of --local, --connect and --hosts' \
    "$NNSIM" submit "$T/sweep.json" --hosts "$T/dead.json" --connect 127.0.0.1:1
run_cmd "$NNSIM" submit --help
if [ "$rc" -eq 0 ] && grep -q -- "--local N" "$T/out"; then
	ok help
else
	fail help "exit $rc"
fi

# On a terminal: a live table, a row per agent, redrawn in place; the
# epoch lines are left to --metrics and logs.
python3 - "$NNSIM" "$T/sweep.json" "$T/tty.nnm" >"$T/tty" 2>&1 <<'PY'
import os, pty, select, subprocess, sys, time
m, s = pty.openpty()
p = subprocess.Popen([sys.argv[1], "submit", sys.argv[2], "--local", "2",
                      "-o", sys.argv[3]], stdout=s, stderr=s)
os.close(s)
out, end = b"", time.time() + 60
while time.time() < end:
    r, _, _ = select.select([m], [], [], 0.2)
    if r:
        try:
            d = os.read(m, 65536)
        except OSError:
            break
        if not d:
            break
        out += d
    elif p.poll() is not None:
        break
print(p.wait())
sys.stdout.write(out.decode(errors="replace"))
PY
if head -n 1 "$T/tty" | grep -q '^0' &&
    grep -q 'SESSION .*AGENT .*HOST .*STATE .*EPOCH .*STEP .*LOSS .*SAMPLES/S' "$T/tty" &&
    grep -q "$(printf '\033')\[[0-9]*A" "$T/tty" &&
    grep -Eq '^5 +local[0-9.]+ +local[12] +done +5 ' "$T/tty" &&
    ! grep -q 'epoch 1 loss' "$T/tty" && grep -q '^best: ' "$T/tty"; then
	ok live_table_on_tty
else
	fail live_table_on_tty "$(tail -c 600 "$T/tty")"
fi
