# The directory of where agents are: a daemon forgets an agent that ended.
# Agents made on h1 move to h2 and end there; h1, their home, hears of the
# end and drops their entries, and "where" falls back to the home.
GROUP=directory
. "$(dirname "$0")/lib.sh"

CTL=$NNSIM_BIN/agentctl
W=$NNSIM_BIN/agents/wanderer.so
two_hosts $((34000 + ($$ % 1000) * 4))
# h1 logs at debug level, so the directory's count shows.
"$NNSIM_BIN/agentd" --listen "127.0.0.1:$((base + 1))" --key "$T/key" \
    --hosts "$T/hosts.json" --state "$T/s1" --log-level debug 2>>"$T/log1" &
pids="$pids $!"
start_host 2
ctl() {
	"$CTL" --connect "127.0.0.1:$((base + 1))" --key "$T/key" "$@"
}
up2() {
	[ "$(ctl --json hosts | python3 -c 'import json,sys
print(sum(h["state"] in ("up","self") for h in json.load(sys.stdin)["hosts"]))')" = 2 ]
}
if ! wait_for 10 up2; then
	fail hosts_up "h1 sees: $(ctl hosts 2>&1 | tr '\n' ' ')"
	exit 0
fi

# Five wanderers go to h2, and the home learns where they are.
ids=
for i in 1 2 3 4 5; do
	ids="$ids $(ctl spawn "$W" '{"mb": 1, "hosts": ["h2"], "laps": 150, "sleep_ms": 20}')"
done
where_is() {
	ctl --json request where "{\"agent\": \"$1\"}" | python3 -c 'import json,sys; print(json.load(sys.stdin)["host"])'
}
first=${ids# }
first=${first%% *}
if wait_for 10 sh -c "[ \"\$($CTL --connect 127.0.0.1:$((base + 1)) --key $T/key --json request where '{\"agent\": \"$first\"}' | python3 -c 'import json,sys; print(json.load(sys.stdin)[\"host\"])')\" = h2 ]"; then
	ok moved_entry
else
	fail moved_entry "where $first: $(where_is "$first")"
fi

# Each ends on h2: h1 drops it, and the directory is empty again.
all_ended() {
	for a in $ids; do
		grep -q "directory: $a ended on h2" "$T/log1" || return 1
	done
}
if wait_for 30 all_ended && grep -q 'directory: .* ended on h2; 0 entries' "$T/log1"; then
	ok pruned_when_ended
else
	fail pruned_when_ended "h1 log: $(grep 'directory:' "$T/log1" | tail -3 | tr '\n' ' ')"
fi
if [ "$(where_is "$first")" = h1 ]; then
	ok where_falls_back_to_home
else
	fail where_falls_back_to_home "where $first: $(where_is "$first")"
fi
