# Six sessions on two hosts hold one copy of the set per host: a sweep of
# 6 sessions on a 98.3 MB generated set, through the data cache and with
# --no-cache, with each host's Pss (daemon and workers) sampled while it
# runs (tests/cli/cacheshare.py). About 20 s.
GROUP=cache
. "$(dirname "$0")/lib.sh"

# Under AddressSanitizer a worker's memory is mostly the sanitizer's own
# (shadow and quarantine), which drowns the figures this test compares;
# datacache.sh and cachehosts.sh run the same paths there.
if ldd "${NNSIM_BIN:-$(pwd)/bin}/agentd" 2>/dev/null | grep -q libasan; then
	skip share "an AddressSanitizer build: its own memory hides the set's"
	exit 0
fi
two_hosts $((43000 + ($$ % 1000) * 20))
start_host 1
start_host 2
python3 "$(dirname "$0")/cacheshare.py" "$T" "$base" \
    "${NNSIM_BIN:-$(pwd)/bin}" "$pid_1" "$pid_2"
