# nnsim console against two real daemons: every command scripted (-c and
# stdin), --json, errors that leave it running, a daemon that goes away and
# comes back, and an interactive session on a pseudo-terminal (completion,
# history, top).
GROUP=console
. "$(dirname "$0")/lib.sh"

AGENTD=$NNSIM_BIN/agentd
CTL=$NNSIM_BIN/agentctl
W=$NNSIM_BIN/agents/wanderer.so
export NNSIM_JOBS="$T/jobs" NNSIM_HISTORY="$T/history"
two_hosts $((38000 + ($$ % 2000) * 10))
start_host 1
start_host 2
A1="127.0.0.1:$((base + 1))"
up2() {
	[ "$("$CTL" --connect "$A1" --key "$T/key" --json hosts | python3 -c 'import json,sys
print(sum(h["state"] in ("up","self") for h in json.load(sys.stdin)["hosts"]))')" = 2 ]
}
if ! wait_for 10 up2; then
	fail cluster "2 daemons did not form a cluster"
	exit 0
fi
CON="$NNSIM console --connect $A1 --key $T/key"
con() {
	run_cmd $CON -c "$1"
}
w1=$("$CTL" --connect "$A1" --key "$T/key" spawn "$W" '{"mb": 1, "laps": 1000000, "sleep_ms": 20}')
w2=$("$CTL" --connect "$A1" --key "$T/key" spawn "$W" '{"mb": 1, "laps": 1000000, "sleep_ms": 20}')

con "hosts"
if [ "$rc" -eq 0 ] && grep -Eq '^h1 +127.0.0.1:[0-9]+ +self ' "$T/out" &&
    grep -Eq '^h2 +127.0.0.2:[0-9]+ +up ' "$T/out"; then
	ok hosts
else
	fail hosts "exit $rc: $(cat "$T/out" "$T/err")"
fi
con "agents; agents h1; agents h2"
if [ "$rc" -eq 0 ] && [ "$(grep -c "^$w1 .*wanderer .*h1 " "$T/out")" = 2 ]; then
	ok agents_of_host
else
	fail agents_of_host "exit $rc: $(cat "$T/out" "$T/err")"
fi
con "show $w1; show h2"
if [ "$rc" -eq 0 ] && grep -q "^agent $w1" "$T/out" &&
    grep -q '"type": "wanderer"' "$T/out" && grep -q '^host h2' "$T/out"; then
	ok show_agent_and_host
else
	fail show_agent_and_host "exit $rc: $(head -c 400 "$T/out") $(cat "$T/err")"
fi

# A job: submitted from the console, listed, shown, its agents by job.
cat >"$T/job.json" <<'JSON'
{
  "name": "long",
  "layers": [{"units": 512, "activation": "relu"},
             {"units": 512, "activation": "relu"}, {"activation": "softmax"}],
  "loss": "cross_entropy",
  "data": {"train": {"generate": "spiral", "n": 6000, "classes": 3,
                     "seed": 1}, "split": 0.2},
  "train": {"epochs": 200, "batch": 16,
            "optimizer": {"type": "adam", "lr": 0.005}, "seed": 1}
}
JSON
con "submit $T/job.json"
job=$(sed -n 's/^job \([0-9a-f]*\) submitted.*/\1/p' "$T/out")
session_up() {
	$CON -c "agents $job" 2>/dev/null | grep -q ' session '
}
if [ "$rc" -eq 0 ] && [ -n "$job" ] && wait_for 20 session_up; then
	ok submit
else
	fail submit "exit $rc: $(cat "$T/out" "$T/err"); $(cat "$NNSIM_JOBS"/*/log 2>/dev/null | head -5)"
fi
con "jobs; show $job; agents $job"
sess=$(grep -E '^[a-z0-9]+\.[0-9]+ +session ' "$T/out" | head -n 1 | awk '{print $1}')
if [ "$rc" -eq 0 ] && grep -Eq "^$job +running +1 " "$T/out" &&
    grep -q "^job $job" "$T/out" && [ -n "$sess" ]; then
	ok jobs_and_show_job
else
	fail jobs_and_show_job "exit $rc: $(cat "$T/out" "$T/err")"
fi

# An agent its job started again after a loss (nnsim submit gives the
# spawn a "recovery") shows as recovering, with its job, until its first
# step is done (the progress of its second, 2 s each, shows it).
wsha=$(sha256sum "$W" | cut -d' ' -f1)
rid=$("$CTL" --connect "$A1" --key "$T/key" request spawn "{\"code\": \"$wsha\", \"args\": {\"mb\": 1, \"laps\": 5, \"sleep_ms\": 2000}, \"job\": \"recov\", \"recovery\": \"its host h3 went down (retry 1 of 2)\"}" |
    sed -n 's/.*"agent": *"\([^"]*\)".*/\1/p')
con "agents recov; jobs; show $rid"
rec_running() {
	$CON -c "agents recov" 2>/dev/null | grep -Eq "^$rid .* running "
}
if [ "$rc" -eq 0 ] && [ -n "$rid" ] && grep -Eq "^$rid .* recovering " "$T/out" &&
    grep -Eq '^recov +recovering +1 ' "$T/out" &&
    grep -q '"recovery": "its host h3 went down (retry 1 of 2)"' "$T/out" &&
    wait_for 15 rec_running; then
	ok recovering_agent_shown
else
	fail recovering_agent_shown "exit $rc ($rid): $(cat "$T/out" "$T/err" | head -20)"
fi

# Steering: migrate, suspend, resume, clone, send, logs, kill.
con "migrate $w1 h2"
if [ "$rc" -eq 0 ] && grep -q "^$w1: moved to h2" "$T/out" &&
    "$CTL" --connect "$A1" --key "$T/key" request where "{\"agent\": \"$w1\"}" | grep -q h2; then
	ok migrate
else
	fail migrate "exit $rc: $(cat "$T/out" "$T/err")"
fi
# state_is AGENT STATE: the console shows the agent in that state.
state_is() {
	[ "$($CON --json -c agents | python3 -c "import json,sys
print([a['state'] for a in json.load(sys.stdin) if a['id'] == '$1'][0])")" = "$2" ]
}
con "suspend $w2"
r1=$rc
wait_for 10 state_is "$w2" suspended
s1=$?
con "resume $w2"
if [ $r1 -eq 0 ] && [ $s1 -eq 0 ] && [ "$rc" -eq 0 ] &&
    wait_for 10 state_is "$w2" running; then
	ok suspend_resume
else
	fail suspend_resume "exits $r1 $rc, suspended $s1: $($CON -c agents 2>&1 | tr '\n' '|')"
fi
n0=$($CON -c agents | grep -c ' wanderer ')
con "clone $w2 h2"
clones() {
	[ "$($CON -c agents | grep -c ' wanderer ')" -gt "$n0" ]
}
if [ "$rc" -eq 0 ] && wait_for 10 clones; then
	ok clone
else
	fail clone "exit $rc: $(cat "$T/out" "$T/err")"
fi
con "send $sess hello there"
logged() {
	$CON -c "logs $sess" | grep -q 'ignored a 11-byte message from client:'
}
if [ "$rc" -eq 0 ] && grep -q "^$sess: sent" "$T/out" && wait_for 10 logged; then
	ok send_and_logs
else
	fail send_and_logs "exit $rc: $(cat "$T/out" "$T/err"); $($CON -c "logs $sess" 2>&1 | tail -3)"
fi
con "kill $w2"
if [ "$rc" -eq 0 ] && ! $CON -c agents | grep -q "^$w2 "; then
	ok kill
else
	fail kill "exit $rc: $(cat "$T/out" "$T/err")"
fi
# logs -f in a script follows until the agent ends.
"$CTL" --connect "$A1" --key "$T/key" spawn "$W" '{"mb": 1, "laps": 30, "sleep_ms": 50}' >"$T/short"
run_cmd timeout 30 $CON -c "logs $(cat "$T/short") -f"
if [ "$rc" -eq 0 ] && grep -q 'wanderer: done on h' "$T/out"; then
	ok logs_follow
else
	fail logs_follow "exit $rc: $(cat "$T/out" "$T/err")"
fi

# drain: every agent leaves h2 and h2 takes no new one; undrain ends it.
con "drain h2"
empty_h2() {
	! $CON -c "agents h2" | grep -q ' h2 '
}
h2_draining() {
	$CON -c hosts | grep -Eq '^h2 .* yes$'
}
if [ "$rc" -eq 0 ] && grep -q '^h2: draining' "$T/out" && wait_for 20 empty_h2 &&
    wait_for 5 h2_draining &&
    ! "$CTL" --connect "127.0.0.2:$((base + 2))" --key "$T/key" spawn "$W" '{"laps": 1}' 2>"$T/sp" >/dev/null &&
    grep -q 'draining' "$T/sp"; then
	ok drain
else
	fail drain "exit $rc: $(cat "$T/out" "$T/err"); $($CON -c 'agents; hosts' 2>&1 | tr '\n' '|'); spawn: $(cat "$T/sp")"
fi
con "undrain h2"
h2_takes() {
	$CON -c hosts | grep -Eq '^h2 .* no$'
}
if [ "$rc" -eq 0 ] && wait_for 5 h2_takes; then
	ok undrain
else
	fail undrain "exit $rc: $(cat "$T/out" "$T/err")"
fi
con "top"
if [ "$rc" -eq 0 ] && grep -q '^HOST ' "$T/out" && grep -q '^AGENT ' "$T/out"; then
	ok top_once_in_scripts
else
	fail top_once_in_scripts "exit $rc: $(cat "$T/out" "$T/err")"
fi
con "cancel $job"
gone_job() {
	! $CON -c "agents $job" | grep -q ' session '
}
if [ "$rc" -eq 0 ] && grep -q "^job $job: cancelled" "$T/out" && wait_for 20 gone_job; then
	ok cancel
else
	fail cancel "exit $rc: $(cat "$T/out" "$T/err"); $(cat "$NNSIM_JOBS/$job/job.json" | tr '\n' ' '); $(tail -3 "$NNSIM_JOBS/$job/log")"
fi
con "help; help migrate; quit; hosts"
if [ "$rc" -eq 0 ] && grep -q '^  migrate  AGENT HOST' "$T/out" &&
    grep -q '^migrate AGENT HOST' "$T/out" && ! grep -q '^HOST ' "$T/out"; then
	ok help_and_quit
else
	fail help_and_quit "exit $rc: $(cat "$T/out" "$T/err")"
fi

# Errors: one line each, the console carries on, the status says so.
con "bogus; migrate nosuch.1 h1; migrate $w1 nohost; show nothing; hosts"
if [ "$rc" -eq 1 ] && grep -q 'unknown command "bogus"' "$T/err" &&
    grep -q 'migrate: no agent "nosuch.1"' "$T/err" &&
    grep -q 'migrate: no host "nohost"' "$T/err" &&
    grep -q 'show: no agent, host, job or data set "nothing"' "$T/err" &&
    grep -q '^h1 ' "$T/out"; then
	ok errors_carry_on
else
	fail errors_carry_on "exit $rc: $(cat "$T/out" "$T/err")"
fi
con "cancel 00000000; help nosuch; kill nosuch.9; drain nohost; logs; send nosuch.9 hi; migrate x"
if [ "$rc" -eq 1 ] && grep -q 'cancel: no running job "00000000"' "$T/err" &&
    grep -q 'help: no command "nosuch"' "$T/err" &&
    grep -q 'kill: no agent "nosuch.9"' "$T/err" &&
    grep -q 'drain: no host "nohost"' "$T/err" &&
    grep -q 'usage: logs AGENT \[-f\]' "$T/err" &&
    grep -q 'send: no agent "nosuch.9"' "$T/err" &&
    grep -q 'usage: migrate AGENT HOST' "$T/err"; then
	ok more_errors
else
	fail more_errors "exit $rc: $(cat "$T/err")"
fi
run_cmd $CON --json -c "hosts; agents"
if [ "$rc" -eq 0 ] && python3 - "$T/out" <<'PY'
import json, sys
lines = open(sys.argv[1]).read().splitlines()
hosts, agents = json.loads(lines[0]), json.loads(lines[1])
assert {h["name"] for h in hosts} == {"h1", "h2"}, hosts
assert all("id" in a and "job" in a for a in agents), agents
PY
then
	ok json_output
else
	fail json_output "exit $rc: $(cat "$T/out" "$T/err")"
fi
printf 'hosts\nagents h1\n' | $CON >"$T/out" 2>"$T/err"
rc=$?
if [ "$rc" -eq 0 ] && grep -q '^HOST ' "$T/out" && grep -q '^AGENT ' "$T/out"; then
	ok commands_from_stdin
else
	fail commands_from_stdin "exit $rc: $(cat "$T/out" "$T/err")"
fi
expect_error bad_option 2 'console: unknown option' "$NNSIM" console --bogus
expect_error no_daemon 1 'console: 127.0.0.1:1: cannot connect' \
    "$NNSIM" console --connect 127.0.0.1:1 -c hosts

# A daemon that goes away is reported; the console reconnects when it
# comes back.
python3 - "$NNSIM" "$A1" "$T/key" "$pid_1" "$AGENTD" "$T" >"$T/re" 2>&1 <<'PY'
import os, select, signal, subprocess, sys, time
nnsim, addr, key, pid, agentd, t = sys.argv[1:7]
p = subprocess.Popen([nnsim, "console", "--connect", addr, "--key", key],
                     stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                     stderr=subprocess.STDOUT)
def ask(cmd, wait):
    p.stdin.write((cmd + "\n").encode())
    p.stdin.flush()
    out, end = b"", time.time() + wait
    while time.time() < end:
        r, _, _ = select.select([p.stdout], [], [], 0.2)
        if r:
            out += os.read(p.stdout.fileno(), 65536)
    return out.decode()
print("ONE", ask("hosts", 2))
os.kill(int(pid), signal.SIGKILL)
time.sleep(0.5)
print("TWO", ask("hosts", 3))
d = subprocess.Popen([agentd, "--listen", addr, "--key", key, "--hosts",
                      t + "/hosts.json", "--state", t + "/s1"],
                     stderr=open(t + "/log1b", "w"))
open(t + "/pid1b", "w").write(str(d.pid))
time.sleep(1.5)
print("THREE", ask("hosts", 3))
p.stdin.close()
p.wait(10)
print("EXIT", p.returncode)
PY
[ -s "$T/pid1b" ] && pids="$pids $(cat "$T/pid1b")"
if grep -q '^ONE HOST' "$T/re" &&
    grep -q "the daemon at $A1 is gone" "$T/re" &&
    grep -q "reconnected to $A1" "$T/re" &&
    sed -n '/^THREE/,$p' "$T/re" | grep -q '^h1 ' &&
    grep -q '^EXIT 1' "$T/re"; then
	ok reconnects
else
	fail reconnects "$(tr '\n' '|' <"$T/re")"
fi

# On a terminal: completion of commands and ids, history, top until a key.
wait_for 10 up2
python3 - "$NNSIM" "$A1" "$T/key" "$job" >"$T/pty" 2>&1 <<'PY'
import os, pty, select, subprocess, sys, time
nnsim, addr, key, job = sys.argv[1:5]
m, s = pty.openpty()
p = subprocess.Popen([nnsim, "console", "--connect", addr, "--key", key],
                     stdin=s, stdout=s, stderr=s)
os.close(s)
def chat(keys, wait):
    os.write(m, keys.encode())
    out, end = b"", time.time() + wait
    while time.time() < end:
        r, _, _ = select.select([m], [], [], 0.1)
        if r:
            try:
                out += os.read(m, 65536)
            except OSError:
                break
    return out.decode(errors="replace")
chat("", 1.0)
print("COMPLETE_CMD", repr(chat("hos\t", 1.0)))
print("RUN", repr(chat("\r", 1.5)))
print("COMPLETE_JOB", repr(chat("show " + job[:5] + "\t\r", 2.0)))
print("HISTORY", repr(chat("\x1b[A\x1b[A\r", 1.5)))
print("TOP", repr(chat("top\r", 2.5)))
print("KEY", repr(chat("x", 1.5)))
print("QUIT", repr(chat("quit\r", 1.0)))
p.wait(10)
print("EXIT", p.returncode)
PY
if grep -q "^COMPLETE_CMD 'hos.*ts " "$T/pty" &&
    grep "^RUN" "$T/pty" | grep -q 'HOST ' &&
    grep "^COMPLETE_JOB" "$T/pty" | grep -q "job $job" &&
    grep "^HISTORY" "$T/pty" | grep -q 'HOST ' &&
    grep "^TOP" "$T/pty" | grep -q 'any key' &&
    grep "^KEY" "$T/pty" | grep -q 'nnsim> ' &&
    grep -q '^EXIT 0' "$T/pty" && grep -q '^hosts$' "$NNSIM_HISTORY"; then
	ok interactive_completion_history_top
else
	fail interactive_completion_history_top "$(cut -c1-300 "$T/pty")"
fi

# ^C at the prompt, in a ^R search and in top cancels and never exits;
# SIGTERM ends the console with its history saved. The pty is the
# console's controlling terminal here, so ^C is a SIGINT as for a user.
rm -f "$NNSIM_HISTORY"
python3 - "$NNSIM" "$A1" "$T/key" >"$T/ctrlc" 2>&1 <<'PY'
import fcntl, os, pty, select, signal, subprocess, sys, termios, time
nnsim, addr, key = sys.argv[1:4]
m, s = pty.openpty()
def tty():
    os.setsid()
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)
p = subprocess.Popen([nnsim, "console", "--connect", addr, "--key", key],
                     stdin=s, stdout=s, stderr=s, preexec_fn=tty)
os.close(s)
def chat(keys, wait):
    os.write(m, keys.encode())
    out, end = b"", time.time() + wait
    while time.time() < end:
        r, _, _ = select.select([m], [], [], 0.1)
        if r:
            try:
                out += os.read(m, 65536)
            except OSError:
                break
    return out.decode(errors="replace")
chat("", 1.0)
print("LINE", repr(chat("half a line\x03", 0.5)))
print("AFTER_LINE", repr(chat("jobs\r", 1.0)))
print("SEARCH", repr(chat("\x12job\x03", 0.5)))
print("TOP", repr(chat("top\r", 1.5)))
print("TOP_C", repr(chat("\x03", 1.0)))
print("AFTER_TOP", repr(chat("hosts\r", 1.0)))
print("ALIVE", p.poll() is None)
p.send_signal(signal.SIGTERM)
p.wait(10)
print("EXIT", p.returncode)
PY
if grep "^LINE" "$T/ctrlc" | grep -q 'nnsim> ' &&
    grep "^AFTER_LINE" "$T/ctrlc" | grep -q "^AFTER_LINE 'jobs.*JOB " &&
    grep "^SEARCH" "$T/ctrlc" | grep -q 'nnsim> ' &&
    grep "^TOP_C" "$T/ctrlc" | grep -q 'nnsim> ' &&
    grep "^AFTER_TOP" "$T/ctrlc" | grep -q 'HOST ' &&
    grep -q '^ALIVE True' "$T/ctrlc" && grep -q '^EXIT 0' "$T/ctrlc" &&
    [ "$(grep -c '^\(jobs\|top\|hosts\)$' "$NNSIM_HISTORY")" = 3 ] &&
    ! grep -q 'half a line' "$NNSIM_HISTORY"; then
	ok interactive_ctrl_c_and_sigterm
else
	fail interactive_ctrl_c_and_sigterm "$(cut -c1-300 "$T/ctrlc"); history: $(cat "$NNSIM_HISTORY" 2>/dev/null)"
fi
