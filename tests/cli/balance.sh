# Load balancing of a session job on two real daemons pinned to one core
# each: when another client's agent overloads the host of a long session,
# and the other host frees up, the session moves there and the job says so.
GROUP=balance
. "$(dirname "$0")/lib.sh"

AGENTD=$NNSIM_BIN/agentd
CTL=$NNSIM_BIN/agentctl
W=$NNSIM_BIN/agents/wanderer.so
if ! command -v taskset >/dev/null 2>&1 || [ "$(nproc)" -lt 2 ]; then
	skip session_moves_to_freed_host "needs taskset and 2 cores"
	exit 0
fi
two_hosts $((36000 + ($$ % 2000) * 10))
for n in 1 2; do
	start_host $n taskset -c $((n - 1))
done
addr() {
	echo "127.0.0.$1:$((base + $1))"
}
up2() {
	[ "$("$CTL" --connect "$(addr 1)" --key "$T/key" --json hosts |
	    python3 -c 'import json,sys
print(sum(h["state"] in ("up","self") and h["cores"] == 1
          for h in json.load(sys.stdin)["hosts"]))')" = 2 ]
}
if ! wait_for 10 up2; then
	fail session_moves_to_freed_host "2 one-core daemons did not form a cluster"
	exit 0
fi

# A short session and a long one: one on each host.
cat >"$T/job.json" <<'JSON'
{
  "name": "balance",
  "layers": [{"units": 512, "activation": "relu"},
             {"units": 512, "activation": "relu"},
             {"activation": "softmax"}],
  "loss": "cross_entropy",
  "data": {"train": {"generate": "spiral", "n": 6000, "classes": 3,
                     "seed": 1}, "split": 0.2},
  "train": {"epochs": 1, "batch": 16,
            "optimizer": {"type": "adam", "lr": 0.005}, "seed": 1},
  "parallel": {"mode": "session",
               "sessions": [{"train.epochs": 1}, {"train.epochs": 14}]}
}
JSON
"$NNSIM" submit "$T/job.json" --connect "$(addr 1)" --key "$T/key" \
    -o "$T/m.nnm" --metrics "$T/m.jsonl" >"$T/out" 2>"$T/err" &
sub=$!
pids="$pids $sub"
# Where the long session runs, from its first epoch.
long_host() {
	grep '"session":1' "$T/m.jsonl" 2>/dev/null | grep '"epoch"' |
	    head -n 1 | sed 's/.*"host":"\(h[12]\)".*/\1/'
}
wait_for 30 sh -c "grep -q '\"session\":1' '$T/m.jsonl' 2>/dev/null"
h=$(long_host)
case "$h" in
h1) other=h2 n=1 ;;
h2) other=h1 n=2 ;;
*) other= n= ;;
esac
# Another client's agent lands on the long session's host.
if [ -n "$n" ]; then
	"$CTL" --connect "$(addr $n)" --key "$T/key" spawn "$W" \
	    '{"mb": 1, "laps": 1000000, "sleep_ms": 5}' >"$T/hog" 2>&1
fi
wait "$sub"
rs=$?
kill "$sub" 2>/dev/null
if [ -n "$other" ] && [ $rs -eq 0 ] && python3 - "$T/m.jsonl" "$other" <<'PY' 2>"$T/why"
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1])]
moves = [o for o in lines if o.get("event") == "moved"]
assert any(o["session"] == 1 and o["host"] == sys.argv[2] for o in moves), moves
final = [o for o in lines if o.get("event") == "session" and o["session"] == 1]
assert final and final[0]["host"] == sys.argv[2], final
PY
then
	if grep -q "session 1 .*moving to $other" "$T/out"; then
		ok session_moves_to_freed_host
	else
		fail session_moves_to_freed_host "no line about the move: $(tail -c 300 "$T/out")"
	fi
else
	fail session_moves_to_freed_host "long session on '$h', exit $rs: $(head -c 200 "$T/err") $(tail -c 300 "$T/why") hog: $(cat "$T/hog")"
fi
