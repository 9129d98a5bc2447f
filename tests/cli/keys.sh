# Who may do what (docs/security.md): a keyless daemon serves its own user
# alone, and refuses another uid with a line that says so; with a node key
# and client keys, a read key only looks, a run key runs agents of code
# already stored but never ships code, and the node key does everything;
# a client key never makes a daemon a member; a bad --client-key exits 2.
GROUP=keys
. "$(dirname "$0")/lib.sh"

AGENTD=$NNSIM_BIN/agentd
CTL=$NNSIM_BIN/agentctl
W=$NNSIM_BIN/agents/wanderer.so
two_hosts $((36000 + ($$ % 2000) * 3))
P1=$((base + 1))
P0=$((base))
for k in read run; do "$AGENTD" keygen "$T/$k"; done
# h0 sorts first, so it is the one that dials h1.
cat >"$T/hosts.json" <<JSON
{"hosts": [{"name": "h0", "address": "127.0.0.2:$((base + 2))"},
           {"name": "h1", "address": "127.0.0.1:$((base + 1))"}]}
JSON

# --- Keyless: the daemon's own uid only. ---
"$AGENTD" --listen "127.0.0.1:$P0" --name solo --state "$T/solo" \
    2>"$T/solo.log" &
pids="$pids $!"
solo() { "$CTL" --connect "127.0.0.1:$P0" "$@"; }
wait_for 5 solo ping || fail keyless "the keyless daemon did not answer"
me=$(id -u)
as_nobody() { setpriv --reuid=65534 --regid=65534 --clear-groups "$@"; }
if [ "$me" != 0 ]; then
	skip keyless_other_uid_refused "not root: cannot run as another uid"
elif ! command -v setpriv >/dev/null; then
	skip keyless_other_uid_refused "no setpriv"
elif ! as_nobody "$CTL" --help >/dev/null 2>&1; then
	skip keyless_other_uid_refused "uid 65534 cannot run $CTL (path not readable)"
else
	expect_error keyless_other_uid_refused 1 \
	    "^agentctl: 127\.0\.0\.1:$P0 refused us: keyless daemon accepts only its own user \(uid $me\)$" \
	    as_nobody "$CTL" --connect "127.0.0.1:$P0" hosts
	# More refusals within 10 s: still one log line, which names both.
	as_nobody "$CTL" --connect "127.0.0.1:$P0" agents 2>/dev/null
	as_nobody "$CTL" --connect "127.0.0.1:$P0" ping 2>/dev/null
	n=$(grep -c "refusing 127\.0\.0\.1:[0-9]*: uid 65534, and a keyless daemon serves its own user alone (uid $me)" "$T/solo.log")
	if [ "$n" = 1 ]; then
		ok keyless_refusal_logged_once
	else
		fail keyless_refusal_logged_once "$n lines: $(grep refusing "$T/solo.log" | head -c 300)"
	fi
	# Nothing it sent was served: no agent was made for it.
	as_nobody "$CTL" --connect "127.0.0.1:$P0" spawn "$W" '{"laps": 1}' \
	    >"$T/nobody.out" 2>&1
	if [ -z "$(ls "$T/solo/code" 2>/dev/null)" ] &&
	    grep -q "refused us" "$T/nobody.out"; then
		ok keyless_other_uid_spawns_nothing
	else
		fail keyless_other_uid_spawns_nothing "$(head -c 300 "$T/nobody.out")"
	fi
fi
if solo hosts >"$T/solo.out" 2>&1 && grep -q '^solo ' "$T/solo.out"; then
	ok keyless_own_uid_served
else
	fail keyless_own_uid_served "$(head -c 300 "$T/solo.out")"
fi

# --- Bad --client-key: exit 2 and one line. ---
expect_error client_key_missing_file 2 \
    "^agentd: --client-key: $T/none: No such file or directory$" \
    "$AGENTD" --key "$T/key" --client-key "$T/none:read" --state "$T/x"
expect_error client_key_bad_role 2 \
    '^agentd: --client-key .*/read:admin: unknown role "admin" \(expected read or run; the node key is --key\)$' \
    "$AGENTD" --key "$T/key" --client-key "$T/read:admin" --state "$T/x"
expect_error client_key_no_role 2 \
    '^agentd: --client-key .*/read: expected FILE:ROLE \(ROLE read or run\)$' \
    "$AGENTD" --key "$T/key" --client-key "$T/read" --state "$T/x"
expect_error client_key_without_node_key 2 \
    '^agentd: --client-key needs --key \(the node key\)$' \
    "$AGENTD" --client-key "$T/read:read" --state "$T/x"
expect_error client_key_is_node_key 2 \
    '^agentd: --client-key: key 1 is the node key' \
    "$AGENTD" --key "$T/key" --client-key "$T/key:run" --state "$T/x"

# --- A node key and two client keys. ---
"$AGENTD" --listen "127.0.0.1:$P1" --key "$T/key" --hosts "$T/hosts.json" \
    --client-key "$T/read:read" --client-key "$T/run:run" --state "$T/s1" \
    2>>"$T/log1" &
pids="$pids $!"
ctl() { _k=$1; shift; "$CTL" --connect "127.0.0.1:$P1" --key "$T/$_k" "$@"; }
wait_for 10 ctl key ping || fail daemon "h1 did not answer"

if ctl read hosts >"$T/rh.out" 2>&1 && grep -q '^h1 ' "$T/rh.out" &&
    ctl read agents >"$T/ra.out" 2>&1 && grep -q '^AGENT' "$T/ra.out"; then
	ok read_key_reads
else
	fail read_key_reads "$(head -c 300 "$T/rh.out" "$T/ra.out")"
fi
# Code that is not stored: neither client key may ship it.
expect_error read_key_cannot_ship 1 \
    "^agentctl: spawn: code-put: this key may only read: 'code-put' needs the node key$" \
    ctl read spawn "$W" '{"bytes": 64, "laps": 2}'
expect_error run_key_cannot_ship 1 \
    "^agentctl: spawn: code-put: this key may only read and run agents of stored code: 'code-put' needs the node key$" \
    ctl run spawn "$W" '{"bytes": 64, "laps": 2}'
if [ -z "$(ls "$T/s1/code")" ]; then
	ok client_keys_stored_nothing
else
	fail client_keys_stored_nothing "$(ls "$T/s1/code")"
fi
# The node key ships it; then the run key may spawn it, the read key not.
if a=$(ctl key spawn "$W" '{"bytes": 64, "laps": 2}' 2>"$T/n.err") &&
    [ -n "$a" ] && [ -n "$(ls "$T/s1/code")" ]; then
	ok node_key_ships_code
else
	fail node_key_ships_code "$(head -c 300 "$T/n.err")"
fi
expect_error read_key_cannot_spawn 1 \
    "^agentctl: spawn: this key may only read: 'spawn' needs a run key$" \
    ctl read spawn "$W" '{"bytes": 64, "laps": 2}'
if a=$(ctl run spawn "$W" '{"bytes": 64, "laps": 1000000, "sleep_ms": 100}' 2>"$T/r.err") &&
    [ -n "$a" ]; then
	ok run_key_spawns_stored_code
else
	fail run_key_spawns_stored_code "$(head -c 300 "$T/r.err")"
fi
# Steering: the read key may not kill it, the run key may.
expect_error read_key_cannot_kill 1 \
    "^agentctl: kill: this key may only read: 'kill' needs a run key$" \
    ctl read kill "$a"
if ctl run kill "$a" >"$T/k.out" 2>&1; then
	ok run_key_kills
else
	fail run_key_kills "$(head -c 300 "$T/k.out")"
fi

# On the wire: a refused request leaves the connection up; the node-only
# requests are refused to a run key; a run key's HELLO as a daemon is
# refused before any proof; an unknown key id is refused.
out=$(cd "$SRC/tests/cli" && python3 - "127.0.0.1:$P1" "$T" 2>&1 <<'PY'
import sys
import agentd_wire as w
addr, t = sys.argv[1], sys.argv[2]
key = lambda n: bytes.fromhex(open(t + "/" + n).read().strip())
c = w.Conn(addr, key("read"), with_id=True)
print(c.request("spawn", code="0" * 64).get("error"))
print(c.request("hosts").get("ok"))
c = w.Conn(addr, key("run"), with_id=True)
for op in ("code-put", "drain", "join", "undrain"):
    print(c.request(op, name="x", address="127.0.0.9:1").get("error"))
print(c.request("ping").get("ok"))
for role in ("peer", "worker"):
    try:
        w.Conn(addr, key("run"), name="h2", role=role, with_id=True)
        print("accepted as", role)
    except PermissionError as e:
        print(e)
try:
    w.Conn(addr, bytes(32), with_id=True)
    print("accepted the zero key")
except PermissionError as e:
    print(e)
PY
)
want="this key may only read: 'spawn' needs a run key
True
this key may only read and run agents of stored code: 'code-put' needs the node key
this key may only read and run agents of stored code: 'drain' needs the node key
this key may only read and run agents of stored code: 'join' needs the node key
this key may only read and run agents of stored code: 'undrain' needs the node key
True
refused: a client key cannot be a daemon's key (only the node key, --key, joins the cluster)
refused: a client key cannot be a daemon's key (only the node key, --key, joins the cluster)
refused: authentication failed: this daemon holds no key with that id (wrong --key?)"
if [ "$out" = "$want" ]; then
	ok roles_on_the_wire
else
	fail roles_on_the_wire "$(echo "$out" | head -c 600)"
fi

# A daemon whose --key is a client key: h0 of the hosts file is never up,
# and says why; one that asks to --join is refused and exits 2.
"$AGENTD" --listen "127.0.0.2:$((base + 2))" --key "$T/run" --name h0 \
    --hosts "$T/hosts.json" --state "$T/s2" 2>"$T/log2" &
pid2=$!
pids="$pids $pid2"
sleep 2
state2=$(ctl key --json hosts | python3 -c 'import json,sys
print([h["state"] for h in json.load(sys.stdin)["hosts"] if h["name"] == "h0"][0])')
if [ "$state2" = down ] &&
    grep -q "refused us: a client key cannot be a daemon's key" "$T/log2" &&
    grep -q "a client key cannot be a daemon's key.*; refused" "$T/log1"; then
	ok client_key_daemon_not_a_peer
else
	fail client_key_daemon_not_a_peer "h0 $state2: $(grep -i refus "$T/log2" | head -c 300)"
fi
kill "$pid2" 2>/dev/null
timeout 10 "$AGENTD" --listen "127.0.0.3:$((base + 3))" --key "$T/run" \
    --name h3 --join "127.0.0.1:$P1" --state "$T/s3" 2>"$T/log3"
r=$?
if [ $r -eq 2 ] && grep -q "\-\-join 127\.0\.0\.1:$P1: this key may only read and run agents of stored code: 'join' needs the node key" "$T/log3"; then
	ok client_key_cannot_join
else
	fail client_key_cannot_join "exit $r: $(tail -c 300 "$T/log3")"
fi

# nnsim submit with a run key: refused with one clear line while the job's
# code is not stored; runs once the node key has stored it.
cat >"$T/job.json" <<'JSON'
{
  "name": "tiny",
  "layers": [{"units": 4, "activation": "tanh"}, {"activation": "softmax"}],
  "loss": "cross_entropy",
  "data": {"train": {"generate": "xor", "n": 100, "seed": 1}, "split": 0.25},
  "train": {"epochs": 1, "batch": 16,
            "optimizer": {"type": "adam", "lr": 0.01}, "seed": 1},
  "parallel": {"mode": "session", "select": "test_loss",
               "grid": {"train.optimizer.lr": [0.1]}}
}
JSON
submit() {
	NNSIM_NO_LIVE=1 "$NNSIM" submit "$T/job.json" --connect "127.0.0.1:$P1" \
	    --key "$T/$1" -o "$T/$1.nnm" --quiet
}
expect_error submit_run_key_cannot_ship 1 \
    "^nnsim submit: 127\.0\.0\.1:$P1: the job's code \([0-9a-f]{12}\.\.\.\) is not stored there, and shipping it was refused: code-put: this key may only read and run agents of stored code: 'code-put' needs the node key$" \
    submit run
run_cmd submit key
if [ "$rc" -eq 0 ] && [ -s "$T/key.nnm" ]; then
	run_cmd submit run
	if [ "$rc" -eq 0 ] && [ -s "$T/run.nnm" ]; then
		ok submit_run_key_stored_code
	else
		fail submit_run_key_stored_code "exit $rc: $(head -c 300 "$T/err")"
	fi
else
	fail submit_run_key_stored_code "with the node key: exit $rc: $(head -c 300 "$T/err")"
fi
