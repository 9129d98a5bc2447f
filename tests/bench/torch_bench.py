"""PyTorch reference for make bench.

The same 784-1024-1024-10 MLP as mlp_bench (nn.Linear, ReLU, softmax inside
CrossEntropyLoss), SGD lr 0.01 momentum 0.9, batch 128, on 60000 random
samples drawn in shuffled batches like nnsim's trainer. Prints "key=value"
lines for tests/bench/run.sh, with 1-second windows like mlp_bench.

usage: torch_bench.py THREADS [SECONDS] [WARMUP]
"""
import ctypes
import os
import sys
import time

import torch

INPUTS, HIDDEN, CLASSES = 784, 1024, 10
ROWS, BATCH = 60000, 128
WINDOW = 1.0


def openblas_info():
    """The core and threads of the OpenBLAS that torch loaded, if any."""
    try:
        lib = ctypes.CDLL("libopenblas.so.0",
                          mode=os.RTLD_NOLOAD | os.RTLD_LAZY)
        lib.openblas_get_corename.restype = ctypes.c_char_p
        return (lib.openblas_get_corename().decode(),
                lib.openblas_get_num_threads())
    except (OSError, AttributeError):
        return ("none", 0)


def main():
    threads = int(sys.argv[1]) if len(sys.argv) > 1 else 1
    seconds = float(sys.argv[2]) if len(sys.argv) > 2 else 5.0
    warmup = float(sys.argv[3]) if len(sys.argv) > 3 else 1.0
    torch.set_num_threads(threads)
    torch.manual_seed(1)

    x = torch.randn(ROWS, INPUTS)
    y = torch.randint(0, CLASSES, (ROWS,))
    model = torch.nn.Sequential(
        torch.nn.Linear(INPUTS, HIDDEN), torch.nn.ReLU(),
        torch.nn.Linear(HIDDEN, HIDDEN), torch.nn.ReLU(),
        torch.nn.Linear(HIDDEN, CLASSES))
    loss_fn = torch.nn.CrossEntropyLoss()
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)

    state = {"order": torch.randperm(ROWS), "cursor": 0}

    def step():
        # Shuffled batches gathered from the data set, as nnsim does.
        c = state["cursor"]
        if c >= ROWS:
            state["order"] = torch.randperm(ROWS)
            c = 0
        idx = state["order"][c:c + BATCH]
        state["cursor"] = c + BATCH
        xb = x.index_select(0, idx)
        yb = y.index_select(0, idx)
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(model(xb), yb)
        loss.backward()
        opt.step()
        return idx.numel(), loss

    t0 = time.perf_counter()
    while time.perf_counter() - t0 < warmup:
        step()

    windows, samples, wsamples, best, worst = 0, 0, 0, 0.0, 0.0
    nwindows = max(1, int(seconds / WINDOW + 0.5))
    t0 = tw = time.perf_counter()
    while windows < nwindows:
        n, loss = step()
        samples += n
        wsamples += n
        t1 = time.perf_counter()
        if t1 - tw >= WINDOW:
            rate = wsamples / (t1 - tw)
            best = max(best, rate)
            worst = rate if worst == 0 else min(worst, rate)
            windows += 1
            wsamples = 0
            tw = t1
    elapsed = t1 - t0

    print("mode=torch")
    print("torch_version=%s" % torch.__version__)
    print("threads=%d" % torch.get_num_threads())
    core, blas_threads = openblas_info()
    print("openblas_core=%s" % core)
    print("openblas_threads=%d" % blas_threads)
    print("windows=%d" % windows)
    print("samples=%d" % samples)
    print("seconds=%.3f" % elapsed)
    print("samples_per_sec=%.1f" % (samples / elapsed))
    print("best_samples_per_sec=%.1f" % best)
    print("worst_samples_per_sec=%.1f" % worst)
    print("last_loss=%.4f" % float(loss))


if __name__ == "__main__":
    main()
