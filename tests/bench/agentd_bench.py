"""make bench, the platform part: agent migration latency and throughput
between two daemons for states from 1 KB to 256 MB, raw loopback TCP
throughput in the same run, and the agent spawn rate.

Usage: agentd_bench.py BIN_DIR [--sizes 1K,1M,...] [--quick]
                        [--tcp-mac PATH] [--encrypt on|off]

--tcp-mac names a built tcp_mac_bench (make bench passes it): then the
run also measures loopback TCP of one 256 MiB buffer into another, plain
and with a Poly1305 tag on both ends as agentd's frames have, and gives
the largest state's move against those too. --encrypt starts the daemons
with that setting (agentd --encrypt; without it, their default)."""
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "cli"))
import agentd_wire as w  # noqa: E402

if len(sys.argv) < 2 or sys.argv[1] in ("-h", "--help"):
    print(__doc__)
    sys.exit(0 if len(sys.argv) >= 2 else 2)
BIN = sys.argv[1]
SIZES = [1 << 10, 1 << 16, 1 << 20, 16 << 20, 64 << 20, 256 << 20]
if "--quick" in sys.argv:
    SIZES = [1 << 10, 1 << 20, 16 << 20]
TCP_MAC = None
if "--tcp-mac" in sys.argv:
    TCP_MAC = sys.argv[sys.argv.index("--tcp-mac") + 1]
ENCRYPT = []
if "--encrypt" in sys.argv:
    ENCRYPT = ["--encrypt", sys.argv[sys.argv.index("--encrypt") + 1]]
if "--sizes" in sys.argv:
    _units = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}
    SIZES = [int(x[:-1]) * _units[x[-1].upper()] if x[-1].isalpha()
             else int(x)
             for x in sys.argv[sys.argv.index("--sizes") + 1].split(",")]


def human(n):
    for unit, div in (("GB", 1 << 30), ("MB", 1 << 20), ("KB", 1 << 10)):
        if n >= div:
            return f"{n / div:g} {unit}"
    return f"{n} B"


def raw_tcp(total=1 << 30, chunk=4 << 20):
    """Loopback TCP throughput: one sender, one receiver, bytes/s."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)
    port = srv.getsockname()[1]
    got = [0]

    def receive():
        c, _ = srv.accept()
        buf = bytearray(chunk)
        view = memoryview(buf)
        while got[0] < total:
            n = c.recv_into(view)
            if n == 0:
                break
            got[0] += n
        c.close()

    t = threading.Thread(target=receive)
    t.start()
    s = socket.create_connection(("127.0.0.1", port))
    data = memoryview(bytes(chunk))
    t0 = time.monotonic()
    sent = 0
    while sent < total:
        s.sendall(data)
        sent += chunk
    s.shutdown(socket.SHUT_WR)
    t.join()
    dt = time.monotonic() - t0
    s.close()
    srv.close()
    return got[0] / dt


class Cluster:
    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="agentd-bench.")
        self.key = os.path.join(self.dir, "key")
        subprocess.run([f"{BIN}/agentd", "keygen", self.key], check=True)
        base = 45000 + os.getpid() % 1000 * 5
        self.addrs = [f"127.0.0.1:{base + 1}", f"127.0.0.2:{base + 2}"]
        hosts = {"hosts": [{"name": f"h{i + 1}", "address": a}
                           for i, a in enumerate(self.addrs)]}
        with open(os.path.join(self.dir, "hosts.json"), "w") as f:
            json.dump(hosts, f)
        self.procs = []
        for i, a in enumerate(self.addrs):
            self.procs.append(subprocess.Popen(
                [f"{BIN}/agentd", "--listen", a, "--key", self.key,
                 "--hosts", os.path.join(self.dir, "hosts.json"),
                 "--state", os.path.join(self.dir, f"s{i + 1}"),
                 "--log-level", "warn"] + ENCRYPT,
                stderr=open(os.path.join(self.dir, f"log{i + 1}"), "w")))
        keyb = bytes.fromhex(open(self.key).read().strip())
        for _ in range(100):
            try:
                self.c = w.Conn(self.addrs[0], keyb)
                hosts = self.c.request("hosts")["hosts"]
                if all(h["state"] in ("up", "self") for h in hosts):
                    break
            except (OSError, EOFError):
                pass
            time.sleep(0.1)
        self.events = w.Conn(self.addrs[0], keyb)
        self.events.request("subscribe")
        so = open(f"{BIN}/agents/wanderer.so", "rb").read()
        import hashlib
        self.code = {}
        for name in ("wanderer", "counter"):
            blob = open(f"{BIN}/agents/{name}.so", "rb").read()
            sha = hashlib.sha256(blob).hexdigest()
            self.c.send(w.REQUEST, {"op": "code-put", "sha256": sha,
                                    "id": 10 ** 6 + len(self.code)},
                        payload=blob)
            while self.c.read()[0] != w.REPLY:
                pass
            self.code[name] = sha
        del so

    def spawn(self, name, args):
        r = self.c.request("spawn", code=self.code[name], args=args)
        assert r.get("ok"), r
        return r["agent"]

    def wait(self, agent, until=("finished", "failed"), timeout=600):
        """Events of agent with their arrival times, until one of until.
        Events of other agents are kept for their own wait."""
        if not hasattr(self, "backlog"):
            self.backlog = {}
        out = self.backlog.pop(agent, [])
        if out and out[-1][1]["event"] in until:
            return out
        deadline = time.monotonic() + timeout
        self.events.sock.settimeout(timeout)
        while time.monotonic() < deadline:
            t, m, _ = self.events.read()
            if t != w.EVENT or "agent" not in m:
                continue
            if m["agent"] != agent:
                self.backlog.setdefault(m["agent"], []).append(
                    (time.monotonic(), m))
                continue
            out.append((time.monotonic(), m))
            if m["event"] in until:
                return out
        raise TimeoutError(agent)

    def close(self):
        for p in self.procs:
            p.terminate()
        for p in self.procs:
            p.wait()
        shutil.rmtree(self.dir, ignore_errors=True)


def migration(cl, size):
    laps = 40 if size <= 1 << 20 else 8 if size <= 16 << 20 else 5
    a = cl.spawn("wanderer", {"bytes": size, "hosts": ["h1", "h2"],
                              "laps": laps})
    ev = cl.wait(a)
    assert ev[-1][1]["event"] == "finished", ev[-1]
    moved = [t for t, m in ev if m["event"] == "moved"]
    gaps = [b - a for a, b in zip(moved, moved[1:])]
    # The move itself: from the source's "moving" (the agent has packed)
    # to its "moved" (the destination holds the agent, unpacked).
    moves, start = [], None
    for t, m in ev:
        if m["event"] == "moving":
            start = t
        elif m["event"] == "moved" and start is not None:
            moves.append(t - start)
            start = None
    # The first moves of a large state also wait for the daemons to map
    # fresh buffers; later ones find them warm.
    return (statistics.median(gaps), statistics.median(moves), gaps[0],
            len(moved))


def main():
    print("bench: agentd, two daemons on 127.0.0.1 and 127.0.0.2")
    # This VM's loopback TCP varies from run to run: the median of three.
    samples = [raw_tcp() for _ in range(3)]
    tcp = statistics.median(samples)
    print(f"  raw loopback TCP (1 GiB, 4 MiB writes): {tcp / 1e9:.2f} GB/s"
          f" (median of {', '.join(f'{x / 1e9:.2f}' for x in samples)})")
    result = {"bench": "agentd", "tcp_bytes_per_sec": round(tcp)}
    refs = {}
    if TCP_MAC is not None and not os.access(TCP_MAC, os.X_OK):
        print(f"  {TCP_MAC} is not built (make bench builds it): "
              f"skipping the buffer-to-buffer references")
    elif TCP_MAC is not None:
        out = subprocess.run([TCP_MAC, "--mib", "256", "--rounds", "5"],
                             capture_output=True, text=True)
        if out.returncode != 0:
            raise RuntimeError(f"{TCP_MAC}: {out.stderr.strip()}")
        refs = {k: float(v) for k, v in
                (line.split("=") for line in out.stdout.split())}
        print(f"  loopback TCP, one 256 MiB buffer into another: "
              f"{refs['plain'] / 1e9:.2f} GB/s plain, "
              f"{refs['mac'] / 1e9:.2f} GB/s with a Poly1305 tag on both "
              f"ends (tcp_mac_bench, median of 5)")
        result["tcp_buffer_bytes_per_sec"] = round(refs["plain"])
        result["tcp_mac_bytes_per_sec"] = round(refs["mac"])
    cl = Cluster()
    try:
        print(f"  {'state':>8} {'moves':>6} {'per move':>10} "
              f"{'throughput':>12} {'of TCP':>7} {'first move':>11}"
              f" {'move alone':>11} {'of TCP':>7}")
        for size in SIZES:
            lat, alone, first, n = migration(cl, size)
            thr = size / lat
            print(f"  {human(size):>8} {n:>6} {lat * 1000:>8.2f} ms "
                  f"{thr / 1e9:>9.3f} GB/s {100 * thr / tcp:>6.1f}% "
                  f"{first * 1000:>8.1f} ms {alone * 1000:>8.2f} ms "
                  f"{100 * size / alone / tcp:>6.1f}%")
            result[f"move_{size}_ms"] = round(lat * 1000, 3)
            result[f"move_{size}_first_ms"] = round(first * 1000, 3)
            result[f"move_{size}_pct_tcp"] = round(100 * thr / tcp, 1)
            result[f"move_{size}_alone_ms"] = round(alone * 1000, 3)
            result[f"move_{size}_alone_pct_tcp"] = round(
                100 * size / alone / tcp, 1)
        n = 50
        t0 = time.monotonic()
        ids = [cl.spawn("counter", {"n": 1}) for _ in range(n)]
        for a in ids:
            cl.wait(a)
        rate = n / (time.monotonic() - t0)
        print(f"  spawn rate: {rate:.0f} agents/s ({n} counters spawned "
              f"and run to the end, one at a time over one client)")
        if refs:
            size = max(SIZES)
            thr = size / (result[f"move_{size}_alone_ms"] / 1000)
            print(f"  {human(size)} move alone against the references: "
                  f"{100 * thr / tcp:.1f}% of raw TCP, "
                  f"{100 * thr / refs['plain']:.1f}% of buffer to buffer, "
                  f"{100 * thr / refs['mac']:.1f}% of buffer to buffer "
                  f"with tags")
            result[f"move_{size}_alone_pct_tcp_buffer"] = round(
                100 * thr / refs["plain"], 1)
            result[f"move_{size}_alone_pct_tcp_mac"] = round(
                100 * thr / refs["mac"], 1)
        result["spawn_per_sec"] = round(rate, 1)
    finally:
        cl.close()
    print("  (per move: median time between two moves of the wanderer,"
          " which also runs one step and verifies its checksum each time;"
          " first move: the time from its first move to its second;"
          " move alone: median time from the source's moving event to"
          " its moved event, without the step)")
    print(json.dumps(result))


try:
    main()
except BaseException as e:
    import traceback
    traceback.print_exc()
    sys.exit(1)
