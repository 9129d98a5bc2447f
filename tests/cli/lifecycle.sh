# Orders and states on 3 real daemons (docs/agents.md, "Orders and
# states"): orders to an agent that moves after every step are applied or
# queued, never lost and never corrupting; kill is never refused; an
# agent's own spawn works or says why; clones keep their step count and go
# elsewhere; progress survives moves; a failed start is reported.
GROUP=lifecycle
. "$(dirname "$0")/lib.sh"

CTL=$NNSIM_BIN/agentctl
W=$NNSIM_BIN/agents/wanderer.so
cluster3 $((36000 + ($$ % 1500) * 3)) || exit 0
ctl() {
	n=$1
	shift
	"$CTL" --connect "127.0.0.$n:$((base + n))" --key "$T/key" "$@"
}
# ev AGENT: the agent's events so far, one JSON line each (watch on h1,
# the home of every agent made there, sees them all).
ev() { grep "\"agent\":\"$1\"" "$T/ev"; }
ended() { ev "$1" | grep -q '"event":"\(finished\|failed\)"'; }
logged() { ev "$1" | grep -q "$2"; }

ctl 1 watch 300 >"$T/ev" 2>/dev/null &
pids="$pids $!"
sleep 0.3
walk='"hosts": ["h1", "h2", "h3"]'

# The outside developer's case: resume of an agent that was never
# suspended, 30 times, while it moves after every step with 1 MiB of
# state. Each is answered (applied: nothing to do, or queued while it
# moves); the agent's checksum, verified at every step, holds, and its
# counter stays its step count (progress reports both).
a=$(ctl 1 spawn "$W" "{\"bytes\": 1048576, $walk, \"laps\": 100000, \"sleep_ms\": 5}")
answers=
for i in $(seq 30); do
	answers="$answers $(ctl 1 --json resume "$a" 2>&1 | python3 -c 'import json,sys
try:
    print(json.load(sys.stdin)["outcome"])
except Exception:
    print("error")')"
done
sleep 1
ctl 1 kill "$a" >/dev/null
wait_for 20 ended "$a"
exact() {
	ev "$1" | python3 -c 'import json,sys
bad = 0
n = 0
for line in sys.stdin:
    e = json.loads(line)
    if e["event"] == "progress" and e.get("status"):
        n += 1
        bad += json.loads(e["status"])["counter"] != e["step"] + 1
sys.exit(0 if n > 0 and bad == 0 else 1)'
}
if ev "$a" | grep -q 'killed on request' && ev "$a" | grep -q '"event":"moved"' &&
    exact "$a" && ! echo "$answers" | grep -q error; then
	ok resume_while_moving
else
	fail resume_while_moving "answers:$answers; $(ev "$a" | grep -v progress | tail -3)"
fi

# Suspend sticks to an agent that moves after every step: it stops, stays
# stopped where it lands, and resumes; a kill while it moves is queued and
# kills it where it lands.
b=$(ctl 1 spawn "$W" "{\"bytes\": 65536, $walk, \"laps\": 100000, \"sleep_ms\": 2}")
sleep 0.5
ctl 1 suspend "$b" >/dev/null
# step_of AGENT: "STATE STEP" wherever it is listed.
step_of() {
	for h in 1 2 3; do
		ctl "$h" --json agents | python3 -c 'import json,sys
for a in json.load(sys.stdin)["agents"]:
    if a["id"] == sys.argv[1]:
        print(a["state"], a["step"])' "$1"
	done
}
sleep 1
s1=$(step_of "$b")
sleep 1
s2=$(step_of "$b")
ctl 1 resume "$b" >/dev/null
sleep 1
s3=$(step_of "$b")
if [ -n "$s1" ] && [ "$s1" = "$s2" ] && echo "$s1" | grep -q '^suspended ' &&
    [ "$s3" != "$s2" ]; then
	ok suspend_sticks_while_moving
else
	fail suspend_sticks_while_moving "'$s1' '$s2' then '$s3'"
fi
out=$(ctl 1 kill "$b" 2>&1)
rc=$?
wait_for 10 ended "$b"
if [ $rc -eq 0 ] && ev "$b" | grep -q 'killed on request'; then
	ok kill_while_moving
else
	fail kill_while_moving "exit $rc: $out; $(ev "$b" | grep -v progress | tail -2)"
fi

# Clones keep the step count and, with no host, go to another host.
c=$(ctl 1 spawn "$W" '{"bytes": 4096, "laps": 100000, "sleep_ms": 5}')
sleep 1
ctl 1 clone "$c" >/dev/null
wait_for 10 logged "$c" '"event":"cloned"'
cl=$(ev "$c" | grep '"event":"cloned"' | head -1 | python3 -c 'import json,sys; print(json.load(sys.stdin)["clone"])')
chost=$(ev "$c" | grep '"event":"cloned"' | head -1 | python3 -c 'import json,sys; print(json.load(sys.stdin)["host"])')
sleep 0.5
cstep=$(step_of "$cl" | cut -d' ' -f2)
if [ -n "$cl" ] && [ "$chost" != h1 ] && [ -n "$cstep" ] && [ "$cstep" -gt 20 ]; then
	ok clone_elsewhere_keeps_step
else
	fail clone_elsewhere_keeps_step "clone '$cl' on '$chost' at step '$cstep'"
fi
ctl 1 kill "$c" >/dev/null
ctl 1 kill "$cl" >/dev/null

# A suspended agent moves, and arrives suspended with its progress: it
# reports none there, so what h2 lists came with it.
d=$(ctl 1 spawn "$W" '{"bytes": 4096, "laps": 400, "sleep_ms": 5}')
sleep 1
ctl 1 suspend "$d" >/dev/null
sleep 0.3
ctl 1 migrate "$d" h2 >/dev/null
wait_for 10 logged "$d" '"event":"moved"'
p=$(ctl 2 --json agents | python3 -c 'import json,sys
print(*[(a["state"], a["progress"]) for a in json.load(sys.stdin)["agents"] if a["id"] == sys.argv[1]][0])' "$d")
if echo "$p" | grep -q '^suspended 0\.[0-9]*[1-9]'; then
	ok progress_survives_move
else
	fail progress_survives_move "state and progress on h2 after the move: '$p'"
fi
ctl 2 kill "$d" >/dev/null

# A start that fails is the spawn's answer: exit 1 and the reason.
expect_error spawn_start_failed 1 'failed to start: .*unknown key' \
    "$CTL" --connect "127.0.0.1:$((base + 1))" --key "$T/key" spawn "$W" '{"bogus": 1}'

# agent_spawn: on a named host, by the scheduler, and refused with why.
sha=$(sha256sum "$W" | cut -c1-64)
e=$(ctl 1 spawn "$W" "{\"bytes\": 4096, \"spawn\": {\"code\": \"$sha\", \"host\": \"h2\", \"args\": {\"bytes\": 4096, \"laps\": 3}}}")
wait_for 10 logged "$e" 'wanderer: spawned '
kid=$(ev "$e" | grep -o 'wanderer: spawned [^"]*' | head -1 | cut -d' ' -f3)
if [ -n "$kid" ] && wait_for 10 ended "$kid" &&
    ev "$kid" | grep '"event":"finished"' | grep -q '"host":"h2"'; then
	ok agent_spawn_on_host
else
	fail agent_spawn_on_host "spawned '$kid': $(ev "$e" | grep log | tail -2)"
fi
f=$(ctl 1 spawn "$W" "{\"bytes\": 4096, \"spawn\": {\"code\": \"$sha\", \"args\": {\"bytes\": 4096, \"laps\": 3}}}")
if wait_for 10 logged "$f" 'wanderer: spawned h1\.'; then
	ok agent_spawn_scheduled
else
	fail agent_spawn_scheduled "$(ev "$f" | grep log | tail -2)"
fi
zero=0000000000000000000000000000000000000000000000000000000000000000
g=$(ctl 1 spawn "$W" "{\"bytes\": 4096, \"spawn\": {\"code\": \"$zero\"}}")
h=$(ctl 1 spawn "$W" "{\"bytes\": 4096, \"spawn\": {\"code\": \"$sha\", \"host\": \"nowhere\"}}")
if wait_for 10 logged "$g" 'spawn failed: .*host h1 stores no code' &&
    wait_for 10 logged "$h" 'spawn failed: .*no such host'; then
	ok agent_spawn_refused
else
	fail agent_spawn_refused "$(ev "$g" | grep log | tail -1) / $(ev "$h" | grep log | tail -1)"
fi
for x in $e $f $g $h; do ctl 1 kill "$x" >/dev/null 2>&1; done

# A result is fetched whole with agentctl result, stays until then (a
# plain fetch keeps it), and goes once acknowledged. The agent finishes on
# h2; its home, h1, knows where.
r=$(ctl 1 spawn "$W" '{"bytes": 4096, "hosts": ["h2"], "laps": 2}')
wait_for 10 ended "$r"
ctl 3 request result "{\"agent\": \"$r\"}" >/dev/null 2>&1
k1=$?
ctl 3 result "$r" -o "$T/result" 2>"$T/result.err"
k2=$?
ctl 1 result "$r" >/dev/null 2>&1
k3=$?
if [ $k1 -eq 0 ] && [ $k2 -eq 0 ] && [ $k3 -eq 1 ] &&
    grep -q '^counter 2 checksum [0-9a-f]*$' "$T/result" &&
    ev "$r" | grep -q '"event":"finished".*"host":"h2"'; then
	ok result_fetched_then_acknowledged
else
	fail result_fetched_then_acknowledged "exits $k1 $k2 $k3: $(cat "$T/result" "$T/result.err" 2>&1)"
fi

# watch --all on h3 sees an agent that h2 made (it is h2's, not h3's);
# watch alone on h3 does not.
ctl 3 watch --all 8 >"$T/all" 2>"$T/all.err" &
wa=$!
ctl 3 watch 8 >"$T/one" 2>/dev/null &
wo=$!
pids="$pids $wa $wo"
sleep 0.5
m=$(ctl 2 spawn "$W" '{"bytes": 4096, "laps": 2}')
wait "$wa"
wait "$wo"
if grep -q "\"agent\":\"$m\".*\"event\":\"finished\"\|\"event\":\"finished\".*\"agent\":\"$m\"" "$T/all" &&
    [ "$(grep -c "\"event\":\"finished\",\"agent\":\"$m\"" "$T/all")" = 1 ] &&
    ! grep -q "\"agent\":\"$m\"" "$T/one"; then
	ok watch_all
else
	fail watch_all "$(grep -c "$m" "$T/all") lines of $m with --all, $(grep -c "$m" "$T/one") without; $(cat "$T/all.err")"
fi

# Messages from one agentctl send arrive in order (one connection, one
# sender): the wanderer checks the sequence numbers 0, 1, 2, ... as text.
q=$(ctl 1 spawn "$W" '{"bytes": 4096, "laps": 1, "expect": 12}')
ctl 1 send "$q" 0 1 2 3 4 5 6 7 8 9 10 11 >/dev/null 2>&1
wait_for 10 ended "$q"
if ev "$q" | grep -q '"event":"finished"' && logged "$q" 'messages 12 '; then
	ok send_in_order
else
	fail send_in_order "$(ev "$q" | grep -v progress | tail -2)"
fi

# Kill is never refused, and an order to an ended agent is refused with
# the reason.
expect_error order_after_end 1 "no agent $a" \
    "$CTL" --connect "127.0.0.1:$((base + 1))" --key "$T/key" suspend "$a"

for h in 1 2 3; do
	eval "p=\$pid_$h"
	if ! kill -0 "$p" 2>/dev/null; then
		fail daemons_alive "h$h died: $(tail -3 "$T/log$h")"
		exit 0
	fi
done
ok daemons_alive
