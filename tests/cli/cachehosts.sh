# The data cache on 3 real daemons (tests/cli/cachehosts.py): placement by
# part, reading where the data is and after a move, kill -9 of a holder
# and its copies made again, corrupt blocks, a lying peer, bad names,
# eviction and a full cache. First, nnsim submit of a data job from a
# CSV file: each partition runs where its shard is, nothing is fetched.
GROUP=cache
. "$(dirname "$0")/lib.sh"

cluster3 $((42000 + ($$ % 1000) * 20)) || exit 0
python3 -c '
import random, sys
r = random.Random(2)
with open(sys.argv[1], "w") as f:
    for i in range(12000):
        f.write(",".join("%d" % r.randint(0, 255) for _ in range(200)) +
                ",%d\n" % r.randint(0, 9))
' "$T/d.csv"
cat >"$T/data.json" <<JSON
{"name": "p", "layers": [{"units": 32, "activation": "relu"},
                         {"activation": "softmax"}],
 "data": {"train": {"path": "d.csv", "label": 200}},
 "train": {"epochs": 3, "batch": 64},
 "parallel": {"mode": "data", "partitions": 3}}
JSON
fetched() {
	for n in 1 2 3; do
		"$NNSIM_BIN/agentctl" --connect "127.0.0.$n:$((base + n))" \
		    --key "$T/key" --json hosts | python3 -c 'import json,sys
print([h["cache"]["bytes_fetched"] for h in json.load(sys.stdin)["hosts"]
       if h["state"] == "self"][0])'
	done | paste -sd+ | bc
}
# (Its parts' plain groups would put two of them first on one host.)
(cd "$T" && NNSIM_NO_LIVE=1 "$NNSIM" submit "$T/data.json" --connect "127.0.0.1:$((base + 1))" \
    --key "$T/key" -o "$T/m.nnm" --metrics "$T/m.jsonl" >"$T/out" 2>&1)
rc=$?
hosts=$(sed -n 's/.*"event":"partition".*"host":"\(h[123]\)".*/\1/p' "$T/m.jsonl" | sort | paste -sd,)
if [ "$rc" -eq 0 ] && [ "$hosts" = "h1,h2,h3" ] && [ "$(fetched)" = 0 ] &&
    ! grep -q '"event":"moved"' "$T/m.jsonl"; then
	ok "partitions_where_their_shards_are (one a host, 0 bytes fetched)"
else
	fail partitions_where_their_shards_are "exit $rc, hosts $hosts, fetched $(fetched): $(head -c 300 "$T/out")"
fi

echo "$pid_2" >"$T/pid2"
echo "$pid_3" >"$T/pid3"
python3 "$(dirname "$0")/cachehosts.py" "$T" "$base" "$NNSIM_BIN"
