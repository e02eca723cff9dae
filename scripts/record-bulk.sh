#!/usr/bin/env bash
# record-bulk.sh — a large TCP bulk capture for the decode benchmark (not committed: it is tens of MB).
#
# Usage: sudo scripts/record-bulk.sh OUT [SECONDS]     (SECONDS defaults to 3)
#
# Debian packages used (apt-get install -y ...): iproute2 ethtool tcpdump iperf3 wireshark-common (capinfos)
#
# iperf3 runs from wsrec-b (10.77.0.2) to wsrec-a (10.77.0.1) over the veth pair of scripts/netns.sh, with
# offloads off so every captured frame is one real MSS-sized segment. tcpdump in wsrec-a keeps the first
# 128 bytes of each frame (all headers: Ethernet 14 + IPv4 20 + TCP 32 with timestamps) and stops after
# 1 000 000 frames. The kernel may drop frames that tcpdump cannot keep up with; the capture is still a valid
# TCP trace for decoding, with gaps, and the count printed is what the file holds.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=netns.sh
. "$HERE/netns.sh"

OUT="${1:?usage: record-bulk.sh OUT [SECONDS]}"
SECONDS_="${2:-3}"
[[ "$SECONDS_" =~ ^[0-9]+$ && "$SECONDS_" -ge 1 && "$SECONDS_" -le 60 ]] \
  || { echo "SECONDS must be a whole number from 1 to 60" >&2; exit 2; }
for tool in ip ethtool tcpdump iperf3 capinfos; do
  command -v "$tool" >/dev/null || { echo "missing tool: $tool" >&2; exit 1; }
done
[[ $EUID -eq 0 ]] || { echo "needs root (network namespaces)" >&2; exit 1; }

OUT_DIR="$(cd "$(dirname "$OUT")" && pwd)"
OUT="$OUT_DIR/$(basename "$OUT")"

wsrec_install_trap
wsrec_pair_up
sleep 2

wsrec_spawn "$WSREC_A" timeout $((SECONDS_ + 30)) iperf3 -s -1 -B "$WSREC_A4" -p 5201 \
  >"$WSREC_TMP/iperf3-server.out" 2>&1
IPERF_SERVER=$WSREC_LAST_PID
wsrec_wait_tcp "$WSREC_A" 5201

# -B: a 64 MiB ring so fewer frames are dropped while tcpdump writes.
wsrec_capture_start "$WSREC_A" "$OUT" -s 128 -c 1000000 -B 65536
CAPTURE_ERR="$WSREC_LAST_CAPTURE_ERR"
ip netns exec "$WSREC_B" timeout $((SECONDS_ + 20)) iperf3 -c "$WSREC_A4" -p 5201 -t "$SECONDS_" \
  >"$WSREC_TMP/iperf3.out"
tail -n 4 "$WSREC_TMP/iperf3.out" >&2
wsrec_capture_stop
wsrec_kill "$IPERF_SERVER"

grep -E 'captured|received by filter|dropped by kernel' "$CAPTURE_ERR" >&2 || true
frames="$(capinfos -M -c -T -r "$OUT" | awk -F'\t' '{ print $2 }')"
echo "$OUT: $frames frames, $(stat -c %s "$OUT") bytes"
