"""Malformed frames close the connection and leave the daemon alive.
Usage: agentd_malformed.py ADDR KEYFILE; prints ok/FAIL lines."""
import socket
import struct
import sys

import agentd_wire as w

addr, keyfile = sys.argv[1], sys.argv[2]
key = bytes.fromhex(open(keyfile).read().strip())
host, port = addr.rsplit(":", 1)


def raw():
    return socket.create_connection((host, int(port)), timeout=5)


def alive():
    try:
        return w.Conn(addr, key).request("ping").get("ok") is True
    except Exception:
        return False


def check(name, send):
    try:
        s = send()
        closed = w.closed_by_peer(s)
    except Exception as e:
        print(f"FAIL agentd/malformed_{name}: {e!r}")
        return
    if not closed:
        print(f"FAIL agentd/malformed_{name}: connection left open")
    elif not alive():
        print(f"FAIL agentd/malformed_{name}: daemon no longer answers")
    else:
        print(f"ok agentd/malformed_{name}")


def bad_magic():
    s = raw()
    s.sendall(w.frame(w.HELLO, {"x": 1}, magic=0xDEADBEEF))
    return s


def huge_length():
    s = raw()
    # Claims a 4 GiB metadata part; must be refused before any allocation.
    s.sendall(w.frame(w.HELLO, {}, meta_len=0xFFFFFFFF)[:32])
    return s


def huge_payload():
    s = raw()
    s.sendall(w.frame(w.HELLO, {}, payload_len=1 << 62)[:32])
    return s


def truncated():
    s = raw()
    f = w.frame(w.HELLO, {"name": "x", "role": "client", "nonce": "00" * 32})
    s.sendall(f[:len(f) - 10])
    s.shutdown(socket.SHUT_WR)
    return s


def bad_json_hello():
    s = raw()
    s.sendall(w.frame(w.HELLO, None, raw_meta=b"{not json"))
    return s


def bad_json_after_auth():
    c = w.Conn(addr, key)
    c.send(w.REQUEST, raw_meta=b'{"op": "hosts", "id": ')
    return c.sock


def wrong_types_hello():
    s = raw()
    s.sendall(w.frame(w.HELLO, {"name": 7, "role": [], "nonce": False}))
    return s


def wrong_types_request():
    c = w.Conn(addr, key)
    c.send(w.REQUEST, {"op": 5, "id": "seven"})
    return c.sock


def unknown_type():
    s = raw()
    s.sendall(w.frame(99, {}))
    return s


def unknown_type_after_auth():
    c = w.Conn(addr, key)
    c.sock.sendall(w.frame(42, {}, c.key, c.tx, encrypt=c.encrypt))
    return c.sock


def request_before_auth():
    s = raw()
    s.sendall(w.frame(w.REQUEST, {"op": "hosts", "id": 1}))
    return s


def bad_mac():
    c = w.Conn(addr, key)
    f = bytearray(w.frame(w.REQUEST, {"op": "hosts", "id": 1}, c.key, c.tx,
                          encrypt=c.encrypt))
    f[-1] ^= 1
    c.sock.sendall(bytes(f))
    return c.sock


def replayed_seq():
    c = w.Conn(addr, key)
    f = w.frame(w.REQUEST, {"op": "ping", "id": 1}, c.key, 0,
                encrypt=c.encrypt)
    c.sock.sendall(f + f)
    return c.sock


for name, fn in [("bad_magic", bad_magic), ("huge_length", huge_length),
                 ("huge_payload", huge_payload), ("truncated", truncated),
                 ("bad_json", bad_json_hello),
                 ("bad_json_after_auth", bad_json_after_auth),
                 ("wrong_types", wrong_types_hello),
                 ("wrong_types_request", wrong_types_request),
                 ("unknown_type", unknown_type),
                 ("unknown_type_after_auth", unknown_type_after_auth),
                 ("request_before_auth", request_before_auth),
                 ("bad_mac", bad_mac), ("replayed_seq", replayed_seq)]:
    check(name, fn)


def fuzz_requests(n=400, seed=7):
    """Authenticated requests with every op and fields of random types:
    the daemon answers or closes, and never dies."""
    import random
    rnd = random.Random(seed)
    ops = ["ping", "hosts", "agents", "subscribe", "code-has", "code-put",
           "code-stats", "spawn", "kill", "suspend", "resume", "migrate",
           "clone", "send", "where", "agent-accept", "code-get", "nope"]
    values = [None, True, 0, -1, 2 ** 62, 1.5, "", "h1", "h1.1", "x" * 300,
              "ab" * 32, [], [1, "a"], {}, {"a": {"b": []}}]
    keys = ["agent", "host", "code", "sha256", "args", "delivery", "step",
            "type", "from", "seq"]
    c = None
    for i in range(n):
        if c is None:
            c = w.Conn(addr, key)
        meta = {k: rnd.choice(values) for k in rnd.sample(keys, 4)}
        meta["op"] = rnd.choice(ops)
        meta["id"] = i
        try:
            ftype = rnd.choice([w.REQUEST] * 8 + [w.AGENT, w.EVENT, w.PING,
                                                 w.REPLY, w.PONG])
            c.send(ftype, meta, payload=rnd.randbytes(rnd.choice([0, 7,
                                                                  4096])))
            if ftype == w.REQUEST:
                c.sock.settimeout(5)
                while c.read()[0] != w.REPLY:
                    pass
        except (EOFError, OSError, AssertionError):
            c = None
    return alive()


if fuzz_requests():
    print("ok agentd/fuzz_requests")
else:
    print("FAIL agentd/fuzz_requests: daemon no longer answers")
