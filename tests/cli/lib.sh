# Shared helpers for CLI tests: source it, then call the checks.
# Every check prints one line: "ok NAME", "FAIL NAME: why" or "skip NAME: why".
NNSIM=${NNSIM_BIN:-$(pwd)/bin}/nnsim
SRC=${NNSIM_SRC:-$(pwd)}
DATA=${NNSIM_DATA:-$SRC/../shared/data}
T=$(mktemp -d "${TMPDIR:-/tmp}/nnsim-cli.XXXXXX")
trap '[ -n "$NNSIM_KEEP" ] || rm -rf "$T"' EXIT
GROUP=${GROUP:-cli}

ok() { echo "ok $GROUP/$1"; }
fail() { echo "FAIL $GROUP/$1: $2"; }
skip() { echo "skip $GROUP/$1: $2"; }

# run_cmd: runs "$@", leaving status in $rc and output in $T/out and $T/err.
run_cmd() {
	"$@" >"$T/out" 2>"$T/err"
	rc=$?
}

# expect_error NAME STATUS PATTERN CMD...: the command exits with STATUS and
# prints exactly one line on stderr that matches the grep -E PATTERN.
expect_error() {
	name=$1 status=$2 pattern=$3
	shift 3
	run_cmd "$@"
	lines=$(wc -l <"$T/err")
	if [ "$rc" -ne "$status" ]; then
		fail "$name" "exit $rc, expected $status: $(head -c 300 "$T/err")"
	elif [ "$lines" -ne 1 ]; then
		fail "$name" "$lines lines on stderr, expected 1: $(head -c 300 "$T/err")"
	elif ! grep -Eq -- "$pattern" "$T/err"; then
		fail "$name" "stderr \"$(cat "$T/err")\" does not match /$pattern/"
	else
		ok "$name"
	fi
}

# json_field FILE KEY: the numeric KEY of the last JSON line of FILE.
json_field() {
	python3 -c 'import json,sys
lines=[l for l in open(sys.argv[1]) if l.strip()]
print(json.loads(lines[-1])[sys.argv[2]])' "$1" "$2"
}

# wait_for SECONDS CMD...: runs CMD every 0.1 s until it succeeds, at most
# SECONDS long; the status says whether it did.
wait_for() {
	limit=$(($1 * 10))
	shift
	i=0
	while [ $i -lt $limit ]; do
		"$@" >/dev/null 2>&1 && return 0
		sleep 0.1
		i=$((i + 1))
	done
	return 1
}

# two_hosts BASE: a cluster key and hosts.json in $T for daemons h1 and h2
# on 127.0.0.1:BASE+1 and 127.0.0.2:BASE+2; daemons that start_host starts
# are killed when the test exits.
two_hosts() {
	base=$1
	pids=
	trap 'for p in $pids; do kill -9 "$p" 2>/dev/null; done; wait 2>/dev/null; [ -n "$NNSIM_KEEP" ] || rm -rf "$T"' EXIT
	"${NNSIM_BIN:-$(pwd)/bin}/agentd" keygen "$T/key"
	cat >"$T/hosts.json" <<JSON
{"hosts": [{"name": "h1", "address": "127.0.0.1:$((base + 1))"},
           {"name": "h2", "address": "127.0.0.2:$((base + 2))"}]}
JSON
}
# three_hosts BASE: the same for h1, h2 and h3 (127.0.0.3:BASE+3);
# up3 says when all three see each other.
three_hosts() {
	two_hosts "$1"
	cat >"$T/hosts.json" <<JSON
{"hosts": [{"name": "h1", "address": "127.0.0.1:$((base + 1))"},
           {"name": "h2", "address": "127.0.0.2:$((base + 2))"},
           {"name": "h3", "address": "127.0.0.3:$((base + 3))"}]}
JSON
}
up3() {
	[ "$("${NNSIM_BIN:-$(pwd)/bin}/agentctl" --connect "127.0.0.1:$((base + 1))" \
	    --key "$T/key" --json hosts | python3 -c 'import json,sys
print(sum(h["state"] in ("up","self") for h in json.load(sys.stdin)["hosts"]))')" = 3 ]
}
# cluster3 BASE: three_hosts with its three daemons started; 0 once they
# see each other, else a FAIL line and 1.
cluster3() {
	three_hosts "$1"
	start_host 1
	start_host 2
	start_host 3
	wait_for 10 up3 && return 0
	fail cluster "3 daemons did not form a cluster"
	return 1
}
# reap PID TENTHS: waits for PID at most TENTHS tenths of a second, killing
# it then; its exit status in rc (124 when it had to be killed).
reap() {
	_i=0
	while kill -0 "$1" 2>/dev/null && [ $_i -lt "$2" ]; do
		sleep 0.1
		_i=$((_i + 1))
	done
	if kill -0 "$1" 2>/dev/null; then
		kill "$1"
		wait "$1"
		rc=124
	else
		wait "$1"
		rc=$?
	fi
}
# start_host N [COMMAND PREFIX...]: daemon hN of two_hosts in the
# background, logging to $T/logN, its pid in pid_N (a prefix such as
# "taskset -c 0" runs it).
start_host() {
	_n=$1
	shift
	"$@" "${NNSIM_BIN:-$(pwd)/bin}/agentd" --listen \
	    "127.0.0.$_n:$((base + _n))" --key "$T/key" \
	    --hosts "$T/hosts.json" --state "$T/s$_n" 2>>"$T/log$_n" &
	pids="$pids $!"
	eval "pid_$_n=$!"
}
