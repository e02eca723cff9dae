/*
 * connect-load: the kernel side of the handshake benchmark (scripts/bench/handshakes.ts, issue 7 item 1f).
 * A load generator in C so that the client, not the stack under test, is never what limits the rate:
 * the Python loops it replaces spent more CPU than the stack they measured, on a 2-core machine.
 *
 *   connect-load client ADDR PORT SECONDS INFLIGHT
 *     Keeps INFLIGHT non-blocking IPv4 connect()s outstanding (epoll); each socket is closed as soon as
 *     it is established (close() sends FIN: a graceful close, the client's end goes to TIME-WAIT) and a
 *     new one takes its place, until SECONDS have passed. Connections still pending then get up to
 *     GRACE_SECONDS more; any that fail or never finish count as failures.
 *     Prints one line: `count fails elapsed` (elapsed in seconds, from the first connect to the last).
 *
 *   connect-load server ADDR PORT SECONDS
 *     Listens (backlog 4096), accepts and closes every connection, prints `listening` once ready and
 *     `count 0 elapsed` after SECONDS (or at SIGTERM/SIGINT).
 *
 * Bounded: SECONDS at most 600, INFLIGHT at most 4096, at most MAX_COUNT connections per run.
 * Exit status: 0 after a run, 2 for usage errors, 1 when a system call needed for the run fails.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_SECONDS 600.0
#define MAX_INFLIGHT 4096
#define MAX_COUNT 100000000L
#define GRACE_SECONDS 5.0
#define EVENTS 256

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

static int usage(void) {
  fprintf(stderr,
          "usage: connect-load client ADDR PORT SECONDS INFLIGHT\n"
          "       connect-load server ADDR PORT SECONDS\n");
  return 2;
}

static int parse_addr(const char *addr, const char *port, struct sockaddr_in *out) {
  char *end = NULL;
  long p = strtol(port, &end, 10);
  if (end == port || *end != '\0' || p < 1 || p > 65535) return -1;
  memset(out, 0, sizeof *out);
  out->sin_family = AF_INET;
  out->sin_port = htons((unsigned short)p);
  return inet_pton(AF_INET, addr, &out->sin_addr) == 1 ? 0 : -1;
}

static int parse_seconds(const char *s, double *out) {
  char *end = NULL;
  double v = strtod(s, &end);
  if (end == s || *end != '\0' || !(v > 0.0) || v > MAX_SECONDS) return -1;
  *out = v;
  return 0;
}

/* Starts one non-blocking connect and registers it; returns 0, or -1 when the attempt failed at once. */
static int start_connect(int ep, const struct sockaddr_in *to) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  if (connect(fd, (const struct sockaddr *)to, sizeof *to) < 0 && errno != EINPROGRESS) {
    close(fd);
    return -1;
  }
  struct epoll_event ev = {.events = EPOLLOUT, .data.fd = fd};
  if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) < 0) {
    close(fd);
    return -1;
  }
  return 0;
}

static int run_client(const struct sockaddr_in *to, double secs, long inflight) {
  int ep = epoll_create1(EPOLL_CLOEXEC);
  if (ep < 0) {
    perror("epoll_create1");
    return 1;
  }
  long count = 0, fails = 0, pending = 0, started = 0;
  double t0 = now_seconds();
  double stop_at = t0 + secs;
  double last = t0;
  for (long i = 0; i < inflight; i++) {
    started++;
    if (start_connect(ep, to) == 0) pending++;
    else fails++;
  }
  struct epoll_event events[EVENTS];
  while (pending > 0) {
    double t = now_seconds();
    if (t > stop_at + GRACE_SECONDS || stop_requested) break;
    int n = epoll_wait(ep, events, EVENTS, 100);
    if (n < 0) {
      if (errno == EINTR) continue;
      perror("epoll_wait");
      return 1;
    }
    if (n == 0) continue;
    t = now_seconds();
    for (int i = 0; i < n; i++) {
      int fd = events[i].data.fd;
      int err = 0;
      socklen_t len = sizeof err;
      if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0) err = errno;
      if (err == 0 && (events[i].events & (EPOLLERR | EPOLLHUP)) == 0) count++;
      else fails++;
      /* No SO_LINGER: close() queues a FIN behind nothing, the orderly release the benchmark measures. */
      close(fd);
      pending--;
      last = t;
      if (t < stop_at && started < MAX_COUNT && !stop_requested) {
        started++;
        if (start_connect(ep, to) == 0) pending++;
        else fails++;
      }
    }
  }
  fails += pending;
  printf("%ld %ld %.6f\n", count, fails, last - t0);
  close(ep);
  return 0;
}

static int run_server(const struct sockaddr_in *at, double secs) {
  int ls = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  int one = 1;
  if (ls < 0 || setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0 ||
      bind(ls, (const struct sockaddr *)at, sizeof *at) < 0 || listen(ls, 4096) < 0) {
    perror("listen socket");
    return 1;
  }
  int ep = epoll_create1(EPOLL_CLOEXEC);
  struct epoll_event ev = {.events = EPOLLIN, .data.fd = ls};
  if (ep < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, ls, &ev) < 0) {
    perror("epoll");
    return 1;
  }
  printf("listening\n");
  fflush(stdout);
  long count = 0;
  double t0 = now_seconds();
  double stop_at = t0 + secs;
  struct epoll_event events[4];
  while (!stop_requested && now_seconds() < stop_at && count < MAX_COUNT) {
    int n = epoll_wait(ep, events, 4, 100);
    if (n < 0 && errno != EINTR) {
      perror("epoll_wait");
      return 1;
    }
    if (n <= 0) continue;
    /* Bounded per wakeup so the deadline is checked even under a flood of connections. */
    for (int i = 0; i < 4096; i++) {
      int c = accept4(ls, NULL, NULL, SOCK_CLOEXEC);
      if (c < 0) break;
      close(c);
      count++;
    }
  }
  printf("%ld 0 %.6f\n", count, now_seconds() - t0);
  close(ep);
  close(ls);
  return 0;
}

int main(int argc, char **argv) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal;
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGINT, &sa, NULL);
  signal(SIGPIPE, SIG_IGN);
  struct sockaddr_in addr;
  double secs;
  if (argc == 6 && strcmp(argv[1], "client") == 0) {
    char *end = NULL;
    long inflight = strtol(argv[5], &end, 10);
    if (parse_addr(argv[2], argv[3], &addr) < 0 || parse_seconds(argv[4], &secs) < 0 || end == argv[5] ||
        *end != '\0' || inflight < 1 || inflight > MAX_INFLIGHT)
      return usage();
    return run_client(&addr, secs, inflight);
  }
  if (argc == 5 && strcmp(argv[1], "server") == 0) {
    if (parse_addr(argv[2], argv[3], &addr) < 0 || parse_seconds(argv[4], &secs) < 0) return usage();
    return run_server(&addr, secs);
  }
  return usage();
}
