"""A second, independent implementation of agentd's wire format
(docs/protocol.md) for tests: frames, the handshake, and malformed input."""
import hashlib
import hmac
import json
import os
import socket
import struct

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305

MAGIC = 0x4741414E
HELLO, AUTH, REQUEST, REPLY, EVENT, PING, PONG, AGENT = range(1, 9)
ZERO = bytes(32)


def tag(key, seq, data):
    """The frame tag: ChaCha20-Poly1305 of no plaintext, data as AAD."""
    return ChaCha20Poly1305(key).encrypt(bytes(4) + struct.pack("<Q", seq),
                                         b"", data)


def cipher(key, seq, data):
    """meta || payload XOR the ChaCha20 keystream of frame seq from block
    1 (block 0 is the tag's Poly1305 key): enciphers and deciphers."""
    iv = struct.pack("<I", 1) + bytes(4) + struct.pack("<Q", seq)
    return Cipher(algorithms.ChaCha20(key, iv), None).encryptor().update(
        data)


def frame(ftype, meta, key=ZERO, seq=0, payload=b"", magic=MAGIC,
          version=1, meta_len=None, payload_len=None, raw_meta=None,
          encrypt=False):
    m = raw_meta if raw_meta is not None else json.dumps(meta).encode()
    hdr = struct.pack("<IBBHIQQI", magic, version, ftype, 0,
                      len(m) if meta_len is None else meta_len,
                      len(payload) if payload_len is None else payload_len,
                      seq, 0)
    body = cipher(key, seq, m + payload) if encrypt else m + payload
    return hdr + body + tag(key, seq, hdr + body)


def recv_exact(sock, n):
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise EOFError("connection closed")
        buf += chunk
    return buf


def read_frame(sock, key=ZERO, seq=0, encrypt=False):
    hdr = recv_exact(sock, 32)
    magic, ver, ftype, flags, mlen, plen, fseq, _ = struct.unpack(
        "<IBBHIQQI", hdr)
    assert magic == MAGIC and ver == 1 and fseq == seq, (magic, ver, fseq)
    body = recv_exact(sock, mlen + plen)
    mac = recv_exact(sock, 16)
    want = tag(key, fseq, hdr + body)
    assert hmac.compare_digest(mac, want), "bad MAC from the daemon"
    if encrypt:
        body = cipher(key, fseq, body)
    return ftype, json.loads(body[:mlen]), body[mlen:]


def derive(key, label, a, b):
    return hmac.new(key, label + a + b, hashlib.sha256).digest()


def key_id(key):
    """The id a HELLO names a key by: SHA-256 of HMAC(K, "agentd-key-id"),
    16 hex digits."""
    return hashlib.sha256(hmac.new(key, b"agentd-key-id",
                                   hashlib.sha256).digest()).hexdigest()[:16]


class Conn:
    """A client connection after the handshake."""

    def __init__(self, addr, key=ZERO, name="pytest", role="client",
                 with_id=False):
        host, port = addr.rsplit(":", 1)
        self.sock = socket.create_connection((host, int(port)), timeout=5)
        nc = os.urandom(32)
        hello = {"name": name, "role": role, "nonce": nc.hex()}
        if with_id:
            hello["key"] = key_id(key)
        self.sock.sendall(frame(HELLO, hello))
        t, m, _ = read_frame(self.sock)
        assert t == HELLO, t
        if "refused" in m:
            raise PermissionError("refused: " + m["refused"])
        na = bytes.fromhex(m["nonce"])
        if not hmac.compare_digest(bytes.fromhex(m["proof"]),
                                   derive(key, b"agentd-A" if
                                          m.get("encrypt") is not False
                                          else b"agentd-A-clear", nc, na)):
            raise PermissionError("daemon proof does not match our key")
        self.sock.sendall(frame(AUTH, {"proof": derive(
            key, b"agentd-C", na, nc).hex()}, seq=1))
        self.key = derive(key, b"agentd-S", nc, na)     # we send with S
        self.rxkey = derive(key, b"agentd-R", nc, na)   # and read with R
        self.encrypt = m.get("encrypt") is not False  # the daemon's
        self.tx = 0
        self.rx = 0

    def send(self, ftype, meta=None, raw_meta=None, payload=b""):
        self.sock.sendall(frame(ftype, meta or {}, self.key, self.tx,
                                payload, raw_meta=raw_meta,
                                encrypt=self.encrypt))
        self.tx += 1

    def read(self):
        f = read_frame(self.sock, self.rxkey, self.rx, self.encrypt)
        self.rx += 1
        return f

    def request(self, op, **fields):
        fields.update(op=op, id=self.tx)
        self.send(REQUEST, fields)
        while True:
            t, m, _ = self.read()
            if t == REPLY:
                return m


def closed_by_peer(sock, timeout=6.0):
    """True when the daemon closes the connection within timeout."""
    sock.settimeout(timeout)
    try:
        while True:
            if not sock.recv(65536):
                return True
    except (ConnectionResetError, BrokenPipeError):
        return True
    except socket.timeout:
        return False
