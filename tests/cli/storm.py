"""The lifecycle storm: agents that move after every step get a random
stream of suspend, resume, migrate, clone and kill orders from several
clients at once, on 3 daemons. Then every agent is resumed and must end:
finished with its counter exact (a damaged state fails its checksum), or
killed on request after a kill that was answered. Every order must have had
a definite answer, every clone order one clone (or a reported failure),
and the daemons' memory must stay flat.

usage: storm.py BIN_DIR SECONDS SEED [AGENTS CLIENTS]
Prints "ok storm/NAME ..." or "FAIL storm/NAME: why" lines and the seed, so
that a failure can be replayed with the same SEED.
"""
import json
import os
import random
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import agentd_wire as w  # noqa: E402

HOSTS = ["h1", "h2", "h3"]
STEP_MS = 5
LAPS = 100000          # far more than a storm lasts: ended by the finish


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


class Cluster:
    def __init__(self, bindir, tmp):
        self.bindir = bindir
        self.tmp = tmp
        self.base = 40000 + (os.getpid() % 1500) * 10
        self.addrs = ["127.0.0.%d:%d" % (i + 1, self.base + i + 1)
                      for i in range(3)]
        self.procs = []
        key = os.path.join(tmp, "key")
        subprocess.check_call([os.path.join(bindir, "agentd"), "keygen",
                               key])
        with open(key) as f:
            self.key = bytes.fromhex(f.read().strip())
        hosts = {"hosts": [{"name": HOSTS[i], "address": self.addrs[i]}
                           for i in range(3)]}
        with open(os.path.join(tmp, "hosts.json"), "w") as f:
            json.dump(hosts, f)
        for i in range(3):
            log = open(os.path.join(tmp, "log%d" % (i + 1)), "w")
            self.procs.append(subprocess.Popen(
                [os.path.join(bindir, "agentd"), "--listen", self.addrs[i],
                 "--key", key, "--hosts", os.path.join(tmp, "hosts.json"),
                 "--state", os.path.join(tmp, "state%d" % (i + 1))],
                stderr=log))

    def conn(self, i):
        return w.Conn(self.addrs[i], self.key, name="storm%d" % i)

    def stop(self):
        for p in self.procs:
            p.kill()
        for p in self.procs:
            p.wait()


def wait_up(cl, limit=10.0):
    end = time.time() + limit
    while time.time() < end:
        try:
            c = cl.conn(0)
            rep = c.request("hosts")
            c.sock.close()
            if sum(h["state"] in ("up", "self") for h in rep["hosts"]) == 3:
                return True
        except (OSError, EOFError):
            pass
        time.sleep(0.1)
    return False


class Watcher(threading.Thread):
    """Every agent event, as its home daemon (the HOST of HOST.N) relays
    it: that daemon gets each event of its agents once, wherever they
    run, so nothing is counted twice."""

    def __init__(self, cl):
        super().__init__(daemon=True)
        self.cl = cl
        self.events = []
        self.lock = threading.Lock()
        self.stop = False
        self.conns = []
        for i in range(3):
            c = cl.conn(i)
            c.request("subscribe")
            self.conns.append(c)

    def run(self):
        socks = {c.sock: (i, c) for i, c in enumerate(self.conns)}
        while not self.stop:
            ready, _, _ = select.select(list(socks), [], [], 0.2)
            for s in ready:
                i, c = socks[s]
                s.settimeout(10)
                try:
                    t, m, _ = c.read()
                except (OSError, EOFError):
                    return      # the daemons stopped
                if t != w.EVENT or "agent" not in m:
                    continue
                if m["agent"].rsplit(".", 1)[0] != HOSTS[i]:
                    continue
                with self.lock:
                    self.events.append(m)

    def mark(self):
        with self.lock:
            return len(self.events)

    def of(self, agent, since=0):
        with self.lock:
            return [e for e in self.events[since:]
                    if e.get("agent") == agent]

    def all(self):
        with self.lock:
            return list(self.events)


class Orders:
    """What every client asked and was answered, thread-safe."""

    def __init__(self):
        self.lock = threading.Lock()
        self.log = []           # (agent, op, host, reply or None, error)
        self.agents = []        # every agent id known so far

    def add(self, rec):
        with self.lock:
            self.log.append(rec)


def client(cl, idx, seed, deadline, orders, caps, errors):
    rnd = random.Random(seed * 1000 + idx)
    try:
        c = cl.conn(rnd.randrange(3))
    except (OSError, EOFError) as e:
        errors.append("client %d: cannot connect: %s" % (idx, e))
        return
    c.sock.settimeout(15)
    while time.time() < deadline:
        with orders.lock:
            agent = rnd.choice(orders.agents)
        r = rnd.random()
        host = None
        if r < 0.30:
            op = "suspend"
        elif r < 0.60:
            op = "resume"
        elif r < 0.85:
            op = "migrate"
            host = rnd.choice(HOSTS + [""])
        elif r < 0.97:
            op = "clone"
            host = rnd.choice(HOSTS + [""])
            with caps["lock"]:
                if caps["clones"] <= 0:
                    op, host = "suspend", None
                else:
                    caps["clones"] -= 1
        else:
            op = "kill"
            with caps["lock"]:
                if caps["kills"] <= 0:
                    op = "resume"
                else:
                    caps["kills"] -= 1
        fields = {"agent": agent}
        if host is not None:
            fields["host"] = host
        try:
            rep = c.request(op, **fields)
        except (OSError, EOFError, AssertionError) as e:
            orders.add((agent, op, host, None, "no answer: %s" % e))
            errors.append("client %d: %s %s got no answer: %s" %
                          (idx, op, agent, e))
            return
        orders.add((agent, op, host, rep, rep.get("error")))
        time.sleep(rnd.random() * 0.02)


def main():
    bindir = sys.argv[1]
    seconds = float(sys.argv[2])
    seed = int(sys.argv[3])
    nagents = int(sys.argv[4]) if len(sys.argv) > 4 else 6
    nclients = int(sys.argv[5]) if len(sys.argv) > 5 else 4
    print("storm: seed %d, %g s, %d agents, %d clients (replay: storm.py "
          "BIN %g %d %d %d)" % (seed, seconds, nagents, nclients, seconds,
                                seed, nagents, nclients))
    sys.stdout.flush()
    tmp = tempfile.mkdtemp(prefix="nnsim-storm.")
    cl = Cluster(bindir, tmp)
    failed = []

    def check(name, good, why):
        if good:
            print("ok storm/%s" % name)
        else:
            print("FAIL storm/%s: %s (seed %d)" % (name, why, seed))
            failed.append(name)
        sys.stdout.flush()

    try:
        if not wait_up(cl):
            check("cluster", False, "3 daemons did not form a cluster")
            return 1
        watcher = Watcher(cl)
        watcher.start()
        c = cl.conn(0)
        code = os.path.join(bindir, "agents", "wanderer.so")
        with open(code, "rb") as f:
            so = f.read()
        import hashlib
        sha = hashlib.sha256(so).hexdigest()
        rep = c.request("code-has", sha256=sha)
        if not rep.get("has"):
            fields = {"op": "code-put", "sha256": sha, "id": c.tx}
            c.send(w.REQUEST, fields, payload=so)
            while True:
                t, m, _ = c.read()
                if t == w.REPLY:
                    break
        orders = Orders()
        args = {"bytes": 65536, "hosts": HOSTS, "laps": LAPS,
                "sleep_ms": STEP_MS}
        for _ in range(nagents):
            rep = c.request("spawn", code=sha, args=args)
            if not rep.get("ok"):
                check("spawn", False, "spawn: %s" % rep)
                return 1
            orders.agents.append(rep["agent"])
        time.sleep(1.0)
        rss0 = [rss_kib(p.pid) for p in cl.procs]
        caps = {"lock": threading.Lock(), "clones": nagents * 2,
                "kills": max(1, nagents // 3)}
        errors = []
        deadline = time.time() + seconds
        # Clones join the pool as their events come in.
        threads = [threading.Thread(target=client, args=(
            cl, i, seed, deadline, orders, caps, errors))
            for i in range(nclients)]
        for t in threads:
            t.start()
        while any(t.is_alive() for t in threads):
            for e in watcher.all():
                if e.get("event") == "cloned":
                    with orders.lock:
                        if e["clone"] not in orders.agents:
                            orders.agents.append(e["clone"])
            time.sleep(0.2)
        for t in threads:
            t.join()
        check("every_order_answered", not errors and all(
            rec[3] is not None for rec in orders.log),
            "; ".join(errors[:3]))
        # Clones made by the last orders: give them a moment to appear.
        time.sleep(2.0)
        for e in watcher.all():
            if e.get("event") == "cloned" and e["clone"] not in orders.agents:
                orders.agents.append(e["clone"])
        # Every agent is resumed, after all its storm orders: each one
        # that was not killed must then step again.
        mark = watcher.mark()
        for a in orders.agents:
            c.request("resume", agent=a)
        killed = {a for a, op, h, rep, err in orders.log
                  if op == "kill" and rep is not None and rep.get("ok")}
        alive = [a for a in orders.agents if a not in killed]
        stuck = set(alive)
        end = time.time() + 20
        while stuck and time.time() < end:
            for a in list(stuck):
                if any(e.get("event") == "progress"
                       for e in watcher.of(a, mark)):
                    stuck.discard(a)
            time.sleep(0.2)
        check("no_agent_wedged", not stuck,
              "%d of %d agents made no step within 20 s of their resume: "
              "%s" % (len(stuck), len(alive), sorted(stuck)[:5]))
        # Then all are killed, and all must end so, within the bound.
        refused = []
        for a in alive:
            rep = c.request("kill", agent=a)
            if not rep.get("ok"):
                refused.append((a, rep.get("error")))
        check("kill_at_end", not refused,
              "kills refused at the end: %s" % refused[:5])
        ended = {}
        pending = set(orders.agents)
        end = time.time() + 30
        while pending and time.time() < end:
            for a in list(pending):
                for e in watcher.of(a):
                    if e.get("event") in ("finished", "failed"):
                        ended[a] = e
                        pending.discard(a)
                        break
            time.sleep(0.2)
        check("every_agent_ends", not pending,
              "%d agents did not end within 30 s of their kill: %s" % (
                  len(pending), sorted(pending)[:5]))
        bad = {a: e.get("reason") for a, e in ended.items()
               if e.get("event") != "failed" or
               e.get("reason") != "killed on request"}
        check("every_state_intact", not bad,
              "agents that ended otherwise than killed on request (a "
              "damaged state fails the wanderer's checksum): %s" %
              list(bad.items())[:5])
        # The counter each agent had at its last step is exact: every
        # progress event's status counter equals its step count.
        wrong = []
        for a in orders.agents:
            for e in watcher.of(a):
                if e.get("event") != "progress":
                    continue
                st = e.get("status")
                try:
                    counter = json.loads(st)["counter"] if st else None
                except (ValueError, KeyError, TypeError):
                    counter = None
                if counter is not None and counter != e.get("step") + 1 \
                        and counter != e.get("step"):
                    wrong.append((a, counter, e.get("step")))
        check("counters_exact", not wrong,
              "counter and step disagree: %s" % wrong[:5])
        # Each clone order that was answered ok made one clone or reported
        # why it could not.
        asked = {}
        for a, op, host, rep, err in orders.log:
            if op == "clone" and rep is not None and rep.get("ok"):
                asked[a] = asked.get(a, 0) + 1
        made = {}
        for e in watcher.all():
            if e.get("event") in ("cloned", "clone-failed"):
                made[e["agent"]] = made.get(e["agent"], 0) + 1
        missing = {a: (n, made.get(a, 0)) for a, n in asked.items()
                   if made.get(a, 0) != n}
        check("every_clone_exists", not missing,
              "clone orders answered ok against clones made: %s" %
              list(missing.items())[:5])
        # Refusals only for agents that were being killed or had ended.
        wrongly = [(a, op, err) for a, op, h, rep, err in orders.log
                   if rep is not None and not rep.get("ok") and
                   a not in killed]
        check("refusals_only_when_killed", not wrongly,
              "orders refused for agents never killed: %s" % wrongly[:5])
        time.sleep(1.0)
        rss1 = [rss_kib(p.pid) for p in cl.procs]
        grew = [b - a for a, b in zip(rss0, rss1)]
        if os.environ.get("STORM_NO_RSS"):
            print("skip storm/memory_flat: %s" % os.environ["STORM_NO_RSS"])
        else:
            check("memory_flat", all(g < 8192 for g in grew),
                  "daemon RSS KiB %s -> %s" % (rss0, rss1))
        n = len(orders.log)
        outcomes = {}
        for rec in orders.log:
            rep = rec[3]
            k = rep.get("outcome", "refused") if rep else "none"
            outcomes[k] = outcomes.get(k, 0) + 1
        print("storm: %d orders %s, %d agents (%d clones), rss KiB %s -> "
              "%s" % (n, json.dumps(outcomes, sort_keys=True),
                      len(orders.agents), len(orders.agents) - nagents,
                      rss0, rss1))
        watcher.stop = True
    finally:
        cl.stop()
        if not failed:
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            print("storm: logs kept in %s" % tmp)
    return 1 if failed else 0


if __name__ == "__main__":
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    sys.exit(main())
