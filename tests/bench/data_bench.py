"""make bench, the data-parallel part: samples/s of one net.json trained by
nnsim submit with 1 partition on one 1-core daemon, and with 2 partitions
on two 1-core daemons (127.0.0.1 and 127.0.0.2, pinned with taskset to
cores 0 and 1), for each global batch size of --batches. When torch
imports, PyTorch DistributedDataParallel (gloo) with 1 and 2 processes
runs at the same batch sizes in the same bench (ddp_bench.py).

The net is mlp_bench's 784-1024-1024-10 MLP (ReLU, softmax, cross-entropy,
SGD lr 0.01 momentum 0.9) on generated blobs, noisy enough that it keeps
learning. The global batch is split over the partitions, so the 2
partitions each compute half of it: a small batch leaves each one little
arithmetic against a fixed cost per step (the ring moves 7.4 MB each way,
and the update touches every weight). The rate is the mean of the epochs'
samples_per_sec after the first (warm-up); the wall rate is the rows of an
epoch over the time between two epoch reports.

Usage: data_bench.py BIN_DIR [--quick] [--batches B1,B2,...] [--no-torch]
  (default 128,1024,4096; --quick: 128 with fewer rows; --no-torch skips
  the DDP runs)
Ends with one JSON line {"bench": "data_parallel", ...}. Exits non-zero
only when nnsim submit fails (2 with bad usage). The losses are printed,
not compared: 1 and 2 partitions take different global batches (shard p
is rows p, p+N, ...), so only nnsim train on the same file matches a
job, which tests/cli/data.sh checks."""
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time

BIN = sys.argv[1] if len(sys.argv) > 1 else "bin"
QUICK = "--quick" in sys.argv
EPOCHS = 3 if QUICK else 4
TARGET = 1.8


def parse_batches():
    if "--batches" not in sys.argv:
        return [128] if QUICK else [128, 1024, 4096]
    i = sys.argv.index("--batches")
    try:
        out = [int(x) for x in sys.argv[i + 1].split(",")]
    except (IndexError, ValueError):
        out = []
    if not out or any(b < 2 or b % 2 for b in out):
        print("data_bench: --batches takes even sizes, e.g. 128,1024",
              file=sys.stderr)
        sys.exit(2)
    return out


def rows_for(batch):
    """At least 16 steps an epoch, and 16384 rows or more."""
    if QUICK:
        return 8192
    return max(16384, 16 * batch) if batch <= 256 else max(65536,
                                                              16 * batch)
HERE = os.path.dirname(os.path.abspath(__file__))
TORCH_PY = "/usr/bin/python3"
# Debian's OpenBLAS must know the core before it loads; one BLAS thread.
ENV = dict(os.environ, OPENBLAS_CORETYPE="SkylakeX", OPENBLAS_NUM_THREADS="1",
           OMP_NUM_THREADS="1", OMP_WAIT_POLICY="PASSIVE")


def net_json(partitions, batch):
    return {
        "name": f"data{partitions}",
        "input": 784,
        "layers": [{"units": 1024, "activation": "relu"},
                   {"units": 1024, "activation": "relu"},
                   {"units": 10, "activation": "softmax"}],
        "loss": "cross_entropy",
        # Noise 100 keeps the loss well above 0 for the whole run: the
        # default blobs are separated so far that the loss reaches 0.0 in
        # the first epoch, the gradients turn to zeros and the momentum
        # decays into denormals, which make the SGD update 2.5x slower.
        "data": {"train": {"generate": "blobs", "n": rows_for(batch),
                           "inputs": 784,
                           "classes": 10, "seed": 1, "noise": 100},
                 "normalize": "standard"},
        "train": {"epochs": EPOCHS, "batch": batch, "seed": 1,
                  "optimizer": {"type": "sgd", "lr": 0.01,
                                "momentum": 0.9}},
        "parallel": {"mode": "data", "partitions": partitions},
    }


def free_port(ip):
    s = socket.socket()
    s.bind((ip, 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Cluster:
    """Daemons pinned one per core: [(ip, core)]."""

    def __init__(self, top, tag, places):
        self.dir = os.path.join(top, tag)
        os.mkdir(self.dir)
        self.key = os.path.join(top, "key")
        self.addrs = [f"{ip}:{free_port(ip)}" for ip, _ in places]
        self.hosts = os.path.join(self.dir, "hosts.json")
        with open(self.hosts, "w") as f:
            json.dump({"hosts": [{"name": f"h{i + 1}", "address": a}
                                 for i, a in enumerate(self.addrs)]}, f)
        self.procs = []
        try:
            for i, (a, (_, core)) in enumerate(zip(self.addrs, places)):
                with open(os.path.join(self.dir, f"log{i + 1}"), "w") as log:
                    self.procs.append(subprocess.Popen(
                        ["taskset", "-c", str(core), f"{BIN}/agentd",
                         "--listen", a, "--key", self.key,
                         "--hosts", self.hosts,
                         "--state", os.path.join(self.dir, f"s{i + 1}"),
                         "--name", f"h{i + 1}", "--log-level", "warn"],
                        stdout=subprocess.DEVNULL, stderr=log, env=ENV))
        except BaseException:
            self.close()
            raise

    def hosts_info(self):
        r = subprocess.run([f"{BIN}/agentctl", "--connect", self.addrs[0],
                            "--key", self.key, "--json", "hosts"],
                           capture_output=True, text=True, timeout=10)
        if r.returncode != 0:
            return None
        return json.loads(r.stdout)["hosts"]

    def wait_up(self, timeout=20):
        """The host list once every daemon is up, or TimeoutError."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for p in self.procs:
                if p.poll() is not None:
                    raise RuntimeError(f"agentd exited {p.returncode}: "
                                       f"see {self.dir}")
            try:
                hosts = self.hosts_info()
            except (subprocess.TimeoutExpired, ValueError, KeyError):
                hosts = None
            if hosts is not None and len(hosts) == len(self.addrs) and all(
                    h.get("state") in ("up", "self") for h in hosts):
                return hosts
            time.sleep(0.1)
        raise TimeoutError(f"daemons not up after {timeout} s")

    def close(self):
        for p in self.procs:
            if p.poll() is None:
                p.terminate()
        for p in self.procs:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()


def submit(top, cl, partitions, batch):
    """Runs the job on cl; its metrics lines, or raises."""
    tag = f"p{partitions}b{batch}"
    path = os.path.join(top, f"{tag}.json")
    with open(path, "w") as f:
        json.dump(net_json(partitions, batch), f)
    metrics = os.path.join(top, f"{tag}.jsonl")
    cmd = [f"{BIN}/nnsim", "submit", path, "--connect", cl.addrs[0],
           "--key", cl.key, "--metrics", metrics,
           "-o", os.path.join(top, f"{tag}.nnm"), "-q"]
    print("  " + " ".join(cmd))
    t0 = time.monotonic()
    r = subprocess.run(cmd, capture_output=True, text=True, env=ENV,
                       timeout=900)
    wall = time.monotonic() - t0
    if r.returncode != 0:
        raise RuntimeError(f"nnsim submit ({partitions} partitions) exit "
                           f"{r.returncode}: {(r.stderr or r.stdout)[-600:]}")
    lines = [json.loads(x) for x in open(metrics) if x.strip()]
    return lines, wall


def rate(lines, rows):
    """Mean samples/s of the epochs after the first, by the trainer's
    busy clock and by the wall clock between epoch reports."""
    ep = sorted((o for o in lines if "epoch" in o and
                 "samples_per_sec" in o), key=lambda o: o["epoch"])
    if len(ep) < 2:
        raise RuntimeError(f"metrics: {len(ep)} epoch lines, expected "
                           f"{EPOCHS}")
    busy = statistics.mean(o["samples_per_sec"] for o in ep[1:])
    wall = statistics.mean(rows / (b["elapsed_s"] - a["elapsed_s"])
                           for a, b in zip(ep, ep[1:]))
    return busy, wall, [round(o["samples_per_sec"]) for o in ep], \
        [o.get("loss") for o in ep]


def nnsim_config(top, name, places, partitions, batch):
    cl = Cluster(top, name, places)
    try:
        hosts = cl.wait_up()
        cores = {h["name"]: h.get("cores") for h in hosts}
        lines, wall = submit(top, cl, partitions, batch)
    finally:
        cl.close()
    placed = sorted(o.get("host", "?") for o in lines
                    if o.get("event") == "partition")
    return rate(lines, rows_for(batch)), wall, cores, placed


def ddp(world, batch):
    # About 40,000 samples timed, after 20 steps' or 2,560 samples' warm-up.
    steps = max(20, (12800 if QUICK else 38400) // batch)
    warmup = max(3, min(20, 2560 // batch))
    cmd = [TORCH_PY, os.path.join(HERE, "ddp_bench.py"), str(world),
           str(steps), str(warmup), str(batch)]
    print("  " + " ".join(cmd))
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, env=ENV,
                           timeout=900)
    except subprocess.TimeoutExpired:
        print(f"  torch ddp {world}: timed out")
        return None, None
    kv = dict(x.split("=", 1) for x in r.stdout.splitlines() if "=" in x)
    if r.returncode != 0 or "samples_per_sec" not in kv:
        print(f"  torch ddp {world}: failed: "
              f"{(r.stderr.strip().splitlines() or ['?'])[-1]}")
        return None, None
    return float(kv["samples_per_sec"]), kv.get("torch_version")


def ratio(a, b):
    return round(a / b, 3) if a is not None and b else None


def main():
    batches = parse_batches()
    cpus = sorted(os.sched_getaffinity(0))
    c0, c1 = cpus[0], cpus[1 % len(cpus)]
    print("bench: data-parallel nnsim submit, 784-1024-1024-10 MLP, global "
          f"batches {batches}, blobs x 784 (noise 100), {EPOCHS} epochs")
    print(f"  daemons pinned with taskset (cores {c0}, {c1}); "
          "OPENBLAS_CORETYPE=SkylakeX, OPENBLAS_NUM_THREADS=1")
    if len(cpus) < 2:
        print("  note: fewer than 2 usable cores; both daemons share one")
    top = tempfile.mkdtemp(prefix="data-bench.")
    res = {}
    try:
        subprocess.run([f"{BIN}/agentd", "keygen", os.path.join(top, "key")],
                       check=True, stdout=subprocess.DEVNULL, timeout=10)
        for b in batches:
            print(f"bench: batch {b}, {rows_for(b)} rows")
            res[b] = (nnsim_config(top, f"a{b}", [("127.0.0.1", c0)], 1, b),
                      nnsim_config(top, f"b{b}", [("127.0.0.1", c0),
                                                  ("127.0.0.2", c1)], 2, b))
    except Exception as e:
        print(f"bench: data_bench: {e}", file=sys.stderr)
        return 1
    finally:
        shutil.rmtree(top, ignore_errors=True)

    tver, torch_res = None, {}
    ok = subprocess.run([TORCH_PY, "-c", "import torch"], env=ENV,
                        capture_output=True).returncode == 0 \
        if os.access(TORCH_PY, os.X_OK) and "--no-torch" not in sys.argv \
        else False
    if ok:
        print("bench: pytorch DDP, gloo on 127.0.0.1, one process per core, "
              "the same global batches split over the processes")
        for b in batches:
            t1, tver = ddp(1, b)
            t2, _ = ddp(2, b)
            torch_res[b] = (t1, t2)
    else:
        print("torch: skipped (not installed, or --no-torch)")

    print()
    print("== data-parallel samples/s (mean of epochs 2.."
          f"{EPOCHS}; busy = trainer's step clock) ==")
    rows, met = [], []
    for b in batches:
        ((b1, w1, e1, l1), wall1, cores1, _), \
            ((b2, w2, e2, l2), wall2, cores2, placed) = res[b]
        print(f"  global batch {b} ({rows_for(b)} rows; 2 partitions "
              f"compute {b // 2} rows each a step):")
        print(f"    {'configuration':<40} {'busy':>8} {'wall':>8} "
              f"{'job s':>6}  per-epoch busy")
        print(f"    {'nnsim, 1 partition, 1 host x 1 core':<40} {b1:>8.0f} "
              f"{w1:>8.0f} {wall1:>6.1f}  {e1}")
        print(f"    {'nnsim, 2 partitions, 2 hosts x 1 core':<40} {b2:>8.0f} "
              f"{w2:>8.0f} {wall2:>6.1f}  {e2}")
        sp, spw = b2 / b1, w2 / w1
        if sp >= TARGET:
            met.append(b)
        print(f"    speedup 1 -> 2 partitions: {sp:.2f}x (wall {spw:.2f}x), "
              f"target >= {TARGET}x: {'met' if sp >= TARGET else 'NOT met'}")
        print(f"    (hosts' cores: {cores1} then {cores2}; partitions on "
              f"{placed or '?'}; first epoch's loss {l1[0]:.6g} and "
              f"{l2[0]:.6g}, last {l1[-1]:.4g} and {l2[-1]:.4g})")
        t1, t2 = torch_res.get(b, (None, None))
        if ok:
            label = f"torch {tver or '?'} DDP gloo"
            for w, v in ((1, t1), (2, t2)):
                txt = f"{v:.0f}" if v is not None else "failed"
                print(f"    {label + f', {w} process' + ('es' if w > 1 else ''):<40}"
                      f" {txt:>8}")
            if ratio(t2, t1) is not None:
                print(f"    torch DDP speedup 1 -> 2 processes: {t2 / t1:.2f}x")
        rows.append({"batch": b, "rows": rows_for(b),
                     "samples_per_s_1": round(b1, 1),
                     "samples_per_s_2": round(b2, 1),
                     "speedup": round(sp, 3),
                     "wall_samples_per_s_1": round(w1, 1),
                     "wall_samples_per_s_2": round(w2, 1),
                     "wall_speedup": round(spw, 3),
                     "torch_ddp_1": t1, "torch_ddp_2": t2,
                     "torch_ddp_speedup": ratio(t2, t1)})
    print(f"  target >= {TARGET}x met at global batch "
          f"{', '.join(map(str, met)) if met else 'none of ' + str(batches)}")
    out = {"bench": "data_parallel", "epochs": EPOCHS, "target": TARGET,
           "target_met_at": met, "batches": rows}
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
