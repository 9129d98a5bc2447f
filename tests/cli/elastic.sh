# Hosts that die, come back and join under running jobs (kill -9 of real
# daemons, on three of them): a session sweep resumes the lost sessions
# from their commits on other hosts (or from the start when those died
# too), also when the daemon the submitter talks to dies, and ends with
# every model bitwise equal to a quiet run; no commit outlives its job. A
# deterministic data job rebuilds partitions lost with their host through
# five kill-and-restart events, and uses a host that joins mid-job, with
# its model bitwise equal to a quiet run. Every epoch is reported once.
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

# Six sessions of a few seconds each, two per host, committing every
# epoch to the next host (parallel.replicas 1, the default). Their state
# (1.3 MB, mostly data: --no-cache ships it in the state) arrives in a
# buffer the session keeps, so its commits are read from the worker's
# memory and its data sent from the daemon's mapping (docs/protocol.md).
# The later runs read the data from the cache, and match it bit for bit.
cat >"$T/sweep.json" <<'JSON'
{
  "name": "sweep",
  "layers": [{"units": 64, "activation": "tanh"}, {"activation": "softmax"}],
  "loss": "cross_entropy",
  "data": {"train": {"generate": "blobs", "n": 8000, "inputs": 40, "classes": 3,
                     "seed": 1, "noise": 30}, "split": 0.2},
  "train": {"epochs": 150, "batch": 16, "seed": 1},
  "parallel": {"mode": "session", "grid": {"train.seed": [1, 2, 3, 4, 5, 6]}}
}
JSON
# shas FILE: "session sha" per finished session, sorted.
shas() {
	sed -n 's/.*"event":"session","session":\([0-9]*\).*"params_sha256":"\([0-9a-f]*\)".*/\1 \2/p' "$1" | sort
}
# once FILE: every session's epochs 1..150 each appear exactly once.
once() {
	[ "$(grep -c '^{"epoch":' "$1")" -eq 900 ] &&
	    [ "$(sed -n 's/^{"epoch":\([0-9]*\),.*"session":\([0-9]*\).*/\2 \1/p' "$1" |
	    sort -u | wc -l)" -eq 900 ]
}
# holds N H: host hN holds at least H commits (of the sessions on the host
# before it in the hosts file, whose commits it keeps).
holds() {
	[ "$("$CTL" --connect "127.0.0.$1:$((base + $1))" --key "$T/key" --json commits |
	    python3 -c 'import json,sys; print(len(json.load(sys.stdin)["commits"]))')" -ge "$2" ]
}
# deltas N: every commit hN holds has had a delta since its full one (the
# state without its data, merged with the full one when it is used).
deltas() {
	"$CTL" --connect "127.0.0.$1:$((base + $1))" --key "$T/key" --json commits |
	    python3 -c 'import json,sys; c=json.load(sys.stdin)["commits"]; sys.exit(not c or any(x.get("deltas", 0) < 1 for x in c))'
}
# The same sweep without a failure: what every run must give, bit for bit.
NNSIM_NO_LIVE=1 "$NNSIM" submit "$T/sweep.json" --connect "$addr1" --key "$T/key" \
    -o "$T/q.nnm" --metrics "$T/q.jsonl" --no-cache >"$T/q.out" 2>"$T/q.err"
shas "$T/q.jsonl" >"$T/q.sha"
if [ "$(wc -l <"$T/q.sha")" -eq 6 ] && once "$T/q.jsonl"; then
	ok quiet_sweep
else
	fail quiet_sweep "$(head -c 300 "$T/q.err") $(wc -l <"$T/q.sha") sessions"
fi

# Every commit was dropped when its session ended: no host holds any.
held=
for v in 1 2 3; do
	held="$held$("$CTL" --connect "127.0.0.$v:$((base + v))" --key "$T/key" --json commits |
	    python3 -c 'import json,sys; r=json.load(sys.stdin); print(r["bytes"] + len(r["commits"]))') "
done
if [ "$held" = "0 0 0 " ] && [ "$(grep -c '"commits":[1-9]' "$T/q.jsonl")" -eq 6 ]; then
	ok commits_dropped_after_job
else
	fail commits_dropped_after_job "bytes held: $held; $("$CTL" --connect "127.0.0.2:$((base + 2))" --key "$T/key" commits | head -3)"
fi

# Each commit is a "committed" line: as many per session as its session
# line counts, held on hosts other than its own, in the order of epochs,
# the first one full and over 1 MiB (so read from the worker's memory,
# with none sent through the socket instead).
if python3 - "$T/q.jsonl" <<'PY' &&
import json, sys
lines = [json.loads(x) for x in open(sys.argv[1])]
sess = {o["session"]: o for o in lines if o.get("event") == "session"}
ok = len(sess) == 6
for i, s in sess.items():
    c = [o for o in lines if o.get("event") == "committed" and o["session"] == i]
    e = [o["epochs_done"] for o in c]
    ok = ok and len(c) == s["commits"] > 0 and e == sorted(e) and \
        all(o["holders"] and o["host"] not in o["holders"] and
            o["bytes"] > 0 for o in c) and not c[0]["delta"] and \
        c[0]["bytes"] >= 1 << 20
sys.exit(not ok)
PY
    ! grep -q "its commit comes through the socket" "$T/log1" "$T/log2" "$T/log3"
then
	ok committed_lines_in_metrics
else
	fail committed_lines_in_metrics "$(grep -m3 '"event":"committed"' "$T/q.jsonl")"
fi

NNSIM_NO_LIVE=1 "$NNSIM" submit "$T/sweep.json" --connect "$addr1" --key "$T/key" \
    -o "$T/s.nnm" --metrics "$T/s.jsonl" >"$T/s.out" 2>"$T/s.err" &
sub=$!
pids="$pids $sub"
# Once h1 holds the commits of both sessions on h3, each with a delta
# when they have one by then (under ASan commits are slower, and spaced by
# their cost, so the sessions could end first).
from=full
if wait_for 30 on3 && wait_for 30 holds 1 2; then
	deltas 1 && from=deltas
	kill -9 "$pid_3"
fi
reap "$sub" 1200
shas "$T/s.jsonl" >"$T/s.sha"
if [ "$rc" -eq 0 ] && grep -q 'its host h3 went down; resuming from its commit after epoch [1-9]' "$T/s.out" &&
    cmp -s "$T/q.sha" "$T/s.sha" && once "$T/s.jsonl" &&
    grep -q '"event":"resumed".*"from":"h1\.[0-9]*","host":"h1".*"reason":"its host h3 went down"' "$T/s.jsonl" &&
    ! grep -q '"event":"retried"' "$T/s.jsonl"; then
	ok "sweep_resumes_from_commits ($(grep -c '"event":"resumed"' "$T/s.jsonl") resumed from $from commits, models bitwise equal)"
else
	fail sweep_resumes_from_commits "exit $rc: $(head -c 300 "$T/s.err") $(grep -v epoch "$T/s.out" | tail -5) $(diff "$T/q.sha" "$T/s.sha" | head -4) $(grep -v '^{"epoch"' "$T/s.jsonl" | cut -c1-160 | head -8)"
fi

# h2 and h3 die together. With one replica, h2's sessions had their
# commits on h3: they start again from the start, and say why; h3's had
# theirs on h1 and resume. Every model is still bitwise the quiet run's.
start_host 3
wait_for 10 up3
NNSIM_NO_LIVE=1 "$NNSIM" submit "$T/sweep.json" --connect "$addr1" --key "$T/key" \
    -o "$T/t.nnm" --metrics "$T/t.jsonl" >"$T/t.out" 2>"$T/t.err" &
sub=$!
pids="$pids $sub"
# Once h1 holds h3's sessions' commits and h3 holds h2's.
if wait_for 30 on3 && wait_for 30 holds 1 2 && wait_for 30 holds 3 2; then
	kill -9 "$pid_2" "$pid_3"
fi
reap "$sub" 1200
shas "$T/t.jsonl" >"$T/t.sha"
if [ "$rc" -eq 0 ] && cmp -s "$T/q.sha" "$T/t.sha" && once "$T/t.jsonl" &&
    grep -q '"event":"retried".*"host":"h2".*"from":"start".*"commit":"no host that held its commit is up' "$T/t.jsonl" &&
    grep -q '"event":"resumed".*"host":"h1".*"reason":"its host h3 went down"' "$T/t.jsonl" &&
    grep -q 'starting it again from the start: no host that held its commit is up' "$T/t.out"; then
	ok commit_host_dies_too
else
	fail commit_host_dies_too "exit $rc: $(head -c 300 "$T/t.err") $(grep -v epoch "$T/t.out" | tail -5) $(diff "$T/q.sha" "$T/t.sha" | head -4) $(grep -v '^{"epoch"' "$T/t.jsonl" | cut -c1-160 | head -8)"
fi
start_host 2
start_host 3
wait_for 10 up3

# The daemon the submitter talks to (with --hosts, h1, the first that
# answers) dies of kill -9: it carries on
# with another host of the cluster, h1's sessions resume from their
# commits, and those elsewhere (their home was h1) are followed where they
# run. Every model is still bitwise the quiet run's.
NNSIM_NO_LIVE=1 "$NNSIM" submit "$T/sweep.json" --hosts "$T/hosts.json" --key "$T/key" \
    -o "$T/u.nnm" --metrics "$T/u.jsonl" >"$T/u.out" 2>"$T/u.err" &
sub=$!
pids="$pids $sub"
# Once h2 holds the commits of h1's sessions.
if wait_for 30 on3 && wait_for 30 holds 2 2; then
	kill -9 "$pid_1"
fi
reap "$sub" 1200
shas "$T/u.jsonl" >"$T/u.sha"
if [ "$rc" -eq 0 ] && cmp -s "$T/q.sha" "$T/u.sha" && once "$T/u.jsonl" &&
    grep -q '^lost the daemon on h1 (.*); carrying on with h[23]$' "$T/u.out" &&
    grep -q '"event":"reconnected","lost":"h1","host":"h[23]"' "$T/u.jsonl" &&
    grep -q '"event":"resumed".*"reason":"its host h1 went down"' "$T/u.jsonl"; then
	ok submitter_daemon_dies
else
	fail submitter_daemon_dies "exit $rc: $(head -c 300 "$T/u.err") $(grep -v epoch "$T/u.out" | tail -5) $(diff "$T/q.sha" "$T/u.sha" | head -4) $(grep -v '^{"epoch"' "$T/u.jsonl" | cut -c1-160 | head -8)"
fi

# The same on the embedded cluster: its first daemon, the one the
# submitter talks to, is killed.
NNSIM_NO_LIVE=1 "$NNSIM" submit "$T/sweep.json" --local 3 -o "$T/e.nnm" \
    --metrics "$T/e.jsonl" >"$T/e.out" 2>"$T/e.err" &
sub=$!
pids="$pids $sub"
first() { pgrep -P "$sub" -f -- '--name local1' >/dev/null && grep -q '^{"epoch":' "$T/e.jsonl" 2>/dev/null; }
if wait_for 30 first; then
	sleep 1
	kill -9 "$(pgrep -P "$sub" -f -- '--name local1')"
fi
reap "$sub" 1200
shas "$T/e.jsonl" >"$T/e.sha"
if [ "$rc" -eq 0 ] && cmp -s "$T/q.sha" "$T/e.sha" && once "$T/e.jsonl" &&
    grep -q '^lost the daemon on local1 (.*); carrying on with local[23]$' "$T/e.out"; then
	ok embedded_daemon_dies
else
	fail embedded_daemon_dies "exit $rc: $(head -c 300 "$T/e.err") $(grep -v epoch "$T/e.out" | tail -5) $(diff "$T/q.sha" "$T/e.sha" | head -4) $(grep -v '^{"epoch"' "$T/e.jsonl" | cut -c1-160 | head -8)"
fi
start_host 1
wait_for 10 up3

# Chaos on a deterministic data job: five times, a host other than the
# submitter's, one that holds a partition when one does, gets kill -9 and
# is started again. Each lost partition is rebuilt on a live host from a
# live partition's state and its own shard (on the host that holds that
# partition's commit, from the commit there: at least once), the ring
# closes again, the
# balancer moves partitions back onto the host that returned, and the
# model is bitwise that of a quiet run, with every epoch reported once.
cat >"$T/data.json" <<'JSON'
{
  "name": "data",
  "layers": [{"units": 64, "activation": "tanh"}, {"activation": "softmax"}],
  "loss": "cross_entropy",
  "data": {"train": {"generate": "spiral", "n": 30000, "seed": 1}, "split": 0.2},
  "train": {"epochs": 120, "batch": 48, "seed": 1},
  "parallel": {"mode": "data", "partitions": 3, "deterministic": true}
}
JSON
dsha() { sed -n 's/.*"event":"done".*"params_sha256":"\([0-9a-f]*\)".*/\1/p' "$1"; }
depochs() {
	[ "$(grep -c '^{"epoch":' "$1")" -eq 120 ] &&
	    [ "$(sed -n 's/^{"epoch":\([0-9]*\),.*/\1/p' "$1" | sort -un | wc -l)" -eq 120 ]
}
NNSIM_NO_LIVE=1 "$NNSIM" submit "$T/data.json" --connect "$addr1" --key "$T/key" \
    -o "$T/dq.nnm" --metrics "$T/dq.jsonl" >"$T/dq.out" 2>"$T/dq.err"
if [ -n "$(dsha "$T/dq.jsonl")" ] && depochs "$T/dq.jsonl"; then
	ok quiet_data_job
else
	fail quiet_data_job "$(head -c 300 "$T/dq.err")"
fi
NNSIM_NO_LIVE=1 "$NNSIM" submit "$T/data.json" --connect "$addr1" --key "$T/key" \
    -o "$T/d.nnm" --metrics "$T/d.jsonl" >"$T/d.out" 2>"$T/d.err" &
sub=$!
pids="$pids $sub"
# victim: h2 or h3, one with a partition first (ELASTIC_SEED picks).
seed=${ELASTIC_SEED:-$$}
victim() {
	seed=$(( (seed * 1103515245 + 12345) % 2147483648 ))
	victim=$(( 2 + (seed / 65536) % 2 ))
	for v in $victim $(( 5 - victim )); do
		if "$CTL" --connect "127.0.0.$v:$((base + v))" --key "$T/key" --json agents 2>/dev/null |
		    grep -q '"type": "partition"'; then
			victim=$v
			return 0
		fi
	done
}
events=0
wait_for 10 test -s "$T/d.jsonl"
while [ $events -lt 5 ] && kill -0 "$sub" 2>/dev/null; do
	victim
	eval "kill -9 \$pid_$victim"
	sleep 0.5
	start_host "$victim"
	wait_for 10 up3
	events=$((events + 1))
	sleep 1
done
reap "$sub" 1200
if [ "$rc" -eq 0 ] && [ $events -eq 5 ] &&
    [ "$(dsha "$T/d.jsonl")" = "$(dsha "$T/dq.jsonl")" ] && depochs "$T/d.jsonl" &&
    grep -q '"event":"rebuilt","partition":[0-2],"agent":"h1\.[0-9]*","from":"h1\.[0-9]*","host":"h[123]","reason":"its host h[23] went down"' "$T/d.jsonl" &&
    grep -q 'its host h[23] went down; rebuilding it from a live partition' "$T/d.out" &&
    grep -q '"event":"rebuilt".*"via":"holder"' "$T/d.jsonl"; then
	ok "data_job_chaos (seed $seed: $events kills, $(grep -c '"event":"rebuilt"' "$T/d.jsonl") partitions rebuilt ($(grep -c '"event":"rebuilt".*"via":"holder"' "$T/d.jsonl") on the commit's holder) in $(sed -n 's/.*"rebuild_s":\([0-9.]*\).*/\1/p' "$T/d.jsonl" | sort -n | tail -1 | cut -c1-5) s at most, $(grep -c '"event":"moved"' "$T/d.jsonl") moves, model bitwise equal)"
else
	fail data_job_chaos "seed $seed, $events kills, exit $rc: $(head -c 300 "$T/d.err") $(grep -v '^{"epoch"' "$T/d.jsonl" | cut -c1-200 | head -12) $(grep -v 'epoch [0-9]* loss' "$T/d.out" | tail -6)"
fi

# The job read its shards from the data cache: after the kills (each host
# came back with an empty cache) every block of its set is on 2 up hosts
# again.
dset=$(sed -n 's/^data: set \([^ ,]*\),.*/\1/p' "$T/d.out" | head -1)
two_copies() {
	"$CTL" --connect "$addr1" --key "$T/key" --json request data-set \
	    "{\"name\": \"$dset\"}" | python3 -c 'import json,sys
h=json.load(sys.stdin)["holders"]
sys.exit(0 if h and all(len(v) >= 2 for v in h.values()) else 1)'
}
if [ -n "$dset" ] && wait_for 20 two_copies; then
	ok "cache_copies_restored ($dset: every block on 2 up hosts after $events kills)"
else
	fail cache_copies_restored "set '$dset': $("$CTL" --connect "$addr1" --key "$T/key" --json request data-set "{\"name\": \"$dset\"}" | head -c 400)"
fi

# A host that joins mid-job is put to work: the same deterministic data job
# starts on h1 and h2 alone (h3 left the hosts file), then h3 is added to
# the file, started, and the others reload it (SIGHUP). A partition moves
# onto h3, and the model is still bitwise the quiet run's.
kill -9 "$pid_3" 2>/dev/null
cp "$T/hosts.json" "$T/hosts3.json"
head -2 "$T/hosts3.json" | sed '2s/},$/}]}/' >"$T/hosts.json"
kill -HUP "$pid_1" "$pid_2"
two_up() {
	[ "$("$CTL" --connect "$addr1" --key "$T/key" --json hosts | python3 -c 'import json,sys
h=json.load(sys.stdin)["hosts"]; print(len(h), sum(x["state"] in ("up","self") for x in h))')" = "2 2" ]
}
wait_for 10 two_up
NNSIM_NO_LIVE=1 "$NNSIM" submit "$T/data.json" --connect "$addr1" --key "$T/key" \
    -o "$T/j.nnm" --metrics "$T/j.jsonl" >"$T/j.out" 2>"$T/j.err" &
sub=$!
pids="$pids $sub"
if wait_for 20 test -s "$T/j.jsonl"; then
	cp "$T/hosts3.json" "$T/hosts.json"
	start_host 3
	kill -HUP "$pid_1" "$pid_2"
fi
reap "$sub" 1200
if [ "$rc" -eq 0 ] && [ "$(dsha "$T/j.jsonl")" = "$(dsha "$T/dq.jsonl")" ] &&
    depochs "$T/j.jsonl" && grep -q '"event":"host-up","host":"h3"' "$T/j.jsonl" &&
    grep -q '"event":"moved","agent":"h1\.[0-9]*","from":"h[12]","host":"h3"' "$T/j.jsonl"; then
	ok "host_joins_mid_job ($(grep -c '"event":"moved"' "$T/j.jsonl") moves, model bitwise equal)"
else
	fail host_joins_mid_job "exit $rc: $(head -c 300 "$T/j.err") $(grep -v '^{"epoch"' "$T/j.jsonl" | cut -c1-200 | head -8)"
fi

# The data job's own daemon dies (kill -9 of h1, which --hosts picked):
# the submitter carries on with another host, the partitions h1 held are
# rebuilt, those elsewhere (their home was h1) are followed, and the model
# is still bitwise the quiet run's.
wait_for 10 up3
NNSIM_NO_LIVE=1 "$NNSIM" submit "$T/data.json" --hosts "$T/hosts.json" --key "$T/key" \
    -o "$T/k.nnm" --metrics "$T/k.jsonl" >"$T/k.out" 2>"$T/k.err" &
sub=$!
pids="$pids $sub"
on1() {
	"$CTL" --connect "$addr1" --key "$T/key" --json agents | grep -q '"type": "partition"'
}
if wait_for 20 test -s "$T/k.jsonl" && wait_for 10 on1; then
	kill -9 "$pid_1"
fi
reap "$sub" 1200
if [ "$rc" -eq 0 ] && [ "$(dsha "$T/k.jsonl")" = "$(dsha "$T/dq.jsonl")" ] &&
    depochs "$T/k.jsonl" && grep -q '"event":"reconnected","lost":"h1"' "$T/k.jsonl" &&
    grep -q '"event":"rebuilt".*"reason":"its host h1 went down"' "$T/k.jsonl"; then
	ok data_submitter_daemon_dies
else
	fail data_submitter_daemon_dies "exit $rc: $(head -c 300 "$T/k.err") $(grep -v '^{"epoch"' "$T/k.jsonl" | cut -c1-200 | head -8) $(grep -v 'epoch [0-9]* loss' "$T/k.out" | tail -5)"
fi
