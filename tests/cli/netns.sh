# hosts/netns.sh: three test hosts in network namespaces reach each other,
# their links obey --rate, the inventory is right, nothing is added to the
# root namespace, and down (and a failed up) leave nothing behind. On
# those hosts, an agent whose state takes longer to cross the slow link
# than a silent host takes to be marked down (and 30 s) still moves, into
# the worker started while its state arrived. Skips where namespaces
# cannot be made (not root, or a container without the capability). Takes
# about 45 s.
GROUP=netns
. "$(dirname "$0")/lib.sh"

NETNS="$SRC/hosts/netns.sh"
P=nnt$$
SUB=10.231.9
SERVER_PID=
trap 'teardown_all' EXIT
trap 'exit 1' INT TERM HUP

# teardown_all: whatever happens, no namespace of ours outlives the test.
teardown_all() {
	[ -z "$SERVER_PID" ] || kill "$SERVER_PID" 2>/dev/null
	# Processes outlive a deleted namespace: ours go first.
	for ns in $(ip netns list 2>/dev/null | awk -v p="^$P-" '$1 ~ p { print $1 }'); do
		ip netns pids "$ns" 2>/dev/null | xargs -r kill -9 2>/dev/null
	done
	sh "$NETNS" down --prefix "$P" >/dev/null 2>&1
	ip netns del "$P-probe" 2>/dev/null
	rm -rf "$T"
}

# ours: how many namespaces of prefix P exist.
ours() {
	ip netns list 2>/dev/null | grep -c "^$P-"
}

# Usage errors need no privileges.
expect_error usage_count 2 'up: expected 1 to 64 hosts, got "65"' sh "$NETNS" up 65
expect_error usage_rate 2 '--rate: expected a tc rate' sh "$NETNS" up 2 --rate fast
expect_error usage_subnet 2 '--subnet: expected A.B.C' sh "$NETNS" up 2 --subnet 10.1
run_cmd sh "$NETNS" --help
if [ "$rc" -eq 0 ] && grep -q 'inventory N' "$T/out"; then
	ok help
else
	fail help "rc $rc"
fi

if [ "$(id -u)" != 0 ]; then
	skip namespaces "not root"
	exit 0
fi
# Without root: exit 2 and say why, before touching anything.
if command -v setpriv >/dev/null 2>&1 &&
    setpriv --reuid=65534 --regid=65534 --clear-groups test -r "$NETNS"; then
	expect_error needs_root 2 'needs root' setpriv --reuid=65534 \
	    --regid=65534 --clear-groups sh "$NETNS" up 1 --prefix "$P"
else
	skip needs_root "no setpriv, or the script is unreadable to nobody"
fi
if ! ip netns add "$P-probe" 2>"$T/err"; then
	skip namespaces "ip netns add fails here: $(head -n 1 "$T/err")"
	exit 0
fi
ip netns del "$P-probe"

links_before=$(ip -o link show | wc -l)
run_cmd sh "$NETNS" up 3 --rate 8mbit --prefix "$P" --subnet "$SUB"
if [ "$rc" -ne 0 ]; then
	fail up "rc $rc: $(head -c 300 "$T/err")"
	exit 1
fi
if [ "$(ours)" -eq 4 ]; then ok up; else fail up "$(ours) namespaces, expected 4"; fi
links_after=$(ip -o link show | wc -l)
if [ "$links_before" -eq "$links_after" ]; then
	ok root_untouched
else
	fail root_untouched "root namespace went from $links_before to $links_after links"
fi

# reach I ADDR: one echo request from host I to ADDR, answered within 1 s.
# Without ping(8), the same with a raw socket in python3.
cat >"$T/ping.py" <<'EOF'
import os, socket, struct, sys, time
def csum(b):
    s = sum(struct.unpack('!%dH' % (len(b) // 2), b))
    s = (s >> 16) + (s & 0xffff)
    return ~(s + (s >> 16)) & 0xffff
ident = os.getpid() & 0xffff
body = struct.pack('!BBHHH', 8, 0, 0, ident, 1) + b'nnsimnet'
pkt = struct.pack('!BBHHH', 8, 0, csum(body), ident, 1) + b'nnsimnet'
s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
s.settimeout(1)
s.sendto(pkt, (sys.argv[1], 0))
end = time.time() + 1
while time.time() < end:
    try:
        data, addr = s.recvfrom(2048)
    except socket.timeout:
        break
    ihl = (data[0] & 0xf) * 4
    kind, _, _, i, _ = struct.unpack('!BBHHH', data[ihl:ihl + 8])
    if kind == 0 and i == ident and addr[0] == sys.argv[1]:
        sys.exit(0)
sys.exit(1)
EOF
reach() {
	if command -v ping >/dev/null 2>&1; then
		timeout 5 sh "$NETNS" exec --prefix "$P" "$1" ping -c 1 -W 1 "$2"
	else
		timeout 5 sh "$NETNS" exec --prefix "$P" "$1" python3 "$T/ping.py" "$2"
	fi >/dev/null 2>&1
}
bad=
for i in 1 2 3; do
	for j in 1 2 3; do
		[ "$i" = "$j" ] && continue
		reach "$i" "$SUB.$j" || bad="$bad h$i->h$j"
	done
done
if [ -z "$bad" ]; then ok ping; else fail ping "no echo reply:$bad"; fi

# Nothing routes out: each host knows its /24 and nothing else.
routes=$(ip -n "$P-h1" -4 route show)
if [ "$(echo "$routes" | wc -l)" -eq 1 ] &&
    echo "$routes" | grep -q "^$SUB.0/24 dev eth0 " &&
    ! ip -n "$P-h1" route get 192.0.2.1 >/dev/null 2>&1; then
	ok no_route_out
else
	fail no_route_out "routes in $P-h1: $routes"
fi

run_cmd sh "$NETNS" exec --prefix "$P" 2 ip -4 -o addr show dev eth0
if [ "$rc" -eq 0 ] && grep -q "inet $SUB.2/24" "$T/out"; then
	ok exec
else
	fail exec "rc $rc: $(head -c 200 "$T/out" "$T/err")"
fi
expect_error exec_no_host 1 "no host 9" sh "$NETNS" exec --prefix "$P" 9 true

# 2 MB from h1 to h2 over links limited to 8 Mbit/s: the receiver counts the
# bytes and answers; the sender times it to the answer. Loopback would do
# tens of Gbit/s, so anything under 20 Mbit/s shows the limit holds.
cat >"$T/server.py" <<'EOF'
import socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((sys.argv[1], int(sys.argv[2])))
s.listen(1)
s.settimeout(10)
c, _ = s.accept()
c.settimeout(10)
n = 0
while True:
    b = c.recv(65536)
    if not b:
        break
    n += len(b)
c.sendall(str(n).encode())
c.close()
EOF
cat >"$T/client.py" <<'EOF'
import socket, sys, time
addr, port, size = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
deadline = time.time() + 3
while True:
    try:
        s = socket.create_connection((addr, port), timeout=1)
        break
    except OSError:
        if time.time() > deadline:
            raise
        time.sleep(0.05)
s.settimeout(10)
t0 = time.time()
s.sendall(b'x' * size)
s.shutdown(socket.SHUT_WR)
got = b''
while True:
    b = s.recv(64)
    if not b:
        break
    got += b
dt = time.time() - t0
print(int(got or b'0'), '%.2f' % (size * 8 / dt / 1e6))
EOF
timeout 15 sh "$NETNS" exec --prefix "$P" 2 python3 "$T/server.py" "$SUB.2" 7099 &
SERVER_PID=$!
run_cmd timeout 15 sh "$NETNS" exec --prefix "$P" 1 python3 "$T/client.py" "$SUB.2" 7099 2097152
wait "$SERVER_PID" 2>/dev/null
SERVER_PID=
# shellcheck disable=SC2046
set -- $(cat "$T/out") 0 0
if [ "$rc" -ne 0 ]; then
	fail rate_limit "client rc $rc: $(head -c 300 "$T/err")"
elif [ "$1" != 2097152 ]; then
	fail rate_limit "server received $1 bytes, expected 2097152"
elif ! awk -v r="$2" 'BEGIN { exit !(r > 2 && r < 20) }'; then
	fail rate_limit "$2 Mbit/s through an 8mbit link, expected 2 to 20"
else
	ok rate_limit
fi

# The inventory: valid JSON, the hosts we made, and the same document that
# "inventory 3" plans without root (test_hosts loads that with hosts_load).
run_cmd sh "$NETNS" inventory --prefix "$P" --port 7070
cp "$T/out" "$T/live.json"
sh "$NETNS" inventory 3 --subnet "$SUB" --port 7070 >"$T/plan.json"
if [ "$rc" -ne 0 ]; then
	fail inventory "rc $rc: $(head -c 300 "$T/err")"
elif ! python3 - "$T/live.json" "$SUB" <<'EOF' 2>"$T/err"
import json, re, sys
doc = json.load(open(sys.argv[1]))
assert list(doc) == ['hosts'], doc
hosts = doc['hosts']
assert [h['name'] for h in hosts] == ['h1', 'h2', 'h3'], hosts
assert [h['address'] for h in hosts] == \
    ['%s.%d:7070' % (sys.argv[2], i) for i in (1, 2, 3)], hosts
for h in hosts:
    assert set(h) <= {'name', 'address', 'cores', 'mem_mb', 'gpus', 'tags'}, h
    assert re.fullmatch(r'[A-Za-z0-9._-]{1,63}', h['name']), h
EOF
then
	fail inventory "$(tail -n 1 "$T/err")"
elif ! cmp -s "$T/live.json" "$T/plan.json"; then
	fail inventory "live inventory differs from \"inventory 3\""
else
	ok inventory
fi

# A daemon on h1 and one on h2, marking a silent host down after 2 s. A
# 1 KB wanderer brings the code to h2; then a 32 MB one goes from h1 to
# h2: at 8 Mbit/s its state takes over 30 s, during which the receiver
# gets no whole frame (h1's pings wait behind the state). The bytes
# arriving must count as signs of life, or the link closes in the middle
# and the agent can never leave; and the worker h2 starts while the state
# arrives must wait for it however long it takes (it was killed after
# 30 s, and the agent started late in a fresh one).
AGENTD=${NNSIM_BIN:-$(pwd)/bin}/agentd
CTL=${NNSIM_BIN:-$(pwd)/bin}/agentctl
"$AGENTD" keygen "$T/key" >/dev/null
for i in 1 2; do
	sh "$NETNS" exec --prefix "$P" "$i" "$AGENTD" --listen "$SUB.$i:7070" \
	    --key "$T/key" --hosts "$T/live.json" --state "$T/s$i" \
	    --down-after 2000 2>"$T/alog$i" &
done
actl() {
	sh "$NETNS" exec --prefix "$P" 1 "$CTL" --connect "$SUB.1:7070" \
	    --key "$T/key" "$@"
}
up2() {
	[ "$(actl --json hosts 2>/dev/null | python3 -c 'import json,sys
print(sum(h["state"] in ("up","self") for h in json.load(sys.stdin)["hosts"]))' 2>/dev/null)" = 2 ]
}
if ! wait_for 10 up2; then
	fail slow_link_move "the daemons did not form a cluster: $(tail -n 2 "$T/alog1")"
else
	actl watch 90 >"$T/ev" 2>/dev/null &
	watcher=$!
	sleep 0.3
	done_ev() {
		grep "\"agent\":\"$w\"" "$T/ev" |
		    grep -q '"event":"\(finished\|failed\)"'
	}
	w=$(actl spawn "${NNSIM_BIN:-$(pwd)/bin}/agents/wanderer.so" \
	    '{"bytes": 1024, "hosts": ["h1", "h2"], "laps": 1}')
	wait_for 10 done_ev
	w=$(actl spawn "${NNSIM_BIN:-$(pwd)/bin}/agents/wanderer.so" \
	    '{"mb": 32, "hosts": ["h1", "h2"], "laps": 1}')
	wait_for 60 done_ev
	kill "$watcher" 2>/dev/null
	if grep "\"agent\":\"$w\"" "$T/ev" | grep -q '"event":"finished"' &&
	    grep "\"agent\":\"$w\"" "$T/ev" |
	    grep -q 'wanderer: done on h2: counter 2' &&
	    ! grep -q 'down: no heartbeat' "$T/alog1" "$T/alog2" &&
	    grep -q "agent $w (wanderer) unpacked, held (pid [0-9]*, started while its state arrived)" "$T/alog2"; then
		ok slow_link_move
	else
		fail slow_link_move "agent '$w': $(grep -h 'move\|down\|prepared\|unpacked' "$T/alog1" "$T/alog2" | tail -n 3 | tr '\n' '|')"
	fi
fi
for ns in "$P-h1" "$P-h2"; do
	ip netns pids "$ns" 2>/dev/null | xargs -r kill 2>/dev/null
done

# A second up with the same prefix refuses and leaves ours alone.
run_cmd sh "$NETNS" up 2 --prefix "$P"
if [ "$rc" -eq 1 ] && grep -q "prefix $P exist already" "$T/err" && [ "$(ours)" -eq 4 ]; then
	ok up_twice
else
	fail up_twice "rc $rc, $(ours) namespaces (expected 4): $(head -c 200 "$T/err")"
fi

run_cmd sh "$NETNS" down --prefix "$P"
if [ "$rc" -eq 0 ] && [ "$(ours)" -eq 0 ]; then
	ok down
else
	fail down "rc $rc, $(ours) namespaces left: $(head -c 200 "$T/err")"
fi
run_cmd sh "$NETNS" down --prefix "$P"
if [ "$rc" -eq 0 ]; then ok down_twice; else fail down_twice "rc $rc"; fi

# A step that fails half way (tc refuses a zero rate on the first link,
# after the namespaces exist) undoes everything up made.
run_cmd sh "$NETNS" up 3 --prefix "$P" --rate 0bit
if [ "$rc" -eq 1 ] && [ "$(ours)" -eq 0 ] && grep -q "tc .*failed" "$T/err"; then
	ok up_rollback
else
	fail up_rollback "rc $rc, $(ours) namespaces left: $(head -c 200 "$T/err")"
fi
