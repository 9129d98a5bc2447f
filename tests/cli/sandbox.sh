# Workers run with least privilege (docs/security.md, "Workers"). The
# probe agent tries, from inside a worker, what a hostile agent would:
# read the daemon's memory and key, write the code store, execve, ptrace,
# process_vm_readv and signal the daemon, make a user namespace. Under a
# root daemon it must run as the worker user with no capabilities,
# no_new_privs, a seccomp filter and the host's limits; under a daemon run
# by a user, as that user, and still reach none of it. A memory hog fails
# alone with its reason; limits and extra system calls are asked for at
# spawn and checked; bad options exit 2 with one line.
GROUP=sandbox
. "$(dirname "$0")/lib.sh"

AGENTD=$NNSIM_BIN/agentd
CTL=$NNSIM_BIN/agentctl
P=$NNSIM_BIN/agents/probe.so
C=$NNSIM_BIN/agents/counter.so
two_hosts $((36000 + ($$ % 2000) * 3))

# What this kernel offers: the checks that need a mechanism skip without.
landlock=$(python3 -c 'import ctypes
libc = ctypes.CDLL(None, use_errno=True)
print(max(libc.syscall(444, None, 0, 1), 0))')
seccomp=0
[ -e /proc/sys/kernel/seccomp/actions_avail ] && seccomp=1
# An AddressSanitizer build sets no memory limit (its shadow is terabytes)
# and lets workers clone a process (LeakSanitizer's tracer).
asan=0
ldd "$AGENTD" 2>/dev/null | grep -q libasan && asan=1
nofork=fork
[ $asan = 1 ] && nofork=

# start NAME [PREFIX...] -- [AGENTD OPTIONS]: a daemon on 127.0.0.1,
# logging to $T/NAME.log; its pid in dpid.
port=$((base + 1))
start() {
	_name=$1
	shift
	"$@" 2>>"$T/$_name.log" &
	dpid=$!
	pids="$pids $dpid"
	wait_for 10 ctl hosts
}
ctl() { "$CTL" --connect "127.0.0.1:$port" --key "$KEY" "$@"; }
# probe_result OUT ARGS [LIMITS]: spawns the probe and writes its result.
probe_result() {
	_a=$(ctl spawn "$P" "$2" ${3:+"$3"} 2>"$1.err") &&
	    wait_for 10 sh -c "$CTL --connect 127.0.0.1:$port --key $KEY result $_a -o $1"
}
# field FILE KEY: one key of the probe's result.
field() {
	python3 -c 'import json,sys
v = json.load(open(sys.argv[1])).get(sys.argv[2])
print("null" if v is None else v)' "$1" "$2" 2>/dev/null
}
# all_denied FILE KEY...: the keys named all say "denied: ...".
all_denied() {
	_f=$1
	shift
	for _k in "$@"; do
		case "$(field "$_f" "$_k")" in
		denied:*) ;;
		*) echo "$_k: $(field "$_f" "$_k")"; return 1 ;;
		esac
	done
}

# Bad options: one line, exit 2, nothing started.
KEY=$T/key
expect_error unknown_worker_user 2 '^agentd: --worker-user: no user "no-such-user-x" on this host$' \
	"$AGENTD" --listen "127.0.0.1:$port" --state "$T/sx" --worker-user no-such-user-x
if [ "$(id -u)" = 0 ]; then
	expect_error root_worker_user_refused 2 '^agentd: --worker-user: root is root; workers need an unprivileged user$' \
		"$AGENTD" --listen "127.0.0.1:$port" --state "$T/sx" --worker-user root
else
	skip root_worker_user_refused "not root"
fi
expect_error bad_sandbox_value 2 '^agentd: --sandbox: expected on or off, got "maybe"$' \
	"$AGENTD" --listen "127.0.0.1:$port" --state "$T/sx" --sandbox maybe
expect_error unknown_syscall 2 '^agentd: --worker-syscalls: unknown system call "no_such_call"$' \
	"$AGENTD" --listen "127.0.0.1:$port" --state "$T/sx" --worker-syscalls unshare,no_such_call
expect_error worker_mem_range 2 '^agentd: --worker-mem: expected 16 to [0-9]+, got "2"$' \
	"$AGENTD" --listen "127.0.0.1:$port" --state "$T/sx" --worker-mem 2

# --cgroup: a folder that is not cgroup v2, or one without the memory
# controller, is refused with one line.
expect_error cgroup_not_cgroup2 2 '^agentd: --cgroup /tmp: not a cgroup v2 folder' \
	"$AGENTD" --listen "127.0.0.1:$port" --state "$T/sx" --cgroup /tmp
cg2=$(awk '$3 == "cgroup2" { print $2; exit }' /proc/mounts)
if [ -z "$cg2" ]; then
	skip cgroup_without_memory "no cgroup v2 mount here"
elif grep -qw memory "$cg2/cgroup.controllers"; then
	skip cgroup_without_memory "cgroup v2 here has the memory controller"
else
	expect_error cgroup_without_memory 2 "^agentd: --cgroup $cg2: no memory controller there" \
		"$AGENTD" --listen "127.0.0.1:$port" --state "$T/sx" --cgroup "$cg2"
fi
# With the memory controller (a root daemon, a cgroup made for the test
# and removed after): a hog is killed by the kernel at its memory.max,
# and its owner is told so; a counter beside it finishes.
if [ "$(id -u)" != 0 ] || [ -z "$cg2" ] ||
    ! grep -qw memory "$cg2/cgroup.subtree_control" 2>/dev/null; then
	skip cgroup_memory_limit "no cgroup v2 memory controller to give agentd here (needs root and memory in $cg2/cgroup.subtree_control)"
else
	cgt=$cg2/nnsim-sandbox-$$
	KEY=$T/key
	if mkdir "$cgt" && start cg "$AGENTD" --listen "127.0.0.1:$port" --key "$KEY" \
	    --state "$T/scg" --cgroup "$cgt" --worker-mem 64; then
		c=$(ctl spawn "$C" '{"n": 200000}')
		h=$(ctl spawn "$P" '{"hog_mb": 512}' 2>"$T/hc.err")
		wait_for 20 grep -q "agent $h (probe) failed" "$T/cg.log"
		wait_for 30 grep -q "agent $c (counter) finished" "$T/cg.log"
		if grep -q "agent $h (probe) failed: worker killed by the kernel: over its memory limit of 64 MiB (cgroup memory.max)" "$T/cg.log" &&
		    grep -q "agent $c (counter) finished" "$T/cg.log"; then
			ok cgroup_memory_limit
		else
			fail cgroup_memory_limit "$(grep "agent $h\|agent $c\|sandbox" "$T/cg.log" | tail -n 4)"
		fi
	else
		fail cgroup_memory_limit "$(tail -n 3 "$T/cg.log" 2>/dev/null)"
	fi
	kill "$dpid" 2>/dev/null
	wait "$dpid" 2>/dev/null
	# The daemon moved into agentd/; its workers' cgroups are gone.
	for d in "$cgt"/*/; do [ -d "$d" ] && rmdir "$d" 2>/dev/null; done
	rmdir "$cgt" 2>/dev/null
fi

if [ "$(id -u)" != 0 ]; then
	skip root_daemon "not root: the worker user needs a root daemon"
else
	# A root daemon: workers as the worker user (nobody on a host the
	# install did not set up), 2 GiB of data memory at most.
	start root "$AGENTD" --listen "127.0.0.1:$port" --key "$KEY" \
	    --state "$T/s1" --worker-mem 2048 --worker-syscalls unshare ||
	    fail root_daemon "did not answer: $(tail -n 3 "$T/root.log")"
	wuid=$(id -u agentd-worker 2>/dev/null || id -u nobody)
	probe_result "$T/p1" "{\"key\": \"$KEY\", \"store\": \"$T/s1/code\"}"
	if [ "$(field "$T/p1" uid)" = "$wuid" ] && [ "$(field "$T/p1" cap_eff)" = 0000000000000000 ] &&
	    [ "$(field "$T/p1" no_new_privs)" = 1 ] && [ "$(field "$T/p1" rlimit_core)" = 0 ] &&
	    why=$(all_denied "$T/p1" parent_mem key store_write ptrace process_vm_readv kill_parent); then
		ok worker_runs_as_worker_user
	else
		fail worker_runs_as_worker_user "$why $(cat "$T/p1" "$T/p1.err" 2>/dev/null | head -c 600)"
	fi
	if [ "$seccomp" = 0 ]; then
		skip seccomp_denies "no seccomp filters in this kernel"
	elif [ "$(field "$T/p1" seccomp)" = 2 ] && why=$(all_denied "$T/p1" execve ptrace process_vm_readv $nofork prlimit_parent) &&
	    [ "$(field "$T/p1" unshare)" = allowed ]; then
		# unshare is denied by default, allowed here by --worker-syscalls.
		ok seccomp_denies
	else
		fail seccomp_denies "$why $(head -c 600 "$T/p1")"
	fi
	if grep -q "sandbox: workers run as .*no_new_privs.*limits: memory 2048 MiB, 1024 files" "$T/root.log"; then
		ok sandbox_logged_once
	else
		fail sandbox_logged_once "$(grep sandbox "$T/root.log" | head -c 400)"
	fi

	# A memory hog fails alone, with its reason; a counter beside it
	# finishes and the daemon keeps answering.
	c=$(ctl spawn "$C" '{"n": 200000}')
	[ $asan = 0 ] && h=$(ctl spawn "$P" '{"hog_mb": 512}' '{"memory_mib": 64}' 2>"$T/h.err")
	[ $asan = 0 ] && wait_for 10 grep -q "agent $h (probe) failed" "$T/root.log"
	wait_for 30 grep -q "agent $c (counter) finished" "$T/root.log"
	if [ $asan = 1 ]; then
		skip memory_hog_fails_alone "an AddressSanitizer build sets no memory limit"
	elif grep -q "agent $h (probe) failed: .*probe: out of memory after [0-9]* MiB (its limit)" "$T/root.log" &&
	    grep -q "agent $c (counter) finished" "$T/root.log" && ctl hosts >/dev/null; then
		ok memory_hog_fails_alone
	else
		fail memory_hog_fails_alone "$(grep "agent $h\|agent $c" "$T/root.log" | tail -n 3)"
	fi

	# Limits asked for at spawn: a smaller memory limit holds; a bad
	# key, or a system call the host does not allow, is refused.
	probe_result "$T/p2" '{}' '{"memory_mib": 32, "files": 64}'
	if { [ $asan = 1 ] || [ "$(field "$T/p2" rlimit_data)" = 33554432 ]; } &&
	    [ "$(field "$T/p2" rlimit_nofile)" = 64 ]; then
		ok spawn_limits_apply
	else
		fail spawn_limits_apply "$(head -c 400 "$T/p2" "$T/p2.err" 2>/dev/null)"
	fi
	expect_error spawn_limits_above_host 1 'limits.memory_mib: expected an integer from 1 to 2048 \(this host.s limit, agentd --worker-\*\)' \
		"$CTL" --connect "127.0.0.1:$port" --key "$KEY" spawn "$P" '{}' '{"memory_mib": 4096}'
	expect_error spawn_limits_bad_key 1 'limits: unknown key "ram" \(expected memory_mib, files, cpu_seconds, syscalls\)' \
		"$CTL" --connect "127.0.0.1:$port" --key "$KEY" spawn "$P" '{}' '{"ram": 1}'
	expect_error spawn_syscall_not_allowed 1 'limits.syscalls: this host does not allow "ptrace" \(agentd --worker-syscalls\)' \
		"$CTL" --connect "127.0.0.1:$port" --key "$KEY" spawn "$P" '{}' '{"syscalls": ["unshare", "ptrace"]}'

	# net.json's parallel.limits go with every spawn of a job: a small
	# memory limit trains; a call the host does not allow fails the
	# spawn with the daemon's line; a bad key is the file's error.
	xor() {
		cat >"$T/$1.json" <<JSON
{"layers": [{"units": 8, "activation": "tanh"}, {"activation": "softmax"}],
 "loss": "cross_entropy",
 "data": {"train": {"generate": "xor", "n": 200, "seed": 1}, "split": 0.25},
 "train": {"epochs": 5, "batch": 16, "seed": 1},
 "parallel": {"limits": $2}}
JSON
	}
	xor lim '{"memory_mib": 1024, "files": 128}'
	NNSIM_NO_LIVE=1 timeout 120 "$NNSIM" submit "$T/lim.json" --connect "127.0.0.1:$port" \
	    --key "$KEY" -o "$T/lim.nnm" >"$T/lim.out" 2>"$T/lim.err"
	if [ $? -eq 0 ] && [ -s "$T/lim.nnm" ]; then
		ok job_limits_train
	else
		fail job_limits_train "$(head -c 400 "$T/lim.err")"
	fi
	xor sys '{"syscalls": ["ptrace"]}'
	NNSIM_NO_LIVE=1 timeout 90 "$NNSIM" submit "$T/sys.json" --connect "127.0.0.1:$port" \
	    --key "$KEY" -o "$T/sys.nnm" >"$T/sys.out" 2>"$T/sys.err"
	r=$?
	if [ $r -eq 1 ] && grep -q 'limits.syscalls: this host does not allow "ptrace" (agentd --worker-syscalls)' "$T/sys.err" "$T/sys.out"; then
		ok job_limits_syscall_refused
	else
		fail job_limits_syscall_refused "exit $r: $(head -c 400 "$T/sys.err")"
	fi
	xor bad '{"ram": 1}'
	expect_error job_limits_bad_key 2 'bad.json: parallel.limits.ram: unknown key \(expected memory_mib, files, cpu_seconds or syscalls\)' \
		"$NNSIM" submit "$T/bad.json" --connect "127.0.0.1:$port" --key "$KEY"
	kill "$dpid"
	wait "$dpid" 2>/dev/null
fi

# A daemon run by a user: workers are its own user's, and still reach
# neither its memory nor its key nor its store (Landlock, and the daemon
# is not dumpable).
if [ "$(id -u)" = 0 ] && ! setpriv --reuid=65534 --regid=65534 --clear-groups test -x "$AGENTD" 2>/dev/null; then
	skip user_daemon "nobody cannot run $AGENTD here"
else
	asuser=
	D=$T
	if [ "$(id -u)" = 0 ]; then
		asuser="setpriv --reuid=65534 --regid=65534 --clear-groups --"
		D=$T/u
		chmod 711 "$T"
		mkdir -p "$D"
		cp "$T/key" "$D/key"
		chown -R 65534:65534 "$D"
	fi
	KEY=$D/key
	start user $asuser "$AGENTD" --listen "127.0.0.1:$port" --key "$KEY" \
	    --state "$D/s2" || fail user_daemon "did not answer: $(tail -n 3 "$T/user.log")"
	probe_result "$T/p3" "{\"key\": \"$KEY\", \"store\": \"$D/s2/code\"}"
	if [ "$landlock" = 0 ]; then
		skip user_worker_contained "no Landlock in this kernel: a worker of the daemon's user reaches its files"
	elif [ "$(field "$T/p3" uid)" = "$(stat -c %u "$KEY")" ] &&
	    why=$(all_denied "$T/p3" parent_mem key store_write kill_parent ptrace prlimit_parent $nofork); then
		ok user_worker_contained
	else
		fail user_worker_contained "$why $(cat "$T/p3" "$T/p3.err" 2>/dev/null | head -c 600)"
	fi
	kill "$dpid"
	wait "$dpid" 2>/dev/null
fi
