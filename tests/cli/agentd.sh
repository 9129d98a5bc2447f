# agentd with real daemons on 127.0.0.1, .2 and .3: keys, authentication,
# heartbeats, host lists, malformed frames and signals.
GROUP=agentd
. "$(dirname "$0")/lib.sh"

AGENTD=$NNSIM_BIN/agentd
CTL=$NNSIM_BIN/agentctl
base=$((20000 + ($$ % 2000) * 10))
P1=$base P2=$((base + 1)) P3=$((base + 2))
pids=

stop_all() {
	for p in $pids; do kill -9 "$p" 2>/dev/null; done
	for p in $pids; do wait "$p" 2>/dev/null; done
	pids=
}
trap 'stop_all; rm -rf "$T"' EXIT

# start N ADDR: agentd I on ADDR with the cluster key; pid in pid_N.
start() {
	"$AGENTD" --listen "$2" --key "$T/key" --hosts "$T/hosts.json" \
		--state "$T/state$1" --log-level debug 2>>"$T/log$1" &
	eval "pid_$1=$!"
	pids="$pids $!"
}


hosts_up() {
	n=$("$CTL" --connect "$1" --key "$T/key" --json hosts |
	    python3 -c 'import json,sys
h=json.load(sys.stdin)["hosts"]
print(sum(1 for x in h if x["state"] in ("up","self")))')
	[ "$n" = "$2" ]
}

host_state() {
	"$CTL" --connect "$1" --key "$T/key" --json hosts | python3 -c '
import json,sys
for h in json.load(sys.stdin)["hosts"]:
    if h["name"] == sys.argv[1]: print(h["state"])' "$2"
}

host_down() {
	[ "$(host_state "$1" "$2")" = down ]
}

# down_within TEST ADDR HOST MS: the daemon at ADDR marks HOST down within
# MS ms of now (the caller has just killed or stopped it).
down_within() {
	t0=$(date +%s%N)
	if wait_for 6 host_down "$2" "$3"; then
		ms=$((($(date +%s%N) - t0) / 1000000))
		if [ $ms -le "$4" ]; then
			echo "ok agentd/$1 (${ms} ms)"
		else
			fail "$1" "took $ms ms"
		fi
	else
		fail "$1" "$3 never marked down"
	fi
}

# Keys: mode 0600, never overwritten.
run_cmd "$AGENTD" keygen "$T/key"
mode=$(stat -c %a "$T/key" 2>/dev/null)
if [ "$rc" -eq 0 ] && [ "$mode" = 600 ] && grep -Eq '^[0-9a-f]{64}$' "$T/key"; then
	ok keygen
else
	fail keygen "rc $rc mode $mode"
fi
cp "$T/key" "$T/key.orig"
expect_error keygen_no_overwrite 1 'already exists' "$AGENTD" keygen "$T/key"
cmp -s "$T/key" "$T/key.orig" || fail keygen_kept "key changed"
"$AGENTD" keygen "$T/otherkey" >/dev/null 2>&1

cat >"$T/hosts.json" <<JSON
{"hosts": [
  {"name": "h1", "address": "127.0.0.1:$P1"},
  {"name": "h2", "address": "127.0.0.2:$P2"},
  {"name": "h3", "address": "127.0.0.3:$P3"}
]}
JSON

run_cmd "$AGENTD" --help
if [ "$rc" -eq 0 ] && grep -q -- '--hosts FILE' "$T/out"; then ok help; else fail help "rc $rc"; fi
expect_error bad_option 2 'unknown option "--bogus"' "$AGENTD" --bogus
expect_error bad_listen 2 '--listen: .*"nowhere"' "$AGENTD" --listen nowhere
expect_error bad_level 2 '--log-level: unknown "loud"' "$AGENTD" --log-level loud
chmod 644 "$T/otherkey"
expect_error key_mode 2 '--key: .*readable by others' "$AGENTD" --key "$T/otherkey"
chmod 600 "$T/otherkey"
echo '{"hosts": [{"name": "h1", "adress": "x"}]}' >"$T/badhosts.json"
expect_error bad_down_after 2 '--down-after: expected 100 to 3600000 ms, got "5"' "$AGENTD" --down-after 5
expect_error keygen_usage 2 'agentd keygen: expected one FILE' "$AGENTD" keygen
expect_error ctl_unknown_command 2 'unknown command "frobnicate"' "$CTL" frobnicate
# --version: the one release of the three programs, exit 0.
v=$("$NNSIM_BIN/nnsim" --version | sed -n 's/^nnsim \([0-9][0-9.]*\)$/\1/p')
if [ -n "$v" ] && [ "$("$AGENTD" --version)" = "agentd $v" ] &&
    [ "$("$CTL" --version)" = "agentctl $v" ]; then
	ok "version (agentd, agentctl and nnsim $v)"
else
	fail version "nnsim '$v', $("$AGENTD" --version 2>&1), $("$CTL" --version 2>&1)"
fi
expect_error ctl_spawn_args 2 'spawn: ARGS must be a JSON object' "$CTL" spawn x.so '[1]'
expect_error ctl_no_daemon 1 'cannot connect' "$CTL" --connect 127.0.0.1:1 ping
expect_error bad_hosts_file 2 'badhosts.json: hosts\[0\]' "$AGENTD" --hosts "$T/badhosts.json"

start 1 "127.0.0.1:$P1"
start 2 "127.0.0.2:$P2"
start 3 "127.0.0.3:$P3"

# All three see each other up within a few seconds of starting.
ups=0
for a in "127.0.0.1:$P1" "127.0.0.2:$P2" "127.0.0.3:$P3"; do
	wait_for 10 hosts_up "$a" 3 && ups=$((ups + 1))
done
if [ $ups -eq 3 ]; then ok cluster_forms; else fail cluster_forms "$ups of 3 daemons see 3 hosts: $(tail -3 "$T/log1")"; fi

run_cmd "$CTL" --connect "127.0.0.2:$P2" --key "$T/key" hosts
if [ "$rc" -eq 0 ] && [ "$(grep -c ' up \| self ' "$T/out")" -eq 3 ] &&
    grep -q '^h2 .*self' "$T/out"; then
	ok hosts_table
else
	fail hosts_table "rc $rc: $(cat "$T/out" "$T/err")"
fi
# Heartbeats carry host information.
if "$CTL" --connect "127.0.0.1:$P1" --key "$T/key" --json hosts | python3 -c '
import json,sys
for h in json.load(sys.stdin)["hosts"]:
    assert h["cores"] >= 1 and h["mem_bytes"] > 0 and "load" in h and "gpus" in h, h'; then
	ok host_info
else
	fail host_info "missing fields"
fi

# A client with the wrong key, or none, is refused and logged.
expect_error wrong_key_client 1 'authentication failed' \
	"$CTL" --connect "127.0.0.1:$P1" --key "$T/otherkey" ping
expect_error no_key_client 1 'this daemon requires a key \(--key\)' \
	"$CTL" --connect "127.0.0.1:$P1" ping
if grep -q 'authentication failed' "$T/log1"; then ok wrong_key_logged; else fail wrong_key_logged "no log line"; fi
# A daemon with the wrong key is never taken as a peer.
"$AGENTD" --listen "127.0.0.4:$((base + 3))" --key "$T/otherkey" --name h4 \
	--hosts "$T/hosts.json" --state "$T/state4" 2>"$T/log4" &
pid4=$!
pids="$pids $pid4"
sleep 1.5
if [ "$(host_state "127.0.0.1:$P1" h4)" = "" ] && hosts_up "127.0.0.1:$P1" 3; then
	ok wrong_key_peer
else
	fail wrong_key_peer "h4 joined"
fi

# Malformed frames: each closes its connection and the daemon lives on.
(cd "$SRC/tests/cli" && python3 agentd_malformed.py "127.0.0.1:$P1" "$T/key")
if kill -0 "$pid_1" 2>/dev/null; then ok alive_after_malformed; else fail alive_after_malformed "daemon died"; fi

# kill -9 a daemon: the others mark it down within 3 s.
kill -9 "$pid_3"
down_within host_down_detected "127.0.0.1:$P1" h3 3500
# A host that stops answering but keeps its connection open (SIGSTOP) is
# marked down by the heartbeat timeout, within 3 s.
# Timed by the daemon's own log line, so that the polling (slow under
# ASan) does not count.
t_stop=$(date +%s%N)
kill -STOP "$pid_2"
if wait_for 6 host_down "127.0.0.1:$P1" h2 &&
    line=$(grep 'host h2 .* down: no heartbeat' "$T/log1" | tail -n 1) &&
    [ -n "$line" ]; then
	ms=$(python3 -c 'import datetime,sys
t = datetime.datetime.strptime(sys.argv[1][:23], "%Y-%m-%dT%H:%M:%S.%f")
t = t.replace(tzinfo=datetime.timezone.utc).timestamp()
print(int(t * 1000 - int(sys.argv[2]) / 1e6))' "$line" "$t_stop")
	if [ "$ms" -le 3400 ]; then
		echo "ok agentd/silent_host_down (${ms} ms)"
	else
		fail silent_host_down "took $ms ms"
	fi
	ok silent_host_logged
else
	fail silent_host_down "h2 never marked down, or no log line"
fi
kill -CONT "$pid_2"

# It comes back when restarted.
start 3 "127.0.0.3:$P3"
if wait_for 8 hosts_up "127.0.0.1:$P1" 3 && wait_for 8 hosts_up "127.0.0.2:$P2" 3; then
	ok host_back_up
else
	fail host_back_up "h1 sees: $("$CTL" --connect "127.0.0.1:$P1" --key "$T/key" hosts | tr '\n' ' '); h1 log: $(grep -E 'h[23]' "$T/log1" | tail -4 | tr '\n' ' ')"
fi

# SIGHUP reloads the hosts file.
cat >"$T/hosts.json" <<JSON
{"hosts": [
  {"name": "h1", "address": "127.0.0.1:$P1"},
  {"name": "h2", "address": "127.0.0.2:$P2"}
]}
JSON
kill -HUP "$pid_1"
if wait_for 5 sh -c "[ \"\$($CTL --connect 127.0.0.1:$P1 --key $T/key --json hosts | python3 -c 'import json,sys; print(len(json.load(sys.stdin)[\"hosts\"]))')\" = 2 ]"; then
	ok sighup_reload
else
	fail sighup_reload "still $(host_state "127.0.0.1:$P1" h3)"
fi

# SIGTERM: a clean exit with status 0.
kill -TERM "$pid_2"
wait "$pid_2"
st=$?
if [ $st -eq 0 ] && grep -q 'shutting down' "$T/log2"; then ok sigterm; else fail sigterm "status $st"; fi

# Without --key: loopback only, and it says so.
"$AGENTD" --listen "127.0.0.1:$((base + 5))" --name solo --state "$T/state5" 2>"$T/log5" &
pid5=$!
pids="$pids $pid5"
if wait_for 5 "$CTL" --connect "127.0.0.1:$((base + 5))" ping &&
    grep -q 'loopback connections only' "$T/log5"; then
	ok no_key_loopback
else
	fail no_key_loopback "$(cat "$T/log5")"
fi
stop_all

# --down-after 600: heartbeats go every 200 ms, so the link holds steady
# (with a ping a second it flapped), and a stopped host is marked down
# within about 0.6 s. h7 keeps the default, 3 s: it pings once a second,
# and h6 still hears from it in time, since a ping is answered at once.
P6=$((base + 6)) P7=$((base + 7))
cat >"$T/hosts67.json" <<JSON
{"hosts": [
  {"name": "h6", "address": "127.0.0.1:$P6"},
  {"name": "h7", "address": "127.0.0.2:$P7"}
]}
JSON
"$AGENTD" --listen "127.0.0.1:$P6" --key "$T/key" --hosts "$T/hosts67.json" \
	--state "$T/state6" --down-after 600 2>"$T/log6" &
pid6=$!
"$AGENTD" --listen "127.0.0.2:$P7" --key "$T/key" --hosts "$T/hosts67.json" \
	--state "$T/state7" 2>"$T/log7" &
pid7=$!
pids="$pids $pid6 $pid7"
if wait_for 5 hosts_up "127.0.0.1:$P6" 2; then
	sleep 4
	if hosts_up "127.0.0.1:$P6" 2 && ! grep -q 'down' "$T/log6" "$T/log7"; then
		ok short_down_after_steady
	else
		fail short_down_after_steady "$(grep -h down "$T/log6" "$T/log7" | head -n 2 | tr '\n' ' ')"
	fi
	kill -STOP "$pid7"
	down_within short_down_after_detected "127.0.0.1:$P6" h7 1500
	kill -CONT "$pid7"
else
	fail short_down_after_steady "h6 and h7 did not see each other"
fi
stop_all
