# agentd under valgrind through a whole scenario: a cluster of two, bad
# clients, agents that move, message, crash and finish, then SIGTERM. The
# daemon must end with no memory errors and no leaks.
GROUP=valgrind
. "$(dirname "$0")/lib.sh"

AGENTD=$NNSIM_BIN/agentd
CTL=$NNSIM_BIN/agentctl
W=$NNSIM_BIN/agents/wanderer.so
if ! command -v valgrind >/dev/null 2>&1; then
	skip daemon_leak_free "valgrind is not installed"
	exit 0
fi
case "$NNSIM_BIN" in
*asan*) skip daemon_leak_free "not under AddressSanitizer"; exit 0 ;;
esac
base=$((40000 + ($$ % 2000) * 10))
trap 'kill -9 $p1 $p2 $w 2>/dev/null; wait 2>/dev/null; rm -rf "$T"' EXIT
"$AGENTD" keygen "$T/key"
"$AGENTD" keygen "$T/bad"
cat >"$T/hosts.json" <<JSON
{"hosts": [{"name": "h1", "address": "127.0.0.1:$((base + 1))"},
           {"name": "h2", "address": "127.0.0.2:$((base + 2))"}]}
JSON
valgrind -q --leak-check=full --show-leak-kinds=definite,indirect,possible \
	--errors-for-leak-kinds=definite,indirect,possible --error-exitcode=99 \
	--log-file="$T/vg" "$AGENTD" --listen "127.0.0.1:$((base + 1))" \
	--key "$T/key" --hosts "$T/hosts.json" --state "$T/s1" \
	--down-after 15000 2>"$T/log1" &
p1=$!
# Valgrind slows h1's heartbeats; this test is not about them.
"$AGENTD" --listen "127.0.0.2:$((base + 2))" --key "$T/key" \
	--hosts "$T/hosts.json" --state "$T/s2" --down-after 15000 2>"$T/log2" &
p2=$!
C="$CTL --connect 127.0.0.1:$((base + 1)) --key $T/key"
i=0
until $C ping >/dev/null 2>&1 || [ $i -ge 100 ]; do sleep 0.2; i=$((i + 1)); done
sleep 2
$C watch 120 >"$T/ev" 2>/dev/null &
w=$!
sleep 0.5

# A client with the wrong key stores nothing, and nor does a bad frame.
"$CTL" --connect "127.0.0.1:$((base + 1))" --key "$T/bad" spawn "$W" >/dev/null 2>&1
(cd "$SRC/tests/cli" && python3 -c "
import agentd_wire as w, socket
s = socket.create_connection(('127.0.0.1', $((base + 1))))
s.sendall(w.frame(99, {}))
w.closed_by_peer(s, 15)")
if [ -z "$(ls "$T/s1/code")" ]; then ok wrong_key_stores_nothing; else fail wrong_key_stores_nothing "$(ls "$T/s1/code")"; fi

r=$($C spawn "$W" '{"mb": 1, "hosts": ["h1", "h2"], "laps": 5, "expect": 50}')
$C spawn "$W" "{\"mb\": 1, \"hosts\": [\"h2\", \"h1\"], \"laps\": 5, \"send_to\": \"$r\", \"send_count\": 50, \"send_per_step\": 10}" >/dev/null
$C spawn "$W" '{"mb": 1, "crash_at": 1, "laps": 10}' >/dev/null
$C spawn "$W" '{"mb": 1, "laps": 100000, "sleep_ms": 20}' >/dev/null
i=0
until [ "$(grep -c '"event":"\(finished\|failed\)"' "$T/ev")" -ge 3 ] || [ $i -ge 300 ]; do
	sleep 0.2
	i=$((i + 1))
done
kill -TERM "$p1"
wait "$p1"
st=$?
kill -9 "$p2" "$w" 2>/dev/null
if [ "$(grep -c '"event":"finished"' "$T/ev")" -ge 2 ] && grep -q 'signal 11' "$T/ev"; then
	ok scenario_ran
else
	fail scenario_ran "$(grep -E 'finished|failed' "$T/ev" | head -5); $(grep -h 'down' "$T/log1" "$T/log2" | head -3)"
fi
if [ $st -eq 0 ] && [ ! -s "$T/vg" ]; then
	ok daemon_leak_free
else
	fail daemon_leak_free "exit $st: $(head -c 600 "$T/vg")"
fi
