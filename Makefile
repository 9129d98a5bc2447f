# nnsim and agentd: one Makefile builds everything.
#   make            bin/nnsim, bin/agentd, bin/agentctl, bin/agents/*.so
#   make check-layers  fail on an include a layer may not use
#   make test       the whole suite (tests/run.sh)
#   make asan       the suite under AddressSanitizer and UBSan
#   make bench      benchmarks (tests/bench/run.sh)
#   make stress     the 5-minute lifecycle storm (tests/cli/storm.py)
#   make fuzz       libFuzzer on each harness (tests/fuzz; needs clang)
#   make deps       install missing Debian packages (apt-get, sudo if needed)
#   make V=1        show full commands

# Build on every core unless told otherwise (make -jN); make test builds
# first, then runs the suite (tests/run.sh runs its files two at a time).
ifeq ($(filter -j%,$(MAKEFLAGS)),)
MAKEFLAGS	+= -j$(shell nproc 2>/dev/null || echo 2)
endif

CC	?= cc
BUILD	?= build
BIN	?= bin
OPT	?= -O2
SAN	?=

WARN_BASE	= -Wall -Wextra -Werror
WARN_DECL	= -Wstrict-prototypes -Wmissing-prototypes -Wold-style-definition
WARN_SAFETY	= -Wshadow -Wpointer-arith -Wformat=2 -Wno-format-nonliteral \
		  -Wvla -Wundef
WARNINGS	= $(WARN_BASE) $(WARN_DECL) $(WARN_SAFETY)

# Includes name their folder: "base/alloc.h", "agentd/client.h".
CPPFLAGS	+= -D_GNU_SOURCE -I. -Innsim
CFLAGS		?=
# gcc 12's -O2 leaves the elementwise loops scalar; these vectorise them.
# No errno from sqrtf lets Adam's update vectorise; nothing reads it.
PERF		= -fvect-cost-model=dynamic -fno-math-errno
CFLAGS		+= -std=c11 $(OPT) $(PERF) -g -fPIC -pthread $(WARNINGS) $(SAN) \
		   -MMD -MP
LDFLAGS		+= $(SAN) -pthread
LDLIBS		= -levent -ljansson -lcrypto -lseccomp -ldl -lm

ifeq ($(V),1)
Q =
msg = @true
else
Q = @
msg = @printf '  %-6s %s\n'
endif

# Debian packages: what building and testing need, and the bench references.
DEPS_BUILD	= build-essential pkg-config libevent-dev libjansson-dev \
		  libopenblas-dev libssl-dev libedit-dev libseccomp-dev valgrind iproute2 \
		  python3 python3-cryptography spin libcairo2-dev \
		  protobuf-c-compiler libprotobuf-c-dev python3-onnx python3-numpy
DEPS_BENCH	= libfann-dev python3-torch

# Layers, lowest first; each may use only those before it (docs/design.md,
# "Layers"; make check-layers). agentd uses base alone; cli uses anything.
NNSIM_LAYERS	= base data nn dist
layer_obj	= $(patsubst %.c,$(BUILD)/%.o,$(wildcard nnsim/$(1)/*.c))
LIB_BASE	= $(BUILD)/libbase.a
LIB_DATA	= $(BUILD)/libdata.a
LIB_NN		= $(BUILD)/libnn.a
LIB_DIST	= $(BUILD)/libdist.a
LIB_AGENTD	= $(BUILD)/libagentd.a
# The simulator's archives in link order: a library before those it uses.
LIBS_SIM	= $(LIB_DIST) $(LIB_NN) $(LIB_DATA) $(LIB_BASE)
LIBS_ALL	= $(LIB_DIST) $(LIB_NN) $(LIB_DATA) $(LIB_AGENTD) $(LIB_BASE)

CLI_OBJ		= $(patsubst %.c,$(BUILD)/%.o,$(wildcard nnsim/cli/*.c))
# nnsim plot draws with cairo (fontconfig: its caches are freed at the
# end); nothing else links them.
CAIRO_CFLAGS	= $(shell pkg-config --cflags cairo fontconfig 2>/dev/null)
CAIRO_LIBS	= $(shell pkg-config --libs cairo fontconfig 2>/dev/null || \
		    echo -lcairo -lfontconfig)
$(BUILD)/nnsim/cli/plot.o: CPPFLAGS += $(CAIRO_CFLAGS)
# ONNX's schema, the part nnsim export writes, compiled by protoc-c at build
# time into $(GEN)/cli (nnsim/cli/README.md says why).
GEN		= $(BUILD)/gen
ONNX_OBJ	= $(GEN)/cli/onnx.pb-c.o

AGENTD_MAIN	= agentd/main.c agentd/agentctl.c
AGENTD_SRC	= $(filter-out $(AGENTD_MAIN),$(wildcard agentd/*.c))
AGENTD_OBJ	= $(AGENTD_SRC:%.c=$(BUILD)/%.o)

# agents/NAME.c builds to bin/agents/NAME.so, self-contained (the simulator's
# archives linked in, never the command line's code or agentd's) so that its
# SHA-256 names all of its code.
AGENT_SRC	= $(wildcard agents/*.c)
AGENT_SO	= $(AGENT_SRC:agents/%.c=$(BIN)/agents/%.so)

UNIT_SRC	= $(wildcard tests/unit/test_*.c)
UNIT_BIN	= $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/%)
UNIT_LIB	= $(BUILD)/tests/unit/unit.o

BENCH_SRC	= tests/bench/mlp_bench.c
BENCH_BIN	= $(BUILD)/bench/mlp_bench
FANN_BENCH	= $(BUILD)/bench/fann_bench
TCP_MAC_BENCH	= $(BUILD)/bench/tcp_mac_bench
RING_BENCH	= $(BUILD)/bench/ring_bench

.PHONY: all test asan bench stress deps deps-bench clean check-layers
.SECONDARY:
all: $(BIN)/nnsim $(BIN)/agentd $(BIN)/agentctl $(AGENT_SO)

$(BUILD)/%.o: %.c
	$(msg) CC $<
	@mkdir -p $(@D)
	$(Q)$(CC) $(CPPFLAGS) $(CFLAGS) -c -o $@ $<

$(LIB_BASE): $(call layer_obj,base)
$(LIB_DATA): $(call layer_obj,data)
$(LIB_NN): $(call layer_obj,nn)
$(LIB_DIST): $(call layer_obj,dist)
$(LIB_AGENTD): $(AGENTD_OBJ)
$(BUILD)/lib%.a:
	$(msg) AR $@
	$(Q)rm -f $@ && ar rcs $@ $^

$(BIN)/nnsim: $(CLI_OBJ) $(ONNX_OBJ) $(LIBS_ALL)
	$(msg) LINK $@
	@mkdir -p $(@D)
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS) -ledit -lprotobuf-c $(CAIRO_LIBS)

$(GEN)/cli/%.pb-c.c $(GEN)/cli/%.pb-c.h: nnsim/cli/%.proto
	$(msg) PROTOC $<
	@mkdir -p $(GEN)
	$(Q)protoc-c --proto_path=nnsim --c_out=$(GEN) $<
$(GEN)/cli/%.pb-c.o: $(GEN)/cli/%.pb-c.c
	$(msg) CC $<
	$(Q)$(CC) $(CPPFLAGS) -I$(GEN) $(CFLAGS) -c -o $@ $<
$(BUILD)/nnsim/cli/cmd_export.o: CPPFLAGS += -I$(GEN)
$(BUILD)/nnsim/cli/cmd_export.o: $(GEN)/cli/onnx.pb-c.h

# -rdynamic: agents resolve the runtime API (agent.h) against the worker.
$(BIN)/agentd: $(BUILD)/agentd/main.o $(LIB_AGENTD) $(LIB_BASE)
	$(msg) LINK $@
	@mkdir -p $(@D)
	$(Q)$(CC) $(LDFLAGS) -rdynamic -o $@ $^ $(LDLIBS)

$(BIN)/agentctl: $(BUILD)/agentd/agentctl.o $(LIB_AGENTD) $(LIB_BASE)
	$(msg) LINK $@
	@mkdir -p $(@D)
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BIN)/agents/%.so: $(BUILD)/agents/%.o $(LIBS_SIM)
	$(msg) LINK $@
	@mkdir -p $(@D)
	$(Q)$(CC) $(LDFLAGS) -shared -o $@ $^ -ljansson -lcrypto -lm

$(BUILD)/tests/%: $(BUILD)/tests/unit/%.o $(UNIT_LIB) $(LIBS_ALL)
	$(msg) LINK $@
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/tests/unit/%.o: CPPFLAGS += -Itests/unit
# The data cache's blocks, key and manifest live with the command line.
$(BUILD)/tests/test_datacache: $(BUILD)/tests/unit/test_datacache.o \
    $(BUILD)/nnsim/cli/datacache.o $(UNIT_LIB) $(LIBS_ALL)
	$(msg) LINK $@
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

# nnsim plot's reading of metrics files, without cairo.
$(BUILD)/tests/test_plotdata: $(BUILD)/tests/unit/test_plotdata.o \
    $(BUILD)/nnsim/cli/plotdata.o $(UNIT_LIB) $(LIBS_ALL)
	$(msg) LINK $@
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

check-layers:
	$(Q)python3 tests/check-layers.py

test: all $(UNIT_BIN) check-layers
	$(Q)BUILD=$(BUILD) BIN=$(BIN) sh tests/run.sh

# The long lifecycle storm: 5 minutes, 8 agents, 6 clients
# (tests/cli/storm.py; STORM_SEED=N replays one), and the lifecycle model
# with 3 orders (tests/model; about 90 s and 4 GB).
stress: all
	$(Q)TESTS='storm.sh\|model.sh' SPIN_ORDERS=$${SPIN_ORDERS:-3} \
	    STORM_SECONDS=$${STORM_SECONDS:-300} \
	    STORM_AGENTS=$${STORM_AGENTS:-8} STORM_CLIENTS=$${STORM_CLIENTS:-6} \
	    BUILD=$(BUILD) BIN=$(BIN) sh tests/run.sh

asan:
	$(Q)$(MAKE) --no-print-directory BUILD=build/asan BIN=build/asan/bin \
	    OPT=-O1 SAN="-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined" test

$(BENCH_BIN): $(BUILD)/tests/bench/mlp_bench.o $(LIBS_SIM)
	$(msg) LINK $@
	@mkdir -p $(@D)
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(TCP_MAC_BENCH): $(BUILD)/tests/bench/tcp_mac_bench.o
	$(msg) LINK $@
	@mkdir -p $(@D)
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ -lcrypto

$(RING_BENCH): $(BUILD)/tests/bench/ring_bench.o $(LIBS_SIM)
	$(msg) LINK $@
	@mkdir -p $(@D)
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

# FANN is optional: the bench reports it only when libfann-dev is there.
$(FANN_BENCH): tests/bench/fann_bench.c
	@mkdir -p $(@D)
	$(Q)if [ -f /usr/include/fann.h ]; then \
	    $(CC) -O2 -o $@ $< -lfann -lm; else rm -f $@; fi

bench: all $(BENCH_BIN) $(TCP_MAC_BENCH) $(RING_BENCH)
	$(Q)$(MAKE) --no-print-directory $(FANN_BENCH)
	$(Q)BUILD=$(BUILD) BIN=$(BIN) sh tests/bench/run.sh

deps:
	$(Q)sh tests/deps.sh $(DEPS_BUILD)

deps-bench: deps
	$(Q)sh tests/deps.sh $(DEPS_BENCH)

clean:
	rm -rf build bin

include tests/fuzz/fuzz.mk

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
