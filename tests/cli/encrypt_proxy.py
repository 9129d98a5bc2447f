"""A TCP proxy that records what crosses it, for tests/cli/encrypt.sh.

Usage: encrypt_proxy.py LISTEN_IP:PORT TARGET_IP:PORT OUT_PREFIX

Forwards every connection to LISTEN to TARGET and appends the bytes of
each direction of connection N to OUT_PREFIX.N.up (client to target) and
OUT_PREFIX.N.down. Runs until killed."""
import socket
import sys
import threading


def pump(src, dst, path):
    with open(path, "ab") as out:
        while True:
            try:
                data = src.recv(1 << 16)
            except OSError:
                data = b""
            if not data:
                break
            out.write(data)
            out.flush()
            try:
                dst.sendall(data)
            except OSError:
                break
    for s in (src, dst):
        try:
            s.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


def main():
    lhost, lport = sys.argv[1].rsplit(":", 1)
    thost, tport = sys.argv[2].rsplit(":", 1)
    prefix = sys.argv[3]
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind((lhost, int(lport)))
    srv.listen(16)
    n = 0
    while True:
        c, _ = srv.accept()
        try:
            t = socket.create_connection((thost, int(tport)))
        except OSError:
            c.close()
            continue
        n += 1
        for a, b, d in ((c, t, "up"), (t, c, "down")):
            threading.Thread(target=pump, args=(a, b, "%s.%d.%s" %
                             (prefix, n, d)), daemon=True).start()


main()
