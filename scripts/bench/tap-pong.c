/*
 * tap-pong: the C reference of the ping benchmark (scripts/bench/ping.ts, issue 7 item 1e). It shows what
 * a TAP device itself allows to one userspace responder: one blocking read(2), one write(2), no event
 * loop, so the RTT it gets is the kernel's TAP path plus two process wakeups and nothing else.
 *
 *   tap-pong TAPNAME IPV4 MAC SECONDS
 *     Attaches to the existing TAP device TAPNAME (IFF_TAP | IFF_NO_PI), answers ARP requests for IPV4
 *     (RFC 826) and ICMPv4 echo requests to IPV4 (RFC 792) from MAC, prints `ready` once attached, and
 *     exits after SECONDS (at the first frame or timeout after that; SIGTERM/SIGINT end it sooner).
 *     Every other frame is ignored. Prints `replies N` at exit.
 *
 * Bounded: SECONDS at most 600; frames longer than the buffer are truncated by read(2) and ignored.
 * Exit status: 0 after a run, 2 for usage errors, 1 when a system call needed for the run fails.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define MAX_SECONDS 600.0
#define FRAME_MAX 65536
#define ETH_HLEN 14

static volatile sig_atomic_t stop_requested = 0;

static void on_signal(int sig) {
  (void)sig;
  stop_requested = 1;
}

static double now_seconds(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int parse_mac(const char *s, uint8_t mac[6]) {
  unsigned v[6];
  char tail;
  if (sscanf(s, "%x:%x:%x:%x:%x:%x%c", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &tail) != 6) return -1;
  for (int i = 0; i < 6; i++) {
    if (v[i] > 0xff) return -1;
    mac[i] = (uint8_t)v[i];
  }
  return 0;
}

/* RFC 1071 Internet checksum of `len` bytes (one's-complement sum of 16-bit big-endian words). */
static uint16_t inet_checksum(const uint8_t *p, size_t len) {
  uint32_t sum = 0;
  size_t i = 0;
  for (; i + 1 < len; i += 2) sum += (uint32_t)p[i] << 8 | p[i + 1];
  if (i < len) sum += (uint32_t)p[i] << 8;
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return (uint16_t)~sum;
}

static void put16(uint8_t *p, uint16_t v) {
  p[0] = (uint8_t)(v >> 8);
  p[1] = (uint8_t)v;
}

static uint16_t get16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }

/* Turns an ARP request for `ip` into its reply in place; returns the reply's length or 0 to ignore it. */
static size_t arp_reply(uint8_t *f, size_t n, const uint8_t ip[4], const uint8_t mac[6]) {
  uint8_t *a = f + ETH_HLEN;
  if (n < ETH_HLEN + 28) return 0;
  /* Ethernet/IPv4 ARP (RFC 826): htype 1, ptype 0x0800, hlen 6, plen 4, op 1 (request). */
  if (get16(a) != 1 || get16(a + 2) != 0x0800 || a[4] != 6 || a[5] != 4 || get16(a + 6) != 1) return 0;
  if (memcmp(a + 24, ip, 4) != 0) return 0;
  memcpy(f, a + 8, 6); /* Ethernet destination: the sender's hardware address. */
  memcpy(f + 6, mac, 6);
  put16(a + 6, 2);
  memcpy(a + 18, a + 8, 10); /* target (hw, ip) := sender (hw, ip) */
  memcpy(a + 8, mac, 6);
  memcpy(a + 14, ip, 4);
  return ETH_HLEN + 28;
}

/* Turns an ICMPv4 echo request to `ip` into its echo reply in place; returns its length or 0 to ignore. */
static size_t echo_reply(uint8_t *f, size_t n, const uint8_t ip[4], const uint8_t mac[6]) {
  uint8_t *h = f + ETH_HLEN;
  if (n < ETH_HLEN + 20) return 0;
  size_t ihl = (size_t)(h[0] & 0x0f) * 4;
  size_t total = get16(h + 2);
  if ((h[0] >> 4) != 4 || ihl < 20 || total < ihl + 8 || ETH_HLEN + total > n) return 0;
  if (h[9] != 1 || memcmp(h + 16, ip, 4) != 0) return 0;
  if ((get16(h + 6) & 0x3fff) != 0) return 0; /* fragments: not this program's business */
  if (inet_checksum(h, ihl) != 0) return 0;
  uint8_t *icmp = h + ihl;
  size_t icmp_len = total - ihl;
  if (icmp[0] != 8 || icmp[1] != 0 || inet_checksum(icmp, icmp_len) != 0) return 0;
  memcpy(f, f + 6, 6);
  memcpy(f + 6, mac, 6);
  memcpy(h + 16, h + 12, 4);
  memcpy(h + 12, ip, 4);
  h[8] = 64;
  put16(h + 10, 0);
  put16(h + 10, inet_checksum(h, ihl));
  icmp[0] = 0;
  put16(icmp + 2, 0);
  put16(icmp + 2, inet_checksum(icmp, icmp_len));
  return ETH_HLEN + total;
}

int main(int argc, char **argv) {
  if (argc != 5) {
    fprintf(stderr, "usage: tap-pong TAPNAME IPV4 MAC SECONDS\n");
    return 2;
  }
  uint8_t ip[4];
  uint8_t mac[6];
  struct in_addr addr;
  char *end = NULL;
  double secs = strtod(argv[4], &end);
  if (strlen(argv[1]) >= IFNAMSIZ || inet_pton(AF_INET, argv[2], &addr) != 1 || parse_mac(argv[3], mac) != 0 ||
      end == argv[4] || *end != '\0' || !(secs > 0 && secs <= MAX_SECONDS)) {
    fprintf(stderr, "tap-pong: bad arguments (name < %d chars, dotted IPv4, aa:bb:cc:dd:ee:ff, 0 < seconds <= %.0f)\n",
            IFNAMSIZ, MAX_SECONDS);
    return 2;
  }
  memcpy(ip, &addr, 4);

  int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
  if (fd < 0) {
    perror("tap-pong: open /dev/net/tun");
    return 1;
  }
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  ifr.ifr_flags = IFF_TAP | IFF_NO_PI;
  memcpy(ifr.ifr_name, argv[1], strlen(argv[1]));
  if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
    perror("tap-pong: TUNSETIFF");
    return 1;
  }

  /* No SA_RESTART: a signal or the timer interrupts the blocking read, which then sees the deadline. */
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal;
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGALRM, &sa, NULL);
  struct itimerval it;
  memset(&it, 0, sizeof it);
  it.it_value.tv_sec = (time_t)secs;
  it.it_value.tv_usec = (suseconds_t)((secs - (double)(time_t)secs) * 1e6);
  if (it.it_value.tv_sec == 0 && it.it_value.tv_usec == 0) it.it_value.tv_usec = 1;
  setitimer(ITIMER_REAL, &it, NULL);
  double deadline = now_seconds() + secs;

  printf("ready\n");
  fflush(stdout);

  static uint8_t frame[FRAME_MAX];
  long replies = 0;
  while (!stop_requested && now_seconds() < deadline) {
    ssize_t n = read(fd, frame, sizeof frame);
    if (n < 0) {
      if (errno == EINTR) continue;
      perror("tap-pong: read");
      return 1;
    }
    if ((size_t)n < ETH_HLEN) continue;
    uint16_t type = get16(frame + 12);
    size_t out = type == 0x0806 ? arp_reply(frame, (size_t)n, ip, mac)
               : type == 0x0800 ? echo_reply(frame, (size_t)n, ip, mac)
                                : 0;
    if (out == 0) continue;
    if (write(fd, frame, out) < 0 && errno != EINTR) {
      perror("tap-pong: write");
      return 1;
    }
    replies++;
  }
  printf("replies %ld\n", replies);
  close(fd);
  return 0;
}
