#!/usr/bin/env python3
"""The default initialisation ("auto": He for ReLU, Xavier otherwise)
against "init": "torch" (nn.Linear's) on FANN sets: the same ReLU network,
optimizer, batch and epochs, a few seeds; prints a markdown table of test
error (mse for regression, 1 - accuracy for classification), mean and
sample standard deviation over seeds. Not part of the suite.

    python3 tests/bench/init_bench.py [--seeds N] [--epochs E] [SET...]
"""
import argparse, json, os, statistics, subprocess, sys, tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(
    __file__))))
FANN = os.path.join(ROOT, "..", "shared", "data", "fann")
# Set and kind (docs: /work/shared/data/README.md).
SETS = [("building", "reg"), ("robot", "reg"), ("abelone", "reg"),
        ("census-house", "reg"), ("diabetes", "cls"), ("thyroid", "cls"),
        ("soybean", "cls"), ("gene", "cls"), ("mushroom", "cls")]


def net(name, kind, init, seed, epochs):
    out = {"activation": "linear"} if kind == "reg" else \
        {"activation": "softmax"}
    out["init"] = init
    return {
        "name": name,
        "layers": [{"units": 32, "activation": "relu", "init": init},
                   {"units": 32, "activation": "relu", "init": init}, out],
        "loss": "mse" if kind == "reg" else "cross_entropy",
        "data": {"train": {"path": os.path.join(FANN, name + ".train")},
                 "test": {"path": os.path.join(FANN, name + ".test")},
                 "normalize": "standard"},
        "train": {"epochs": epochs, "batch": 32, "seed": seed,
                  "optimizer": {"type": "adam", "lr": 0.001}},
    }


def run(nnsim, cfg, kind, tmp):
    path = os.path.join(tmp, "net.json")
    metrics = os.path.join(tmp, "m.jsonl")
    with open(path, "w") as f:
        json.dump(cfg, f)
    subprocess.run([nnsim, "train", path, "-o", os.path.join(tmp, "m.nnm"),
                    "--metrics", metrics, "--threads", "1", "-q"],
                   check=True)
    with open(metrics) as f:
        done = [json.loads(l) for l in f][-1]
    return done["test_loss"] if kind == "reg" else \
        1 - done["test_accuracy"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--epochs", type=int, default=20)
    ap.add_argument("sets", nargs="*")
    a = ap.parse_args()
    nnsim = os.path.join(ROOT, "bin", "nnsim")
    if not os.path.isdir(FANN):
        print("skip: no FANN sets at " + FANN)
        return 0
    sets = [s for s in SETS if not a.sets or s[0] in a.sets]
    print("| set | kind | init | test error (mean ± sd, %d seeds) |" %
          a.seeds)
    print("|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        for name, kind in sets:
            for init in ("auto", "torch"):
                errs = [run(nnsim, net(name, kind, init, s, a.epochs), kind,
                            tmp) for s in range(1, a.seeds + 1)]
                sd = statistics.stdev(errs) if len(errs) > 1 else 0.0
                what = "mse" if kind == "reg" else "error rate"
                print("| %s | %s | %s | %.5f ± %.5f |" %
                      (name, what, init, statistics.mean(errs), sd),
                      flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
