#!/usr/bin/env bash
# record-conformance.sh — remake the conformance fixtures in captures/conformance/ from the Linux kernel.
#
# Usage: sudo scripts/record-conformance.sh [OUTDIR]   (OUTDIR defaults to captures/conformance/)
#
# Each file is one short session between two private namespaces (scripts/netns.sh, here named
# wsrec-ca / wsrec-cb so that a concurrent record-captures.sh run is not disturbed): the kernel in
# wsrec-ca (10.77.0.1, fd77::1, 02:77:00:00:00:01) is the endpoint wirestack later plays in
# test/replay/conformance.test.ts; clients in wsrec-cb drive it. tcpdump records in wsrec-ca.
#
# The retransmission fixture needs one lost segment and this kernel has no netem (nor nftables or
# iptables): the veth pair is replaced by two pairs through a third namespace, wsrec-cr, where
# scripts/conformance-relay.py copies frames between the two sides with AF_PACKET sockets and drops
# the first TCP data segment the server sends. The capture in wsrec-ca still sees that segment.
#
# Safety: only namespaces named wsrec-c*, created here and deleted by the exit trap even on failure;
# every client and server runs under `timeout`; only PIDs started here are ever signalled.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
OUT="${1:-$HERE/../captures/conformance}"
export WSREC_A=wsrec-ca WSREC_B=wsrec-cb
# shellcheck source=netns.sh
. "$HERE/netns.sh"

PY=/usr/bin/python3
T="timeout 10"
R=wsrec-cr

for tool in ip ethtool tcpdump ping arping; do
  command -v "$tool" >/dev/null || { echo "missing tool: $tool" >&2; exit 1; }
done
[[ $EUID -eq 0 ]] || { echo "needs root (network namespaces)" >&2; exit 1; }

mkdir -p "$OUT"
OUT="$(cd "$OUT" && pwd)"
wsrec_install_trap
wsrec_pair_up
A="$WSREC_A"
B="$WSREC_B"
IF="$WSREC_IF"
# The kernel's start-up chatter (link-local DAD, MLD) must not land in a fixture (captures/README.md).
sleep 5

begin() {
  wsrec_log "recording $1"
  wsrec_neigh_flush
}

# TCP echo (RFC 862) in wsrec-ca, as wirestack's echo service behaves: the peer's FIN closes our side.
echo_server() {
  wsrec_spawn "$A" timeout 30 $PY -c '
import socket
s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("::", 7))
s.listen(8)
for _ in range(20):
    c, _ = s.accept()
    try:
        while True:
            d = c.recv(65536)
            if not d:
                break
            c.sendall(d)
    except ConnectionResetError:
        pass
    c.close()
'
  ECHO_SERVER=$WSREC_LAST_PID
  wsrec_wait_tcp "$A" 7
}

# --- arp.pcap: arping from wsrec-cb: broadcast who-has + reply, unicast who-has + reply ----------------
begin arp.pcap
wsrec_capture_start "$A" "$OUT/arp.pcap"
ip netns exec "$B" $T arping -c 2 -I "$IF" "$WSREC_A4"
wsrec_capture_stop

# --- ndp.pcap: NS for fd77::1 from wsrec-cb, NA, then two echoes over IPv6 ------------------------------
begin ndp.pcap
wsrec_capture_start "$A" "$OUT/ndp.pcap"
ip netns exec "$B" $T ping -n -6 -c 2 -i 0.2 "$WSREC_A6"
wsrec_capture_stop

# --- ping4.pcap: ARP, three echoes ---------------------------------------------------------------------
begin ping4.pcap
wsrec_capture_start "$A" "$OUT/ping4.pcap"
ip netns exec "$B" $T ping -n -c 3 -i 0.2 "$WSREC_A4"
wsrec_capture_stop

# --- frag4.pcap / frag6.pcap: one 4008-byte echo each way, fragmented at MTU 1500 -----------------------
begin frag4.pcap
wsrec_capture_start "$A" "$OUT/frag4.pcap"
ip netns exec "$B" $T ping -n -c 1 -s 4000 "$WSREC_A4"
wsrec_capture_stop

begin frag6.pcap
wsrec_capture_start "$A" "$OUT/frag6.pcap"
ip netns exec "$B" $T ping -n -6 -c 1 -s 4000 "$WSREC_A6"
wsrec_capture_stop

# --- udp-closed.pcap: a datagram to closed port 9999 over IPv4, then IPv6; the ICMP errors --------------
begin udp-closed.pcap
wsrec_capture_start "$A" "$OUT/udp-closed.pcap"
ip netns exec "$B" $T $PY - "$WSREC_A4" "$WSREC_A6" <<'EOF'
import socket, sys, time
for host, family in ((sys.argv[1], socket.AF_INET), (sys.argv[2], socket.AF_INET6)):
    s = socket.socket(family, socket.SOCK_DGRAM)
    s.sendto(b"wirestack: is anyone on 9999?", (host, 9999))
    time.sleep(0.3)
    s.close()
EOF
wsrec_capture_stop

# --- tcp-closed.pcap: SYN to closed port 81, RST|ACK (RFC 9293 §3.10.7.1), IPv4 then IPv6 -----------------
begin tcp-closed.pcap
wsrec_capture_start "$A" "$OUT/tcp-closed.pcap"
ip netns exec "$B" $T $PY - "$WSREC_A4" "$WSREC_A6" <<'EOF'
import socket, sys
for host, family in ((sys.argv[1], socket.AF_INET), (sys.argv[2], socket.AF_INET6)):
    s = socket.socket(family, socket.SOCK_STREAM)
    try:
        s.connect((host, 81))
        raise SystemExit("port 81 answered")
    except ConnectionRefusedError:
        pass
    s.close()
EOF
wsrec_capture_stop

# --- tcp-echo.pcap: handshake, two exchanges with the echo server, client closes first -------------------
echo_server
begin tcp-echo.pcap
wsrec_capture_start "$A" "$OUT/tcp-echo.pcap"
ip netns exec "$B" $T $PY - "$WSREC_A4" <<'EOF'
import socket, sys, time
s = socket.create_connection((sys.argv[1], 7), timeout=3)
for msg in (b"hello, wirestack\n", b"a second line, a little longer than the first\n"):
    s.sendall(msg)
    got = b""
    while len(got) < len(msg):
        got += s.recv(100)
    assert got == msg, got
    time.sleep(0.1)
s.shutdown(socket.SHUT_WR)
assert s.recv(100) == b""
s.close()
EOF
wsrec_capture_stop

# --- tcp-rst.pcap: one exchange, then the client aborts (SO_LINGER 0: RST, RFC 9293 §3.10.7.4) ----------
begin tcp-rst.pcap
wsrec_capture_start "$A" "$OUT/tcp-rst.pcap"
ip netns exec "$B" $T $PY - "$WSREC_A4" <<'EOF'
import socket, struct, sys, time
s = socket.create_connection((sys.argv[1], 7), timeout=3)
s.sendall(b"before the reset\n")
assert s.recv(100) == b"before the reset\n"
time.sleep(0.1)
s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
s.close()
EOF
wsrec_capture_stop

# --- tcp-zero-window.pcap: the client's receive buffer fills; the server sees window 0 and probes ---------
# The client sends 20000 bytes without reading the echo; its small SO_RCVBUF fills, it advertises a zero
# window, the server (still holding echoed bytes) sends zero-window probes (RFC 9293 §3.8.6.1) until the
# client reads everything after 1.5 s.
begin tcp-zero-window.pcap
wsrec_capture_start "$A" "$OUT/tcp-zero-window.pcap"
ip netns exec "$B" $T $PY - "$WSREC_A4" <<'EOF'
import socket, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 2048)
s.settimeout(5)
s.connect((sys.argv[1], 7))
data = bytes((32 + i % 95) for i in range(20000))
s.sendall(data)
time.sleep(1.5)
got = b""
while len(got) < len(data):
    got += s.recv(65536)
assert got == data
s.shutdown(socket.SHUT_WR)
assert s.recv(100) == b""
s.close()
EOF
wsrec_capture_stop
wsrec_kill "$ECHO_SERVER"

# --- tcp-retrans.pcap: the server's first data segment is lost once and sent again --------------------------
# Rebuild the link through wsrec-cr: [ca] veth0 <-> ra [cr: relay] rb <-> veth0 [cb].
begin tcp-retrans.pcap
ip -n "$A" link del "$IF"
wsrec_ns_add "$R"
ip netns exec "$R" sysctl -qw net.ipv6.conf.all.disable_ipv6=1
ip netns exec "$R" sysctl -qw net.ipv6.conf.default.disable_ipv6=1
ip -n "$A" link add "$IF" address "$WSREC_AMAC" type veth peer name ra netns "$R"
ip -n "$B" link add "$IF" address "$WSREC_BMAC" type veth peer name rb netns "$R"
for ns in "$A" "$B"; do
  ip netns exec "$ns" sysctl -qw "net.ipv6.conf.$IF.router_solicitations=0"
  wsrec_ethtool_quiet "$ns"
done
for dev in ra rb; do
  ip netns exec "$R" ethtool -K "$dev" tx off tso off gso off gro off >/dev/null 2>&1 || true
  ip -n "$R" link set "$dev" up
done
ip -n "$A" addr add "$WSREC_A4/24" dev "$IF"
ip -n "$B" addr add "$WSREC_B4/24" dev "$IF"
ip -n "$A" addr add "$WSREC_A6/64" dev "$IF" nodad
ip -n "$B" addr add "$WSREC_B6/64" dev "$IF" nodad
ip -n "$A" link set "$IF" up
ip -n "$B" link set "$IF" up
wsrec_spawn "$R" timeout 40 $PY "$HERE/conformance-relay.py" ra rb 7
RELAY=$WSREC_LAST_PID
sleep 5
echo_server
wsrec_neigh_flush
wsrec_capture_start "$A" "$OUT/tcp-retrans.pcap"
ip netns exec "$B" $T $PY - "$WSREC_A4" <<'EOF'
import socket, sys, time
s = socket.create_connection((sys.argv[1], 7), timeout=5)
msg = b"this echo is lost once on its way back\n"
s.sendall(msg)
got = b""
while len(got) < len(msg):
    got += s.recv(100)
assert got == msg, got
time.sleep(0.1)
s.shutdown(socket.SHUT_WR)
assert s.recv(100) == b""
s.close()
EOF
wsrec_capture_stop
wsrec_kill "$ECHO_SERVER"
wsrec_kill "$RELAY"

printf '\n%-22s %7s\n' file frames
for f in "$OUT"/*.pcap; do
  printf '%-22s %7s\n' "$(basename "$f")" "$(tcpdump -n -r "$f" 2>/dev/null | wc -l)"
done
printf 'kernel %s\n' "$(uname -r)"
