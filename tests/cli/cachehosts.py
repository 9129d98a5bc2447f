"""The data cache across real daemons (docs/data-cache.md), driven with
the wire protocol: sets put as blocks with R copies, each part's blocks on
the same hosts, agents (agents/datareader.so) that map a part where it is
and again where they move, a holder killed with -9 and its copies made
again, corrupt blocks, bad names, a full cache and eviction.

usage: cachehosts.py T BASE BIN: the daemons h1-h3 of lib.sh's cluster3
run on 127.0.0.1-3:BASE+1-3 with the key T/key; h3's pid is in T/pid3.
"""
import hashlib
import json
import os
import random
import select
import signal
import struct
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import agentd_wire as w  # noqa: E402

T, BASE, BIN = sys.argv[1], int(sys.argv[2]), sys.argv[3]
KEY = bytes.fromhex(open(os.path.join(T, "key")).read().strip())
READER = os.path.join(BIN, "agents", "datareader.so")
failed = 0


def ok(name, figures=""):
    print("ok cache/%s%s" % (name, (" (" + figures + ")") if figures else ""))


def fail(name, why):
    global failed
    failed += 1
    print("FAIL cache/%s: %s" % (name, why))


def addr(n, base=BASE):
    return "127.0.0.%d:%d" % (n, base + n)


def conn(n, base=BASE):
    return w.Conn(addr(n, base), KEY)


def ask(c, op, payload=b"", **fields):
    """A request with a payload; the reply's meta and payload."""
    fields.update(op=op, id=c.tx)
    c.send(w.REQUEST, fields, payload=payload)
    while True:
        t, m, p = c.read()
        if t == w.REPLY:
            return m, p


def fnv(b):
    h = 0xcbf29ce484222325
    for c in b:
        h = ((h ^ c) * 0x100000001b3) & 0xffffffffffffffff
    return "%016x" % h


def f32(rows):
    return b"".join(struct.pack("<%df" % len(r), *r) for r in rows)


def pad(b):
    return b + bytes((-len(b)) % 4096)


def make_set(name, rows, nin, nout, parts, block_rows, seed, replicas=2):
    """Rows and blocks of a set as docs/data-cache.md lays them out."""
    rng = random.Random(seed)
    xs = [[rng.uniform(-1, 1) for _ in range(nin)] for _ in range(rows)]
    ys = [[float(rng.randint(0, 1)) for _ in range(nout)]
          for _ in range(rows)]
    key = hashlib.sha256(("%s %d" % (name, seed)).encode()).hexdigest()
    mparts, blocks, expect = [], [], []
    for p in range(parts):
        px, py = xs[p::parts], ys[p::parts]
        names = []
        for s in range(0, len(px), block_rows):
            b = pad(f32(px[s:s + block_rows])) + pad(f32(py[s:s + block_rows]))
            h = hashlib.sha256(b).hexdigest()
            names.append(h)
            group = hashlib.sha256(("%s:%d" % (key, p)).encode()).hexdigest() \
                if parts > 1 else h
            blocks.append((h, b, group))
        mparts.append({"rows": len(px), "block_rows": block_rows,
                       "blocks": names})
        expect.append((fnv(f32(px)), fnv(f32(py))))
    manifest = {"name": name, "key": key, "replicas": replicas, "in": nin,
                "out": nout, "task": "classification", "lo": 0, "hi": 1,
                "bytes": sum(len(b) for _, b, _ in blocks),
                "tables": {"train": {"rows": rows, "parts": mparts}}}
    return manifest, blocks, expect


def put_set(c, manifest, blocks):
    """Puts the blocks the cluster lacks, then the manifest: the reply of
    each block put, and the manifest's."""
    missing = set(c.request("data-has",
                            blocks=[h for h, _, _ in blocks])["missing"])
    puts = {}
    for h, b, g in blocks:
        if h in missing:
            puts[h], _ = ask(c, "data-block-put", b, sha256=h, group=g,
                             replicas=manifest["replicas"])
    return puts, c.request("data-set-put", manifest=manifest)


def wait_for(seconds, pred):
    end = time.time() + seconds
    while time.time() < end:
        v = pred()
        if v:
            return v
        time.sleep(0.2)
    return pred()


def code_put(c):
    so = open(READER, "rb").read()
    m, _ = ask(c, "code-put", so)
    return m["sha256"]


def read_part(c, code, host, args, wait=True):
    m, _ = ask(c, "spawn", code=code, host=host, args=json.dumps(args),
               wait=wait)
    return m


def result(c, agent, seconds=20):
    def got():
        m, p = ask(c, "result", agent=agent)
        return json.loads(p) if m.get("ok") and p else None
    return wait_for(seconds, got)


def cache_info(c):
    """Each host's cache, as it says itself (a peer's heartbeat lags)."""
    out = {}
    for h in c.request("hosts")["hosts"]:
        if h.get("state") not in ("up", "self"):
            continue
        n = int(h["name"][1:])
        mine = [x for x in conn(n, BASE if n < 4 else BASE + 10).request(
            "hosts")["hosts"] if x.get("state") == "self"]
        out[h["name"]] = mine[0].get("cache", {}) if mine else {}
    return out


def holders(c, name):
    return c.request("data-set", name=name)["holders"]


def test_big_block(c):
    """A block of more than 1 MiB arrives in a pool buffer, not malloc's:
    stored on two hosts, and the daemon lives on."""
    man, blocks, _ = make_set("wide", 4096, 100, 2, 1, 4096, 5)
    puts, rep = put_set(c, man, blocks)
    size = len(blocks[0][1])
    if rep.get("ok") and all(len(m.get("hosts", [])) == 2
                             for m in puts.values()) and \
            c.request("ping").get("ok") and size > (1 << 20):
        ok("big_block", "%.1f MiB on 2 hosts" % (size / 1048576.0))
    else:
        fail("big_block", "%s %s" % (puts, rep))
    c.request("data-rm", name="wide")


def test_put_and_place(c, code):
    man, blocks, expect = make_set("two-parts", 3000, 4, 2, 2, 1024, 7)
    puts, rep = put_set(c, man, blocks)
    if not rep.get("ok") or any(not m.get("ok") for m in puts.values()):
        fail("put", "%s %s" % (rep, puts))
        return None
    # Each part's blocks on the same R hosts: a partition's whole shard.
    hs = holders(c, "two-parts")
    per_part = [set(tuple(sorted(hs[b])) for b in p["blocks"])
                for p in man["tables"]["train"]["parts"]]
    if all(len(s) == 1 and len(next(iter(s))) == 2 for s in per_part):
        ok("part_on_its_hosts", "part 0 on %s, part 1 on %s" %
           tuple(",".join(next(iter(s))) for s in per_part))
    else:
        fail("part_on_its_hosts", str(per_part))
        return None
    # Read where it is: nothing fetched.
    home = list(next(iter(per_part[0])))[0]
    before = cache_info(c)[home].get("bytes_fetched")
    m = read_part(c, code, home, {"set": "two-parts", "part": 0})
    r = result(c, m.get("agent", "?"))
    after = cache_info(c)[home].get("bytes_fetched")
    if r and (r["fnv_x"], r["fnv_y"]) == expect[0] and before == after:
        ok("read_where_it_is", "part 0 on %s, 0 bytes fetched" % home)
    else:
        fail("read_where_it_is", "%s %s fetched %s -> %s" %
             (m, r, before, after))
    # A move: the reader finds its part at the destination, fetched once.
    away = [h for h in ("h1", "h2", "h3")
            if h not in next(iter(per_part[1]))][0]
    home1 = list(next(iter(per_part[1])))[0]
    m = read_part(c, code, home1, {"set": "two-parts", "part": 1,
                                   "hold_s": 2.0})
    agent = m.get("agent", "?")
    time.sleep(0.5)
    mv = c.request("migrate", agent=agent, host=away)
    r = result(c, agent, 30)
    info = cache_info(c)
    if mv.get("ok") and r and r["hosts"] == [home1, away] and \
            (r["fnv_x"], r["fnv_y"]) == expect[1] and \
            info[away].get("bytes_fetched", 0) > 0:
        ok("read_after_move", "%s -> %s, same rows, %d bytes fetched "
           "there" % (home1, away, info[away]["bytes_fetched"]))
    else:
        fail("read_after_move", "%s %s %s" % (mv, r, info.get(away)))
    # A move with no host named goes, among the hosts with as many free
    # cores, to the one that holds the part.
    man3, blocks3, _ = make_set("three-parts", 3000, 4, 2, 3, 1024, 11)
    put_set(c, man3, blocks3)
    hs3 = holders(c, "three-parts")
    # Peers are tried in the hosts file's order: a part on h3 and one
    # other host, read there, has the host without it tried first.
    pairs = [sorted(hs3[p["blocks"][0]])
             for p in man3["tables"]["train"]["parts"]]
    k = [i for i, pr in enumerate(pairs) if "h3" in pr]
    if not k:
        fail("move_goes_to_data", "no part on h3: %s" % pairs)
        return man, expect
    pair = pairs[k[0]]
    m = read_part(c, code, pair[0], {"set": "three-parts", "part": k[0],
                                     "hold_s": 2.0})
    agent = m.get("agent", "?")
    time.sleep(0.5)
    mv = c.request("migrate", agent=agent)
    r = result(c, agent, 30)
    if mv.get("ok") and r and r["hosts"] == pair:
        ok("move_goes_to_data", "%s -> %s, which holds the part" %
           tuple(pair))
    else:
        fail("move_goes_to_data", "%s %s, holders %s" % (mv, r, pair))
    return man, expect


def test_host_death(c, code, man, expect):
    """kill -9 a holder of blocks that have no other copy but one: every
    block has 2 up copies again, and agents read from the survivors."""
    hs = holders(c, "two-parts")
    victim = [v for v in ("h3", "h2")
              if any(len(x) == 2 and v in x for x in hs.values())]
    if not victim:
        fail("replicas_restored", "no host to kill: %s" % hs)
        return
    victim = victim[0]
    os.kill(int(open(os.path.join(T, "pid" + victim[1])).read()),
            signal.SIGKILL)

    def restored():
        hs = holders(c, "two-parts")
        return all(len([h for h in v if h != victim]) >= 2
                   for v in hs.values()) and hs
    t0 = time.time()
    hs = wait_for(25, restored)
    if hs:
        ok("replicas_restored", "every block on 2 up hosts again %.1f s "
           "after kill -9 of %s" % (time.time() - t0, victim))
    else:
        fail("replicas_restored", json.dumps(holders(c, "two-parts")))
    left = "h2" if victim == "h3" else "h3"
    m = read_part(c, code, left, {"set": "two-parts", "part": 0})
    r = result(c, m.get("agent", "?"))
    if r and (r["fnv_x"], r["fnv_y"]) == expect[0]:
        ok("read_after_death")
    else:
        fail("read_after_death", "%s %s" % (m, r))


def test_bad_input(c):
    man, blocks, _ = make_set("bad", 100, 2, 1, 1, 1024, 3)
    h, b, g = blocks[0]
    m, _ = ask(c, "data-block-put", b[:-1] + b"\x01", sha256=h, group=g)
    log = open(os.path.join(T, "log1")).read()
    if not m.get("ok") and "do not match" in m.get("error", "") and \
            "its bytes hash to" in log and not c.request(
                "data-has", blocks=[h])["missing"] == []:
        ok("corrupt_block_refused", m["error"])
    else:
        fail("corrupt_block_refused", str(m))
    # A manifest naming a block no host holds is refused.
    m = c.request("data-set-put", manifest=man)
    if not m.get("ok") and "is on no host" in m.get("error", ""):
        ok("manifest_without_blocks", m["error"])
    else:
        fail("manifest_without_blocks", str(m))
    bad = 0
    for name in ("", ".hidden", "-x", "a/b", "x" * 65, "sp ace"):
        m = c.request("data-set", name=name)
        bad += not m.get("ok") and "expected 1 to 64" in m.get("error", "")
        man2 = dict(man, name=name)
        m = c.request("data-set-put", manifest=man2)
        bad += not m.get("ok") and "name" in m.get("error", "")
    if bad == 12:
        ok("bad_names")
    else:
        fail("bad_names", "%d of 12 refused" % bad)
    m = c.request("data-rm", name="nothere")
    if not m.get("ok") and "no data set nothere" in m.get("error", ""):
        ok("rm_missing")
    else:
        fail("rm_missing", str(m))


def test_small_cache(code_so):
    """One daemon with a 1 MiB cache: an unused set is evicted for a new
    one, a set in use is not, and what does not fit is refused."""
    base = BASE + 10
    logf = open(os.path.join(T, "log4"), "w")
    p = subprocess.Popen([os.path.join(BIN, "agentd"), "--listen",
                          addr(4, base), "--key", os.path.join(T, "key"),
                          "--state", os.path.join(T, "s4"),
                          "--cache-mem", "1M", "--name", "h4"],
                         stderr=logf)
    try:
        c = wait_for(10, lambda: _try_conn(4, base))
        if c is None:
            fail("small_cache", "the daemon did not start")
            return
        code = ask(c, "code-put", code_so)[0]["sha256"]
        sets = {}
        for i, name in enumerate(("a", "b", "c")):
            sets[name] = make_set(name, 1024 * 2, 100, 4, 1, 1024, 10 + i)
        # a then b: 2 x 832 KiB > 1 MiB, so a's blocks make room for b's.
        pa = put_set(c, *sets["a"][:2])
        pb = put_set(c, *sets["b"][:2])
        ls = {s["name"]: s for s in c.request("data-sets")["sets"]}
        if pa[1].get("ok") and pb[1].get("ok") and \
                not ls["a"]["complete"] and ls["b"]["complete"]:
            ok("evicts_unused", "a evicted for b")
        else:
            fail("evicts_unused", "%s %s %s" % (pa, pb, ls))
        # b in use: c does not fit, and is refused with the reason.
        m = read_part(c, code, "h4", {"set": "b", "hold_s": 2})
        time.sleep(0.5)
        pc, _ = put_set(c, *sets["c"][:2])
        errs = [v.get("error", "") for v in pc.values() if not v.get("ok")]
        rm = c.request("data-rm", name="b")
        r = result(c, m.get("agent", "?"))
        if errs and "data cache full" in errs[0] and "pinned" in errs[0] \
                and not rm.get("ok") and "in use" in rm.get("error", "") \
                and r and r["rows"] == 2048:
            ok("full_cache_refused", errs[0])
        else:
            fail("full_cache_refused", "%s %s %s" % (errs, rm, r))
        m = c.request("data-rm", name="b")
        info = cache_info(c)["h4"]
        if m.get("ok") and info["bytes"] == 0 and not any(
                s["name"] == "b" for s in c.request("data-sets")["sets"]):
            ok("rm", "its blocks dropped at once")
        else:
            fail("rm", "%s %s %s" % (m, info, c.request("data-sets")))
    finally:
        p.kill()
        p.wait()
        logf.close()


def start_daemon(n, base, *extra, hosts=None):
    logf = open(os.path.join(T, "log%d" % n), "a")
    cmd = [os.path.join(BIN, "agentd"), "--listen", addr(n, base), "--key",
           os.path.join(T, "key"), "--state", os.path.join(T, "s%d" % n)]
    if hosts:
        cmd += ["--hosts", hosts]
    p = subprocess.Popen(cmd + list(extra), stderr=logf)
    logf.close()
    return p


class LyingPeer:
    """Host h2 of a hosts file, played by this process over the wire: it
    says it holds block sha and serves other bytes for it."""

    def __init__(self, to, sha):
        self.c = w.Conn(to, KEY, name="h2", role="peer")
        self.sha = sha
        self.asked = 0
        self.listed = False

    def ping(self):
        self.c.send(w.PING, {"name": "h2", "address": "127.0.0.2:1",
                             "cores": 1, "agents": 1, "mem_bytes": 1 << 30,
                             "load": 0.0, "gpus": 0, "draining": False,
                             "cache": {"version": 1, "in_use": [],
                                       "bytes": 0, "limit": 1 << 30}})

    def serve(self, seconds, until=None):
        """Answers for at most seconds, or until until() holds."""
        end = time.time() + seconds
        self.ping()
        last = time.time()
        while time.time() < end and not (until and until()):
            if time.time() - last > 0.3:
                self.ping()
                last = time.time()
            r, _, _ = select.select([self.c.sock], [], [], 0.1)
            if not r:
                continue
            t, m, _ = self.c.read()
            if t == w.PING:
                self.c.send(w.PONG, {})
            if t != w.REQUEST:
                continue
            reply, payload = {"id": m["id"], "ok": True}, b""
            if m.get("op") == "data-inventory":
                self.listed = True
                reply.update(version=1, blocks=[self.sha])
            elif m.get("op") == "data-block-fetch":
                self.asked += 1
                payload = b"not the block" * 100
            elif m.get("op") == "data-manifests":
                reply.update(sets={}, removed={})
            self.c.send(w.REPLY, reply, payload=payload)


def test_lying_peer(code_so):
    """A peer that serves other bytes for a block: they are never used,
    the daemon says so and fetches the block from an honest holder."""
    base = BASE + 30
    hosts = os.path.join(T, "hosts-lie.json")
    with open(hosts, "w") as f:
        json.dump({"hosts": [{"name": "h%d" % n, "address": addr(n, base)}
                             for n in (1, 2, 3)]}, f)
    d1 = start_daemon(1, base, hosts=hosts)
    d3 = start_daemon(3, base, hosts=hosts)
    try:
        c1 = wait_for(10, lambda: _try_conn(1, base))
        c3 = wait_for(10, lambda: _try_conn(3, base))
        man, blocks, expect = make_set("lies", 1500, 3, 2, 1, 1024, 21,
                                       replicas=1)
        # Blocks on h3 alone: a group that ranks h3 before h1.
        for i, (h, b, _) in enumerate(blocks):
            g = next(hashlib.sha256(b"%d %d" % (i, k)).hexdigest()
                     for k in range(1000) if _rank(hashlib.sha256(
                         b"%d %d" % (i, k)).hexdigest(), ["h1", "h3"])[0]
                     == "h3")
            blocks[i] = (h, b, g)
        wait_for(10, lambda: len([x for x in c3.request("hosts")["hosts"]
                                  if x["state"] in ("up", "self")]) == 2)
        puts, rep = put_set(c3, man, blocks)
        liar = LyingPeer(addr(1, base), blocks[0][0])
        code = ask(c1, "code-put", code_so)[0]["sha256"]
        # h1 knows what h2 "holds" once it has asked for the list.
        liar.serve(5.0, lambda: liar.listed)
        c1.send(w.REQUEST, {"op": "spawn", "id": c1.tx, "code": code,
                            "host": "h1", "args": json.dumps(
                                {"set": "lies"}), "wait": True})
        liar.serve(5.0, lambda: liar.asked > 0)
        liar.serve(0.5)
        m = None
        while m is None:
            t, mm, _ = c1.read()
            m = mm if t == w.REPLY else None
        r = result(c1, m.get("agent", "?"))
        log = open(os.path.join(T, "log1")).read()
        if rep.get("ok") and liar.asked > 0 and r and \
                (r["fnv_x"], r["fnv_y"]) == expect[0] and \
                any("from h2" in x and "hash to" in x
                    for x in log.splitlines()):
            ok("lying_peer", "h2 asked %d times; its bytes refused, the "
               "block read from h3" % liar.asked)
        else:
            fail("lying_peer", "%s %s asked %d %s" % (rep, m, liar.asked, r))
    finally:
        for p in (d1, d3):
            p.kill()
            p.wait()


def _rank(group, hosts):
    return sorted(hosts, key=lambda h: hashlib.sha256(
        (group + "\n" + h).encode()).hexdigest())


def _try_conn(n, base):
    try:
        return conn(n, base)
    except OSError:
        return None


def main():
    c = conn(1)
    code = code_put(c)
    test_big_block(c)
    got = test_put_and_place(c, code)
    test_bad_input(c)
    if got:
        test_host_death(c, code, *got)
    test_small_cache(open(READER, "rb").read())
    test_lying_peer(open(READER, "rb").read())
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
