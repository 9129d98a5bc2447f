"""The daemon cannot be exhausted (issue 18, point 4): against one agentd
under prlimit (exhaust.sh starts it), a flood of unauthenticated
connections, an authenticated client whose header claims 1 GiB and then
sends little, one that sends requests and never reads the replies, and
silent clients. Throughout, the daemon stays up, its memory and log stay
small, and agentctl hosts answers within a second.

Usage: exhaust.py ADDR KEYFILE PID LOG AGENTCTL STALL_S IDLE_S

Prints one line per check (ok / FAIL exhaust/NAME) with the figures."""
import json
import os
import resource
import select
import socket
import struct
import subprocess
import sys
import time

from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305

import agentd_wire as w

ADDR, KEYFILE, PID, LOG, CTL = sys.argv[1:6]
STALL_S, IDLE_S = float(sys.argv[6]), float(sys.argv[7])
# Under AddressSanitizer the address space is terabytes of shadow: only
# the resident memory is bounded, and more loosely (its quarantine).
ASAN = os.environ.get("EXHAUST_ASAN") == "1"
PEAK_MIB, RSS_MIB = (None, 256) if ASAN else (128, 64)
KEY = bytes.fromhex(open(KEYFILE).read().strip())
HOST, PORT = ADDR.rsplit(":", 1)
PORT = int(PORT)
FLOOD, BATCH = 1000, 100
failed = []
probes = []


def ok(name, figures=""):
    print(f"ok exhaust/{name}" + (f" ({figures})" if figures else ""))


def fail(name, why):
    failed.append(name)
    print(f"FAIL exhaust/{name}: {why}")


def status():
    """VmPeak and VmRSS of the daemon in KiB; None once it is gone."""
    try:
        with open(f"/proc/{PID}/status") as f:
            v = dict(line.split(":", 1) for line in f if ":" in line)
        return (int(v["VmPeak"].split()[0]), int(v["VmRSS"].split()[0]))
    except (OSError, KeyError):
        return None


def probe(when):
    """agentctl hosts: answers, within 1 s."""
    t0 = time.monotonic()
    r = subprocess.run([CTL, "--connect", ADDR, "--key", KEYFILE, "--json",
                        "hosts"], capture_output=True, text=True,
                       timeout=10)
    dt = time.monotonic() - t0
    probes.append(dt)
    good = r.returncode == 0 and json.loads(r.stdout)["hosts"][0]["state"] \
        == "self"
    if not good or dt > 1.0:
        fail(f"hosts_answers_{when}", f"exit {r.returncode} in {dt:.3f} s:"
             f" {r.stderr.strip()[:200]}")
        return False
    return True


class Fast(w.Conn):
    """A client that makes frames quickly: one cipher for all its tags."""

    def __init__(self, *a, **k):
        super().__init__(*a, **k)
        self.aead = ChaCha20Poly1305(self.key)

    def frame(self, ftype, meta, payload=b"", payload_len=None):
        m = json.dumps(meta).encode()
        hdr = struct.pack("<IBBHIQQI", w.MAGIC, 1, ftype, 0, len(m),
                          len(payload) if payload_len is None
                          else payload_len, self.tx, 0)
        # Enciphered as the daemon's hello said (agentd --encrypt).
        body = w.cipher(self.key, self.tx, m + payload) if self.encrypt \
            else m + payload
        mac = self.aead.encrypt(bytes(4) + struct.pack("<Q", self.tx), b"",
                                hdr + body)
        self.tx += 1
        return hdr + body + mac


def flood():
    """1000 connections from 127.0.0.2 to .11 in batches, one byte each,
    held open; agentctl and the memory checked after each batch."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    held, opened, refused = [], 0, 0
    for b in range(FLOOD // BATCH):
        src = f"127.0.0.{2 + b}"
        for _ in range(BATCH):
            s = socket.socket()
            s.settimeout(2)
            try:
                s.bind((src, 0))
                s.connect((HOST, PORT))
                s.send(b"N")
                opened += 1
                held.append(s)
            except OSError:
                refused += 1
                s.close()
        if len(held) > hard - 64:
            for s in held[:BATCH]:
                s.close()
            del held[:BATCH]
        probe(f"flood_{b}")
        if status() is None:
            break
    # Those the daemon refused or dropped are closed on its side.
    time.sleep(0.3)
    gone = 0
    for s in held:
        s.setblocking(False)
        try:
            if s.recv(1) == b"":
                gone += 1
        except BlockingIOError:
            pass
        except OSError:
            gone += 1
    kept = len(held) - gone
    if status() is None:
        fail("flood", "the daemon died")
    elif kept > 64:
        fail("flood", f"{kept} unauthenticated connections still open "
             f"(cap 32)")
    else:
        ok("flood", f"{opened} connected, {len(held) - kept} of those "
           f"closed by the daemon, {kept} kept, {refused} failed")
    return held


def big_claim():
    """A header that claims 1 GiB, then 5 MiB: the daemon holds what
    came, not what was claimed."""
    before = status()
    c = Fast(ADDR, KEY, name="claims-a-lot")
    c.sock.sendall(c.frame(w.REQUEST, {"op": "hosts", "id": 1},
                           payload_len=1 << 30)[:-16])
    chunk = bytes(1 << 20)
    for _ in range(5):
        c.sock.sendall(chunk)
    time.sleep(0.3)
    after = status()
    probe("big_claim")
    grew = (after[1] - before[1]) // 1024 if after is not None else 0
    if after is None:
        fail("big_claim", "the daemon died")
    elif grew > 24:
        fail("big_claim", f"RSS grew {grew} MiB for 5 MiB sent")
    else:
        ok("big_claim", f"RSS +{grew} MiB, VmPeak {after[0] // 1024} MiB "
           f"for 5 MiB of a claimed 1 GiB")
    return c


def never_reads():
    """Requests as fast as they go, replies never read: the daemon stops
    reading them, then closes the connection."""
    c = Fast(ADDR, KEY, name="never-reads")
    c.sock.settimeout(0.5)
    sent, t0 = 0, time.monotonic()
    try:
        while time.monotonic() - t0 < 4:
            c.sock.sendall(b"".join(c.frame(w.REQUEST, {"op": "hosts",
                                                       "id": c.tx})
                                    for _ in range(500)))
            sent += 500
    except OSError:
        pass    # blocked (a timeout), or already cut off
    stopped = time.monotonic()
    probe("never_reads")
    mem = status()
    # Closed within the stall timeout (and a tick) of its replies stopping,
    # which was before its requests did: the daemon resets it.
    c.sock.setblocking(False)
    gone = False
    while time.monotonic() < stopped + STALL_S + 3 and not gone:
        time.sleep(0.2)
        try:
            c.sock.send(b"x")
        except BlockingIOError:
            pass
        except OSError:
            gone = True
        gone = gone or c.sock.getsockopt(socket.SOL_SOCKET,
                                         socket.SO_ERROR) != 0
    took = time.monotonic() - stopped
    time.sleep(1.2)     # the rated log line may wait for the next second
    logged = [line for line in open(LOG) if "never-reads" in line and
              "--stall-timeout" in line]
    if mem is None:
        fail("never_reads", "the daemon died")
    elif not gone or not logged:
        fail("never_reads", f"still open {took:.1f} s after its {sent} "
             f"requests stopped going (logged: {len(logged)})")
    else:
        ok("never_reads", f"{sent} requests sent, closed {took:.1f} s "
           f"later, RSS {mem[1] // 1024} MiB meanwhile")
    c.sock.close()


def main():
    start = status()
    idle = w.Conn(ADDR, KEY, name="idle")
    waiting = w.Conn(ADDR, KEY, name="subscribed")
    if not waiting.request("subscribe").get("ok"):
        fail("subscribe", "refused")
    t_idle = time.monotonic()
    probe("start")
    held = flood()
    claim = big_claim()
    never_reads()
    # Silent clients: the idle one is gone, the subscribed one is not,
    # and neither is the one cut off in its 1 GiB frame held for long.
    left = IDLE_S + 2 - (time.monotonic() - t_idle)
    idle_gone = w.closed_by_peer(idle.sock, max(left, 0.1))
    sub_open = not w.closed_by_peer(waiting.sock, 0.5)
    claim_gone = w.closed_by_peer(claim.sock, IDLE_S + 2)
    if idle_gone and sub_open and claim_gone:
        ok("idle_timeout", f"silent client closed after {IDLE_S:g} s, the "
           f"subscribed one kept")
    else:
        fail("idle_timeout", f"idle closed {idle_gone}, subscribed kept "
             f"{sub_open}, 1 GiB claimer closed {claim_gone}")
    for s in held:
        s.close()
    probe("end")
    end = status()
    lines = sum(1 for _ in open(LOG))
    if end is None:
        fail("alive", "the daemon died")
        return
    ok("alive", f"VmPeak {start[0] // 1024} -> {end[0] // 1024} MiB, VmRSS "
       f"{start[1] // 1024} -> {end[1] // 1024} MiB")
    if (PEAK_MIB is not None and end[0] > PEAK_MIB * 1024) or \
            end[1] > RSS_MIB * 1024:
        fail("memory", f"VmPeak {end[0] // 1024} MiB (bound {PEAK_MIB}), "
             f"VmRSS {end[1] // 1024} MiB (bound {RSS_MIB})")
    else:
        ok("memory", f"VmPeak {end[0] // 1024} MiB <= {PEAK_MIB}, VmRSS "
           f"{end[1] // 1024} MiB <= {RSS_MIB}")
    if lines > 150:
        fail("log", f"{lines} lines (bound 150)")
    else:
        ok("log", f"{lines} lines <= 150")
    if probes and max(probes) <= 1.0 and len(failed) == 0:
        ok("hosts_answers", f"{len(probes)} tries, slowest "
           f"{max(probes) * 1000:.0f} ms, median "
           f"{sorted(probes)[len(probes) // 2] * 1000:.0f} ms")


main()
sys.exit(1 if failed else 0)
