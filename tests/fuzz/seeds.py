#!/usr/bin/env python3
"""Writes the seed inputs of each harness into tests/fuzz/corpus/NAME/.

Usage: tests/fuzz/seeds.py [BIN]   (from the repository root; BIN: bin/)

Seeds are real inputs in each harness's format (the comment at the top of
tests/fuzz/fuzz_NAME.c): valid frames and handshakes, packed states, models
that `nnsim train` writes, the net.json files of nnsim/examples and
docs/net-json.md, and small csv, FANN and idx files. Each is named
seed-WHAT, so running this again rewrites the same files; what libFuzzer
adds (make fuzz FUZZ_MERGE=1) is named by its SHA-1.
"""
import json
import os
import re
import struct
import subprocess
import sys
import tempfile

from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305

CORPUS = "tests/fuzz/corpus"
FRAME_KEY = bytes(range(1, 33))          # fuzz_frame.c's key
ZERO_KEY = bytes(32)                     # the handshake's


def put(name, what, data):
    os.makedirs(os.path.join(CORPUS, name), exist_ok=True)
    with open(os.path.join(CORPUS, name, "seed-" + what), "wb") as f:
        f.write(data)


def frame(key, ftype, seq, meta, payload=b"", tag=True):
    """A frame as agentd/frame.c writes it (docs/protocol.md)."""
    m = json.dumps(meta, separators=(",", ":")).encode() \
        if not isinstance(meta, bytes) else meta
    h = struct.pack("<IBBHIQQI", 0x4741414E, 1, ftype, 0, len(m),
                    len(payload), seq, 0)
    nonce = bytes(4) + struct.pack("<Q", seq)
    mac = ChaCha20Poly1305(key).encrypt(nonce, b"", h + m + payload) \
        if tag else bytes(16)
    return h + m + payload + mac


NONCE = "0123456789abcdef" * 4


def frames():
    stream = (frame(FRAME_KEY, 1, 0, {"name": "h1", "role": "peer",
                                      "nonce": NONCE}) +
              frame(FRAME_KEY, 3, 1, {"op": "ls", "id": 1}, b"abc") +
              frame(FRAME_KEY, 8, 2, {"agent": "a1", "kind": "state"},
                    bytes(range(256)) * 2) +
              frame(FRAME_KEY, 6, 3, {"load": 0.5, "mem": 1 << 30}))
    # Byte 0 (fuzz_frame.c): reader, fix, seq, max_payload, chunk.
    put("frame", "buffer", bytes([3 << 3 | 5 << 5]) + stream)
    put("frame", "pipe", bytes([1 | 3 << 3 | 3 << 5]) + stream)
    put("frame", "bytes", bytes([3 << 3 | 0 << 5]) + stream[:200])
    # Fix mode: tags recomputed; a 1 MiB payload sent short is padded,
    # which takes the reader's direct path.
    big = frame(FRAME_KEY, 8, 0, {"agent": "a1"}, b"x" * 64, tag=False)
    big = big[:12] + struct.pack("<Q", (1 << 20) + 10) + big[20:]
    put("frame", "fix-direct", bytes([1 | 2 | 4 | 2 << 3 | 6 << 5]) + big)
    put("frame", "fix-stream", bytes([2 | 4 | 3 << 3 | 4 << 5]) +
        frame(FRAME_KEY, 4, 0, {"id": 1, "ok": True}, tag=False) +
        frame(FRAME_KEY, 5, 0, {"event": "moved"}, b"p", tag=False))


def record(ftype, flags, meta):
    m = json.dumps(meta).encode() if not isinstance(meta, bytes) else meta
    return struct.pack("<BBH", ftype - 1, flags, len(m)) + m


def handshakes():
    hello = {"name": "c1", "role": "client", "nonce": NONCE}
    after = (record(3, 0, {"op": "hosts", "id": 1}) +
             record(8, 0, {"agent": "a1"}) + record(6, 0, {}))
    # Byte 0 (fuzz_handshake.c): 0 acceptor, 1 connector, 2 client.
    put("handshake", "acceptor", bytes([0]) + record(1, 2, hello) +
        record(2, 2, {"proof": ""}) + after)
    put("handshake", "acceptor-wrong-proof", bytes([0]) +
        record(1, 0, hello) + record(2, 0, {"proof": "00" * 32}))
    put("handshake", "connector", bytes([1]) +
        record(1, 2, dict(hello, role="peer", proof="")) + after)
    put("handshake", "client", bytes([2]) +
        record(1, 0, dict(hello, proof="00" * 32)))
    put("handshake", "raw", bytes([0]) +
        record(1, 1, frame(ZERO_KEY, 1, 0, hello)) +
        record(2, 1, frame(ZERO_KEY, 2, 1, {"proof": "11" * 32})))


def pad8(b):
    return b + bytes(-len(b) % 8)


def state(js, sections):
    """agentd/state.h's encoding."""
    out = struct.pack("<IIII", 0x54534741, len(js), len(sections), 0)
    out += pad8(js)
    for name, data in sections:
        out += name.encode().ljust(64, b"\0") + struct.pack("<Q", len(data))
        out += pad8(data)
    return out


def states():
    full = state(b'{"step":3,"lr":0.01}',
                 [("weights", struct.pack("<4f", 1, -2, 0.5, 0)),
                  ("optim", b"adam!"), ("data", bytes(range(40)))])
    put("state", "full", b"\0" + full)
    put("state", "empty", b"\0" + state(b"", []))
    put("state", "json-only", b"\0" + state(b'{"wanderer":{"hops":[1,2]}}',
                                            []))
    delta = state(b'{"step":4}', [("weights", bytes(16))])
    put("state", "merge", b"\1" + struct.pack("<H", len(full)) + full +
        delta)
    put("state", "merge-bogus", b"\3" + struct.pack("<H", len(full)) +
        full + delta)


def models(nnsim):
    tmp = tempfile.mkdtemp()
    csv = os.path.join(tmp, "iris.csv")
    with open(csv, "w") as f:
        f.write("a,b,kind\n")
        for i in range(24):
            f.write(f"{i % 5 * 0.3:.1f},{i % 7 * 0.2:.1f},"
                    f"{['setosa', 'virginica', 'versicolor'][i % 3]}\n")
    nets = {
        "xor": json.load(open("nnsim/examples/xor.json")),
        "names": {"name": "names", "layers": [
            {"units": 3, "activation": "relu"}, {"activation": "softmax"}],
            "loss": "cross_entropy",
            "data": {"train": {"path": csv, "format": "csv",
                               "header": True, "label": 2},
                     "normalize": "standard"},
            "train": {"epochs": 2, "batch": 8}},
        "regress": {"name": "regress", "layers": [
            {"units": 2, "activation": "tanh"},
            {"units": 1, "activation": "linear"}],
            "data": {"train": {"path": csv, "format": "csv",
                               "header": True, "targets": [1],
                               "inputs": [0]},
                     "normalize": "minmax"},
            "train": {"epochs": 1, "optimizer": {"type": "sgd",
                                                 "lr": 0.1}}},
    }
    for name, net in nets.items():
        net["train"]["epochs"] = min(net["train"].get("epochs", 1), 2)
        path = os.path.join(tmp, name + ".json")
        json.dump(net, open(path, "w"))
        out = os.path.join(tmp, name + ".nnm")
        subprocess.run([nnsim, "train", path, "-o", out, "--quiet",
                        "--threads", "1"], check=True)
        data = open(out, "rb").read()
        put("model", name, b"\0" + data)
        put("model", name + "-fix", b"\1" + data)


def configs():
    for f in sorted(os.listdir("nnsim/examples")):
        if f.endswith(".json"):
            put("config", f, open(os.path.join("nnsim/examples", f),
                                  "rb").read())
    text = open("docs/net-json.md").read()
    for i, block in enumerate(re.findall(r"```json\n(.*?)```", text,
                                         re.S)):
        try:
            if isinstance(json.loads(block), dict):
                put("config", f"net-json-md-{i}", block.encode())
        except ValueError:
            pass


def loaders():
    # csv: byte 0 (fuzz_csv.c): header, label, inputs, rows, classes, test.
    names = "x,y,class\n0.1,0.2,a\n0.3,-1e3,b\n5,6,a\n7,8,1\n"
    put("csv", "class-header", bytes([1 | 3 << 1]) + names.encode())
    put("csv", "class-fixed-test", bytes([1 | 3 << 1 | 64 | 128]) +
        names.encode())
    put("csv", "ints", bytes([1 << 1 | 2 << 4]) +
        b"0,1.5,2\n1,2.5,3\r\n2,3.5,4\n1,4,5\n")
    put("csv", "regression", bytes([8 | 1 << 4]) +
        b"1,2,3\n4,5,6\n7,8,9\n\n")
    put("csv", "quoted", bytes([1 | 3 << 1]) +
        b'"x","y","c"\n1,2,"a b"\n3,4,"c"\n')
    put("fann", "xor", b"4 2 1\n-1 -1\n-1\n-1 1\n1\n1 -1\n1\n1 1\n-1\n")
    put("fann", "wrapped", b"2 3 2\n0.5 1e-3 -7\n1 0\n2 3\n4 0 1\n")
    put("fann", "regression", b"3 1 1\n0.1\n0.2\n0.3\n0.4\n0.5\n0.6\n")
    imgs = struct.pack(">IIII", 0x803, 4, 2, 2) + bytes(range(0, 255, 16))
    labs = struct.pack(">II", 0x801, 4) + bytes([0, 1, 2, 1])
    put("idx", "images3", struct.pack("<H", len(imgs)) + imgs + labs)
    imgs = struct.pack(">III", 0x802, 3, 5) + bytes(range(15))
    labs = struct.pack(">II", 0x801, 3) + bytes([1, 0, 1])
    put("idx", "images2", struct.pack("<H", len(imgs)) + imgs + labs)


def main():
    nnsim = os.path.join(sys.argv[1] if len(sys.argv) > 1 else "bin",
                         "nnsim")
    frames()
    handshakes()
    states()
    models(nnsim)
    configs()
    loaders()


if __name__ == "__main__":
    main()
