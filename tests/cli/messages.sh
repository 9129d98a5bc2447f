# What the programs say and how they exit (docs/errors.md): every usage
# error of nnsim, agentd and agentctl exits 2 with one prefixed line, a
# runtime failure exits 1; outputs are never overwritten without --force
# and are checked before any work; a key mismatch says which side lacks
# what; a session agent logs its epochs and logs of an unknown agent fails.
GROUP=messages
. "$(dirname "$0")/lib.sh"

AGENTD=$NNSIM_BIN/agentd
CTL=$NNSIM_BIN/agentctl
X=$SRC/nnsim/examples/xor.json

# --- Usage errors: every command, one line, exit 2. ---
bad=
for cmd in train submit jobs attach console data eval predict; do
	for args in "--bogus" "--threads" "--threads x"; do
		# shellcheck disable=SC2086
		run_cmd "$NNSIM" "$cmd" $args
		if [ "$rc" -ne 2 ] || [ "$(wc -l <"$T/err")" -ne 1 ] ||
		    ! grep -q "^nnsim $cmd: " "$T/err"; then
			bad="$bad [$cmd $args: exit $rc: $(head -c 200 "$T/err")]"
		fi
	done
done
[ -z "$bad" ] && ok usage_every_command_exit_2 ||
    fail usage_every_command_exit_2 "$bad"
expect_error usage_unknown_command 2 '^nnsim: unknown command "bogus"' \
    "$NNSIM" bogus
expect_error usage_agentd 2 '^agentd: unknown option "--bogus"' \
    "$AGENTD" --bogus
expect_error usage_agentd_value 2 '^agentd: .*--listen' \
    "$AGENTD" --listen
expect_error usage_agentctl 2 '^agentctl: unknown option "--bogus"' \
    "$CTL" --bogus hosts
expect_error usage_agentctl_verb 2 '^agentctl: unknown command "nope" \(expected one of: hosts .* logs ' \
    "$CTL" nope

# --- Runtime failures: nothing listens on port 1; exit 1. ---
expect_error runtime_agentctl 1 '^agentctl: 127\.0\.0\.1:1: cannot connect' \
    "$CTL" --connect 127.0.0.1:1 ping
expect_error runtime_console 1 '^nnsim console: 127\.0\.0\.1:1: cannot connect' \
    "$NNSIM" console --connect 127.0.0.1:1 -c hosts
expect_error runtime_data 1 '^nnsim data: 127\.0\.0\.1:1: cannot connect' \
    "$NNSIM" data ls --connect 127.0.0.1:1

# --- Outputs: refused before any work unless --force. ---
echo old >"$T/m.nnm"
expect_error train_exists 2 "^nnsim train: $T/m\.nnm: exists \(use --force to overwrite\)$" \
    "$NNSIM" train "$X" -o "$T/m.nnm" --threads 1
if [ "$(cat "$T/m.nnm")" = old ] && [ ! -s "$T/out" ]; then
	ok train_exists_untouched
else
	fail train_exists_untouched "the file changed or epochs ran: $(head -c 200 "$T/out")"
fi
run_cmd "$NNSIM" train "$X" -o "$T/m.nnm" --force -q --threads 1
if [ "$rc" -eq 0 ] && [ "$(head -c 3 "$T/m.nnm")" != old ]; then
	ok train_force_overwrites
else
	fail train_force_overwrites "exit $rc: $(head -c 200 "$T/err")"
fi
expect_error train_missing_dir 2 "^nnsim train: /nonexistent/dir/x\.nnm: " \
    "$NNSIM" train "$X" -o /nonexistent/dir/x.nnm --threads 1
[ ! -s "$T/out" ] && ok train_missing_dir_before_epochs ||
    fail train_missing_dir_before_epochs "$(head -c 200 "$T/out")"
# The default NAME.nnm in the working folder is protected the same way.
mkdir "$T/cwd" && echo old >"$T/cwd/xor.nnm"
(cd "$T/cwd" && "$NNSIM" train "$X" --threads 1 >"$T/out" 2>"$T/err")
rc=$?
if [ "$rc" -eq 2 ] && grep -q '^nnsim train: xor\.nnm: exists' "$T/err" &&
    [ "$(cat "$T/cwd/xor.nnm")" = old ]; then
	ok train_default_name_exists
else
	fail train_default_name_exists "exit $rc: $(head -c 200 "$T/err")"
fi
# A sweep's best model: refused before the embedded cluster starts.
expect_error submit_exists 2 "^nnsim submit: $T/m\.nnm: exists \(use --force to overwrite\)$" \
    "$NNSIM" submit "$SRC/nnsim/examples/sweep.json" --local 1 -o "$T/m.nnm"
echo 1 2 >"$T/in.csv"
echo old >"$T/p.csv"
expect_error predict_exists 2 "^nnsim predict: $T/p\.csv: exists" \
    "$NNSIM" predict "$T/m.nnm" "$T/in.csv" -o "$T/p.csv"
run_cmd "$NNSIM" predict "$T/m.nnm" "$T/in.csv" -o "$T/p.csv" --force
[ "$rc" -eq 0 ] && [ "$(cat "$T/p.csv")" != old ] && ok predict_force ||
    fail predict_force "exit $rc: $(head -c 200 "$T/err")"

# --- Real daemons: k1 keyed, k0 keyless. ---
# Below the ephemeral ports (32768 on), which clients and other test
# files' embedded clusters draw from while this file runs.
base=$((29000 + ($$ % 1000) * 3))
pids=
trap 'for p in $pids; do kill -9 "$p" 2>/dev/null; done; wait 2>/dev/null; [ -n "$NNSIM_KEEP" ] || rm -rf "$T"' EXIT
"$AGENTD" keygen "$T/key"
"$AGENTD" keygen "$T/other"
K1="127.0.0.1:$((base + 1))"
K0="127.0.0.1:$base"
"$AGENTD" --listen "$K1" --name k1 --key "$T/key" --state "$T/s1" \
    2>"$T/k1.log" &
pids="$pids $!"
"$AGENTD" --listen "$K0" --name k0 --state "$T/s0" 2>"$T/k0.log" &
pids="$pids $!"
if ! wait_for 30 "$CTL" --connect "$K1" --key "$T/key" ping ||
    ! wait_for 30 "$CTL" --connect "$K0" ping; then
	fail daemons "did not answer: $(cat "$T/k1.log" "$T/k0.log" | head -c 300)"
	exit 0
fi
expect_error key_keyless_client 1 "^agentctl: $K1: this daemon requires a key \(--key\)$" \
    "$CTL" --connect "$K1" ping
expect_error key_keyless_console 1 "^nnsim console: $K1: this daemon requires a key \(--key\)$" \
    "$NNSIM" console --connect "$K1" -c hosts
expect_error key_keyless_daemon 1 "^agentctl: $K0 refused us: this daemon runs without a key \(drop --key" \
    "$CTL" --connect "$K0" --key "$T/key" ping
expect_error key_wrong 1 "^agentctl: $K1 refused us: authentication failed: this daemon holds no key with that id \(wrong --key\?\)$" \
    "$CTL" --connect "$K1" --key "$T/other" ping

# data get -o: refused before the set is even looked for.
echo old >"$T/d.data"
expect_error data_get_exists 2 "^nnsim data: $T/d\.data: exists \(use --force to overwrite\)$" \
    "$NNSIM" data get nosuchset -o "$T/d.data" --connect "$K1" --key "$T/key"

# --- A session's epochs in its log; an unknown agent is an error. ---
cat >"$T/job.json" <<'JSON'
{
  "name": "job",
  "layers": [{"units": 4, "activation": "tanh"}, {"activation": "softmax"}],
  "loss": "cross_entropy",
  "data": {"train": {"generate": "xor", "n": 100, "seed": 1}, "split": 0.25},
  "train": {"epochs": 3, "batch": 16, "seed": 1},
  "parallel": {"mode": "session"}
}
JSON
NNSIM_NO_LIVE=1 "$NNSIM" submit "$T/job.json" --connect "$K1" --key "$T/key" \
    -q -o "$T/job.nnm" --metrics "$T/job.jsonl" >"$T/out" 2>"$T/err"
agent=$(json_field "$T/job.jsonl" agent 2>/dev/null)
[ -n "$agent" ] || agent=$(python3 -c 'import json,sys
print([json.loads(l) for l in open(sys.argv[1])][0]["agent"])' "$T/job.jsonl" 2>/dev/null)
run_cmd "$CTL" --connect "$K1" --key "$T/key" logs "$agent"
if [ "$rc" -eq 0 ] && [ "$(grep -c '^\[k1\] session 0: epoch [1-3]/3: loss ' "$T/out")" = 3 ]; then
	ok logs_session_epochs
else
	fail logs_session_epochs "agent '$agent', exit $rc: $(head -c 300 "$T/out" "$T/err")"
fi
expect_error logs_unknown_agentctl 1 '^agentctl: .*no agent k1\.999 ' \
    "$CTL" --connect "$K1" --key "$T/key" logs k1.999
expect_error logs_unknown_console 1 'no agent k1\.999 ' \
    "$NNSIM" console --connect "$K1" --key "$T/key" -c "logs k1.999"
