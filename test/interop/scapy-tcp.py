#!/usr/bin/python3
"""Crafted TCP segments against an established connection to our stack (test/interop/tcp.test.ts):
RFC 5961's blind-attack defences, observed from the wire.

Run inside the test namespace with Debian's python3 (it has scapy):

    ip netns exec NS /usr/bin/python3 test/interop/scapy-tcp.py IFACE MY_MAC MY_IP STACK_MAC STACK_IP DPORT SPORT

Design. Scapy is the TCP client itself, with an address nobody else owns on the subnet (MY_IP, MAC
MY_MAC): it sends frames with `L2Socket.send` on the kernel's side of the TAP, which hands them to
our stack; it answers our stack's ARP requests for MY_IP itself. Frames our stack sends to MY_MAC
reach the kernel's TAP interface too, but are addressed to another host, so the kernel drops them
before IP (no RST from a kernel that does not know the connection). Being the client, scapy knows
every sequence number without sniffing a third party's connection.

The listener at DPORT must echo (tcp-peer.ts role "echo"): "alive" checks send a few bytes and expect
exactly them back, in sequence.

Output: one JSON object per line: {"step": name, ...observations}. The test decides what is right;
this script only reports what it saw (every segment from the stack, as flags/seq/ack/len).
Exit 0 when every step could run (the handshake succeeded), 1 otherwise.
"""
import json
import select
import sys
import time

from scapy.all import ARP, IP, TCP, Ether, Raw, conf  # noqa: E402

IFACE, MY_MAC, MY_IP, STACK_MAC, STACK_IP = sys.argv[1:6]
DPORT, SPORT = int(sys.argv[6]), int(sys.argv[7])
ISS = 0x10000000
WAIT = 0.8  # seconds to wait for a reply (the stack answers in < 1 ms; delayed ACK is 40 ms)

sock = conf.L2socket(iface=IFACE)
snd_nxt = ISS  # next sequence number we send
rcv_nxt = 0  # next sequence number we expect from the stack
seen_data = b""  # bytes echoed back, in order


def out(**obj):
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def frame(flags, seq, ack, payload=b"", options=None):
    t = TCP(sport=SPORT, dport=DPORT, flags=flags, seq=seq % 2**32, ack=ack % 2**32, window=65535)
    if options:
        t.options = options
    p = Ether(src=MY_MAC, dst=STACK_MAC) / IP(src=MY_IP, dst=STACK_IP, ttl=64) / t
    if payload:
        p = p / Raw(payload)
    return p


def send(flags, seq, ack, payload=b"", options=None):
    sock.send(frame(flags, seq, ack, payload, options))


def tcp_data(p):
    """The segment's data, by the IP length: frames padded to Ethernet's 60-byte minimum carry
    padding that scapy would otherwise count as payload."""
    ip, t = p[IP], p[TCP]
    n = ip.len - ip.ihl * 4 - t.dataofs * 4
    return bytes(t.payload)[:max(0, n)]


def describe(p):
    t = p[TCP]
    return {"flags": str(t.flags), "seq": t.seq, "ack": t.ack, "len": len(tcp_data(p)), "window": t.window}


def receive(timeout):
    """Every TCP segment from the stack to us within `timeout` s; answers ARP for MY_IP on the way and
    ACKs in-sequence data at once (so the stack never retransmits into a later step)."""
    global rcv_nxt, seen_data
    got = []
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return got
        r, _, _ = select.select([sock], [], [], left)
        if not r:
            continue
        p = sock.recv()
        if p is None or Ether not in p or p[Ether].src.lower() != STACK_MAC.lower():
            continue
        if ARP in p:
            a = p[ARP]
            if a.op == 1 and a.pdst == MY_IP:
                sock.send(Ether(src=MY_MAC, dst=a.hwsrc) / ARP(op=2, hwsrc=MY_MAC, psrc=MY_IP, hwdst=a.hwsrc,
                                                             pdst=a.psrc))
            continue
        if IP not in p or TCP not in p or p[IP].dst != MY_IP or p[TCP].dport != SPORT:
            continue
        got.append(describe(p))
        data = tcp_data(p)
        if data and p[TCP].seq == rcv_nxt:
            seen_data += data
            rcv_nxt = (rcv_nxt + len(data)) % 2**32
            send("A", snd_nxt, rcv_nxt)
        fin = "F" in str(p[TCP].flags)
        if fin and (p[TCP].seq + len(data)) % 2**32 == rcv_nxt:
            rcv_nxt = (rcv_nxt + 1) % 2**32
            send("A", snd_nxt, rcv_nxt)


def alive(tag):
    """Sends `tag` and reports whether exactly `tag` came back (the connection still works)."""
    global snd_nxt, seen_data
    seen_data = b""
    payload = tag.encode()
    send("PA", snd_nxt, rcv_nxt, payload)
    snd_nxt = (snd_nxt + len(payload)) % 2**32
    got = []
    deadline = time.monotonic() + 3
    while len(seen_data) < len(payload) and time.monotonic() < deadline:
        got += receive(0.1)
    got += receive(0.3)  # stragglers: a delayed ACK, a window update
    return {"echoed": seen_data.decode("latin1"), "ok": seen_data == payload, "segments": got}


def main():
    global snd_nxt, rcv_nxt
    # Put our MAC in the stack's ARP cache with a request of our own (RFC 826: the target merges
    # the sender's mapping), and wait for its reply.
    sock.send(Ether(src=MY_MAC, dst="ff:ff:ff:ff:ff:ff") / ARP(op=1, hwsrc=MY_MAC, psrc=MY_IP, pdst=STACK_IP))
    time.sleep(0.2)

    send("S", ISS, 0, options=[("MSS", 1460)])
    synack = None
    for _ in range(3):
        for seg in receive(1.0):
            if seg["flags"] == "SA" and seg["ack"] == (ISS + 1) % 2**32:
                synack = seg
                break
        if synack:
            break
        send("S", ISS, 0, options=[("MSS", 1460)])
    if synack is None:
        out(step="handshake", ok=False)
        return 1
    snd_nxt = (ISS + 1) % 2**32
    rcv_nxt = (synack["seq"] + 1) % 2**32
    send("A", snd_nxt, rcv_nxt)
    out(step="handshake", ok=True, iss=ISS, irs=synack["seq"], window=synack["window"], alive=alive("hello"))

    def probe(step, flags, seq, ack, payload=b"", **extra):
        send(flags, seq, ack, payload)
        replies = receive(WAIT)
        out(step=step, sent={"flags": flags, "seq": seq % 2**32, "ack": ack % 2**32, "len": len(payload)},
            sndNxt=snd_nxt, rcvNxt=rcv_nxt, replies=replies, **extra)

    # RFC 5961 §3.2: RST in the window but not at RCV.NXT → challenge ACK, connection stays.
    probe("rst-in-window", "R", snd_nxt + 1000, 0)
    out(step="after-rst-in-window", alive=alive("alive-1"))
    # RFC 5961 §3.2 / RFC 9293 §3.10.7.4: RST outside the window → silently dropped.
    probe("rst-out-of-window", "R", snd_nxt + 0x40000000, 0)
    out(step="after-rst-out-of-window", alive=alive("alive-2"))
    # RFC 5961 §4.2: SYN in a synchronized state → challenge ACK, whatever its sequence number.
    probe("syn-in-window", "S", snd_nxt + 10, 0)
    probe("syn-out-of-window", "S", snd_nxt + 0x40000000, 0)
    out(step="after-syn", alive=alive("alive-3"))
    # RFC 5961 §5.2 / RFC 9293 §3.10.7.4: an ACK for data never sent (SEG.ACK > SND.NXT) → ACK, drop.
    probe("ack-unsent-data", "PA", snd_nxt, rcv_nxt + 100000, b"BOGUS")
    # RFC 5961 §5.2: an ACK older than SND.UNA - MAX.SND.WND → ACK, drop.
    probe("ack-too-old", "PA", snd_nxt, rcv_nxt - 0x40000000, b"STALE")
    out(step="after-bad-acks", alive=alive("alive-4"))
    # RFC 5961 §3.2 (and RFC 9293 §3.10.7.4): RST with SEQ = RCV.NXT exactly → reset, no reply.
    probe("rst-exact", "R", snd_nxt, 0)
    # The connection is gone: a data segment on it now meets no connection (RFC 9293 §3.10.7.1) → RST.
    probe("data-after-reset", "PA", snd_nxt, rcv_nxt, b"anyone?")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    finally:
        sock.close()
