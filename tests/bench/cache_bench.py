"""make bench, the data cache part (docs/data-cache.md): what the cache
saves a job whose data sits on the submitting machine, against today's
behaviour (nnsim submit --no-cache: the data shipped in every agent's
state).

Hosts: four network namespaces made with hosts/netns.sh (bridge in a hub
namespace, removed on any exit): h1, h2 and h3 run agentd (unpinned, so
each offers the machine's cores, sandboxed as by default), and the
submitter runs nnsim submit from the fourth, whose link is limited by tc
tbf to 1 Gbit/s both ways, a realistic rate for reading a data set from
storage.

Data: a CSV file written once (label column 0-9, then 784 integer
columns 0-255, like MNIST's pixels), 63,000 rows: 200 MB as float32 rows
(784 inputs + 10 outputs), about 170 MB as text; --quick: 6,300 rows.
Normalised "standard" by the submitter, as a user would.

Workloads, each three ways: --no-cache (today), cold (the first submit
through the cache: the set is loaded, put and placed), warm (the same
net.json again: the set is found by its key and no data is shipped):
- sweep: 6 sessions (6 seeds) of a 784-64-10 MLP, no commits
  ("replicas": 0, so that only the submitter ships state);
- data: one data-parallel job of 3 partitions (parallel.mode data).

Measured for each run:
- time to first step: from submit's start to the first "progress" event
  (agentctl watch --all, from the submitter's namespace) with a step
  done; sessions report after their first 50 ms of steps, partitions
  0.5 s after they start training, so a data job's figure is up to
  0.5 s late;
- total time: submit's wall time, to its exit;
- bytes moved: what the submitter's link carried out of it (tc's byte
  counter on its eth0: data blocks, agent states with any data in them,
  requests), and of it the block bytes the daemons received from
  clients (the sum of the hosts' cache.bytes_received, docs/data-cache.md)
  and submit's data_bytes_sent (its --metrics "done" line); and between
  the daemons, the block bytes fetched for agents (cache.bytes_fetched);
- peak memory per host: the peak over samples every 0.25 s of the sum
  of Pss (/proc/PID/smaps_rollup) of the daemon and its workers, that
  peak above the same sum at rest before the submit, the most agents
  there at once, and the cache's bytes after. A cache block counts in
  Pss where a worker maps it, shared between those that map it (the
  daemon keeps its blocks in memfds it maps only to serve a peer). The
  daemons keep idle transfer buffers for 35 s (agentd/bigbuf.h), so a
  run's rest figure holds the last run's, and its growth can read low.
  The workers are new in each run: the one-copy target is judged on
  their Pss, with the cache's bytes.

Targets (printed, not asserted): warm time to first step under 10% of
today's; warm data bytes zero; a host holds one copy of the set whatever
the number of agents using it (in the warm sweep, its cache bytes at
most the set's and its workers' Pss under 1.5x the set).

Published anchors printed beside the results: Fluid/Alluxio cut ResNet-50
training time by 23-31% against NFS; Hoard 2.1x over NFS; CoorDL up to
5.7x for hyperparameter search.

Usage: cache_bench.py BIN_DIR [--quick]. Needs root (network namespaces)
and tc; without them it says so, prints {"bench": "cache", "skipped": ...}
and exits 0. Ends with one JSON line {"bench": "cache", ...}; exits 1
when a submit fails.
"""
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

BIN = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else "bin")
QUICK = "--quick" in sys.argv
HERE = os.path.dirname(os.path.abspath(__file__))
NETNS = os.path.join(HERE, "..", "..", "hosts", "netns.sh")
ROWS = 6300 if QUICK else 63000
INPUTS, CLASSES = 784, 10
SET_BYTES = ROWS * (INPUTS + CLASSES) * 4
EPOCHS = 4 if QUICK else 2
RATE = "1gbit"
PREFIX = "cb%d" % (os.getpid() % 100000)
SUBNET = "10.231.77"
PORT = 7070
HOSTS = ["h1", "h2", "h3"]
SUBMITTER = 4           # netns host number of the submitter
MB = 1e6
# Benchmarks measure nnsim's own OpenBLAS choices.
ENV = {k: v for k, v in os.environ.items()
       if k not in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")}


def ns(i):
    return "%s-h%d" % (PREFIX, i)


def addr(i):
    return "%s.%d:%d" % (SUBNET, i, PORT)


def in_ns(i, cmd):
    return ["ip", "netns", "exec", ns(i)] + cmd


def sh(cmd, timeout=60):
    return subprocess.run(cmd, capture_output=True, text=True,
                          timeout=timeout, env=ENV)


def write_csv(path):
    """ROWS rows: a class 0-9, then INPUTS integers 0-255."""
    rng = random.Random(1)
    tok = [str(i) for i in range(256)]
    with open(path, "w") as f:
        for _ in range(ROWS):
            f.write("%d,%s\n" % (rng.randrange(CLASSES),
                                 ",".join(rng.choices(tok, k=INPUTS))))


def net_json(path, csv, mode):
    o = {
        "name": mode,
        "input": INPUTS,
        "layers": [{"units": 64, "activation": "relu"},
                   {"activation": "softmax"}],
        "loss": "cross_entropy",
        "data": {"train": {"path": csv, "label": 0},
                 "normalize": "standard"},
        "train": {"epochs": EPOCHS, "batch": 256, "seed": 1,
                  "optimizer": {"type": "sgd", "lr": 0.01,
                                "momentum": 0.9}},
    }
    if mode == "sweep":
        o["parallel"] = {"mode": "session", "replicas": 0,
                         "grid": {"train.seed": [1, 2, 3, 4, 5, 6]}}
    else:
        o["parallel"] = {"mode": "data", "partitions": 3}
    with open(path, "w") as f:
        json.dump(o, f)


def pss(pid):
    try:
        with open("/proc/%d/smaps_rollup" % pid) as f:
            for line in f:
                if line.startswith("Pss:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def children(pid):
    out = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % d) as f:
                st = f.read()
        except OSError:
            continue
        if int(st.rsplit(")", 1)[1].split()[1]) == pid:
            out.append(int(d))
    return out


def host_memory(pid):
    """(Pss of the daemon and its workers, of the workers, workers)."""
    kids = children(pid)
    w = sum(pss(k) for k in kids)
    return pss(pid) + w, w, len(kids)


class Cluster:
    """The namespaces, the daemons in h1-h3 and the submitter's link."""

    def __init__(self, top):
        self.top = top
        self.key = os.path.join(top, "key")
        self.procs = []
        self.up = False

    def start(self):
        r = sh(["sh", NETNS, "up", str(SUBMITTER), "--prefix", PREFIX,
                "--subnet", SUBNET])
        if r.returncode != 0:
            raise RuntimeError("netns.sh up: " + (r.stderr or r.stdout))
        self.up = True
        # Only the submitter's link is slow: both ends, as netns.sh does.
        # The burst holds a 64 KB GSO packet several times over.
        tbf = ["root", "tbf", "rate", RATE, "burst", "256kb", "latency",
               "50ms"]
        for cmd in (["tc", "-n", ns(SUBMITTER), "qdisc", "add", "dev",
                     "eth0"] + tbf,
                    ["tc", "-n", PREFIX + "-hub", "qdisc", "add", "dev",
                     "h%d" % SUBMITTER] + tbf):
            r = sh(cmd)
            if r.returncode != 0:
                raise RuntimeError(" ".join(cmd) + ": " + r.stderr)
        subprocess.run([os.path.join(BIN, "agentd"), "keygen", self.key],
                       check=True, stdout=subprocess.DEVNULL, timeout=10)
        hosts = os.path.join(self.top, "hosts.json")
        with open(hosts, "w") as f:
            json.dump({"hosts": [{"name": h, "address": addr(i + 1)}
                                 for i, h in enumerate(HOSTS)]}, f)
        for i, h in enumerate(HOSTS):
            with open(os.path.join(self.top, "log-" + h), "w") as log:
                self.procs.append(subprocess.Popen(in_ns(i + 1, [
                    os.path.join(BIN, "agentd"), "--listen", addr(i + 1),
                    "--key", self.key, "--hosts", hosts, "--state",
                    os.path.join(self.top, "state-" + h), "--name", h,
                    "--log-level", "warn"]),
                    stdout=subprocess.DEVNULL, stderr=log, env=ENV))
        end = time.time() + 20
        while time.time() < end:
            for p in self.procs:
                if p.poll() is not None:
                    raise RuntimeError("agentd exited %d: see %s" % (
                        p.returncode, self.top))
            hs = self.hosts(1)
            if len(hs) == 3 and all(x.get("state") in ("up", "self")
                                    for x in hs):
                return
            time.sleep(0.2)
        raise RuntimeError("daemons not up after 20 s")

    def hosts(self, i):
        """Daemon i's host list, asked from the submitter's namespace."""
        r = sh(in_ns(SUBMITTER, [os.path.join(BIN, "agentctl"),
                                  "--connect", addr(i), "--key", self.key,
                                  "--json", "hosts"]), timeout=10)
        try:
            return json.loads(r.stdout)["hosts"] if r.returncode == 0 \
                else []
        except ValueError:
            return []

    def caches(self):
        """Each host's cache, as it says itself."""
        out = {}
        for i, h in enumerate(HOSTS):
            me = [x for x in self.hosts(i + 1) if x.get("state") == "self"]
            out[h] = me[0].get("cache", {}) if me else {}
        return out

    def link_bytes(self):
        """Bytes sent out of the submitter's eth0 (tc's counter)."""
        r = sh(["tc", "-n", ns(SUBMITTER), "-s", "-j", "qdisc", "show",
                "dev", "eth0"])
        try:
            return sum(q.get("bytes", 0) for q in json.loads(r.stdout))
        except ValueError:
            return 0

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
        if self.up:
            sh(["sh", NETNS, "down", "--prefix", PREFIX])
            self.up = False


class Watch:
    """agentctl watch --all, each line with the time it was read."""

    def __init__(self, cl):
        self.lines = []
        self.p = subprocess.Popen(in_ns(SUBMITTER, [
            os.path.join(BIN, "agentctl"), "--connect", addr(1), "--key",
            cl.key, "--json", "watch", "--all"]), stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL, text=True, env=ENV)
        self.th = threading.Thread(target=self.read, daemon=True)
        self.th.start()

    def read(self):
        for line in self.p.stdout:
            self.lines.append((time.monotonic(), line))

    def first_step(self, t0):
        """The time of the first progress event with a step done."""
        for t, line in list(self.lines):
            if t < t0:
                continue
            try:
                ev = json.loads(line)
            except ValueError:
                continue
            if ev.get("event") != "progress":
                continue
            try:
                st = json.loads(ev.get("status") or "{}")
            except ValueError:
                continue
            if st.get("step", 0) >= 1:
                return t
        return None

    def close(self):
        self.p.terminate()
        try:
            self.p.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.p.kill()
            self.p.wait()


class Sampler:
    """Each host's Pss (daemon and workers) every 0.25 s, above rest."""

    def __init__(self, cl):
        self.pids = dict(zip(HOSTS, (p.pid for p in cl.procs)))
        self.rest = {}
        end = time.time() + 30
        while time.time() < end and any(host_memory(p)[2] for p in
                                        self.pids.values()):
            time.sleep(0.2)
        for h, p in self.pids.items():
            self.rest[h] = host_memory(p)[0]
        self.peak = {h: 0 for h in HOSTS}
        self.workers = {h: (0, 0) for h in HOSTS}
        self.agents = {h: 0 for h in HOSTS}
        self.stop = threading.Event()
        self.th = threading.Thread(target=self.run)
        self.th.start()

    def run(self):
        while not self.stop.is_set():
            for h, p in self.pids.items():
                m, w, k = host_memory(p)
                self.peak[h] = max(self.peak[h], m)
                if w > self.workers[h][0]:
                    self.workers[h] = (w, k)
                self.agents[h] = max(self.agents[h], k)
            self.stop.wait(0.25)

    def close(self):
        self.stop.set()
        self.th.join()


def submit(cl, top, workload, way):
    """One run; its figures, or raises."""
    tag = "%s-%s" % (workload, way)
    net = os.path.join(top, workload + ".json")
    metrics = os.path.join(top, tag + ".jsonl")
    cmd = [os.path.join(BIN, "nnsim"), "submit", net, "--connect",
           addr(1), "--key", cl.key, "--metrics", metrics, "-o",
           os.path.join(top, tag + ".nnm")]
    if way == "today":
        cmd.append("--no-cache")
    before = cl.caches()
    link0 = cl.link_bytes()
    sampler = Sampler(cl)
    watch = Watch(cl)
    time.sleep(0.5)     # the watch is subscribed
    print("  " + " ".join(cmd[:3]) + (" --no-cache" if way == "today"
                                       else "") + "  (" + tag + ")")
    t0 = time.monotonic()
    try:
        r = subprocess.run(in_ns(SUBMITTER, cmd), capture_output=True,
                           text=True, timeout=1800, env=ENV)
        total = time.monotonic() - t0
        time.sleep(0.3)
    finally:
        watch.close()
        sampler.close()
    if r.returncode != 0:
        raise RuntimeError("%s: nnsim submit exit %d: %s" % (
            tag, r.returncode, (r.stderr or r.stdout)[-800:]))
    first = watch.first_step(t0)
    link = cl.link_bytes() - link0
    time.sleep(1.0)     # the counters as of after the job
    after = cl.caches()
    received = sum(after[h].get("bytes_received", 0) -
                   before[h].get("bytes_received", 0) for h in HOSTS)
    fetched = sum(after[h].get("bytes_fetched", 0) -
                  before[h].get("bytes_fetched", 0) for h in HOSTS)
    done = {}
    for line in open(metrics):
        if line.strip():
            o = json.loads(line)
            if o.get("event") == "done":
                done = o
    said = [x for x in r.stdout.splitlines() if x.startswith("data: ")]
    return {
        "first_step_s": round(first - t0, 3) if first else None,
        "total_s": round(total, 3),
        "link_bytes": link,
        "data_bytes_received": received,
        "data_bytes_sent": done.get("data_bytes_sent"),
        "bytes_fetched": fetched,
        "peak_pss": {h: sampler.peak[h] for h in HOSTS},
        "peak_growth": {h: sampler.peak[h] - sampler.rest[h]
                        for h in HOSTS},
        "workers_pss": {h: sampler.workers[h][0] for h in HOSTS},
        "workers_at_peak": {h: sampler.workers[h][1] for h in HOSTS},
        "agents": dict(sampler.agents),
        "cache_bytes": {h: after[h].get("bytes", 0) for h in HOSTS},
        "said": said[0] if said else "",
    }


def ratio(a, b):
    return a / b if a is not None and b else None


def fmt_s(v):
    return "%.2f" % v if v is not None else "-"


def report(name, res):
    print("  %s:" % name)
    print("    %-7s %9s %8s %9s %9s %9s %9s  %s" % (
        "way", "1st step", "total", "link MB", "data MB", "sent MB",
        "fetch MB",
        "h1 / h2 / h3: Pss peak MB, +above rest (agents; cache MB)"))
    for way in ("today", "cold", "warm"):
        r = res[way]
        mem = " / ".join("%.0f +%.0f (%d; %.0f)" % (
            r["peak_pss"][h] / MB, r["peak_growth"][h] / MB,
            r["agents"][h], r["cache_bytes"][h] / MB) for h in HOSTS)
        print("    %-7s %8ss %7.2fs %9.1f %9.1f %9s %9.1f  %s" % (
            way, fmt_s(r["first_step_s"]), r["total_s"],
            r["link_bytes"] / MB, r["data_bytes_received"] / MB,
            "%.1f" % (r["data_bytes_sent"] / MB)
            if r["data_bytes_sent"] is not None else "-",
            r["bytes_fetched"] / MB, mem))
    t, c, w = res["today"], res["cold"], res["warm"]
    print("    speedup of total time vs today: cold %.2fx, warm %.2fx; "
          "first step: cold %sx, warm %sx" % (
              t["total_s"] / c["total_s"], t["total_s"] / w["total_s"],
              fmt_s(ratio(t["first_step_s"], c["first_step_s"])),
              fmt_s(ratio(t["first_step_s"], w["first_step_s"]))))


def targets(res):
    out = {}
    lines = []
    for name in ("sweep", "data"):
        t, w = res[name]["today"], res[name]["warm"]
        r = ratio(w["first_step_s"], t["first_step_s"])
        met = r is not None and r < 0.10
        out[name + "_warm_first_step_ratio"] = round(r, 4) if r else None
        out[name + "_warm_first_step_met"] = met
        lines.append("%s: warm time to first step %s s = %s of today's "
                     "%s s, target < 10%%: %s" % (
                         name, fmt_s(w["first_step_s"]),
                         "%.1f%%" % (100 * r) if r else "-",
                         fmt_s(t["first_step_s"]),
                         "met" if met else "NOT met"))
        zero = w["data_bytes_received"] == 0 and not w["data_bytes_sent"]
        out[name + "_warm_zero_data_met"] = zero
        lines.append("%s: warm data bytes %d received, %s sent, target 0: "
                     "%s" % (name, w["data_bytes_received"],
                             w["data_bytes_sent"],
                             "met" if zero else "NOT met"))
    w = res["sweep"]["warm"]
    one = all(w["cache_bytes"][h] <= 1.02 * SET_BYTES and
              w["workers_pss"][h] < 1.5 * SET_BYTES for h in HOSTS)
    out["one_copy_per_host_met"] = one
    lines.append("one copy per host (warm sweep, set %.1f MB): %s; "
                 "target: cache <= the set, and the workers' Pss < 1.5x "
                 "the set whatever their number: %s" % (
                     SET_BYTES / MB, "; ".join(
                         "%s cache %.1f MB, %d workers %.1f MB = %.2fx" %
                         (h, w["cache_bytes"][h] / MB,
                          w["workers_at_peak"][h],
                          w["workers_pss"][h] / MB,
                          w["workers_pss"][h] / SET_BYTES)
                         for h in HOSTS), "met" if one else "NOT met"))
    return out, lines


def skip(why):
    print("bench: cache skipped: " + why)
    print(json.dumps({"bench": "cache", "skipped": why}))
    return 0


def main():
    if os.geteuid() != 0:
        return skip("needs root for network namespaces")
    if shutil.which("tc") is None or shutil.which("ip") is None:
        return skip("needs iproute2 (ip, tc)")
    h = sh([os.path.join(BIN, "nnsim"), "submit", "--help"])
    if "--no-cache" not in h.stdout + h.stderr:
        return skip("nnsim submit has no --no-cache (submit through the "
                    "data cache not built)")
    print("bench: data cache, %d rows x (%d inputs + %d classes) = %.1f MB "
          "float32, 3 hosts in network namespaces, the submitter's link "
          "at %s%s" % (ROWS, INPUTS, CLASSES, SET_BYTES / MB, RATE,
                       " (--quick)" if QUICK else ""))
    top = tempfile.mkdtemp(prefix="cache-bench.")
    cl = Cluster(top)
    res = {}

    def on_signal(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_signal)
    try:
        csv = os.path.join(top, "set.csv")
        t = time.monotonic()
        write_csv(csv)
        print("  wrote %s: %.1f MB of CSV in %.1f s" % (
            csv, os.path.getsize(csv) / MB, time.monotonic() - t))
        for w in ("sweep", "data"):
            net_json(os.path.join(top, w + ".json"), csv, w)
        cl.start()
        for w in ("sweep", "data"):
            print("bench: %s (%s)" % (w, "6 sessions" if w == "sweep"
                                      else "3 partitions, data mode"))
            res[w] = {}
            for way in ("today", "cold", "warm"):
                res[w][way] = submit(cl, top, w, way)
                if res[w][way]["said"]:
                    print("    " + res[w][way]["said"])
    except (Exception, KeyboardInterrupt) as e:
        print("bench: cache_bench: %s" % (e if str(e) else "interrupted"),
              file=sys.stderr)
        return 1
    finally:
        cl.close()
        shutil.rmtree(top, ignore_errors=True)

    print()
    print("== data cache: time (s), bytes out of the submitter (MB), "
          "memory ==")
    print("  (1st step: submit's start to the first progress event with a "
          "step; link: tc bytes out of the submitter's eth0; data: block "
          "bytes the daemons received; sent: submit's data_bytes_sent; "
          "fetch: block bytes the daemons fetched from each other for "
          "agents; Pss: peak of daemon + workers)")
    for w in ("sweep", "data"):
        report(w, res[w])
    tg, lines = targets(res)
    print("  targets:")
    for line in lines:
        print("    " + line)
    sw = res["sweep"]
    speed = sw["today"]["total_s"] / sw["warm"]["total_s"]
    dj = res["data"]
    dspeed = dj["today"]["total_s"] / dj["warm"]["total_s"]
    print("  anchors: Fluid/Alluxio cut ResNet-50 training time by 23-31% "
          "against NFS; Hoard 2.1x over NFS; CoorDL up to 5.7x for "
          "hyperparameter search")
    print("  where we stand: sweep warm vs today %.2fx total time (%.0f%% "
          "less), data job %.2fx; cold vs today: sweep %.2fx, data %.2fx" % (
              speed, 100 * (1 - 1 / speed), dspeed,
              sw["today"]["total_s"] / sw["cold"]["total_s"],
              dj["today"]["total_s"] / dj["cold"]["total_s"]))
    out = {"bench": "cache", "quick": QUICK, "rows": ROWS,
           "set_bytes": SET_BYTES, "rate": RATE, "epochs": EPOCHS,
           "sweep_speedup_warm": round(speed, 3),
           "data_speedup_warm": round(dspeed, 3)}
    out.update(tg)
    for w in ("sweep", "data"):
        out[w] = {way: {k: v for k, v in res[w][way].items() if k != "said"}
                  for way in ("today", "cold", "warm")}
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
