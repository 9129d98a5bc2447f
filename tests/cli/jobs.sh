# Detached jobs: nnsim submit --detach, nnsim jobs, nnsim attach.
GROUP=jobs
. "$(dirname "$0")/lib.sh"

export NNSIM_JOBS="$T/jobs"
cat >"$T/job.json" <<'JSON'
{
  "name": "xor",
  "layers": [{"units": 8, "activation": "tanh"}, {"activation": "softmax"}],
  "loss": "cross_entropy",
  "data": {"train": {"generate": "xor", "n": 400, "seed": 1}, "split": 0.25},
  "train": {"epochs": 5, "batch": 16,
            "optimizer": {"type": "adam", "lr": 0.01}, "seed": 1},
  "parallel": {"mode": "session", "grid": {"train.seed": [1, 2]}}
}
JSON

# The id comes back at once; the job runs on its own embedded cluster.
run_cmd "$NNSIM" submit "$T/job.json" --local 1 -o "$T/m.nnm" --detach
id=$(cat "$T/out")
if [ "$rc" -eq 0 ] && echo "$id" | grep -Eq '^[0-9a-f]{8}$' &&
    [ ! -s "$T/err" ]; then
	ok detach_prints_id
else
	fail detach_prints_id "exit $rc: $(head -c 200 "$T/out") $(head -c 200 "$T/err")"
fi
run_cmd "$NNSIM" jobs
if [ "$rc" -eq 0 ] && grep -Eq "^$id +(running|done) .*job.json" "$T/out"; then
	ok jobs_lists_it
else
	fail jobs_lists_it "exit $rc: $(cat "$T/out")"
fi
run_cmd "$NNSIM" attach "$id"
if [ "$rc" -eq 0 ] && grep -q '^job xor: 2 sessions' "$T/out" &&
    grep -q '^best: session' "$T/out" && [ -s "$T/m.nnm" ]; then
	ok attach_follows_to_the_end
else
	fail attach_follows_to_the_end "exit $rc: $(tail -c 300 "$T/out") $(head -c 200 "$T/err")"
fi
run_cmd "$NNSIM" jobs --json
if [ "$rc" -eq 0 ] && python3 - "$T/out" "$id" "$T/m.nnm" <<'PY'
import json, sys
jobs = [json.loads(l) for l in open(sys.argv[1])]
j = [o for o in jobs if o["id"] == sys.argv[2]][0]
assert j["status"] == "done" and j["exit"] == 0, j
assert j["model"] == sys.argv[3] and j["finished"] >= j["started"], j
PY
then
	ok jobs_json_done
else
	fail jobs_json_done "$(cat "$T/out")"
fi

# A job that fails: attach shows why and exits 1.
id2=$("$NNSIM" submit "$T/job.json" --connect 127.0.0.1:1 --detach 2>"$T/e2")
run_cmd "$NNSIM" attach "$id2"
if [ "$rc" -eq 1 ] && grep -q 'nnsim submit: 127.0.0.1:1: cannot connect' "$T/out"; then
	ok attach_failed_job
else
	fail attach_failed_job "exit $rc: $(cat "$T/out" "$T/err" "$T/e2" | head -c 300)"
fi

# A job whose process dies without a word is "lost".
python3 -c '
import socket, sys, time
s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(4)
print(s.getsockname()[1], flush=True)
time.sleep(30)' >"$T/port" &
mute=$!
wait_for 5 test -s "$T/port"
id3=$("$NNSIM" submit "$T/job.json" --connect "127.0.0.1:$(cat "$T/port")" --detach 2>/dev/null)
pid=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["pid"])' "$NNSIM_JOBS/$id3/job.json" 2>/dev/null)
[ -n "$pid" ] && kill -9 "$pid"
kill "$mute" 2>/dev/null
run_cmd "$NNSIM" attach "$id3"
if [ "$rc" -eq 1 ] && grep -q "job $id3: its process (pid $pid) is gone" "$T/err" &&
    "$NNSIM" jobs | grep -Eq "^$id3 +lost "; then
	ok attach_lost_job
else
	fail attach_lost_job "exit $rc: $(cat "$T/err")"
fi

expect_error attach_unknown 2 'no job 00000000 \(nnsim jobs lists them\)' \
    "$NNSIM" attach 00000000
expect_error attach_bad_id 2 '"x/y" is not a job id' "$NNSIM" attach x/y
expect_error jobs_extra_argument 2 'unexpected argument "x"' "$NNSIM" jobs x
# Bad input is refused before anything detaches.
printf '{"layers": 3}' >"$T/bad.json"
expect_error detach_bad_input 2 'bad.json' \
    "$NNSIM" submit "$T/bad.json" --detach
