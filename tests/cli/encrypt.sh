# Frame encryption (agentd --encrypt, docs/security.md "Frames"): the
# traffic between two daemons, recorded by a proxy on its way, while a
# wanderer with known data walks between them, holds none of that data
# with encryption on and all of it with encryption off; daemons whose
# settings differ are refused with one line naming the peer.
. "$(dirname "$0")/lib.sh"
GROUP=encrypt
BIN_DIR=${NNSIM_BIN:-$(pwd)/bin}
AGENTD=$BIN_DIR/agentd
CTL=$BIN_DIR/agentctl
W=$BIN_DIR/agents/wanderer.so
base=$((22000 + $$ % 2000 * 8))
pids=
trap 'for p in $pids; do kill "$p" 2>/dev/null; done; wait 2>/dev/null; [ -n "$NNSIM_KEEP" ] || rm -rf "$T"' EXIT
"$AGENTD" keygen "$T/key"
# The hosts file names the proxies: every byte between h1 and h2 crosses
# one (each daemon dials the other's address).
cat >"$T/hosts.json" <<JSON
{"hosts": [{"name": "h1", "address": "127.0.0.4:$((base + 4))"},
           {"name": "h2", "address": "127.0.0.5:$((base + 5))"}]}
JSON

# run MODE1 MODE2 TAG: proxies and the two daemons, with --encrypt MODE1
# and MODE2; their pids in $run_pids, the capture in $T/TAG.*.
run() {
	run_pids=
	python3 "$SRC/tests/cli/encrypt_proxy.py" "127.0.0.4:$((base + 4))" \
	    "127.0.0.1:$((base + 1))" "$T/$3.h1" &
	run_pids="$run_pids $!"
	python3 "$SRC/tests/cli/encrypt_proxy.py" "127.0.0.5:$((base + 5))" \
	    "127.0.0.2:$((base + 2))" "$T/$3.h2" &
	run_pids="$run_pids $!"
	for n in 1 2; do
		eval "mode=\$$n"
		"$AGENTD" --listen "127.0.0.$n:$((base + n))" --name "h$n" \
		    --key "$T/key" --hosts "$T/hosts.json" --state "$T/$3.s$n" \
		    --encrypt "$mode" --log-level debug 2>"$T/$3.log$n" &
		run_pids="$run_pids $!"
	done
	pids="$pids $run_pids"
}
stop() {
	for p in $run_pids; do kill "$p" 2>/dev/null; done
	for p in $run_pids; do wait "$p" 2>/dev/null; done
	base=$((base + 10))
	cat >"$T/hosts.json" <<JSON
{"hosts": [{"name": "h1", "address": "127.0.0.4:$((base + 4))"},
           {"name": "h2", "address": "127.0.0.5:$((base + 5))"}]}
JSON
}
up2() {
	[ "$("$CTL" --connect "127.0.0.1:$((base + 1))" --key "$T/key" --json \
	    hosts | python3 -c 'import json,sys
print(sum(h["state"] in ("up","self") for h in json.load(sys.stdin)["hosts"]))')" = 2 ]
}
# walk TAG: a 1 MiB wanderer from h1 to h2 and back twice; "finished",
# else what h1 said last.
walk() {
	a=$("$CTL" --connect "127.0.0.1:$((base + 1))" --key "$T/key" spawn \
	    "$W" '{"mb": 1, "seed": 7, "hosts": ["h2", "h1"], "laps": 2}')
	if wait_for 30 grep -q "agent $a (wanderer) finished after 4 steps" \
	    "$T/$1.log1"; then
		echo finished
	else
		echo "agent ${a:-none}: $(tail -n 2 "$T/$1.log1" | tr '\n' ' ')"
	fi
}
# seen TAG: how many of 16 pieces of the wanderer's data (64 bytes each,
# spread over its 1 MiB) the capture holds, then the bytes captured.
seen() {
	python3 - "$T" "$1" <<'PY'
import glob, os, struct, sys
M = (1 << 64) - 1
def fill(n, seed):
    x, out = seed, bytearray()
    for _ in range(0, n, 8):
        x = (x + 0x9E3779B97F4A7C15) & M
        z = x
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M
        out += struct.pack("<Q", z ^ (z >> 31))
    return bytes(out[:n])
data = fill(1 << 20, 7)
pieces = [data[i:i + 64] for i in range(0, 1 << 20, 1 << 16)]
wire = b"".join(open(p, "rb").read() for p in
                glob.glob(os.path.join(sys.argv[1], sys.argv[2] + ".h*.*")))
print(sum(p in wire for p in pieces), len(wire))
PY
}

# Encryption off: the capture holds the data (so the capture works).
run off off plain
if wait_for 10 up2; then
	r=$(walk plain)
	set -- $(seen plain)
	if [ "$r" = finished ] && [ "$1" -eq 16 ] && [ "$2" -gt 2097152 ]; then
		ok off_in_clear
	else
		fail off_in_clear "walk: $r; $1 of 16 pieces in $2 bytes"
	fi
	grep -q "frames in clear (--encrypt off)" "$T/plain.log1" &&
	    ok off_said || fail off_said "$(head -n 2 "$T/plain.log1")"
else
	fail off_in_clear "2 daemons with --encrypt off did not see each other"
fi
stop

# Encryption on (the default spelled out): the same walk, none of the data.
run on on sealed
if wait_for 10 up2; then
	r=$(walk sealed)
	set -- $(seen sealed)
	if [ "$r" = finished ] && [ "$1" -eq 0 ] && [ "$2" -gt 2097152 ]; then
		ok on_enciphered
	else
		fail on_enciphered "walk: $r; $1 of 16 pieces in $2 bytes"
	fi
else
	fail on_enciphered "2 daemons with --encrypt on did not see each other"
fi
stop

# Settings that differ: refused, with one line naming the peer.
run on off mixed
sleep 3
if up2; then
	fail mismatch_refused "h1 (on) and h2 (off) formed a cluster"
elif grep -q "peer h[12]: frame encryption is o[nf]* there and o[nf]* here (agentd --encrypt must be the same on every daemon)" \
    "$T/mixed.log1" "$T/mixed.log2"; then
	ok mismatch_refused
else
	fail mismatch_refused "$(grep -h "closing" "$T/mixed.log1" "$T/mixed.log2" | head -n 2)"
fi
stop

expect_error bad_value 2 '^agentd: --encrypt: expected on or off, got "maybe"$' \
    "$AGENTD" --encrypt maybe
