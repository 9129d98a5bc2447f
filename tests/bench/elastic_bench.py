"""make bench, the elastic part: what scaling events cost on the bench MLP
(784-1024-1024-10, ReLU, softmax, cross-entropy, SGD lr 0.01 momentum 0.9,
batch 128) on generated blobs, with daemons pinned one per core
(docs/elastic.md).

- Session commits: one session of 30 epochs on two 1-core daemons, run
  three times: without commits, with the default (a commit after every
  epoch, as often as their cost allows 2% of the time) and with a commit
  after every second epoch. A delta commit's cost is the epoch after it
  against its neighbours in that last run (the "committed" lines of
  --metrics say which), which cancels the drift along a run and between
  runs, and so is the first commit's, which carries the data once per
  run. The overhead at the default interval follows from the default
  run's commits.
- Data mode, 2 partitions, deterministic, with h1 on core 0 and h2, h3 on
  cores 1 and 1 (or 1 and 0):
  - kill -9 of the host of a partition other than the submitter's: the
    `recovered` line's stall_s, from the daemons' detection to the rebuilt
    partition's first completed step (the whole ring's), rebuild_s of the
    `rebuilt` line, and the steps redone;
  - drain of that host: from the drain order to the `moved` line on the
    submitter's output (the partition stops at a step boundary, so the
    ring waits for the move, not for more);
  - join: 3 partitions on h1 and h2, h3 started mid-job; the balancer
    moves a partition onto it: from "moving to h3" to "moved to h3".
  Two cores hold three daemons, so drain and join are measured with the
  destination on the sender's core (the transfer's two ends and the new
  worker's start take turns) and on the other core (whose partitions wait
  in the ring meanwhile), as on separate machines.
  Each run's model is compared bitwise with a quiet run's.

Horovod Elastic's published reset times are printed beside them (0.4 s at
2 ranks, 15.8 s at 16, Gloo re-initialisation alone). Ends with one JSON
line {"bench": "elastic", ...}. Usage: elastic_bench.py BIN_DIR [--quick]
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import data_bench  # noqa: E402  (its Cluster-free helpers: ENV, free_port)

BIN = sys.argv[1] if len(sys.argv) > 1 else "bin"
QUICK = "--quick" in sys.argv
ROWS = 8192 if QUICK else 16384
ENV = data_bench.ENV


def net(mode, epochs, partitions=0, replicas=None, every=1):
    o = {
        "name": "elastic",
        "input": 784,
        "layers": [{"units": 1024, "activation": "relu"},
                   {"units": 1024, "activation": "relu"},
                   {"units": 10, "activation": "softmax"}],
        "loss": "cross_entropy",
        "data": {"train": {"generate": "blobs", "n": ROWS, "inputs": 784,
                           "classes": 10, "seed": 1, "noise": 100},
                 "normalize": "standard"},
        "train": {"epochs": epochs, "batch": 128, "seed": 1,
                  "optimizer": {"type": "sgd", "lr": 0.01,
                                "momentum": 0.9}},
    }
    if mode == "data":
        o["parallel"] = {"mode": "data", "partitions": partitions,
                         "deterministic": True}
    else:
        o["parallel"] = {"replicas": replicas, "commit_epochs": every}
    return o


class Hosts:
    """Daemons h1.. pinned to cores; start(i) and kill(i) one at a time."""

    def __init__(self, top, tag, cores):
        self.dir = os.path.join(top, tag)
        os.mkdir(self.dir)
        self.key = os.path.join(top, "key")
        self.cores = cores
        self.addrs = [f"127.0.0.{i + 1}:{data_bench.free_port('127.0.0.1')}"
                      for i in range(len(cores))]
        self.hosts = os.path.join(self.dir, "hosts.json")
        with open(self.hosts, "w") as f:
            json.dump({"hosts": [{"name": f"h{i + 1}", "address": a}
                                 for i, a in enumerate(self.addrs)]}, f)
        self.procs = [None] * len(cores)

    def start(self, i):
        with open(os.path.join(self.dir, f"log{i + 1}"), "a") as log:
            self.procs[i] = subprocess.Popen(
                ["taskset", "-c", str(self.cores[i]), f"{BIN}/agentd",
                 "--listen", self.addrs[i], "--key", self.key,
                 "--hosts", self.hosts,
                 "--state", os.path.join(self.dir, f"s{i + 1}"),
                 "--name", f"h{i + 1}", "--log-level", os.environ.get("EB_LOG", "warn")],
                stdout=subprocess.DEVNULL, stderr=log, env=ENV)

    def kill(self, i):
        self.procs[i].kill()
        self.procs[i].wait()
        self.procs[i] = None

    def ctl(self, *args):
        r = subprocess.run([f"{BIN}/agentctl", "--connect", self.addrs[0],
                            "--key", self.key, "--json", *args],
                           capture_output=True, text=True, timeout=10)
        return json.loads(r.stdout) if r.returncode == 0 else None

    def wait_up(self, n, timeout=20):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                h = self.ctl("hosts")
            except (subprocess.TimeoutExpired, ValueError):
                h = None
            if h is not None and sum(x.get("state") in ("up", "self")
                                     for x in h["hosts"]) == n:
                return
            time.sleep(0.1)
        raise TimeoutError(f"{n} daemons not up after {timeout} s")

    def where(self, agent_type):
        """{host: [agent ids]} of that type on every up host."""
        out = {}
        for i, a in enumerate(self.addrs):
            if self.procs[i] is None:
                continue
            r = subprocess.run([f"{BIN}/agentctl", "--connect", a,
                                "--key", self.key, "--json", "agents"],
                               capture_output=True, text=True, timeout=10)
            if r.returncode == 0:
                for x in json.loads(r.stdout).get("agents", []):
                    if x.get("type") == agent_type:
                        out.setdefault(f"h{i + 1}", []).append(x["id"])
        return out

    def close(self):
        for p in self.procs:
            if p is not None and p.poll() is None:
                p.terminate()
        for p in self.procs:
            if p is None:
                continue
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()


class Job:
    """nnsim submit in the background; its stdout lines with times."""

    def __init__(self, top, tag, cl, doc):
        self.path = os.path.join(top, f"{tag}.json")
        with open(self.path, "w") as f:
            json.dump(doc, f)
        self.metrics = os.path.join(top, f"{tag}.jsonl")
        self.lines = []
        cmd = [f"{BIN}/nnsim", "submit", self.path, "--connect",
               cl.addrs[0], "--key", cl.key, "--metrics", self.metrics,
               "-o", os.path.join(top, f"{tag}.nnm")]
        print("  " + " ".join(cmd))
        self.p = subprocess.Popen(cmd, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True,
                                  env=dict(ENV, NNSIM_NO_LIVE="1"))
        self.t = threading.Thread(target=self._read, daemon=True)
        self.t.start()

    def _read(self):
        for line in self.p.stdout:
            self.lines.append((time.monotonic(), line.rstrip("\n")))

    def wait_line(self, text, timeout=60):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for t, line in list(self.lines):
                if text in line:
                    return t
            time.sleep(0.02)
        raise TimeoutError(f"no line with {text!r} in {timeout} s")

    def end(self, timeout=900):
        rc = self.p.wait(timeout=timeout)
        self.t.join(5)
        if rc != 0:
            raise RuntimeError(f"nnsim submit exit {rc}: "
                               f"{self.p.stderr.read()[-600:]}")
        return [json.loads(x) for x in open(self.metrics) if x.strip()]


def epoch_gaps(lines):
    """{epoch: seconds since the epoch before}, on the agent's clock
    (elapsed_s of the epoch lines), from epoch 2: the first holds the
    start."""
    el = {o["epoch"]: o["elapsed_s"] for o in lines
          if "epoch" in o and "elapsed_s" in o and "event" not in o}
    return {k: el[k] - el[k - 1] for k in el if k - 1 in el}


def mean_se(xs):
    """Mean and its standard error."""
    m = sum(xs) / len(xs)
    if len(xs) < 2:
        return m, 0.0
    var = sum((x - m) ** 2 for x in xs) / (len(xs) - 1)
    return m, (var / len(xs)) ** 0.5


def sha(lines):
    done = [o for o in lines if o.get("event") == "done"]
    return done[-1].get("params_sha256") if done else None


def commits(top):
    """Session mode: what commits cost.

    Three runs of one session, the same epochs: "none" without commits
    ("replicas": 0); "every" with the default (a commit after each epoch,
    as often as their cost allows 2% of the time); "alt" with a commit
    after every second epoch. A commit asked at the end of epoch k is
    packed and sent during epoch k + 1 (the worker packs it, its daemon
    sends it on the same core), so in "alt" each epoch after a delta
    commit is compared with its neighbours without one: the cost of a
    delta, free of the drift along the run and between runs, and so is the
    first commit (with the data).
    The overhead at the default interval is then (first + deltas of
    "every" x cost of a delta) / training time of "every"; across runs,
    the mean epoch of "every" against "none" is printed beside it.
    """
    runs = {}
    for tag, replicas, every in (("none", 0, 1), ("every", 1, 1),
                                 ("alt", 1, 2)):
        cl = Hosts(top, f"c{tag}", [0, 1])
        try:
            cl.start(0)
            cl.start(1)
            cl.wait_up(2)
            lines = Job(top, f"c{tag}", cl, net(
                "session", 6 if QUICK else 30, replicas=replicas,
                every=every)).end()
        finally:
            cl.close()
        sess = [o for o in lines if o.get("event") == "session"][0]
        runs[tag] = {"gaps": epoch_gaps(lines), "sess": sess,
                     "after": {o["epochs_done"] + 1: o["delta"]
                               for o in lines
                               if o.get("event") == "committed"}}
    none, every, alt = runs["none"], runs["every"], runs["alt"]
    out = {"epoch_s_none": sum(none["gaps"].values()) / len(none["gaps"]),
           "epoch_s_every": sum(every["gaps"].values()) /
           len(every["gaps"]),
           "train_s": sum(every["gaps"].values())}
    for k in ("commits", "commit_ms", "commits_full", "commit_full_ms"):
        out[k] = every["sess"].get(k)
    out["across"] = out["epoch_s_every"] / out["epoch_s_none"] - 1
    g, after = alt["gaps"], alt["after"]
    diffs, first = [], []
    for k in g:
        near = [g[j] for j in (k - 1, k + 1) if j in g and j not in after]
        if k in after and near:
            (diffs if after[k] else first).append(
                g[k] - sum(near) / len(near))
    if diffs and first:
        cost, se = mean_se(diffs)
        deltas = sum(1 for v in every["after"].values() if v)
        out.update({"delta_cost_s": cost, "delta_cost_se_s": se,
                    "delta_pairs": len(diffs), "first_cost_s": first[0],
                    "deltas": deltas,
                    "overhead": (first[0] + deltas * cost) /
                    out["train_s"],
                    "overhead_se": deltas * se / out["train_s"],
                    "overhead_deltas": deltas * cost / out["train_s"]})
    return out


def data_events(top, quiet_sha):
    """kill -9, drain and join on a deterministic 2- and 3-partition job.

    Two cores hold three daemons, so the host an agent moves to shares a
    core: with the sender ("shared": both ends of the transfer and the new
    worker's start take turns on one core) or with the third host, whose
    partitions wait in the ring meanwhile ("own": as on separate
    machines). Drain and join are measured both ways."""
    res = {}
    epochs = 8 if QUICK else 14
    # kill -9 of a host with a partition (not the submitter's), then
    # drains: h2 and h3 on one core, then on different ones.
    for what, cores in (("kill", [0, 1, 1]), ("drain_shared", [0, 1, 1]),
                        ("drain_own", [0, 1, 0])):
        cl = Hosts(top, what, cores)
        try:
            for i in range(3):
                cl.start(i)
            cl.wait_up(3)
            job = Job(top, what, cl, net("data", epochs, 2))
            job.wait_line(" epoch 2 ", 120)
            where = cl.where("partition")
            victim = next(h for h in ("h2", "h3") if h in where)
            t0 = time.monotonic()
            if what == "kill":
                cl.kill(int(victim[1]) - 1)
            else:
                subprocess.run([f"{BIN}/nnsim", "console", "--connect",
                                cl.addrs[0], "--key", cl.key, "-c",
                                f"drain {victim}"], capture_output=True,
                               timeout=10, check=True)
                res[f"{what}_s"] = job.wait_line("moved to", 60) - t0
            lines = job.end()
        finally:
            cl.close()
        if what == "kill":
            rec = [o for o in lines if o.get("event") == "recovered"]
            reb = [o for o in lines if o.get("event") == "rebuilt"]
            res["kill_stall_s"] = rec[0]["stall_s"] if rec else None
            res["kill_rebuild_s"] = reb[0]["rebuild_s"] if reb else None
            res["kill_steps_redone"] = reb[0]["steps_redone"] if reb else None
        res[f"{what}_bitwise"] = sha(lines) == quiet_sha[2]
    # join: 3 partitions on h1 and h2; h3 starts after epoch 2, on the
    # core of the host with the most partitions (the sender) or the other.
    for what in ("join_shared", "join_own"):
        cl = Hosts(top, what, [0, 1, 0])
        try:
            cl.start(0)
            cl.start(1)
            cl.wait_up(2)
            job = Job(top, what, cl, net("data", epochs, 3))
            job.wait_line(" epoch 2 ", 120)
            where = cl.where("partition")
            busy = 0 if len(where.get("h1", [])) >= \
                len(where.get("h2", [])) else 1
            cl.cores[2] = cl.cores[busy if what == "join_shared"
                                   else 1 - busy]
            cl.start(2)
            t_moving = job.wait_line("moving to h3", 60)
            res[f"{what}_s"] = job.wait_line("moved to h3", 60) - t_moving
            lines = job.end()
        finally:
            cl.close()
        res[f"{what}_bitwise"] = sha(lines) == quiet_sha[3]
    return res


def quiet(top, partitions, epochs):
    cl = Hosts(top, f"q{partitions}", [0, 1])
    try:
        cl.start(0)
        cl.start(1)
        cl.wait_up(2)
        return sha(Job(top, f"q{partitions}", cl,
                       net("data", epochs, partitions)).end())
    finally:
        cl.close()


def main():
    if not shutil.which("taskset"):
        print("elastic_bench: taskset not found", file=sys.stderr)
        return 1
    top = tempfile.mkdtemp(prefix="nnsim-elastic-bench.")
    try:
        subprocess.run([f"{BIN}/agentd", "keygen",
                        os.path.join(top, "key")], check=True)
        print("elastic: session commits, 1 session, "
              f"{6 if QUICK else 30} epochs of "
              f"{ROWS} rows")
        c = commits(top)
        epochs = 8 if QUICK else 14
        print(f"elastic: data mode, deterministic, {epochs} epochs")
        q = {2: quiet(top, 2, epochs), 3: quiet(top, 3, epochs)}
        d = data_events(top, q)
    finally:
        # EB_KEEP=1 keeps the daemons' logs (EB_LOG=debug for more).
        if os.environ.get("EB_KEEP"):
            print(f"elastic: kept {top}")
        else:
            shutil.rmtree(top, ignore_errors=True)
    first = c["commit_full_ms"] / max(1, c["commits_full"])
    deltas = c["commits"] - c["commits_full"]
    delta_ms = (c["commit_ms"] - c["commit_full_ms"]) / deltas \
        if deltas else None
    print(f"  commits: {c['commits']} in {c['train_s']:.1f} s of "
          f"training (the first with the data, {first:.0f} ms in the "
          f"daemons; {deltas} deltas, "
          + (f"{delta_ms:.0f} ms each" if delta_ms is not None else "-")
          + ")")
    if "overhead" in c:
        print(f"  commit overhead: {100 * c['overhead']:.1f}% +- "
              f"{100 * c['overhead_se']:.1f} of training time (target < "
              f"2%), {100 * c['overhead_deltas']:.1f}% without the first: "
              f"a delta costs the epoch after it "
              f"{1000 * c['delta_cost_s']:.0f} +- "
              f"{1000 * c['delta_cost_se_s']:.0f} ms ({c['delta_pairs']} "
              f"epochs against their neighbours, commits every 2 epochs), "
              f"the first {1000 * c['first_cost_s']:.0f} ms")
    print(f"  across runs: {c['epoch_s_none']:.3f} s an epoch without "
          f"commits, {c['epoch_s_every']:.3f} s with: "
          f"{100 * c['across']:+.1f}%")
    print(f"  kill -9: stall {d['kill_stall_s']:.3f} s from detection to "
          f"the next completed step (target < 1 s), rebuilt "
          f"{d['kill_rebuild_s']:.3f} s after detection, "
          f"{d['kill_steps_redone']} step redone; bitwise {d['kill_bitwise']}")
    for what, how in (("drain", "after the order"),
                      ("join", "onto the new host")):
        print(f"  {what}: partition moved {how} in "
              f"{d[what + '_own_s']:.3f} s with the destination on its own "
              f"core, {d[what + '_shared_s']:.3f} s sharing the sender's "
              f"(target < 0.5 s); bitwise "
              f"{d[what + '_own_bitwise'] and d[what + '_shared_bitwise']}")
    print("  Horovod Elastic (published): reset 0.4 s at 2 ranks, 15.8 s at "
          "16 (Gloo re-initialisation alone)")
    print(json.dumps({"bench": "elastic",
                      "epoch_s_no_commit": c["epoch_s_none"],
                      "epoch_s_commit": c["epoch_s_every"],
                      "commit_overhead_across_runs": c["across"],
                      "commit_overhead": c.get("overhead"),
                      "commit_overhead_se": c.get("overhead_se"),
                      "commit_overhead_deltas": c.get("overhead_deltas"),
                      "commit_delta_cost_s": c.get("delta_cost_s"),
                      "commit_first_cost_s": c.get("first_cost_s"),
                      "commits": c["commits"], "commit_deltas": deltas,
                      "commit_first_ms": first, "commit_delta_ms": delta_ms,
                      "commit_ms": c["commit_ms"], **d,
                      "horovod_reset_s_2": 0.4, "horovod_reset_s_16": 15.8}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
