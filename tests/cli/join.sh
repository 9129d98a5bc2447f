# Hosts that join at run time with agentd --join (real daemons): a new host
# joins through any member and every host sees every other; a member that
# restarts learns the joined hosts from the others; a host can join through
# one that is itself still waiting to join; a taken name or address is
# refused with one line and exit 2, and the cluster is undisturbed; and a
# sweep whose sessions queue on two busy hosts starts them on a host that
# joins mid-job.
GROUP=join
. "$(dirname "$0")/lib.sh"

CTL=$NNSIM_BIN/agentctl
AGENTD=$NNSIM_BIN/agentd
two_hosts $((30000 + ($$ % 1500) * 6))
addr() { echo "127.0.0.$1:$((base + $1))"; }
# joiner N CONTACT [PREFIX...]: agentd hN with --join CONTACT, no hosts file.
joiner() {
	_n=$1 _c=$2
	shift 2
	"$@" "$AGENTD" --listen "$(addr "$_n")" --key "$T/key" --name "h$_n" \
	    --join "$_c" --state "$T/s$_n" 2>>"$T/log$_n" &
	pids="$pids $!"
	eval "pid_$_n=$!"
}
# sees N H...: host hN lists exactly hosts H... as up (itself as self).
sees() {
	_n=$1
	shift
	[ "$("$CTL" --connect "$(addr "$_n")" --key "$T/key" --json hosts |
	    python3 -c 'import json,sys
print(" ".join(sorted(h["name"] for h in json.load(sys.stdin)["hosts"]
    if h["state"] in ("up", "self"))))')" = "$*" ]
}

# Two daemons share a hosts file, pinned to a core each (one free core
# each for the sweep below); h3 joins through h1.
start_host 1 taskset -c 0
start_host 2 taskset -c 1
if ! wait_for 10 sees 1 h1 h2; then
	fail cluster "h1 and h2 did not see each other"
	exit 0
fi
joiner 3 "$(addr 1)" taskset -c 1
if wait_for 10 sees 1 h1 h2 h3 && wait_for 10 sees 2 h1 h2 h3 &&
    wait_for 10 sees 3 h1 h2 h3 &&
    grep -q "joined the cluster through $(addr 1): 2 other hosts" "$T/log3"; then
	ok joins_through_a_member
else
	fail joins_through_a_member "$(tail -3 "$T/log3")"
fi

# A member restarts with only its hosts file: a peer tells it of h3.
kill -9 "$pid_2"
wait "$pid_2" 2>/dev/null
start_host 2 taskset -c 1
if wait_for 10 sees 2 h1 h2 h3 && wait_for 10 sees 3 h1 h2 h3; then
	ok restarted_member_learns_joined
else
	fail restarted_member_learns_joined "$(tail -3 "$T/log2")"
fi

# h4 asks h5, which is not there yet; h5 then joins through h2, and h4
# joins through h5: everyone ends up seeing all five.
joiner 4 "$(addr 5)"
sleep 1.5
joiner 5 "$(addr 2)"
if wait_for 15 sees 1 h1 h2 h3 h4 h5 && wait_for 10 sees 4 h1 h2 h3 h4 h5 &&
    grep -q "trying again every 1 s" "$T/log4"; then
	ok joins_through_a_joining_host
else
	fail joins_through_a_joining_host "$(tail -3 "$T/log4")"
fi
kill "$pid_4" "$pid_5"
wait "$pid_4" "$pid_5" 2>/dev/null

# Refusals: one line, exit 2, nothing disturbed.
run_cmd timeout 10 "$AGENTD" --listen "127.0.0.6:$((base + 6))" --key "$T/key" \
    --name h2 --join "$(addr 1)" --state "$T/s6"
if [ "$rc" -eq 2 ] && grep -q "error: --join $(addr 1): host h2: already a member, at $(addr 2)" "$T/err" &&
    sees 1 h1 h2 h3; then
	ok join_refused_taken_name
else
	fail join_refused_taken_name "exit $rc: $(tail -2 "$T/err")"
fi
# h4 is stopped, so its address is free here, but it is still h4's.
run_cmd timeout 10 "$AGENTD" --listen "$(addr 4)" --key "$T/key" --name h9 \
    --join "$(addr 1)" --state "$T/s9"
if [ "$rc" -eq 2 ] && grep -q "error: --join $(addr 1): address $(addr 4): that is h4's" "$T/err"; then
	ok join_refused_taken_address
else
	fail join_refused_taken_address "exit $rc: $(tail -2 "$T/err")"
fi
expect_error join_needs_name 2 '^agentd: --join needs --name' \
    "$AGENTD" --listen "127.0.0.7:$((base + 7))" --join "$(addr 1)"
expect_error join_bad_address 2 '^agentd: --join: expected HOST:PORT' \
    "$AGENTD" --listen "127.0.0.7:$((base + 7))" --name h7 --join h1
expect_error join_self 2 "^agentd: --join $(addr 7): that is this host's own" \
    "$AGENTD" --listen "$(addr 7)" --name h7 --join "$(addr 7)"

# A sweep of six sessions on h1 and h2 (two cores each, as nproc says):
# two wait. h6, a new host, joins mid-job, and a waiting session starts on
# it (or a running one moves there; the balancer may move it on again
# later); all six finish. The sessions last a few seconds each, so the
# join comes well before a core frees.
kill "$pid_3"
wait "$pid_3" 2>/dev/null
wait_for 10 sees 1 h1 h2
cat >"$T/sweep.json" <<'JSON'
{
  "name": "sweep",
  "layers": [{"units": 64, "activation": "tanh"}, {"activation": "softmax"}],
  "loss": "cross_entropy",
  "data": {"train": {"generate": "spiral", "n": 6000, "seed": 1}, "split": 0.2},
  "train": {"epochs": 600, "batch": 16, "seed": 1},
  "parallel": {"mode": "session", "grid": {"train.seed": [1, 2, 3, 4, 5, 6]}}
}
JSON
NNSIM_NO_LIVE=1 "$NNSIM" submit "$T/sweep.json" --connect "$(addr 1)" --key "$T/key" \
    -o "$T/j.nnm" --metrics "$T/j.jsonl" >"$T/j.out" 2>"$T/j.err" &
sub=$!
pids="$pids $sub"
on6() {
	"$CTL" --connect "$(addr 6)" --key "$T/key" --json agents |
	    grep -q '"type": "session"'
}
joined=no
if wait_for 20 test -s "$T/j.jsonl"; then
	joiner 6 "$(addr 2)" taskset -c 1
	wait_for 30 on6 && joined=yes
fi
reap "$sub" 1200
if [ "$rc" -eq 0 ] && [ "$joined" = yes ] &&
    [ "$(grep -c '"event":"session"' "$T/j.jsonl")" -eq 6 ] &&
    grep -q '"event":"host-joined","host":"h6"' "$T/j.jsonl"; then
	ok queued_sessions_start_on_joined_host
else
	fail queued_sessions_start_on_joined_host "exit $rc, on h6: $joined: $(head -c 300 "$T/j.err") $(grep -v '^{"epoch"' "$T/j.jsonl" | cut -c1-160 | head -6)"
fi
