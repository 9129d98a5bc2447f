# make check-layers: the real tree passes, and each kind of bad include in a
# copy of it fails with a line naming the file, line and header.
GROUP=layers
. "$(dirname "$0")/lib.sh"

CHECK="$SRC/tests/check-layers.py"

run_cmd python3 "$CHECK" "$SRC"
if [ "$rc" -eq 0 ] && grep -q "every include within its layer" "$T/out"; then
	ok tree_passes
else
	fail tree_passes "exit $rc: $(head -c 300 "$T/out")"
fi

# copy_tree: the sources check-layers reads, copied to $T/tree.
copy_tree() {
	rm -rf "$T/tree"
	mkdir -p "$T/tree/tests"
	(cd "$SRC" && cp -r agentd agents nnsim "$T/tree/" &&
	    cp -r tests/unit tests/bench tests/fuzz "$T/tree/tests/")
}

# bad NAME FILE INCLUDE PATTERN: a copy of the tree with INCLUDE added to
# FILE fails, naming FILE and the header.
bad() {
	name=$1 file=$2 include=$3 pattern=$4
	copy_tree
	printf '#include "%s"\n' "$include" >>"$T/tree/$file"
	run_cmd python3 "$CHECK" "$T/tree"
	if [ "$rc" -ne 1 ]; then
		fail "$name" "exit $rc, expected 1: $(head -c 300 "$T/out")"
	elif ! grep -Eq -- "$pattern" "$T/out"; then
		fail "$name" "output \"$(head -c 300 "$T/out")\" does not match /$pattern/"
	else
		ok "$name"
	fi
}

bad base_uses_nn nnsim/base/alloc.c nn/net.h \
	'^nnsim/base/alloc\.c:[0-9]+: includes "nn/net\.h": nnsim/base may include only from base'
bad data_uses_nn nnsim/data/csv.c nn/train.h \
	'^nnsim/data/csv\.c:[0-9]+: includes "nn/train\.h"'
bad agentd_uses_nn agentd/daemon.c nn/net.h \
	'^agentd/daemon\.c:[0-9]+: includes "nn/net\.h": agentd may include only from base, agentd'
bad dist_uses_client nnsim/dist/ring.c agentd/client.h \
	'^nnsim/dist/ring\.c:[0-9]+: includes "agentd/client\.h"'
bad agent_uses_cli agents/session.c cli/progress.h \
	'^agents/session\.c:[0-9]+: includes "cli/progress\.h"'
bad no_folder nnsim/nn/net.c rng.h \
	'^nnsim/nn/net\.c:[0-9]+: includes "rng\.h"'
bad climbs_out nnsim/nn/net.c ../cli/cmd.h \
	'^nnsim/nn/net\.c:[0-9]+: includes "\.\./cli/cmd\.h"'

# A new folder of sources that no rule names is refused too.
copy_tree
mkdir -p "$T/tree/nnsim/gpu"
echo 'int gpu;' >"$T/tree/nnsim/gpu/kernel.c"
run_cmd python3 "$CHECK" "$T/tree"
if [ "$rc" -eq 1 ] && grep -q "^nnsim/gpu: sources in a folder with no layer rule" "$T/out"; then
	ok unknown_folder
else
	fail unknown_folder "exit $rc: $(head -c 300 "$T/out")"
fi

# What links which: no agent's .so holds command-line code, and the daemon
# holds no training code. Global symbols defined by each layer's objects
# must not be defined in the programs that may not use that layer.
BUILD_DIR=${NNSIM_BUILD:-$SRC/build}
BIN_DIR=${NNSIM_BIN:-$SRC/bin}
defined() {
	nm --defined-only -g "$@" 2>/dev/null | awk 'NF == 3 { print $3 }' | LC_ALL=C sort -u
}
if ! command -v nm >/dev/null || [ ! -d "$BUILD_DIR/nnsim/cli" ]; then
	skip agents_link_no_cli "no nm or no build"
else
	defined "$BUILD_DIR"/nnsim/cli/*.o >"$T/cli.sym"
	for so in "$BIN_DIR"/agents/*.so; do
		nm -D --defined-only "$so" | awk 'NF == 3 { print $3 }'
	done | LC_ALL=C sort -u >"$T/agents.sym"
	common=$(LC_ALL=C comm -12 "$T/cli.sym" "$T/agents.sym" | head -3)
	if [ -s "$T/cli.sym" ] && [ -s "$T/agents.sym" ] && [ -z "$common" ]; then
		ok agents_link_no_cli
	else
		fail agents_link_no_cli "in an agent: ${common:-no symbols read}"
	fi
	defined "$BUILD_DIR"/nnsim/nn/*.o "$BUILD_DIR"/nnsim/data/*.o \
	    "$BUILD_DIR"/nnsim/dist/*.o >"$T/sim.sym"
	nm --defined-only "$BIN_DIR/agentd" | awk 'NF == 3 { print $3 }' |
	    LC_ALL=C sort -u >"$T/agentd.sym"
	common=$(LC_ALL=C comm -12 "$T/sim.sym" "$T/agentd.sym" | head -3)
	if [ -s "$T/sim.sym" ] && [ -s "$T/agentd.sym" ] && [ -z "$common" ]; then
		ok agentd_links_no_training
	else
		fail agentd_links_no_training "in agentd: ${common:-no symbols read}"
	fi
fi
