#!/bin/sh
# make bench: nnsim's trainer against the sgemm limit, PyTorch and FANN on a
# 784-1024-1024-10 MLP, batch 128. Prints a table and one JSON line
# {"bench": "mlp", ...}, then the platform, data-parallel, elastic and data
# cache benches, each ending with its own JSON line. Fails only when
# mlp_bench or one of those benches fails; a missing torch or FANN is
# reported and skipped. BENCH_SECONDS sets the timed seconds.
BUILD=${BUILD:-build}
BIN=${BIN:-bin}
SECS=${BENCH_SECONDS:-5}
MLP=$BUILD/bench/mlp_bench
FANN=$BUILD/bench/fann_bench
TORCH=tests/bench/torch_bench.py

out=$(mktemp -d) || exit 1
trap 'rm -rf "$out"' EXIT INT TERM

# get FILE KEY: the value of KEY=... in a result file, or nothing.
get() {
	[ -f "$out/$1" ] && sed -n "s/^$2=//p" "$out/$1" | head -n 1
}

# calc FORMAT EXPR A B: awk arithmetic on a and b; nothing when one is empty.
calc() {
	[ -n "$3" ] && [ -n "$4" ] || return 0
	awk -v a="$3" -v b="$4" "BEGIN { printf \"$1\", $2 }"
}

# num VALUE: a JSON number, or null.
num() {
	if [ -n "$1" ]; then printf '%s' "$1"; else printf 'null'; fi
}

# mlp NAME ARGS...: one mlp_bench run; any failure fails the bench.
mlp() {
	name=$1
	shift
	printf '  mlp_bench %s\n' "$*"
	if ! "$MLP" "$@" >"$out/$name" 2>"$out/$name.err"; then
		cat "$out/$name" "$out/$name.err" >&2
		echo "bench: mlp_bench $* failed" >&2
		exit 1
	fi
}

if [ ! -x "$MLP" ]; then
	echo "bench: $MLP not built (run make bench)" >&2
	exit 1
fi

cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo 2>/dev/null |
    head -n 1)
cores=$(getconf _NPROCESSORS_ONLN 2>/dev/null || echo 1)
echo "bench: 784-1024-1024-10 MLP, relu, softmax + cross-entropy, batch 128"
echo "bench: ${cpu:-unknown cpu}, $cores online cores, ${SECS}s timed runs"
# nnsim picks OpenBLAS's core itself; measure that, not a user's override.
if [ -n "$OPENBLAS_CORETYPE" ]; then
	echo "bench: note: unsetting OPENBLAS_CORETYPE=$OPENBLAS_CORETYPE" \
	    "so nnsim's own choice is measured"
	unset OPENBLAS_CORETYPE
fi

# Training runs each in their own process, so their peak RSS holds only
# training; the sgemm runs come after, in processes of their own.
echo "bench: nnsim (separate processes)"
mlp sgd_tn train -t 0 -o sgd -w 1 -s "$SECS"
mlp sgd_t1 train -t 1 -o sgd -w 1 -s "$SECS"
mlp adam_tn train -t 0 -o adam -w 1 -s "$SECS"
mlp sgemm_tn sgemm -t 0 -n 2048 -r 3
mlp sgemm_t1 sgemm -t 1 -n 2048 -r 3
mlp shapes_tn shapes -t 0 -r 3
mlp shapes_t1 shapes -t 1 -r 3
tn=$(get sgd_tn threads)

# PyTorch: Debian's python3-torch may sit beside another python3 on PATH.
py=
for p in python3 /usr/bin/python3; do
	if "$p" -c "import torch" >/dev/null 2>&1; then
		py=$p
		break
	fi
done
# Debian's torch runs its Linear layers on OpenBLAS (through libblas.so.3)
# and elementwise ops on OpenMP: the BLAS threads must match the torch
# threads or "1 thread" uses every core, and OpenMP's spinning workers
# starve OpenBLAS's threads unless they wait passively.
torch_run() {
	name=$1
	threads=$2
	shift 2
	printf '  %s %s %s (%s)\n' "$py" "$TORCH" "$threads" "$*"
	if ! env "$@" "$py" "$TORCH" "$threads" "$SECS" 1 >"$out/$name" \
	    2>"$out/$name.err"; then
		echo "bench: torch $threads threads failed:" \
		    "$(tail -n 1 "$out/$name.err")"
		rm -f "$out/$name"
	fi
}
if [ -n "$py" ]; then
	echo "bench: pytorch ($py)"
	torch_run torch_t1 1 OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 \
	    OMP_WAIT_POLICY=PASSIVE
	torch_run torch_tn "$tn" OPENBLAS_NUM_THREADS="$tn" \
	    OMP_NUM_THREADS="$tn" OMP_WAIT_POLICY=PASSIVE
	torch_run torch_tn_untuned "$tn" OPENBLAS_NUM_THREADS="$tn"
	tcore=$(get torch_t1 openblas_core)
	if [ -n "$tcore" ] && [ "$tcore" != none ]; then
		torch_note="torch's nn.Linear runs on Debian's OpenBLAS,"
		torch_note="$torch_note which picked core $tcore by itself"
	else
		torch_note="torch did not load OpenBLAS (its own kernels)"
	fi
else
	echo "bench: pytorch skipped: python3 cannot import torch" \
	    "(make deps-bench installs python3-torch)"
fi

if [ -x "$FANN" ]; then
	echo "bench: fann"
	printf '  %s 3\n' "$FANN"
	if ! "$FANN" 3 >"$out/fann" 2>"$out/fann.err"; then
		echo "bench: fann failed: $(tail -n 1 "$out/fann.err")"
		rm -f "$out/fann"
	fi
else
	echo "bench: fann skipped: $FANN not built" \
	    "(make deps-bench installs libfann-dev)"
fi

core=$(get sgd_tn corename)
sgd_tn=$(get sgd_tn samples_per_sec)
sgd_tn_best=$(get sgd_tn best_samples_per_sec)
sgd_t1=$(get sgd_t1 samples_per_sec)
sgd_t1_best=$(get sgd_t1 best_samples_per_sec)
adam_tn=$(get adam_tn samples_per_sec)
adam_tn_best=$(get adam_tn best_samples_per_sec)
gf_tn=$(get sgemm_tn gflops)
gf_tn_mean=$(get sgemm_tn mean_gflops)
gf_t1=$(get sgemm_t1 gflops)
gf_t1_mean=$(get sgemm_t1 mean_gflops)
weights=$(get sgemm_tn weights)
lim_tn=$(get sgemm_tn limit_samples_per_sec)
lim_tn_mean=$(get sgemm_tn mean_limit_samples_per_sec)
lim_t1=$(get sgemm_t1 limit_samples_per_sec)
lim_t1_mean=$(get sgemm_t1 mean_limit_samples_per_sec)
gemm_tn=$(get shapes_tn gemm_samples_per_sec)
gemm_t1=$(get shapes_t1 gemm_samples_per_sec)
pct_tn=$(calc %.1f '100 * a / b' "$sgd_tn_best" "$lim_tn")
pct_tn_mean=$(calc %.1f '100 * a / b' "$sgd_tn" "$lim_tn_mean")
pct_t1=$(calc %.1f '100 * a / b' "$sgd_t1_best" "$lim_t1")
pct_t1_mean=$(calc %.1f '100 * a / b' "$sgd_t1" "$lim_t1_mean")
pct_adam=$(calc %.1f '100 * a / b' "$adam_tn_best" "$lim_tn")
rss=$(get sgd_tn rss_peak_bytes)
budget=$(get sgd_tn budget_bytes)
rss_ratio=$(get sgd_tn rss_ratio)
rss_adam=$(get adam_tn rss_peak_bytes)
budget_adam=$(get adam_tn budget_bytes)
rss_ratio_adam=$(get adam_tn rss_ratio)
torch_t1=$(get torch_t1 samples_per_sec)
torch_t1_best=$(get torch_t1 best_samples_per_sec)
torch_tn=$(get torch_tn samples_per_sec)
torch_tn_best=$(get torch_tn best_samples_per_sec)
torch_un=$(get torch_tn_untuned samples_per_sec)
torch_un_best=$(get torch_tn_untuned best_samples_per_sec)
torch_ver=$(get torch_t1 torch_version)
fann=$(get fann samples_per_sec)
r_torch_t1=$(calc %.3f 'a / b' "$sgd_t1" "$torch_t1")
r_torch_tn=$(calc %.3f 'a / b' "$sgd_tn" "$torch_tn")
r_torch_un=$(calc %.3f 'a / b' "$sgd_tn" "$torch_un")
r_fann=$(calc %.3f 'a / b' "$sgd_t1" "$fann")
r_fann_tn=$(calc %.3f 'a / b' "$sgd_tn" "$fann")

# row LABEL MEAN BEST RATIO: one line of the trainer table.
row() {
	awk -v l="$1" -v m="$2" -v b="$3" -v r="$4" 'BEGIN {
		printf "  %-34s %10s %10s %10s\n", l,
		    m == "" ? "-" : sprintf("%.0f", m),
		    b == "" ? "-" : sprintf("%.0f", b),
		    r == "" ? "-" : sprintf("%.2fx", r)
	}'
}

echo
echo "== samples/s (mean of ${SECS}s; best 1-s window) =="
printf '  %-34s %10s %10s %10s\n' trainer mean best nnsim/it
row "nnsim sgd, $tn threads" "$sgd_tn" "$sgd_tn_best" ""
row "nnsim sgd, 1 thread" "$sgd_t1" "$sgd_t1_best" ""
row "nnsim adam, $tn threads" "$adam_tn" "$adam_tn_best" ""
if [ -n "$py" ]; then
	row "torch $torch_ver sgd, 1 thread" "$torch_t1" "$torch_t1_best" \
	    "$r_torch_t1"
	row "torch sgd, $tn threads" "$torch_tn" "$torch_tn_best" \
	    "$r_torch_tn"
	row "torch sgd, $tn threads, untuned" "$torch_un" "$torch_un_best" \
	    "$r_torch_un"
else
	echo "  torch: skipped"
fi
if [ -n "$fann" ]; then
	row "fann 2.2 incremental, sigmoid, 1t" "$fann" "" "$r_fann"
else
	echo "  fann: skipped"
fi
awk -v e="$(get sgd_tn epoch)" -v l="$(get sgd_tn running_loss)" \
    -v a="$(get sgd_tn running_accuracy)" 'BEGIN {
	printf "  (nnsim sgd learns: epoch %d, running loss %.3g, accuracy " \
	    "%.4f)\n", e, l, a
}'
echo "  (nnsim/it: nnsim sgd mean at the same threads over the other's" \
    "mean; fann is single-threaded, compared with nnsim at 1 thread)"

echo
echo "== sgemm limit (OpenBLAS core $core, chosen by nnsim) =="
echo "  limit = sgemm_flops / (6 * weights), weights = 784*1024 +" \
    "1024*1024 + 1024*10 = $weights"
# limit THREADS GFLOPS MEAN_GFLOPS LIMIT PCT PCT_MEAN GEMM_ONLY
limit() {
	awk -v t="$1" -v g="$2" -v gm="$3" -v l="$4" -v p="$5" -v pm="$6" \
	    -v gb="$7" 'BEGIN {
		ok = p >= 60 ? "met" : "NOT met"
		printf "  %-11s sgemm 2048^3 %.1f GFLOP/s (mean %.1f), " \
		    "limit %.0f samples/s\n", t, g, gm, l
		printf "  %-11s nnsim %.1f%% of limit (best/best; mean/mean " \
		    "%.1f%%), target >= 60%%: %s\n", "", p, pm, ok
		printf "  %-11s the 8 GEMMs of a step alone: %.0f samples/s " \
		    "(%.1f%% of limit)\n", "", gb, 100 * gb / l
	}'
}
limit "$tn threads:" "$gf_tn" "$gf_tn_mean" "$lim_tn" "$pct_tn" \
    "$pct_tn_mean" "$gemm_tn"
limit "1 thread:" "$gf_t1" "$gf_t1_mean" "$lim_t1" "$pct_t1" \
    "$pct_t1_mean" "$gemm_t1"
echo "  (a step's GEMMs do 6*weights - 2*784*1024 FLOPs per sample, as" \
    "layer 1 needs no input gradient, so they can pass 100%)"
echo "  OPENBLAS_CORETYPE was set for no run; ${torch_note:-torch not run}"

echo
echo "== peak RSS of a training-only process =="
echo "  budget = params + optimizer state (sgd 1x, adam 2x params) +" \
    "256 x (784+1024+1024+10) x 4 activations + 60000 x (784+10) x 4 data"
# rss NAME PEAK BUDGET RATIO
rss() {
	awk -v n="$1" -v r="$2" -v b="$3" -v q="$4" 'BEGIN {
		ok = q <= 2.0 ? "<= 2.0, ok" : "> 2.0, OVER"
		printf "  %-5s peak %.1f MiB, budget %.1f MiB, ratio %.3f: " \
		    "%s\n", n, r / 1048576, b / 1048576, q, ok
	}'
}
rss sgd: "$rss" "$budget" "$rss_ratio"
rss adam: "$rss_adam" "$budget_adam" "$rss_ratio_adam"
echo "  (peak includes the gradients, OpenBLAS's buffers and shared" \
    "libraries, which the budget leaves out)"

echo
printf '{"bench": "mlp", "cpu": "%s", "cores": %s, "threads": %s' \
    "$cpu" "$cores" "$(num "$tn")"
printf ', "corename": "%s", "seconds": %s' "$core" "$SECS"
printf ', "nnsim_sgd": %s, "nnsim_sgd_best": %s' "$(num "$sgd_tn")" \
    "$(num "$sgd_tn_best")"
printf ', "nnsim_sgd_t1": %s, "nnsim_sgd_t1_best": %s' "$(num "$sgd_t1")" \
    "$(num "$sgd_t1_best")"
printf ', "nnsim_loss": %s' "$(num "$(get sgd_tn running_loss)")"
printf ', "nnsim_adam": %s, "nnsim_adam_best": %s' "$(num "$adam_tn")" \
    "$(num "$adam_tn_best")"
printf ', "sgemm_gflops": %s, "sgemm_gflops_t1": %s' "$(num "$gf_tn")" \
    "$(num "$gf_t1")"
printf ', "weights": %s, "limit": %s, "limit_t1": %s' "$(num "$weights")" \
    "$(num "$lim_tn")" "$(num "$lim_t1")"
printf ', "pct_of_limit": %s, "pct_of_limit_mean": %s' "$(num "$pct_tn")" \
    "$(num "$pct_tn_mean")"
printf ', "pct_of_limit_t1": %s, "pct_of_limit_adam": %s' \
    "$(num "$pct_t1")" "$(num "$pct_adam")"
printf ', "gemm_only": %s, "gemm_only_t1": %s' "$(num "$gemm_tn")" \
    "$(num "$gemm_t1")"
printf ', "rss_peak_bytes": %s, "rss_budget_bytes": %s, "rss_ratio": %s' \
    "$(num "$rss")" "$(num "$budget")" "$(num "$rss_ratio")"
printf ', "rss_ratio_adam": %s' "$(num "$rss_ratio_adam")"
printf ', "torch_t1": %s, "torch": %s, "torch_untuned": %s' \
    "$(num "$torch_t1")" "$(num "$torch_tn")" "$(num "$torch_un")"
if [ -n "$tcore" ]; then
	printf ', "torch_openblas_core": "%s"' "$tcore"
else
	printf ', "torch_openblas_core": null'
fi
printf ', "nnsim_over_torch_t1": %s, "nnsim_over_torch": %s' \
    "$(num "$r_torch_t1")" "$(num "$r_torch_tn")"
printf ', "fann": %s, "nnsim_t1_over_fann": %s, "nnsim_over_fann": %s}\n' \
    "$(num "$fann")" "$(num "$r_fann")" "$(num "$r_fann_tn")"

# The agent platform: migrations between two daemons, raw TCP, spawn rate.
echo
if ! python3 tests/bench/agentd_bench.py "$BIN" \
    --tcp-mac "$BUILD/bench/tcp_mac_bench"; then
	echo "bench: agentd_bench failed" >&2
	exit 1
fi

# Data-parallel scaling: nnsim submit with 1 partition on one 1-core daemon
# and 2 partitions on two, and PyTorch DDP (gloo) with 1 and 2 processes.
echo
if ! python3 tests/bench/data_bench.py "$BIN"; then
	echo "bench: data_bench failed" >&2
	exit 1
fi

# Scaling events: a session's commits, and a data job's kill -9, drain and
# join on 1-core daemons, each model checked bitwise (docs/elastic.md).
echo
if ! python3 tests/bench/elastic_bench.py "$BIN"; then
	echo "bench: elastic_bench failed" >&2
	exit 1
fi

# The data cache: a sweep and a data job from a 200 MB CSV behind a
# 1 Gbit/s link, --no-cache against a cold and a warm cache, on 3 hosts in
# network namespaces (skipped, with a line, without root).
echo
if ! env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE \
    python3 tests/bench/cache_bench.py "$BIN"; then
	echo "bench: cache_bench failed" >&2
	exit 1
fi
