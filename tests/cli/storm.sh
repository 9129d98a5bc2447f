# The lifecycle storm (tests/cli/storm.py), short: 6 agents that move after
# every step take random suspend, resume, migrate, clone and kill orders
# from 4 clients for 20 s on 3 daemons. make stress runs the long one.
# STORM_SEED replays a run; the seed is printed either way.
GROUP=storm
. "$(dirname "$0")/lib.sh"

seed=${STORM_SEED:-$(( ($$ * 7919 + $(date +%s)) % 100000 ))}
secs=${STORM_SECONDS:-20}
if ! python3 -c 'import cryptography' 2>/dev/null; then
	skip storm "python3-cryptography is missing (make deps)"
	exit 0
fi
# Under AddressSanitizer freed memory waits in its quarantine, so RSS
# says nothing about leaks there (LeakSanitizer does).
if ldd "${NNSIM_BIN:-$SRC/bin}/agentd" 2>/dev/null | grep -q libasan; then
	export STORM_NO_RSS="an ASan build's RSS holds its quarantine"
fi
python3 "$SRC/tests/cli/storm.py" "${NNSIM_BIN:-$SRC/bin}" "$secs" "$seed" \
    "${STORM_AGENTS:-6}" "${STORM_CLIENTS:-4}"
