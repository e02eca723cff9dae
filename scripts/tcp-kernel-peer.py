#!/usr/bin/python3
"""The Linux kernel's side of the TCP interop tests (test/interop/tcp.test.ts): a plain-socket
source or sink that moves data in 1 MiB buffers and reports SHA-256 and byte counts, so that the
kernel end is never the bottleneck of a transfer.

Usage (run inside the test namespace with `ip netns exec NS /usr/bin/python3 tcp-kernel-peer.py ...`):

    tcp-kernel-peer.py MODE (--listen ADDR PORT | --connect ADDR PORT) [options]

    MODE      sink       read until EOF, then close
              source     send --bytes random bytes, shut down writing, read until EOF, close
              slowsink   like sink, but with a small SO_RCVBUF (set before listen/connect, so it holds
                         for the window negotiated in the handshake), a first pause of --pause-ms, and
                         then --read-size bytes every --interval-ms: the receive window goes to zero
    --bytes N          (source) how many bytes to send
    --rcvbuf N         SO_RCVBUF before connect/listen (slowsink default 4096)
    --pause-ms N       (slowsink) sleep this long before the first read (default 0)
    --read-size N      (slowsink) bytes per read (default 1024)
    --interval-ms N    (slowsink) sleep between reads (default 10)
    --timeout S        give up after S seconds of total run time (default 120): exit 3
    --no-hash 1        (sink, source) a benchmark's source/sink, as iperf3's: the source sends one
                       buffer of random bytes filled once, again and again, the sink only counts;
                       both report empty digests

The final line also carries `cpu_seconds`, this process's user + system time from connect/accept
to EOF, so a benchmark can tell whether this end was the bottleneck.

Output: JSON lines on stdout. `{"event": "listening", ...}` once a listening socket is bound (the
test then tells the other side to connect), and one final line
`{"event": "done", "mode": ..., "bytes_in": N, "bytes_out": N, "sha256_in": hex, "sha256_out": hex,
"seconds": s, "peer": [addr, port]}`. Errors: `{"event": "error", "message": ...}` and exit 1.
"""
import hashlib
import json
import os
import resource
import signal
import socket
import sys
import time

CHUNK = 1 << 20


def out(**obj):
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def parse(argv):
    if not argv:
        raise SystemExit("usage: tcp-kernel-peer.py MODE (--listen|--connect) ADDR PORT [options]")
    opts = {"mode": argv[0], "bytes": 0, "rcvbuf": None, "pause_ms": 0, "read_size": 1024,
            "interval_ms": 10, "timeout": 120.0, "role": None, "no_hash": 0}
    i = 1
    while i < len(argv):
        a = argv[i]
        if a in ("--listen", "--connect"):
            opts["role"] = a[2:]
            opts["addr"], opts["port"] = argv[i + 1], int(argv[i + 2])
            i += 3
            continue
        key = a[2:].replace("-", "_")
        if key not in opts:
            raise SystemExit(f"unknown option {a}")
        opts[key] = float(argv[i + 1]) if key == "timeout" else int(argv[i + 1])
        i += 2
    if opts["mode"] not in ("sink", "source", "slowsink") or opts["role"] is None:
        raise SystemExit("MODE must be sink, source or slowsink, with --listen or --connect")
    if opts["mode"] == "slowsink" and opts["rcvbuf"] is None:
        opts["rcvbuf"] = 4096
    return opts


def open_socket(opts):
    family = socket.AF_INET6 if ":" in opts["addr"] else socket.AF_INET
    s = socket.socket(family, socket.SOCK_STREAM)
    if opts["rcvbuf"] is not None:
        # Before listen/connect: the window scale and first window are fixed in the handshake.
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, opts["rcvbuf"])
    if opts["role"] == "listen":
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((opts["addr"], opts["port"]))
        s.listen(1)
        out(event="listening", addr=opts["addr"], port=s.getsockname()[1],
            rcvbuf=s.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF))
        conn, peer = s.accept()
        s.close()
        return conn, peer
    s.connect((opts["addr"], opts["port"]))
    return s, s.getpeername()


def cpu_seconds():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def drain(conn, h, opts, slow):
    """Reads until EOF into h (None: only count); returns the byte count."""
    n = 0
    if slow:
        time.sleep(opts["pause_ms"] / 1000.0)
        size, pause = opts["read_size"], opts["interval_ms"] / 1000.0
        while True:
            b = conn.recv(size)
            if not b:
                return n
            h.update(b)
            n += len(b)
            time.sleep(pause)
    buf = bytearray(CHUNK)
    view = memoryview(buf)
    if h is None:
        while True:
            k = conn.recv_into(buf)
            if k == 0:
                return n
            n += k
    while True:
        k = conn.recv_into(buf)
        if k == 0:
            return n
        h.update(view[:k])
        n += k


def main():
    opts = parse(sys.argv[1:])
    signal.signal(signal.SIGALRM, lambda *_: (out(event="error", message="timeout"), os._exit(3)))
    signal.alarm(max(1, int(opts["timeout"])))
    conn, peer = open_socket(opts)
    started = time.monotonic()
    cpu0 = cpu_seconds()
    h_in, h_out = hashlib.sha256(), hashlib.sha256()
    n_in = n_out = 0
    if opts["no_hash"] and opts["mode"] == "source":
        block = memoryview(os.urandom(CHUNK))
        left = opts["bytes"]
        while left > 0:
            k = min(CHUNK, left)
            conn.sendall(block if k == CHUNK else block[:k])
            n_out += k
            left -= k
        conn.shutdown(socket.SHUT_WR)
        n_in = drain(conn, None, opts, False)
    elif opts["no_hash"] and opts["mode"] == "sink":
        n_in = drain(conn, None, opts, False)
    elif opts["mode"] == "source":
        left = opts["bytes"]
        while left > 0:
            b = os.urandom(min(CHUNK, left))
            conn.sendall(b)
            h_out.update(b)
            n_out += len(b)
            left -= len(b)
        conn.shutdown(socket.SHUT_WR)
        n_in = drain(conn, h_in, opts, False)
    else:
        n_in = drain(conn, h_in, opts, opts["mode"] == "slowsink")
    seconds = time.monotonic() - started
    cpu = cpu_seconds() - cpu0
    conn.close()
    out(event="done", mode=opts["mode"], bytes_in=n_in, bytes_out=n_out, sha256_in=h_in.hexdigest(),
        sha256_out=h_out.hexdigest(), seconds=seconds, cpu_seconds=cpu, peer=list(peer[:2]))


if __name__ == "__main__":
    try:
        main()
    except (OSError, ValueError) as e:
        out(event="error", message=f"{type(e).__name__}: {e}")
        sys.exit(1)
