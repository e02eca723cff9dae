#!/usr/bin/env bash
# record-conformance.sh — remake the conformance fixtures in captures/conformance/ from the Linux kernel.
#
# Usage: sudo scripts/record-conformance.sh [OUTDIR [NAME...]]
#   OUTDIR defaults to captures/conformance/; NAMEs (e.g. tcp-zero-window) remake only those fixtures,
#   so one episode can be re-recorded without changing the others (ISNs, ports and times would).
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
ONLY=("${@:2}")
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
for n in "${ONLY[@]}"; do
  case "$n" in
    arp | ndp | ping4 | frag4 | frag6 | udp-closed | tcp-closed | tcp-echo | tcp-rst | tcp-zero-window | tcp-retrans) ;;
    *) echo "unknown fixture '$n' (names are the files' without .pcap)" >&2; exit 2 ;;
  esac
done

mkdir -p "$OUT"
OUT="$(cd "$OUT" && pwd)"
wsrec_install_trap
wsrec_pair_up
A="$WSREC_A"
B="$WSREC_B"
IF="$WSREC_IF"
# The kernel's start-up chatter (link-local DAD, MLD) must not land in a fixture (captures/README.md).
sleep 5

# want NAME: true when NAME is to be recorded (every fixture when no NAME was given).
want() {
  local n
  ((${#ONLY[@]} == 0)) && return 0
  for n in "${ONLY[@]}"; do [[ "$n" == "$1" ]] && return 0; done
  return 1
}

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
if want arp; then
  begin arp.pcap
  wsrec_capture_start "$A" "$OUT/arp.pcap"
  ip netns exec "$B" $T arping -c 2 -I "$IF" "$WSREC_A4"
  wsrec_capture_stop
fi

# --- ndp.pcap: NS for fd77::1 from wsrec-cb, NA, then two echoes over IPv6 ------------------------------
if want ndp; then
  begin ndp.pcap
  wsrec_capture_start "$A" "$OUT/ndp.pcap"
  ip netns exec "$B" $T ping -n -6 -c 2 -i 0.2 "$WSREC_A6"
  wsrec_capture_stop
fi

# --- ping4.pcap: ARP, three echoes ---------------------------------------------------------------------
if want ping4; then
  begin ping4.pcap
  wsrec_capture_start "$A" "$OUT/ping4.pcap"
  ip netns exec "$B" $T ping -n -c 3 -i 0.2 "$WSREC_A4"
  wsrec_capture_stop
fi

# --- frag4.pcap / frag6.pcap: one 4008-byte echo each way, fragmented at MTU 1500 -----------------------
if want frag4; then
  begin frag4.pcap
  wsrec_capture_start "$A" "$OUT/frag4.pcap"
  ip netns exec "$B" $T ping -n -c 1 -s 4000 "$WSREC_A4"
  wsrec_capture_stop
fi
if want frag6; then
  begin frag6.pcap
  wsrec_capture_start "$A" "$OUT/frag6.pcap"
  ip netns exec "$B" $T ping -n -6 -c 1 -s 4000 "$WSREC_A6"
  wsrec_capture_stop
fi

# --- udp-closed.pcap: a datagram to closed port 9999 over IPv4, then IPv6; the ICMP errors --------------
if want udp-closed; then
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
fi

# --- tcp-closed.pcap: SYN to closed port 81, RST|ACK (RFC 9293 §3.10.7.1), IPv4 then IPv6 -----------------
if want tcp-closed; then
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
fi

# --- tcp-echo.pcap: handshake, two exchanges with the echo server, client closes first -------------------
if want tcp-echo || want tcp-rst; then
  echo_server
fi
if want tcp-echo; then
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
fi

# --- tcp-rst.pcap: one exchange, then the client aborts (SO_LINGER 0: RST, RFC 9293 §3.10.7.4) ----------
if want tcp-rst; then
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
fi
if want tcp-echo || want tcp-rst; then
  wsrec_kill "$ECHO_SERVER"
fi

# --- tcp-zero-window.pcap: the PEER's receive window closes; the server stops and probes ----------------
# The played endpoint is a chargen server (RFC 864, port 19) with an endless stream ready to send, so
# what it sends depends only on the client's ACKs and windows, which the replay feeds back unchanged.
# The client has a small SO_RCVBUF (ZW_RCVBUF, default 4096: its window is then still at least two
# full segments, so Linux's tcp_bound_to_half_wnd never cuts a segment below the MSS) and reads
# nothing for 2.2 s: the window closes and the server sends zero-window probes (RFC 9293 §3.8.6.1)
# RTO-based and doubling, at about 0.2, 0.6 and 1.4 s. It then reads CHARGEN_BYTES in slices of at
# most 2048 with a 50 ms pause after each, so the window opens and closes again, checks the RFC 864
# pattern, and aborts (SO_LINGER 0: RST; the stream has no end of its own).
if want tcp-zero-window; then
  wsrec_spawn "$A" timeout 30 $PY -c '
import socket
P = bytes(range(32, 127))
# RFC 864: line n is the 72 printable characters from the n-th on, then CR LF; 95 lines repeat.
BLOCK = b"".join((P + P)[n : n + 72] + b"\r\n" for n in range(95))
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", 19))
s.listen(8)
# Writes of whole segments (MSS 1460; the client offers no timestamps): Linux queues full segments.
CHUNK = 1460 * 8
STREAM = BLOCK * (CHUNK // len(BLOCK) + 2)
for _ in range(5):
    c, _ = s.accept()
    at = 0
    try:
        while True:
            c.sendall(STREAM[at : at + CHUNK])
            at = (at + CHUNK) % len(BLOCK)
    except (ConnectionResetError, BrokenPipeError):
        pass
    c.close()
'
  CHARGEN_SERVER=$WSREC_LAST_PID
  wsrec_wait_tcp "$A" 19
  # A plain peer, no timestamps and no SACK (RFC 7323, RFC 2018 off in wsrec-cb only): its windows are
  # then whole multiples of the 1460-byte MSS, so Linux never fills a window's odd tail with a short
  # segment (Minshall's Nagle in tcp_mss_split_point), and neither side has a tail loss probe to send
  # (RFC 8985 needs SACK, in Linux and in wirestack), which would race the client's delayed ACKs.
  ip netns exec "$B" sysctl -qw net.ipv4.tcp_timestamps=0 net.ipv4.tcp_sack=0
  begin tcp-zero-window.pcap
  wsrec_capture_start "$A" "$OUT/tcp-zero-window.pcap"
  ip netns exec "$B" $T $PY - "$WSREC_A4" "${ZW_RCVBUF:-4096}" <<'EOF'
import socket, struct, sys, time
P = bytes(range(32, 127))
BLOCK = b"".join((P + P)[n : n + 72] + b"\r\n" for n in range(95))
CHARGEN_BYTES = 24000
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, int(sys.argv[2]))
s.settimeout(5)
s.connect((sys.argv[1], 19))
time.sleep(2.2)
got = b""
while len(got) < CHARGEN_BYTES:
    got += s.recv(min(2048, CHARGEN_BYTES - len(got)))
    time.sleep(0.05)
expected = BLOCK * (CHARGEN_BYTES // len(BLOCK) + 1)
assert got == expected[: len(got)], "not the RFC 864 pattern"
s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
s.close()
EOF
  wsrec_capture_stop
  wsrec_kill "$CHARGEN_SERVER"
  ip netns exec "$B" sysctl -qw net.ipv4.tcp_timestamps=1 net.ipv4.tcp_sack=1
fi

# --- tcp-retrans.pcap: the server's first data segment is lost once and sent again --------------------------
# Rebuild the link through wsrec-cr: [ca] veth0 <-> ra [cr: relay] rb <-> veth0 [cb].
if want tcp-retrans; then
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
fi

printf '\n%-22s %7s\n' file frames
for f in "$OUT"/*.pcap; do
  printf '%-22s %7s\n' "$(basename "$f")" "$(tcpdump -n -r "$f" 2>/dev/null | wc -l)"
done
printf 'kernel %s\n' "$(uname -r)"
