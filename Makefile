# nnsim and agentd: one Makefile builds everything.
#   make            bin/nnsim and build/libnnsim.a
#   make test       the whole suite (tests/run.sh)
#   make asan       the suite under AddressSanitizer and UBSan
#   make bench      benchmarks (tests/bench/run.sh)
#   make deps       install missing Debian packages (apt-get, sudo if needed)
#   make V=1        show full commands

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

CPPFLAGS	+= -D_GNU_SOURCE -Innsim -Iagentd
CFLAGS		?=
# gcc 12's -O2 leaves the elementwise loops scalar; these vectorise them.
# No errno from sqrtf lets Adam's update vectorise; nothing reads it.
PERF		= -fvect-cost-model=dynamic -fno-math-errno
CFLAGS		+= -std=c11 $(OPT) $(PERF) -g -fPIC -pthread $(WARNINGS) $(SAN) \
		   -MMD -MP
LDFLAGS		+= $(SAN) -pthread
LDLIBS		= -levent -ljansson -lcrypto -ldl -lm

ifeq ($(V),1)
Q =
msg = @true
else
Q = @
msg = @printf '  %-6s %s\n'
endif

# Debian packages: what building and testing need, and the bench references.
DEPS_BUILD	= build-essential pkg-config libevent-dev libjansson-dev \
		  libopenblas-dev libssl-dev libedit-dev valgrind iproute2 \
		  python3 python3-cryptography
DEPS_BENCH	= libfann-dev python3-torch

NNSIM_MAIN	= nnsim/main.c $(wildcard nnsim/cmd_*.c)
LIB_SRC		= $(filter-out $(NNSIM_MAIN),$(wildcard nnsim/*.c))
LIB_OBJ		= $(LIB_SRC:%.c=$(BUILD)/%.o)
NNSIM_OBJ	= $(NNSIM_MAIN:%.c=$(BUILD)/%.o)
LIBNNSIM	= $(BUILD)/libnnsim.a

AGENTD_MAIN	= agentd/main.c agentd/agentctl.c
AGENTD_SRC	= $(filter-out $(AGENTD_MAIN),$(wildcard agentd/*.c))
AGENTD_OBJ	= $(AGENTD_SRC:%.c=$(BUILD)/%.o)
LIBAGENTD	= $(BUILD)/libagentd.a

# agents/NAME.c builds to bin/agents/NAME.so, self-contained (libnnsim
# linked in) so that its SHA-256 names all of its code.
AGENT_SRC	= $(wildcard agents/*.c)
AGENT_SO	= $(AGENT_SRC:agents/%.c=$(BIN)/agents/%.so)

UNIT_SRC	= $(wildcard tests/unit/test_*.c)
UNIT_BIN	= $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/%)
UNIT_LIB	= $(BUILD)/tests/unit/unit.o

BENCH_SRC	= tests/bench/mlp_bench.c
BENCH_BIN	= $(BUILD)/bench/mlp_bench
FANN_BENCH	= $(BUILD)/bench/fann_bench
TCP_MAC_BENCH	= $(BUILD)/bench/tcp_mac_bench

.PHONY: all test asan bench deps deps-bench clean
.SECONDARY:
all: $(BIN)/nnsim $(LIBNNSIM) $(BIN)/agentd $(BIN)/agentctl $(AGENT_SO)

$(BUILD)/%.o: %.c
	$(msg) CC $<
	@mkdir -p $(@D)
	$(Q)$(CC) $(CPPFLAGS) $(CFLAGS) -c -o $@ $<

$(LIBNNSIM): $(LIB_OBJ)
	$(msg) AR $@
	$(Q)rm -f $@ && ar rcs $@ $^

# nnsim submit is a client of agentd; the two libraries use each other.
$(BIN)/nnsim: $(NNSIM_OBJ) $(LIBAGENTD) $(LIBNNSIM)
	$(msg) LINK $@
	@mkdir -p $(@D)
	$(Q)$(CC) $(LDFLAGS) -o $@ $(NNSIM_OBJ) -Wl,--start-group \
	    $(LIBAGENTD) $(LIBNNSIM) -Wl,--end-group $(LDLIBS) -ledit

$(LIBAGENTD): $(AGENTD_OBJ)
	$(msg) AR $@
	$(Q)rm -f $@ && ar rcs $@ $^

# -rdynamic: agents resolve the runtime API (agent.h) against the worker.
$(BIN)/agentd: $(BUILD)/agentd/main.o $(LIBAGENTD) $(LIBNNSIM)
	$(msg) LINK $@
	@mkdir -p $(@D)
	$(Q)$(CC) $(LDFLAGS) -rdynamic -o $@ $^ $(LDLIBS)

$(BIN)/agentctl: $(BUILD)/agentd/agentctl.o $(LIBAGENTD) $(LIBNNSIM)
	$(msg) LINK $@
	@mkdir -p $(@D)
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BIN)/agents/%.so: $(BUILD)/agents/%.o $(LIBNNSIM)
	$(msg) LINK $@
	@mkdir -p $(@D)
	$(Q)$(CC) $(LDFLAGS) -shared -o $@ $^ -ljansson -lcrypto -lm

$(BUILD)/tests/%: $(BUILD)/tests/unit/%.o $(UNIT_LIB) $(LIBAGENTD) $(LIBNNSIM)
	$(msg) LINK $@
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/tests/unit/%.o: CPPFLAGS += -Itests/unit

test: all $(UNIT_BIN)
	$(Q)BUILD=$(BUILD) BIN=$(BIN) sh tests/run.sh

asan:
	$(Q)$(MAKE) --no-print-directory BUILD=build/asan BIN=build/asan/bin \
	    OPT=-O1 SAN="-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined" test

$(BENCH_BIN): $(BUILD)/tests/bench/mlp_bench.o $(LIBNNSIM)
	$(msg) LINK $@
	@mkdir -p $(@D)
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(TCP_MAC_BENCH): $(BUILD)/tests/bench/tcp_mac_bench.o
	$(msg) LINK $@
	@mkdir -p $(@D)
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ -lcrypto

# FANN is optional: the bench reports it only when libfann-dev is there.
$(FANN_BENCH): tests/bench/fann_bench.c
	@mkdir -p $(@D)
	$(Q)if [ -f /usr/include/fann.h ]; then \
	    $(CC) -O2 -o $@ $< -lfann -lm; else rm -f $@; fi

bench: all $(BENCH_BIN) $(TCP_MAC_BENCH)
	$(Q)$(MAKE) --no-print-directory $(FANN_BENCH)
	$(Q)BUILD=$(BUILD) BIN=$(BIN) sh tests/bench/run.sh

deps:
	$(Q)sh tests/deps.sh $(DEPS_BUILD)

deps-bench: deps
	$(Q)sh tests/deps.sh $(DEPS_BENCH)

clean:
	rm -rf build bin

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
