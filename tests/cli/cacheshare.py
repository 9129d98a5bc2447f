"""Six sessions on two hosts hold one copy of the set per host
(docs/data-cache.md, "Reading: agents map their rows").

One sweep of 6 sessions (6 seeds) on a generated set of 65,536 rows x
(240 inputs + 10 classes) float32 (98.3 MB: large against what a
worker costs without data, a few MB) is submitted twice to the
daemons h1 and h2: through the data cache, then with --no-cache. While
it runs, each host's memory is sampled every 0.2 s: the sum of Pss
(/proc/PID/smaps_rollup) of its daemon and of the daemon's children, the
workers, less the same sum at rest just before the submit. Pss splits a
shared page between the processes that map it, so the sum counts a
host's shared copy of the set once.

Checks, for each host:
- through the cache, the peak growth stays under 1.5 x the set while two
  or more sessions run there at once, and its cache holds the set once
  (cache.bytes < 1.1 x the set);
- with --no-cache, the peak growth is at least 0.75 x the set per session
  running there at its peak count, with two or more at once on some
  host, which shows that the measure sees a copy per session when there
  is one. (A state arrives whole before its session starts, so with
  --no-cache sessions overlap less: one host may run them one by one.)

usage: cacheshare.py T BASE BIN PID1 PID2: daemons h1 and h2 of lib.sh's
two_hosts on 127.0.0.1-2:BASE+1-2 with the key T/key, pids PID1, PID2.
"""
import json
import os
import subprocess
import sys
import threading
import time

T, BASE, BIN = sys.argv[1], int(sys.argv[2]), sys.argv[3]
PIDS = {"h1": int(sys.argv[4]), "h2": int(sys.argv[5])}
KEY = os.path.join(T, "key")
ADDR = "127.0.0.1:%d" % (BASE + 1)
ROWS, INPUTS, CLASSES = 98304, 240, 10
SET = ROWS * (INPUTS + CLASSES) * 4
MB = 1e6
CACHE_BOUND = 1.5       # x the set, whatever the sessions on the host
NO_CACHE_FLOOR = 0.75   # x the set per session running on the host
failed = 0


def ok(name, figures):
    print("ok cache/%s (%s)" % (name, figures))


def fail(name, why):
    global failed
    failed += 1
    print("FAIL cache/%s: %s" % (name, why))


def skip(name, why):
    print("skip cache/%s: %s" % (name, why))


def hosts():
    r = subprocess.run([os.path.join(BIN, "agentctl"), "--connect", ADDR,
                        "--key", KEY, "--json", "hosts"],
                       capture_output=True, text=True, timeout=10)
    return json.loads(r.stdout)["hosts"] if r.returncode == 0 else []


def pss(pid):
    """Pss in bytes, 0 when the process is gone."""
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
    """(Pss of the daemon and its workers, the number of workers)."""
    kids = children(pid)
    return pss(pid) + sum(pss(k) for k in kids), len(kids)


def at_rest():
    """Each host's memory once no worker is left, the mean of 3 samples."""
    end = time.time() + 20
    while time.time() < end and any(host_memory(p)[1] for p in
                                    PIDS.values()):
        time.sleep(0.2)
    rest = {}
    for h, p in PIDS.items():
        s = []
        for _ in range(3):
            s.append(host_memory(p)[0])
            time.sleep(0.1)
        rest[h] = sum(s) / len(s)
    return rest


def run(tag, extra):
    """Submits the sweep while sampling; per host [(growth, workers)]."""
    rest = at_rest()
    samples = {h: [] for h in PIDS}
    stop = threading.Event()

    def sample():
        while not stop.is_set():
            for h, p in PIDS.items():
                m, k = host_memory(p)
                samples[h].append((m - rest[h], k))
            stop.wait(0.2)

    th = threading.Thread(target=sample)
    th.start()
    try:
        r = subprocess.run([os.path.join(BIN, "nnsim"), "submit",
                            os.path.join(T, "share.json"), "--connect",
                            ADDR, "--key", KEY, "-o",
                            os.path.join(T, tag + ".nnm"), "--metrics",
                            os.path.join(T, tag + ".jsonl")] + extra,
                           capture_output=True, text=True, timeout=120)
    finally:
        stop.set()
        th.join()
    if r.returncode != 0:
        fail("share_" + tag, "nnsim submit %s exit %d: %s" % (
            " ".join(extra), r.returncode, (r.stderr or r.stdout)[-400:]))
        return None
    return samples


def peak(samples):
    """(peak growth, most workers at once) of a host's samples."""
    return max(g for g, _ in samples), max(k for _, k in samples)


def main():
    h = subprocess.run([os.path.join(BIN, "nnsim"), "submit", "--help"],
                       capture_output=True, text=True)
    if "--no-cache" not in h.stdout + h.stderr:
        skip("share", "nnsim submit has no --no-cache (submit through "
             "the data cache not built)")
        return 0
    if not os.path.exists("/proc/self/smaps_rollup"):
        skip("share", "no /proc/PID/smaps_rollup (Linux 4.14 or later)")
        return 0
    end = time.time() + 10
    while time.time() < end and sum(x.get("state") in ("up", "self")
                                    for x in hosts()) < 2:
        time.sleep(0.1)
    with open(os.path.join(T, "share.json"), "w") as f:
        json.dump({
            "name": "share",
            "layers": [{"units": 16, "activation": "relu"},
                       {"activation": "softmax"}],
            "data": {"train": {"generate": "blobs", "n": ROWS,
                               "inputs": INPUTS, "classes": CLASSES,
                               "seed": 1}},
            "train": {"epochs": 10, "batch": 256, "seed": 1,
                      "optimizer": {"type": "sgd", "lr": 0.001}},
            # No commits: a commit puts each session's state on another
            # host, which is not what is measured here.
            "parallel": {"mode": "session", "replicas": 0,
                         "grid": {"train.seed": [1, 2, 3, 4, 5, 6]}},
        }, f)

    cached = run("cached", [])
    if cached is None:
        return 1
    cache_bytes = {x["name"]: x.get("cache", {}).get("bytes", 0)
                   for x in hosts()}
    plain = run("no_cache", ["--no-cache"])
    if plain is None:
        return 1

    desc, bad = [], []
    for name in sorted(PIDS):
        g, k = peak(cached[name])
        desc.append("%s: %d sessions at once, +%.1f MB = %.2fx, cache "
                    "%.1f MB" % (name, k, g / MB, g / SET,
                                 cache_bytes.get(name, 0) / MB))
        if k < 2:
            bad.append("%s ran %d session(s) at once, expected 2 or more"
                       % (name, k))
        if g >= CACHE_BOUND * SET:
            bad.append("%s grew by %.1f MB = %.2fx the set with %d "
                       "sessions (bound %.1fx)" % (name, g / MB, g / SET,
                                                   k, CACHE_BOUND))
        if cache_bytes.get(name, 0) >= 1.1 * SET:
            bad.append("%s's cache holds %.1f MB, more than one copy" %
                       (name, cache_bytes[name] / MB))
    figures = "set %.1f MB; %s; bound < %.1fx the set" % (
        SET / MB, "; ".join(desc), CACHE_BOUND)
    if bad:
        fail("share_one_copy_per_host", "; ".join(bad) + " (" + figures +
             ")")
    else:
        ok("share_one_copy_per_host", figures)

    desc, bad = [], []
    if max(peak(plain[name])[1] for name in PIDS) < 2:
        bad.append("no host ran 2 sessions at once")
    for name in sorted(PIDS):
        g, k = peak(plain[name])
        per = g / SET / k if k else 0
        desc.append("%s: %d sessions at once, +%.1f MB = %.2fx, %.2fx a "
                    "session" % (name, k, g / MB, g / SET, per))
        if k < 1:
            bad.append("%s ran no session" % name)
        elif per < NO_CACHE_FLOOR:
            bad.append("%s grew by %.1f MB with %d sessions: %.2fx the set "
                       "a session (expected >= %.2fx)" % (
                           name, g / MB, k, per, NO_CACHE_FLOOR))
    figures = "set %.1f MB; %s; expected >= %.2fx the set a session" % (
        SET / MB, "; ".join(desc), NO_CACHE_FLOOR)
    if bad:
        fail("share_no_cache_copy_per_session", "; ".join(bad) + " (" +
             figures + ")")
    else:
        ok("share_no_cache_copy_per_session", figures)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
