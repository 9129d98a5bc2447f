# A host dies under a running job (kill -9 of its daemon, on 3 real
# daemons): a session sweep starts the lost sessions again elsewhere and
# completes; a data job, which cannot rebuild a partition yet, fails at
# once with one line that names the host and the partition, instead of
# waiting for ever.
GROUP=elastic
. "$(dirname "$0")/lib.sh"

CTL=$NNSIM_BIN/agentctl
cluster3 $((38000 + ($$ % 1500) * 3)) || exit 0
addr1="127.0.0.1:$((base + 1))"
# on3: the job has an agent on h3 (the daemon the job does not talk to).
on3() {
	"$CTL" --connect "127.0.0.3:$((base + 3))" --key "$T/key" --json agents |
	    grep -q '"type": "\(session\|partition\)"'
}

# Six sessions of a few seconds each, two per host.
cat >"$T/sweep.json" <<'JSON'
{
  "name": "sweep",
  "layers": [{"units": 64, "activation": "tanh"}, {"activation": "softmax"}],
  "loss": "cross_entropy",
  "data": {"train": {"generate": "spiral", "n": 6000, "seed": 1}, "split": 0.2},
  "train": {"epochs": 300, "batch": 16, "seed": 1},
  "parallel": {"mode": "session", "grid": {"train.seed": [1, 2, 3, 4, 5, 6]}}
}
JSON
NNSIM_NO_LIVE=1 "$NNSIM" submit "$T/sweep.json" --connect "$addr1" --key "$T/key" \
    -o "$T/s.nnm" --metrics "$T/s.jsonl" >"$T/s.out" 2>"$T/s.err" &
sub=$!
pids="$pids $sub"
if wait_for 30 on3; then
	sleep 1
	kill -9 "$pid_3"
fi
reap "$sub" 1200
if [ "$rc" -eq 0 ] && grep -q 'its host h3 went down; starting it again' "$T/s.out" &&
    [ "$(grep -c '"event":"session".*"final"' "$T/s.jsonl")" -eq 6 ] &&
    grep -q '"event":"retried".*"host":"h3"' "$T/s.jsonl"; then
	ok sweep_survives_host_death
else
	fail sweep_survives_host_death "exit $rc: $(head -c 300 "$T/s.err") $(grep -v epoch "$T/s.out" | tail -5)"
fi

# A data job loses a partition with h3: it fails within about a second of
# the host being marked down (3 s after the kill), naming host and
# partition.
start_host 3
wait_for 10 up3
cat >"$T/data.json" <<'JSON'
{
  "name": "data",
  "layers": [{"units": 64, "activation": "tanh"}, {"activation": "softmax"}],
  "loss": "cross_entropy",
  "data": {"train": {"generate": "spiral", "n": 30000, "seed": 1}, "split": 0.2},
  "train": {"epochs": 200, "batch": 48, "seed": 1},
  "parallel": {"mode": "data", "partitions": 3}
}
JSON
NNSIM_NO_LIVE=1 "$NNSIM" submit "$T/data.json" --connect "$addr1" --key "$T/key" \
    -o "$T/d.nnm" >"$T/d.out" 2>"$T/d.err" &
sub=$!
pids="$pids $sub"
if wait_for 30 on3; then
	sleep 1
	t0=$(date +%s%N)
	kill -9 "$pid_3"
fi
reap "$sub" 100
t1=$(date +%s%N)
ms=$(( (t1 - t0) / 1000000 ))
if [ "$rc" -eq 1 ] && [ "$(wc -l <"$T/d.err")" -eq 1 ] &&
    grep -q 'host h3 went down with partition [0-2] (agent h1\.[0-9]*)' "$T/d.err" &&
    [ "$ms" -lt 5000 ]; then
	ok "data_job_fails_fast ($ms ms after the kill)"
else
	fail data_job_fails_fast "exit $rc after $ms ms: $(head -c 300 "$T/d.err")"
fi
