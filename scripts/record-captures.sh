#!/usr/bin/env bash
# record-captures.sh — remake the fixtures in captures/ from real Linux kernel traffic.
#
# Usage: sudo scripts/record-captures.sh [OUTDIR]      (OUTDIR defaults to captures/ next to scripts/)
#
# Debian packages used (apt-get install -y ...):
#   iproute2 ethtool tcpdump tshark (dumpcap, editcap, capinfos) iputils-ping iputils-arping curl swaks
#   python3-pyftpdlib python3-aiosmtpd
# Python is Debian's /usr/bin/python3 on purpose: the modules above are installed for it only.
#
# Every frame comes from the kernel in two private namespaces (wsrec-a 10.77.0.1/fd77::1, wsrec-b
# 10.77.0.2/fd77::2, one veth pair; see scripts/netns.sh). tcpdump runs inside wsrec-a (wsrec-b for the
# STP capture) and each capture file is written whole by this script: nothing is edited afterwards.
# Every client runs under `timeout`, every loop is bounded, and an exit trap deletes the namespaces and
# stops only the PIDs started here. Files are overwritten.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
OUT="${1:-$HERE/../captures}"
# shellcheck source=netns.sh
. "$HERE/netns.sh"

PY=/usr/bin/python3
T="timeout 10"

for tool in ip ethtool tcpdump dumpcap tshark capinfos ping arping curl swaks; do
  command -v "$tool" >/dev/null || { echo "missing tool: $tool" >&2; exit 1; }
done
$PY -c 'import pyftpdlib, aiosmtpd' 2>/dev/null \
  || { echo "missing python3-pyftpdlib or python3-aiosmtpd for $PY" >&2; exit 1; }
[[ $EUID -eq 0 ]] || { echo "needs root (network namespaces)" >&2; exit 1; }

mkdir -p "$OUT"
OUT="$(cd "$OUT" && pwd)"
wsrec_install_trap
wsrec_pair_up

A="$WSREC_A"
B="$WSREC_B"
IF="$WSREC_IF"

# Let the kernel finish its own start-up chatter (link-local DAD, MLD reports) before the first capture;
# dad6.pcap records that chatter on purpose. Measured here it ends about 3 s after the link comes up.
sleep 5

# --- content served by the servers --------------------------------------------------------------------
mkdir -p "$WSREC_TMP/www" "$WSREC_TMP/ftp"
# 3000 bytes of numbered text lines: a few TCP segments, and any lost or reordered byte shows.
$PY - "$WSREC_TMP/www/hello.txt" <<'EOF'
import sys
lines = "".join(f"wirestack line {i:04d} ................................................\n" for i in range(60))
open(sys.argv[1], "w").write(lines[:3000])
EOF
printf 'wirestack ftp fixture\nsecond line\n' >"$WSREC_TMP/ftp/readme.txt"
cp "$WSREC_TMP/www/hello.txt" "$WSREC_TMP/ftp/hello.txt"

link_local() {
  ip -n "$1" -6 -o addr show dev "$IF" scope link | awk '{ sub(/\/.*/, "", $4); print $4; exit }'
}

begin() {
  wsrec_log "recording $1"
  wsrec_neigh_flush
}

# --- arp.pcap: who-has / is-at, then a gratuitous ARP ------------------------------------------------
begin arp.pcap
wsrec_capture_start "$A" "$OUT/arp.pcap"
ip netns exec "$A" $T arping -c 2 -I "$IF" "$WSREC_B4"
ip netns exec "$A" $T arping -U -c 1 -I "$IF" "$WSREC_A4" || true  # -U never gets a reply: exits 1
wsrec_capture_stop

# --- ping4.pcap and ping4-ns.pcap: the same frames, microsecond and nanosecond timestamps --------------
begin ping4.pcap
wsrec_capture_start "$A" "$OUT/ping4.pcap"
wsrec_capture_start "$A" "$OUT/ping4-ns.pcap" --time-stamp-precision=nano
ip netns exec "$B" $T ping -n -c 3 -i 0.2 "$WSREC_A4"
wsrec_capture_stop

# --- ping6.pcap: NS/NA, echo to the global address, echo to the link-local address -----------------------
begin ping6.pcap
A_LL="$(link_local "$A")"
wsrec_capture_start "$A" "$OUT/ping6.pcap"
ip netns exec "$B" $T ping -n -6 -c 3 -i 0.2 "$WSREC_A6"
ip netns exec "$B" $T ping -n -6 -c 2 -i 0.2 "$A_LL%$IF"
wsrec_capture_stop

# --- frag4.pcap / frag6.pcap: a 4008-byte echo each way, fragmented at the 1500-byte MTU ---------------
begin frag4.pcap
wsrec_capture_start "$A" "$OUT/frag4.pcap"
ip netns exec "$B" $T ping -n -c 1 -s 4000 "$WSREC_A4"
wsrec_capture_stop

begin frag6.pcap
wsrec_capture_start "$A" "$OUT/frag6.pcap"
ip netns exec "$B" $T ping -n -6 -c 1 -s 4000 "$WSREC_A6"
wsrec_capture_stop

# --- udp.pcap: echo of 1, 100 and 1400 bytes, then a closed port, over IPv4 and then IPv6 -----------------
begin udp.pcap
wsrec_spawn "$A" timeout 30 $PY -c '
import socket
s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
s.bind(("::", 7))
for _ in range(100):
    data, peer = s.recvfrom(65535)
    s.sendto(data, peer)
'
UDP_SERVER=$WSREC_LAST_PID
wsrec_wait_udp "$A" 7
wsrec_capture_start "$A" "$OUT/udp.pcap"
ip netns exec "$B" $T $PY - "$WSREC_A4" "$WSREC_A6" <<'EOF'
import socket, sys, time
text = ("wirestack udp fixture " * 80).encode()
for host, family in ((sys.argv[1], socket.AF_INET), (sys.argv[2], socket.AF_INET6)):
    s = socket.socket(family, socket.SOCK_DGRAM)
    s.settimeout(2)
    for n in (1, 100, 1400):
        s.sendto(text[:n], (host, 7))
        data, _ = s.recvfrom(65535)
        assert data == text[:n], (host, n)
    # RFC 1122 §4.1.3.1 / RFC 4443 §3.1: nothing listens on 9, so the kernel answers port unreachable.
    s.sendto(b"closed port", (host, 9))
    time.sleep(0.3)
    s.close()
EOF
wsrec_capture_stop
wsrec_kill "$UDP_SERVER"

# --- http.pcap + http.pcapng (same frames; dumpcap writes pcapng), tcp-v6.pcap ----------------------------
begin http.pcap
# --bind ::: http.server then clears IPV6_V6ONLY, so one server answers both families.
wsrec_spawn "$A" timeout 60 $PY -m http.server 80 --bind :: --directory "$WSREC_TMP/www"
HTTP_SERVER=$WSREC_LAST_PID
wsrec_wait_tcp "$A" 80
wsrec_capture_start "$A" "$OUT/http.pcap"
wsrec_dumpcap_start "$A" "$OUT/http.pcapng"
ip netns exec "$B" $T curl -sS -o /dev/null "http://$WSREC_A4/hello.txt"
wsrec_capture_stop
chmod 644 "$OUT/http.pcapng"  # dumpcap creates its files 0600

begin tcp-v6.pcap
wsrec_capture_start "$A" "$OUT/tcp-v6.pcap"
ip netns exec "$B" $T curl -6 -sS -o /dev/null "http://[$WSREC_A6]/hello.txt"
wsrec_capture_stop
wsrec_kill "$HTTP_SERVER"

# --- ftp.pcap: login, PASV, LIST, RETR, QUIT ------------------------------------------------------------
begin ftp.pcap
wsrec_spawn "$A" timeout 60 $PY -m pyftpdlib -i "$WSREC_A4" -p 21 -d "$WSREC_TMP/ftp" \
  -u wirestack -P wirestack -r 60000-60009
FTP_SERVER=$WSREC_LAST_PID
wsrec_wait_tcp "$A" 21
wsrec_capture_start "$A" "$OUT/ftp.pcap"
# --disable-epsv: plain PASV (RFC 959), which the FTP code must parse; curl reuses one control connection.
ip netns exec "$B" $T curl -sS --disable-epsv \
  "ftp://wirestack:wirestack@$WSREC_A4/" -o /dev/null \
  "ftp://wirestack:wirestack@$WSREC_A4/readme.txt" -o /dev/null
wsrec_capture_stop
wsrec_kill "$FTP_SERVER"

# --- smtp.pcap: one message whose body has a line starting with "." (RFC 5321 §4.5.2 dot-stuffing) -------
begin smtp.pcap
# A private UTS namespace gives the server a fixed name for its banner instead of this machine's.
wsrec_spawn "$A" timeout 60 unshare --uts sh -c \
  "hostname mail.wirestack.test && exec $PY -m aiosmtpd -n -l $WSREC_A4:25 -c aiosmtpd.handlers.Sink"
SMTP_SERVER=$WSREC_LAST_PID
wsrec_wait_tcp "$A" 25
cat >"$WSREC_TMP/mail.txt" <<'EOF'
From: alice@wirestack.test
To: bob@wirestack.test
Subject: wirestack smtp fixture
Date: Thu, 01 Jan 2026 00:00:00 +0000
Message-ID: <fixture-1@wirestack.test>

Hello Bob,
.this line starts with a dot and must be dot-stuffed on the wire
..and this one with two
.
(the line above is a lone dot inside the body)
EOF
wsrec_capture_start "$A" "$OUT/smtp.pcap"
ip netns exec "$B" $T swaks --silent 1 --server "$WSREC_A4" --port 25 --helo client.wirestack.test \
  --from alice@wirestack.test --to bob@wirestack.test --data "@$WSREC_TMP/mail.txt"
wsrec_capture_stop
wsrec_kill "$SMTP_SERVER"

# --- 8021q.pcap: ping over VLAN 10, only where the kernel has 802.1Q ------------------------------------
if ip -n "$A" link add link "$IF" name "$IF.10" type vlan id 10 2>/dev/null; then
  begin 8021q.pcap
  ip -n "$B" link add link "$IF" name "$IF.10" type vlan id 10
  ip -n "$A" addr add 10.77.10.1/24 dev "$IF.10"
  ip -n "$B" addr add 10.77.10.2/24 dev "$IF.10"
  ip -n "$A" link set "$IF.10" up
  ip -n "$B" link set "$IF.10" up
  wsrec_capture_start "$A" "$OUT/8021q.pcap"
  ip netns exec "$B" $T ping -n -c 3 -i 0.2 10.77.10.1
  wsrec_capture_stop
  ip -n "$A" link del "$IF.10"
  ip -n "$B" link del "$IF.10"
else
  wsrec_log "skipping 8021q.pcap: this kernel has no 802.1Q (vlan) link type"
fi

# --- dad6.pcap: the kernel's own NDP — link-local DAD, MLDv2 reports, a router solicitation --------------
begin dad6.pcap
ip netns exec "$B" sysctl -qw "net.ipv6.conf.$IF.keep_addr_on_down=1"
ip netns exec "$B" sysctl -qw "net.ipv6.conf.$IF.router_solicitations=1"
wsrec_capture_start "$A" "$OUT/dad6.pcap"
ip -n "$B" link set "$IF" down
ip -n "$B" link set "$IF" up
# A new address without nodad: RFC 4862 §5.4 DAD (NS from ::) before it may be used.
ip -n "$B" addr add fd77::3/64 dev "$IF"
sleep 4
wsrec_capture_stop
ip netns exec "$B" sysctl -qw "net.ipv6.conf.$IF.router_solicitations=0"

# --- stp.pcap: IEEE 802.3 + LLC BPDUs (DSAP 0x42) from a bridge with kernel STP ----------------------------
# Last, because it takes wsrec-a's veth0 into the bridge.
if ip -n "$A" link add br0 address 02:77:00:00:00:b0 type bridge stp_state 1 hello_time 100 \
    forward_delay 400 2>/dev/null; then
  begin stp.pcap
  wsrec_capture_start "$B" "$OUT/stp.pcap"
  ip -n "$A" link set "$IF" master br0
  ip -n "$A" link set br0 up
  sleep 4.5
  wsrec_capture_stop
else
  wsrec_log "skipping stp.pcap: this kernel has no bridge link type"
fi

# --- check ------------------------------------------------------------------------------------------------
status=0
printf '\n%-14s %7s %8s  %s\n' file frames bytes check
for f in "$OUT"/*.pcap "$OUT"/*.pcapng; do
  [[ -e "$f" ]] || continue
  frames="$(capinfos -M -c -T -r "$f" | awk -F'\t' '{ print $2 }')"
  bad="$(tshark -n -r "$f" -o ip.check_checksum:TRUE -o tcp.check_checksum:TRUE \
    -o udp.check_checksum:TRUE \
    -Y '_ws.malformed || _ws.expert.severity >= "Error" || _ws.expert.group == "Checksum"' \
    2> >(grep -v 'Running as user' >&2) | wc -l)"
  verdict=ok
  if [[ "$bad" != 0 || "$frames" == 0 ]]; then verdict="BAD ($bad flagged)"; status=1; fi
  printf '%-14s %7s %8s  %s\n' "$(basename "$f")" "$frames" "$(stat -c %s "$f")" "$verdict"
done
printf 'kernel %s, total %s\n' "$(uname -r)" "$(du -ch "$OUT"/*.pcap* | tail -1 | cut -f1)"
exit "$status"
