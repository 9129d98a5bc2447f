# The code store is trusted for a reason (docs/security.md is issue 18's):
# --state must be a folder of the daemon's own uid that nobody else may
# enter (created 0700, else refused with one line and exit 2); code is
# checked against its hash each time it is loaded, so a .so changed in the
# store is refused at spawn, removed, and uploaded again; a code-put whose
# sha256 is not 64 hex digits is refused.
GROUP=codestore
. "$(dirname "$0")/lib.sh"

CTL=$NNSIM_BIN/agentctl
W=$NNSIM_BIN/agents/wanderer.so
two_hosts $((32000 + ($$ % 2000) * 3))

# refuse NAME DIR WANT: agentd with --state DIR exits 2 with WANT.
refuse() {
	timeout 10 "$NNSIM_BIN/agentd" --listen "127.0.0.1:$((base + 1))" \
	    --key "$T/key" --state "$2" --name h1 2>"$T/$1.err"
	r=$?
	if [ $r -eq 2 ] && grep -q "^agentd: --state $2.*$3" "$T/$1.err"; then
		ok "$1"
	else
		fail "$1" "exit $r: $(head -c 300 "$T/$1.err")"
	fi
}
mkdir -m 777 "$T/open"
refuse state_open_to_others_refused "$T/open" "mode 0777, expected 0700"
mkdir -m 700 "$T/theirs" && chown 65534 "$T/theirs" 2>/dev/null
if [ "$(stat -c %u "$T/theirs")" = "$(id -u)" ]; then
	skip state_of_another_uid_refused "cannot chown here (not root)"
else
	refuse state_of_another_uid_refused "$T/theirs" "owned by uid 65534"
fi
mkdir -m 700 "$T/real" && ln -s "$T/real" "$T/link"
refuse state_link_refused "$T/link" "not a folder"
mkdir -m 700 "$T/s1" "$T/s1/code" && chmod 755 "$T/s1/code"
refuse code_folder_open_refused "$T/s1" "/code: mode 0755, expected 0700"
rm -rf "$T/s1"

start_host 1
ctl() { "$CTL" --connect "127.0.0.1:$((base + 1))" --key "$T/key" "$@"; }
up1() { ctl hosts >/dev/null 2>&1; }
wait_for 10 up1 || fail daemon "did not answer"
if [ "$(stat -c %a "$T/s1")" = 700 ] && [ "$(stat -c %a "$T/s1/code")" = 700 ]; then
	ok state_created_private
else
	fail state_created_private "$(stat -c '%a %n' "$T/s1" "$T/s1/code")"
fi

# A .so changed in the store after it arrived is refused when it would
# load, and removed; the next spawn uploads it again and runs.
a=$(ctl spawn "$W" '{"bytes": 64, "laps": 2}' 2>"$T/a.err")
so=$(ls "$T"/s1/code/*.so 2>/dev/null | head -n 1)
if [ -n "$a" ] && [ -n "$so" ]; then
	chmod u+w "$so" && printf 'x' >>"$so"
	ctl spawn "$W" '{"bytes": 64, "laps": 2}' >"$T/b.out" 2>"$T/b.err"
	rb=$?
	ctl spawn "$W" '{"bytes": 64, "laps": 2}' >"$T/c.out" 2>"$T/c.err"
	rc2=$?
fi
if [ -n "$so" ] && [ "${rb:-0}" -eq 1 ] &&
    grep -q "does not match its hash (tampered with?); it was removed" "$T/b.err" &&
    grep -q "tampered with, removed" "$T/log1" &&
    [ "${rc2:-1}" -eq 0 ] && [ -s "$T/c.out" ] && [ -f "$so" ] &&
    [ "$(sha256sum "$so" | cut -c1-64)" = "$(basename "$so" .so)" ]; then
	ok tampered_code_refused_at_spawn
else
	fail tampered_code_refused_at_spawn "first '$a' $(cat "$T/a.err"), second exit ${rb:-?}: $(head -c 300 "$T/b.err"), third exit ${rc2:-?}: $(head -c 200 "$T/c.err")"
fi

# code-put with a sha256 that is not 64 hex digits: refused, nothing kept.
n0=$(ls "$T/s1/code" | wc -l)
out=$(cd "$SRC/tests/cli" && python3 - "127.0.0.1:$((base + 1))" "$T/key" <<'PY'
import sys
import agentd_wire as w
c = w.Conn(sys.argv[1], bytes.fromhex(open(sys.argv[2]).read().strip()))
for sha in (5, "abc", "A" * 64):
    c.send(w.REQUEST, {"op": "code-put", "id": c.tx, "sha256": sha},
           payload=b"\x7fELF not really")
    while True:
        t, m, _ = c.read()
        if t == w.REPLY:
            print(m.get("ok"), m.get("error"))
            break
PY
)
if [ "$(echo "$out" | grep -c '^False code-put: sha256 must be 64 lowercase hex digits$')" = 3 ] &&
    [ "$(ls "$T/s1/code" | wc -l)" = "$n0" ]; then
	ok code_put_bad_sha256_refused
else
	fail code_put_bad_sha256_refused "$out"
fi
