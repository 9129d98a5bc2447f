# The daemon cannot be exhausted (issue 18, point 4): one agentd under
# prlimit (2 GiB of address space, 128 descriptors) against a flood of
# unauthenticated connections, a client claiming a 1 GiB payload, one
# that never reads, silent ones (exhaust.py); then one with caps above its
# descriptors, whose accept() fails: it backs off instead of spinning.
GROUP=exhaust
. "$(dirname "$0")/lib.sh"

AGENTD=$NNSIM_BIN/agentd
CTL=$NNSIM_BIN/agentctl
base=$((24000 + ($$ % 2000) * 2))
pids=
trap 'for p in $pids; do kill -9 "$p" 2>/dev/null; done; wait 2>/dev/null; [ -n "$NNSIM_KEEP" ] || rm -rf "$T"' EXIT

if ! command -v prlimit >/dev/null 2>&1; then
	skip all "prlimit is not installed"
	exit 0
fi
"$AGENTD" keygen "$T/key"

# Caps by default from 128 descriptors (64 connections, 32 in their
# handshake), and a few per address so that the flood's sources hit it.
# AddressSanitizer's shadow alone is terabytes of address space: there,
# no --as, and exhaust.py bounds the resident memory only.
as="--as=2147483648"
if ldd "$AGENTD" 2>/dev/null | grep -q libasan; then
	as=
	export EXHAUST_ASAN=1
fi
prlimit $as --nofile=128 -- "$AGENTD" --listen "127.0.0.1:$base" \
	--key "$T/key" --state "$T/state" --max-per-source 24 \
	--stall-timeout 2 --idle-timeout 3 2>"$T/log" &
pid=$!
pids="$pids $pid"
if ! wait_for 5 "$CTL" --connect "127.0.0.1:$base" --key "$T/key" hosts; then
	fail start "the daemon did not answer: $(tail -3 "$T/log")"
	exit 1
fi
(cd "$SRC/tests/cli" && python3 exhaust.py "127.0.0.1:$base" "$T/key" \
	"$pid" "$T/log" "$CTL" 2 3)
if grep -q "limits: 64 connections, 32 unauthenticated, 24 from" "$T/log"; then
	ok caps_from_nofile
else
	fail caps_from_nofile "$(grep limits: "$T/log")"
fi
[ -n "$NNSIM_KEEP" ] && cp "$T/log" /tmp/exhaust-agentd.log

# Caps above the descriptors: accept() fails with EMFILE. The daemon rests
# its listener (10 ms doubling to 1 s) instead of spinning, logs that once
# a second, and accepts again once descriptors are free.
P2=$((base + 1))
prlimit --nofile=40 -- "$AGENTD" --listen "127.0.0.1:$P2" --key "$T/key" \
	--state "$T/state2" --max-conns 500 --max-unauth 500 \
	--max-per-source 500 2>"$T/log2" &
pid2=$!
pids="$pids $pid2"
wait_for 5 "$CTL" --connect "127.0.0.1:$P2" --key "$T/key" hosts
python3 - "$P2" "$pid2" "$T/log2" "$CTL" "$T/key" <<'PY'
import os, socket, subprocess, sys, time
port, pid, log, ctl, key = sys.argv[1:]
tick = os.sysconf("SC_CLK_TCK")
def cpu():
    f = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(f[11]) + int(f[12])) / tick
held = []
for _ in range(80):
    s = socket.socket()
    s.settimeout(1)
    try:
        s.connect(("127.0.0.1", int(port)))
        held.append(s)
    except OSError:
        s.close()
time.sleep(0.5)
c0, t0, l0 = cpu(), time.monotonic(), sum(1 for _ in open(log))
time.sleep(2)
used = cpu() - c0
lines = sum(1 for _ in open(log)) - l0
emfile = "Too many open files" in open(log).read()
for s in held:
    s.close()
t1 = time.monotonic()
r = subprocess.run([ctl, "--connect", f"127.0.0.1:{port}", "--key", key,
                    "hosts"], capture_output=True, timeout=10)
back = time.monotonic() - t1
if not emfile:
    print("FAIL exhaust/accept_backoff: accept() never failed")
elif used > 0.3 or lines > 6:
    print(f"FAIL exhaust/accept_backoff: {used:.2f} s of CPU and {lines} "
          f"log lines in 2 s of EMFILE")
elif r.returncode != 0 or back > 2.5:
    print(f"FAIL exhaust/accept_backoff: agentctl hosts exit "
          f"{r.returncode} {back:.2f} s after descriptors came back")
else:
    print(f"ok exhaust/accept_backoff ({used:.2f} s of CPU and {lines} log "
          f"lines in 2 s of EMFILE; answers {back:.2f} s after)")
PY
if kill -0 "$pid" 2>/dev/null && kill -0 "$pid2" 2>/dev/null; then
	ok still_up
else
	fail still_up "a daemon died: $(tail -2 "$T/log" "$T/log2")"
fi
