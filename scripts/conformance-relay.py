#!/usr/bin/python3
"""conformance-relay.py SIDE_A SIDE_B PORT — a two-port Ethernet relay that loses one segment.

Run inside a namespace of its own by scripts/record-conformance.sh. It copies every frame received
on SIDE_A to SIDE_B and back (AF_PACKET, so the kernel's IP stack in this namespace never sees them),
except the first IPv4 TCP segment with data sent from port PORT on SIDE_A's side, which it drops once:
the server's retransmission is then what the fixture records. Exits after 30 s or on SIGTERM.
"""
import select
import socket
import sys
import time

ETH_P_ALL = 0x0003
PACKET_OUTGOING = 4

side_a, side_b, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
socks = {}
for name in (side_a, side_b):
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
    s.bind((name, 0))
    socks[name] = s
other = {side_a: socks[side_b], side_b: socks[side_a]}
by_fd = {s.fileno(): name for name, s in socks.items()}
dropped = False


def is_victim(frame: bytes) -> bool:
    """The server's first TCP segment carrying data (IPv4, no VLAN tag)."""
    if len(frame) < 54 or frame[12:14] != b"\x08\x00" or frame[23] != 6:
        return False
    ihl = (frame[14] & 0x0F) * 4
    total = int.from_bytes(frame[16:18], "big")
    tcp = 14 + ihl
    if len(frame) < tcp + 20:
        return False
    sport = int.from_bytes(frame[tcp : tcp + 2], "big")
    offset = (frame[tcp + 12] >> 4) * 4
    return sport == port and total - ihl - offset > 0


deadline = time.monotonic() + 30
while time.monotonic() < deadline:
    ready, _, _ = select.select(list(socks.values()), [], [], 0.5)
    for s in ready:
        name = by_fd[s.fileno()]
        frame, addr = s.recvfrom(65535)
        if addr[2] == PACKET_OUTGOING:
            continue  # our own copy going out on this side
        if name == side_a and not dropped and is_victim(frame):
            dropped = True
            print("relay: dropped one segment", file=sys.stderr, flush=True)
            continue
        other[name].send(frame)
