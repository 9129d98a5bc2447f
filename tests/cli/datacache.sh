# The data cache's client side (docs/data-cache.md) on two real daemons
# with 1 MiB caches: nnsim data's round trip, bad names, a missing set, a
# set too large for the caches, the console's view, and nnsim submit
# through the cache: a second submit of the same data ships no bytes, a
# net.json may name the set, and the model keeps the normalisation and
# classes that nnsim train gives.
GROUP=datacache
. "$(dirname "$0")/lib.sh"

CTL=$NNSIM_BIN/agentctl
two_hosts $((40000 + ($$ % 2000) * 3))
# start_small N: daemon hN of two_hosts with a 1 MiB data cache.
start_small() {
	"$NNSIM_BIN/agentd" --listen "127.0.0.$1:$((base + $1))" \
	    --key "$T/key" --hosts "$T/hosts.json" --state "$T/s$1" \
	    --cache-mem 1M 2>>"$T/log$1" &
	pids="$pids $!"
}
C="--connect 127.0.0.1:$((base + 1)) --key $T/key"
H="--hosts $T/hosts.json --key $T/key"

# Input errors need no cluster: one line, exit 2.
for n in .dot -dash "a/b" "with space" \
    aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa; do
	expect_error "bad_name_show_$n" 2 'bad set name' \
	    "$NNSIM" data $C show -- "$n"
done
expect_error bad_name_put 2 'bad set name ".x"' \
    "$NNSIM" data put "$T/none.data" --name .x $C
expect_error bad_name_rm 2 'bad set name' "$NNSIM" data $C rm -- -x
expect_error get_needs_output 2 'get: missing -o FILE' \
    "$NNSIM" data get abc $C
expect_error option_of_another 2 'ls: --name is not one of its options' \
    "$NNSIM" data ls --name x $C
cat >"$T/cached.json" <<'JSON'
{"name": "c", "layers": [{"units": 4}, {"activation": "softmax"}],
 "data": {"train": {"cache": "letters"}}}
JSON
expect_error train_on_cached_set 2 \
    'data.train: the cached set "letters" is read by nnsim submit; nnsim data get letters -o FILE fetches it' \
    "$NNSIM" train "$T/cached.json"
cat >"$T/cached_bad.json" <<'JSON'
{"name": "c", "layers": [{"units": 4}, {"activation": "softmax"}],
 "data": {"train": {"cache": "letters"}, "normalize": "standard"}}
JSON
expect_error cached_set_normalize 2 'data.normalize: cannot be used with a cached data.train' \
    "$NNSIM" train "$T/cached_bad.json"
cat >"$T/cached_name.json" <<'JSON'
{"name": "c", "layers": [{"units": 4}, {"activation": "softmax"}],
 "data": {"train": {"cache": "../etc"}}}
JSON
expect_error cached_set_bad_name 2 'data.train.cache: bad set name' \
    "$NNSIM" train "$T/cached_name.json"

start_small 1
start_small 2
up2() {
	[ "$("$CTL" $C --json hosts | python3 -c 'import json,sys
print(sum(h["state"] in ("up","self") for h in json.load(sys.stdin)["hosts"]))')" = 2 ]
}
if ! wait_for 10 up2; then
	fail cluster "2 daemons did not form a cluster: $(tail -n 3 "$T/log1")"
	exit 0
fi
# received: the block bytes both daemons took from clients.
received() {
	"$CTL" $C --json hosts | python3 -c 'import json,sys
print(sum(h.get("cache", {}).get("bytes_received", 0) for h in json.load(sys.stdin)["hosts"]))'
}

# Round trip: a FANN file of float32 values written with %.9g, as nnsim
# data get writes them, comes back byte for byte.
python3 - "$T/rt.data" <<'PY'
import random, struct, sys
random.seed(7)
def f32(v):
    return "%.9g" % struct.unpack("f", struct.pack("f", v))[0]
n = 2500
with open(sys.argv[1], "w") as f:
    f.write("%d 3 2\n" % n)
    for i in range(n):
        f.write(" ".join(f32(random.uniform(-50, 50)) for _ in range(3)) +
                "\n")
        f.write("%s %s\n" % (f32(random.random()), f32(random.randint(0, 9))))
PY
run_cmd "$NNSIM" data put "$T/rt.data" --name rt.set_1 $C
if [ "$rc" -ne 0 ] || ! grep -q "2500 rows.* [1-9][0-9]* bytes sent" "$T/out"; then
	fail put "exit $rc: $(cat "$T/out" "$T/err" | head -c 300)"
else
	ok put
fi
run_cmd "$NNSIM" data put "$T/rt.data" --name rt.set_1 $C
if [ "$rc" -eq 0 ] && grep -q "already stored, 0 bytes sent" "$T/out"; then
	ok put_again_sends_nothing
else
	fail put_again_sends_nothing "exit $rc: $(cat "$T/out" "$T/err" | head -c 300)"
fi
sed '2s/^/1 /; 2s/ [^ ]*$//' "$T/rt.data" >"$T/other.data"
expect_error put_name_taken 1 'data set rt.set_1 exists with other data' \
    "$NNSIM" data put "$T/other.data" --name rt.set_1 $C
run_cmd "$NNSIM" data ls $C
if [ "$rc" -eq 0 ] && grep -Eq '^rt\.set_1 +2500 ' "$T/out"; then
	ok ls
else
	fail ls "exit $rc: $(cat "$T/out" "$T/err" | head -c 300)"
fi
run_cmd "$NNSIM" data show rt.set_1 $C
if [ "$rc" -eq 0 ] && grep -q "table train: 2500 rows, 1 part" "$T/out" &&
    grep -Eq '^  0 +[0-9a-f]{16} +2500 .*h[12]' "$T/out"; then
	ok show
else
	fail show "exit $rc: $(cat "$T/out" "$T/err" | head -c 400)"
fi
run_cmd "$NNSIM" data get rt.set_1 -o "$T/back.data" $C
if [ "$rc" -eq 0 ] && cmp -s "$T/rt.data" "$T/back.data"; then
	ok get_round_trip
else
	fail get_round_trip "exit $rc: $(head -c 300 "$T/err"; cmp "$T/rt.data" "$T/back.data" 2>&1)"
fi
expect_error get_no_test_table 1 'data set rt.set_1 has no test table' \
    "$NNSIM" data get rt.set_1 -o "$T/t.data" --table test $C

# The console: hosts with their caches, the sets, and a set by its name.
run_cmd "$NNSIM" console $C -c "hosts; data; show rt.set_1"
if [ "$rc" -eq 0 ] && grep -q "CACHE" "$T/out" &&
    grep -Eq '^h1 .* [0-9]+/1M +no$' "$T/out" &&
    grep -Eq '^rt\.set_1 +2500 ' "$T/out" &&
    grep -q "data set rt.set_1: 3 inputs, 2 outputs" "$T/out"; then
	ok console
else
	fail console "exit $rc: $(cat "$T/out" "$T/err" | head -c 600)"
fi

run_cmd "$NNSIM" data rm rt.set_1 $C
run_cmd "$NNSIM" data ls $C
if [ "$rc" -eq 0 ] && [ "$(wc -l <"$T/out")" -eq 1 ]; then
	ok rm_leaves_none
else
	fail rm_leaves_none "exit $rc: $(cat "$T/out" "$T/err" | head -c 300)"
fi
expect_error show_missing 1 '^nnsim data: no data set rt.set_1 on the cluster$' \
    "$NNSIM" data show rt.set_1 $C
expect_error get_missing 1 '^nnsim data: no data set nope on the cluster$' \
    "$NNSIM" data get nope -o "$T/x.data" $C
expect_error rm_missing 1 '^nnsim data: no data set nope on the cluster$' \
    "$NNSIM" data rm nope $C

# Too large: 2 MiB of blocks, two copies, in two 1 MiB caches. Nothing
# is sent.
cat >"$T/big.json" <<'JSON'
{"name": "big", "layers": [{"units": 4}, {"activation": "softmax"}],
 "data": {"train": {"generate": "blobs", "n": 50000, "inputs": 8,
                    "classes": 2}}}
JSON
before=$(received)
expect_error too_large 1 'does not fit in the cluster.s data caches: .* MiB free' \
    "$NNSIM" data put "$T/big.json" --name big $C
if [ "$(received)" = "$before" ]; then
	ok too_large_sends_nothing
else
	fail too_large_sends_nothing "bytes_received $before, then $(received)"
fi

# nnsim submit through the cache: CSV rows with class names, standard
# normalisation and a split, in two partitions.
python3 - "$T/pts.csv" <<'PY'
import random, sys
random.seed(3)
with open(sys.argv[1], "w") as f:
    f.write("x,y,class\n")
    for i in range(1200):
        x, y = random.uniform(-4, 6), random.uniform(0, 10)
        c = "left" if x < 0 else ("low" if y < 5 else "high")
        f.write("%.3f,%.3f,%s\n" % (x, y, c))
PY
cat >"$T/job.json" <<JSON
{"name": "pts", "layers": [{"units": 8, "activation": "tanh"},
                           {"activation": "softmax"}],
 "loss": "cross_entropy",
 "data": {"train": {"path": "$T/pts.csv", "header": true, "label": 2},
          "split": 0.25, "normalize": "standard"},
 "train": {"epochs": 2, "batch": 32, "seed": 5},
 "parallel": {"mode": "data", "partitions": 2}}
JSON
run_cmd "$NNSIM" submit "$T/job.json" $H -o "$T/m1.nnm" --metrics "$T/m1.jsonl"
first=$(sed -n 's/^data: set \(auto-[0-9a-f]*\), put in the cache, \([0-9]*\) bytes shipped$/\2/p' "$T/out")
if [ "$rc" -ne 0 ] || [ -z "$first" ] || [ "$first" -eq 0 ] ||
    [ "$(json_field "$T/m1.jsonl" data_bytes_sent)" != "$first" ]; then
	fail submit_cold "exit $rc, shipped '$first': $(cat "$T/out" "$T/err" | head -c 600)"
else
	ok submit_cold
fi
before=$(received)
run_cmd "$NNSIM" submit "$T/job.json" $H -o "$T/m2.nnm" --metrics "$T/m2.jsonl"
if [ "$rc" -eq 0 ] && grep -q "^data: set auto-[0-9a-f]*, in the cache, 0 bytes shipped$" "$T/out" &&
    [ "$(json_field "$T/m2.jsonl" data_bytes_sent)" = 0 ] &&
    [ "$(received)" = "$before" ]; then
	ok submit_warm_ships_nothing
else
	fail submit_warm_ships_nothing "exit $rc, bytes_received $before then $(received): $(cat "$T/out" "$T/err" | head -c 600)"
fi

# A net.json that names the set: session mode over the 2-part set.
set=$(sed -n 's/^data: set \(auto-[0-9a-f]*\),.*/\1/p' "$T/out")
python3 - "$T/job.json" "$T/named.json" "$set" <<'PY'
import json, sys
cfg = json.load(open(sys.argv[1]))
cfg["data"] = {"train": {"cache": sys.argv[3]}}
del cfg["parallel"]
json.dump(cfg, open(sys.argv[2], "w"))
PY
run_cmd "$NNSIM" submit "$T/named.json" $H -o "$T/m3.nnm" --metrics "$T/m3.jsonl"
if [ "$rc" -eq 0 ] && grep -q "in the cache, 0 bytes shipped" "$T/out" &&
    [ "$(json_field "$T/m3.jsonl" data_bytes_sent)" = 0 ]; then
	ok submit_named_set
else
	fail submit_named_set "exit $rc: $(cat "$T/out" "$T/err" | head -c 600)"
fi

# The session gathered its rows from the set's 2 parts in their first
# order: its weights are those of the same run from the files.
psha() { sed -n 's/.*"event":"session".*"params_sha256":"\([0-9a-f]*\)".*/\1/p' "$1"; }
python3 - "$T/job.json" "$T/files.json" <<'PY'
import json, sys
cfg = json.load(open(sys.argv[1]))
del cfg["parallel"]
json.dump(cfg, open(sys.argv[2], "w"))
PY
run_cmd "$NNSIM" submit "$T/files.json" $H --no-cache -o "$T/m4.nnm" \
    --metrics "$T/m4.jsonl"
if [ "$rc" -eq 0 ] && [ -n "$(psha "$T/m3.jsonl")" ] &&
    [ "$(psha "$T/m3.jsonl")" = "$(psha "$T/m4.jsonl")" ]; then
	ok gathered_rows_train_as_files
else
	fail gathered_rows_train_as_files "exit $rc: '$(psha "$T/m3.jsonl")' vs '$(psha "$T/m4.jsonl")' $(head -c 300 "$T/err")"
fi

# The models record what nnsim train's does: task, classes, norm, layout.
python3 - "$T/job.json" "$T/local.json" <<'PY'
import json, sys
cfg = json.load(open(sys.argv[1]))
del cfg["parallel"]
json.dump(cfg, open(sys.argv[2], "w"))
PY
run_cmd "$NNSIM" train "$T/local.json" -o "$T/local.nnm" -q --threads 1
if [ "$rc" -eq 0 ] && python3 - "$T/local.nnm" "$T/m1.nnm" "$T/m2.nnm" \
    "$T/m3.nnm" >"$T/why" 2>&1 <<'PY'
import json, struct, sys
def header(path):
    b = open(path, "rb").read()
    h, p = struct.unpack_from("<IQ", b, 12)
    return json.loads(b[24:24 + h])
keys = ("task", "targets", "nclasses", "classes", "normalize", "layout")
want = header(sys.argv[1])
assert want["classes"] == ["high", "left", "low"], want["classes"]
assert want["normalize"]["kind"] == "standard", want["normalize"]
for path in sys.argv[2:]:
    got = header(path)
    for k in keys:
        assert got.get(k) == want.get(k), (path, k, got.get(k), want.get(k))
PY
then
	ok model_norm_and_classes
else
	fail model_norm_and_classes "exit $rc: $(head -c 600 "$T/why") $(head -c 200 "$T/err")"
fi
