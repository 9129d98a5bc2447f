# The fuzz harnesses (tests/fuzz/README.md), included by the Makefile.
#   every build   $(BUILD)/tests/fuzz/replay_NAME: the harness with gcc and
#                 replay.c, which the suite runs on tests/fuzz/corpus/NAME
#                 (tests/cli/fuzz.sh); under make asan with its sanitizers
#   make fuzz     each harness with clang's libFuzzer, ASan and UBSan in
#                 build/fuzz/, run FUZZ_SECONDS (60) each; new inputs go
#                 to build/fuzz/new/NAME, and into the checked-in corpus
#                 (minimised, -merge=1) only with FUZZ_MERGE=1.
#                 FUZZ=NAME... runs only those.

FUZZ_SRC	= $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_NAMES	= $(FUZZ_SRC:tests/fuzz/fuzz_%.c=%)
FUZZ_REPLAY	= $(FUZZ_NAMES:%=$(BUILD)/tests/fuzz/replay_%)
FUZZ_COMMON	= $(BUILD)/tests/fuzz/fuzz.o

FUZZ_CC		?= clang
FUZZ_SECONDS	?= 60
FUZZ_MERGE	?= 0
FUZZ		?= $(FUZZ_NAMES)
FUZZ_BUILD	= build/fuzz
# What make fuzz needs; make deps does not install it (CI has no clang).
DEPS_FUZZ	= clang libclang-rt-14-dev

.PHONY: fuzz
all: $(FUZZ_REPLAY)

$(BUILD)/tests/fuzz/replay_%: $(BUILD)/tests/fuzz/fuzz_%.o \
    $(BUILD)/tests/fuzz/replay.o $(FUZZ_COMMON) $(LIBS_ALL)
	$(msg) LINK $@
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

# The libFuzzer programs, made by the sub-make below (BUILD=build/fuzz,
# CC=clang): everything instrumented, the harness linked with libFuzzer.
$(BUILD)/fuzz_%: $(BUILD)/tests/fuzz/fuzz_%.o $(FUZZ_COMMON) $(LIBS_ALL)
	$(msg) LINK $@
	$(Q)$(CC) $(LDFLAGS) -fsanitize=fuzzer -o $@ $^ $(LDLIBS)

# gcc's vectoriser flags mean nothing to clang; -Werror stays gcc's.
fuzz:
	$(Q)command -v $(FUZZ_CC) >/dev/null 2>&1 && \
	    echo 'int LLVMFuzzerTestOneInput(const char *d, long n) { return 0; }' | \
	    $(FUZZ_CC) -fsanitize=fuzzer -x c -o /dev/null - 2>/dev/null || \
	    { echo "make fuzz: needs $(FUZZ_CC) with libFuzzer (-fsanitize=fuzzer): apt-get install $(DEPS_FUZZ)" >&2; exit 1; }
	$(Q)$(MAKE) --no-print-directory BUILD=$(FUZZ_BUILD) CC=$(FUZZ_CC) \
	    OPT="-O1 -gline-tables-only" PERF= WARN_BASE="-Wall -Wextra" \
	    SAN="-fsanitize=fuzzer-no-link,address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined" \
	    $(FUZZ:%=$(FUZZ_BUILD)/fuzz_%)
	$(Q)FUZZ_BUILD=$(FUZZ_BUILD) FUZZ_SECONDS=$(FUZZ_SECONDS) \
	    FUZZ_MERGE=$(FUZZ_MERGE) sh tests/fuzz/run.sh $(FUZZ)
