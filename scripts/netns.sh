# shellcheck shell=bash
# netns.sh — helpers to run real Linux traffic between two private network namespaces.
#
# Source it from a bash script (`. "$(dirname "$0")/netns.sh"`), then:
#   wsrec_install_trap            delete our namespaces and kill our PIDs on any exit
#   wsrec_pair_up                 create namespaces $WSREC_A and $WSREC_B joined by one veth pair
#   wsrec_spawn NS CMD...         start CMD in the background inside NS; its PID is remembered
#   wsrec_kill PID                stop one PID we started (TERM, then KILL after a bounded wait)
#   wsrec_capture_start NS FILE [tcpdump options...] tcpdump on veth0 in NS, returns once it listens;
#                                                   its stderr (drop counts at exit) is $WSREC_LAST_CAPTURE_ERR
#   wsrec_dumpcap_start NS FILE                     same with dumpcap (writes pcapng)
#   wsrec_capture_stop            stop every running capture (SIGINT) and wait so the files are complete
#   wsrec_wait_tcp NS PORT        wait (bounded) until something listens on TCP PORT inside NS
#   wsrec_neigh_flush             empty the ARP and neighbour caches on both sides
#
# Safety: everything happens in namespaces named wsrec-*, created here and deleted by the trap; addresses
# are only 10.77.0.0/24 and fd77::/64, on the veth pair between the two namespaces, so no frame can leave
# them. Processes are stopped only by the PIDs this file recorded, never by name.
#
# Layout:   [ wsrec-a ] veth0 10.77.0.1/24 fd77::1/64 02:77:00:00:00:01
#                 |
#           [ wsrec-b ] veth0 10.77.0.2/24 fd77::2/64 02:77:00:00:00:02
#
# Offloads are off on both veths (tx checksum, TSO, GSO, GRO; see captures/README.md): captured frames are
# real-sized and carry complete checksums, as they would on a wire.

WSREC_A="${WSREC_A:-wsrec-a}"
WSREC_B="${WSREC_B:-wsrec-b}"
WSREC_IF="veth0"
WSREC_A4="10.77.0.1"
WSREC_B4="10.77.0.2"
WSREC_A6="fd77::1"
WSREC_B6="fd77::2"
WSREC_AMAC="02:77:00:00:00:01"
WSREC_BMAC="02:77:00:00:00:02"

WSREC_PIDS=()
WSREC_CAPTURE_PIDS=()
WSREC_NAMESPACES=()
WSREC_TMP=""

wsrec_log() { printf '[wsrec] %s\n' "$*" >&2; }

wsrec_cleanup() {
  local pid ns
  for pid in "${WSREC_CAPTURE_PIDS[@]}" "${WSREC_PIDS[@]}"; do
    kill -TERM "$pid" 2>/dev/null || true
  done
  for pid in "${WSREC_CAPTURE_PIDS[@]}" "${WSREC_PIDS[@]}"; do
    wait "$pid" 2>/dev/null || true
  done
  WSREC_PIDS=()
  WSREC_CAPTURE_PIDS=()
  for ns in "${WSREC_NAMESPACES[@]}"; do
    ip netns del "$ns" 2>/dev/null || true
  done
  WSREC_NAMESPACES=()
  if [[ -n "$WSREC_TMP" && -d "$WSREC_TMP" ]]; then
    rm -rf -- "$WSREC_TMP"
  fi
}

wsrec_install_trap() {
  trap 'rc=$?; wsrec_cleanup; exit $rc' EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
  WSREC_TMP="$(mktemp -d /tmp/wsrec.XXXXXX)"
}

# Refuse to touch namespaces we did not create: a leftover from a crashed run is deleted only if it has our
# prefix.
wsrec_ns_add() {
  local ns="$1"
  [[ "$ns" == wsrec-* ]] || { wsrec_log "refusing namespace name $ns (must start with wsrec-)"; return 1; }
  if ip netns list | awk '{print $1}' | grep -qx -- "$ns"; then
    ip netns del "$ns"
  fi
  ip netns add "$ns"
  WSREC_NAMESPACES+=("$ns")
  ip -n "$ns" link set lo up
}

wsrec_ethtool_quiet() {
  # Some features are [fixed] on veth; ethtool then exits non-zero although the others were applied.
  ip netns exec "$1" ethtool -K "$WSREC_IF" tx off tso off gso off gro off >/dev/null 2>&1 || true
}

wsrec_pair_up() {
  local ns
  wsrec_ns_add "$WSREC_A"
  wsrec_ns_add "$WSREC_B"
  ip -n "$WSREC_A" link add "$WSREC_IF" address "$WSREC_AMAC" type veth \
    peer name "$WSREC_IF" address "$WSREC_BMAC" netns "$WSREC_B"
  for ns in "$WSREC_A" "$WSREC_B"; do
    # Router solicitations would otherwise keep arriving (with back-off) in the middle of captures;
    # the NDP capture turns them back on for itself.
    ip netns exec "$ns" sysctl -qw "net.ipv6.conf.$WSREC_IF.router_solicitations=0"
    wsrec_ethtool_quiet "$ns"
  done
  ip -n "$WSREC_A" addr add "$WSREC_A4/24" dev "$WSREC_IF"
  ip -n "$WSREC_B" addr add "$WSREC_B4/24" dev "$WSREC_IF"
  ip -n "$WSREC_A" addr add "$WSREC_A6/64" dev "$WSREC_IF" nodad
  ip -n "$WSREC_B" addr add "$WSREC_B6/64" dev "$WSREC_IF" nodad
  ip -n "$WSREC_A" link set "$WSREC_IF" up
  ip -n "$WSREC_B" link set "$WSREC_IF" up
}

wsrec_neigh_flush() {
  ip -n "$WSREC_A" neigh flush dev "$WSREC_IF" 2>/dev/null || true
  ip -n "$WSREC_B" neigh flush dev "$WSREC_IF" 2>/dev/null || true
}

wsrec_spawn() {
  local ns="$1"; shift
  ip netns exec "$ns" "$@" &
  WSREC_PIDS+=("$!")
  WSREC_LAST_PID="$!"
}

wsrec_kill() {
  local pid="$1" i
  kill -TERM "$pid" 2>/dev/null || return 0
  for ((i = 0; i < 50; i++)); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  # Forget it, so the exit trap never signals a PID the system may have handed to someone else.
  local kept=() p
  for p in "${WSREC_PIDS[@]}"; do [[ "$p" == "$pid" ]] || kept+=("$p"); done
  WSREC_PIDS=("${kept[@]}")
}

# Wait (at most ~5 s) until a capture's stderr shows it is listening, so no early frame is missed.
wsrec_wait_ready() {
  local errfile="$1" pattern="$2" pid="$3" i
  for ((i = 0; i < 100; i++)); do
    if grep -q -- "$pattern" "$errfile" 2>/dev/null; then
      sleep 0.2
      return 0
    fi
    kill -0 "$pid" 2>/dev/null || { cat "$errfile" >&2; return 1; }
    sleep 0.05
  done
  wsrec_log "capture not ready after 5 s:"; cat "$errfile" >&2
  return 1
}

wsrec_capture_start() {
  local ns="$1" file="$2"; shift 2
  local err="$WSREC_TMP/tcpdump.${#WSREC_CAPTURE_PIDS[@]}.err"
  # --immediate-mode: without it libpcap (TPACKET_V3) hands packets over only when a ring block fills or
  # its 1 s timeout expires, and a capture stopped sooner loses them all. -U then writes each at once.
  # -Z root: tcpdump would otherwise drop to user tcpdump and fail to write into a root-owned directory.
  ip netns exec "$ns" tcpdump -Z root --immediate-mode -i "$WSREC_IF" -s 0 -U -n "$@" -w "$file" \
    2>"$err" &
  local pid="$!"
  WSREC_LAST_CAPTURE_ERR="$err"
  WSREC_CAPTURE_PIDS+=("$pid")
  wsrec_wait_ready "$err" "listening on" "$pid"
}

wsrec_dumpcap_start() {
  local ns="$1" file="$2"; shift 2
  local err="$WSREC_TMP/dumpcap.${#WSREC_CAPTURE_PIDS[@]}.err"
  ip netns exec "$ns" dumpcap -q -i "$WSREC_IF" -s 0 "$@" -w "$file" 2>"$err" &
  local pid="$!"
  WSREC_CAPTURE_PIDS+=("$pid")
  wsrec_wait_ready "$err" "Capturing on" "$pid"
}

wsrec_capture_stop() {
  local pid i
  # Let the last replies reach the capture before stopping it; dumpcap reads every 250 ms.
  sleep 0.6
  for pid in "${WSREC_CAPTURE_PIDS[@]}"; do
    kill -INT "$pid" 2>/dev/null || true
  done
  for pid in "${WSREC_CAPTURE_PIDS[@]}"; do
    for ((i = 0; i < 50; i++)); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  WSREC_CAPTURE_PIDS=()
}

wsrec_wait_tcp() {
  local ns="$1" port="$2" i
  for ((i = 0; i < 100; i++)); do
    if ip netns exec "$ns" ss -Hltn "sport = :$port" | grep -q .; then
      return 0
    fi
    sleep 0.05
  done
  wsrec_log "nothing listens on tcp port $port in $ns after 5 s"
  return 1
}

wsrec_wait_udp() {
  local ns="$1" port="$2" i
  for ((i = 0; i < 100; i++)); do
    if ip netns exec "$ns" ss -Hlun "sport = :$port" | grep -q .; then
      return 0
    fi
    sleep 0.05
  done
  wsrec_log "nothing listens on udp port $port in $ns after 5 s"
  return 1
}
