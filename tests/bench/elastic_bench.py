"""make bench, the elastic part: what scaling events cost on the bench MLP
(784-1024-1024-10, ReLU, softmax, cross-entropy, SGD lr 0.01 momentum 0.9,
batch 128) on generated blobs, with daemons pinned one per core
(docs/elastic.md).

- Session commits: one session of 30 epochs on two 1-core daemons, with
  "replicas": 0 and with 1 (a commit after every epoch, the default). The
  overhead is the ratio of the mean wall time between two epoch reports;
  the session line's commit_ms is the daemons' side of it. The first
  commit carries the data set, once per run (it is what the first gap
  holds); the later ones leave it out, and the steady overhead compares
  the gaps after the first.
- Data mode, 2 partitions on h1 and h2 (cores 0 and 1) with h3 spare (core
  1), deterministic:
  - kill -9 of the host of a partition other than the submitter's: the
    `recovered` line's stall_s, from the daemons' detection to the rebuilt
    partition's first completed step (the whole ring's), rebuild_s of the
    `rebuilt` line, and the steps redone;
  - drain of that host: from the drain order to the `moved` line on the
    submitter's output (the partition stops at a step boundary, so the
    ring waits for the move, not for more);
  - join: 3 partitions on h1 and h2, h3 started mid-job; the balancer
    moves a partition onto it: from "moving to h3" to "moved to h3".
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


def net(mode, epochs, partitions=0, replicas=None):
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
        o["parallel"] = {"replicas": replicas}
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


def epoch_gaps(job):
    """Wall seconds between the epoch lines on the job's output."""
    ts = [t for t, line in job.lines if " epoch " in line and " loss " in
          line]
    return [b - a for a, b in zip(ts, ts[1:])]


def sha(lines):
    done = [o for o in lines if o.get("event") == "done"]
    return done[-1].get("params_sha256") if done else None


def commits(top):
    """Session mode: the epoch wall time with and without commits."""
    out = {}
    for replicas in (0, 1):
        cl = Hosts(top, f"c{replicas}", [0, 1])
        try:
            cl.start(0)
            cl.start(1)
            cl.wait_up(2)
            job = Job(top, f"c{replicas}", cl, net(
                "session", 6 if QUICK else 30, replicas=replicas))
            lines = job.end()
        finally:
            cl.close()
        gaps = epoch_gaps(job)
        sess = [o for o in lines if o.get("event") == "session"][0]
        out[replicas] = {"epoch_s": sum(gaps) / len(gaps) if gaps else None,
                         "train_s": sum(gaps),
                         "later_s": sum(gaps[1:]) / len(gaps[1:]) if
                         gaps[1:] else None,
                         "commits": sess.get("commits"),
                         "commit_ms": sess.get("commit_ms"),
                         "commits_full": sess.get("commits_full"),
                         "commit_full_ms": sess.get("commit_full_ms")}
    return out


def data_events(top, quiet_sha):
    """kill -9, drain and join on a deterministic 2- and 3-partition job."""
    res = {}
    epochs = 8 if QUICK else 14
    # kill -9, then drain, of a host with a partition (not the submitter's).
    for what in ("kill", "drain"):
        cl = Hosts(top, what, [0, 1, 1])
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
                job.wait_line("moved to", 60)
                res["drain_s"] = job.wait_line("moved to") - t0
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
    # join: 3 partitions on h1 and h2; h3 starts after epoch 2.
    cl = Hosts(top, "join", [0, 1, 1])
    try:
        cl.start(0)
        cl.start(1)
        cl.wait_up(2)
        job = Job(top, "join", cl, net("data", epochs, 3))
        job.wait_line(" epoch 2 ", 120)
        cl.start(2)
        t_moving = job.wait_line("moving to h3", 60)
        res["join_s"] = job.wait_line("moved to h3", 60) - t_moving
        lines = job.end()
    finally:
        cl.close()
    res["join_bitwise"] = sha(lines) == quiet_sha[3]
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
        over = (c[1]["epoch_s"] / c[0]["epoch_s"] - 1) if \
            c[0]["epoch_s"] and c[1]["epoch_s"] else None
        steady = (c[1]["later_s"] / c[0]["later_s"] - 1) if \
            c[0]["later_s"] and c[1]["later_s"] else None
        first = c[1]["commit_full_ms"] / max(1, c[1]["commits_full"])
        deltas = c[1]["commits"] - c[1]["commits_full"]
        delta_ms = (c[1]["commit_ms"] - c[1]["commit_full_ms"]) / deltas \
            if deltas else None
        epochs = 8 if QUICK else 14
        print(f"elastic: data mode, deterministic, {epochs} epochs")
        q = {2: quiet(top, 2, epochs), 3: quiet(top, 3, epochs)}
        d = data_events(top, q)
    finally:
        shutil.rmtree(top, ignore_errors=True)
    print(f"  epoch wall time: {c[0]['epoch_s']:.3f} s without commits, "
          f"{c[1]['epoch_s']:.3f} s with one replica "
          f"({c[1]['commits']} commits, {c[1]['commit_ms']} ms in the "
          f"daemons): overhead {100 * over:.1f}% over "
          f"{c[1]['train_s']:.1f} s, {100 * steady:.1f}% after the first "
          f"(target < 2%); the first, with the data, took {first:.0f} ms "
          f"in the daemons, each of the {deltas} later ones "
          + (f"{delta_ms:.0f} ms" if delta_ms is not None else "-"))
    print(f"  kill -9: stall {d['kill_stall_s']:.3f} s from detection to "
          f"the next completed step (target < 1 s), rebuilt "
          f"{d['kill_rebuild_s']:.3f} s after detection, "
          f"{d['kill_steps_redone']} step redone; bitwise {d['kill_bitwise']}")
    print(f"  drain: partition moved {d['drain_s']:.3f} s after the order "
          f"(target < 0.5 s); bitwise {d['drain_bitwise']}")
    print(f"  join: partition moved onto the new host in {d['join_s']:.3f} s "
          f"(target < 0.5 s); bitwise {d['join_bitwise']}")
    print("  Horovod Elastic (published): reset 0.4 s at 2 ranks, 15.8 s at "
          "16 (Gloo re-initialisation alone)")
    print(json.dumps({"bench": "elastic",
                      "epoch_s_no_commit": c[0]["epoch_s"],
                      "epoch_s_commit": c[1]["epoch_s"],
                      "commit_overhead": over,
                      "commit_overhead_after_first": steady,
                      "commits": c[1]["commits"], "commit_deltas": deltas,
                      "commit_first_ms": first, "commit_delta_ms": delta_ms,
                      "commit_ms": c[1]["commit_ms"], **d,
                      "horovod_reset_s_2": 0.4, "horovod_reset_s_16": 15.8}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
