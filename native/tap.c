/*
 * wirestack TAP addon: a Linux TAP device (linux/if_tun.h) as an N-API object driven by libuv.
 *
 * What it owns: one file descriptor on /dev/net/tun attached with TUNSETIFF (IFF_TAP | IFF_NO_PI),
 * non-blocking, and one uv_poll_t on Node's own event loop (napi_get_uv_event_loop). Nothing runs on
 * a thread of its own and nothing touches the thread pool: reads happen on the loop thread when the
 * kernel says the fd is readable, so frames arrive in kernel order.
 *
 * Receive: on readability, read() every ready frame (until EAGAIN, at most TAP_MAX_BATCH) into one C
 * slab, copy the slab once into one JS Buffer, write the frame end offsets into a Uint32Array shared
 * with JS at open, and call the JS callback once: cb(buffer, count, errno). JS cuts the frames as
 * views (see native-notes.md for the measurement behind one Buffer per batch).
 *
 * Send: write() each frame. The fd is non-blocking; EAGAIN/ENOBUFS count a drop (a frame is a
 * datagram: TCP retransmits, and waiting for writability would only add a queue in front of the
 * kernel's). Other errors (EIO: the link is down) count an error and record errno. Never throws for
 * what the link refuses (FrameDevice.send).
 *
 * Lifetime: the object holds a strong reference to itself while open, like a socket; close() stops
 * the poll, uv_close()s the handle and closes the fd, so nothing of ours keeps the loop alive.
 * An env cleanup hook closes a device the program forgot, so worker/env teardown never leaks it.
 *
 * Offload (opt-in, open's third argument true): IFF_VNET_HDR with a 10-byte struct virtio_net_hdr
 * (linux/virtio_net.h) before every frame read and written, little-endian (TUNSETVNETLE), and
 * TUNSETOFFLOAD TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6, as gVisor's fdbased endpoint does. Reads then
 * hand JS the header and the frame as one unit, a partial checksum already completed (complete_csum,
 * marked with our own flag TAP_VNET_F_COMPLETED); write() prefixes a zeroed header (gso NONE, no
 * checksum flags: the frame is complete) with writev, writeVnet(hdr, frame) a given one. Splitting
 * and coalescing are JS's business (src/device/gso.ts). Close resets the offloads (TUNSETOFFLOAD 0),
 * so a persistent device later attached without IFF_VNET_HDR never receives super-frames.
 *
 * Errors thrown from open carry `code`: WIRESTACK_ERR_NO_TUN, WIRESTACK_ERR_TAP_PERMISSION,
 * WIRESTACK_ERR_TAP_OPEN, WIRESTACK_ERR_TAP_NAME (and `errno` where one applies).
 */
#ifndef NAPI_VERSION
#define NAPI_VERSION 8
#endif
#include <node_api.h>
#include <uv.h>

#include <errno.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <net/if_arp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>
#include <linux/virtio_net.h>

/* Frames handed to JS per readiness callback; bounds the time one callback can hold the loop. */
#define TAP_MAX_BATCH 256
/* Largest frame a read asks for: ETH_MAX_MTU (65535) + Ethernet header + one 802.1Q tag (+ the
 * 10-byte virtio_net_hdr with offload), rounded. */
#define TAP_READ_MAX 65600
/* Frames are packed end to end; pages past the bytes actually read are never touched. */
#define TAP_SLAB_LEN (1024 * 1024 + TAP_READ_MAX)

typedef struct {
  napi_env env;
  int fd;
  uv_poll_t *poll;  /* freed in on_poll_closed; NULL once closed */
  uv_idle_t *idle;  /* busy-poll: while active the loop polls without blocking; freed like poll */
  uint64_t busy_poll_ns;  /* 0: off */
  uint64_t last_rx;       /* uv_hrtime() of the last batch */
  int polling;
  int closed;
  int hook_registered;
  napi_ref self;    /* strong while open */
  napi_ref callback;
  napi_ref ends_ref;
  uint32_t *ends;   /* backing store of the shared Uint32Array, TAP_MAX_BATCH entries */
  napi_async_context async_context;
  uint8_t *slab;
  char name[IFNAMSIZ];
  int vnet;         /* IFF_VNET_HDR: every read and write carries a struct virtio_net_hdr */
  int csum_super;   /* with vnet: also complete the checksum of TCP super-frames (JS keeps them whole) */
  /* Counters (doubles in JS). */
  double rx_frames, rx_batches, rx_bytes, rx_errors;
  double tx_frames, tx_bytes, tx_dropped, tx_errors;
  int last_errno;
} tap_t;

/* ---- helpers ---------------------------------------------------------------------------------- */

#define CHECK(call)                                                                  \
  do {                                                                               \
    if ((call) != napi_ok) {                                                         \
      const napi_extended_error_info *info_;                                         \
      napi_get_last_error_info(env, &info_);                                         \
      bool pending_;                                                                 \
      napi_is_exception_pending(env, &pending_);                                     \
      if (!pending_)                                                                 \
        napi_throw_error(env, "WIRESTACK_ERR_TAP_NAPI",                              \
                         info_ && info_->error_message ? info_->error_message : #call); \
      return NULL;                                                                   \
    }                                                                                \
  } while (0)

/* Throws an Error with `code`, `message` and, when errnum is non-zero, `errno` and `syscall`. */
static void throw_coded(napi_env env, const char *code, const char *message, int errnum,
                        const char *syscall) {
  napi_value msg, code_v, err;
  if (napi_create_string_utf8(env, message, NAPI_AUTO_LENGTH, &msg) != napi_ok) return;
  if (napi_create_string_utf8(env, code, NAPI_AUTO_LENGTH, &code_v) != napi_ok) return;
  if (napi_create_error(env, code_v, msg, &err) != napi_ok) return;
  if (errnum != 0) {
    napi_value n, s;
    napi_create_int32(env, errnum, &n);
    napi_set_named_property(env, err, "errno", n);
    napi_create_string_utf8(env, syscall, NAPI_AUTO_LENGTH, &s);
    napi_set_named_property(env, err, "syscall", s);
  }
  napi_throw(env, err);
}

/* Maps an errno from opening /dev/net/tun or TUNSETIFF to the user error that says what to do. */
static void throw_open_error(napi_env env, const char *name, int errnum, const char *syscall) {
  char message[512];
  if (errnum == EPERM || errnum == EACCES) {
    snprintf(message, sizeof message,
             "cannot open TAP device %s: %s (%s). Run as root (or with CAP_NET_ADMIN), or create it "
             "for your user first: sudo ip tuntap add dev %s mode tap user $USER",
             name, strerror(errnum), syscall, name);
    throw_coded(env, "WIRESTACK_ERR_TAP_PERMISSION", message, errnum, syscall);
  } else if (errnum == ENOENT || errnum == ENODEV || errnum == ENXIO) {
    snprintf(message, sizeof message,
             "cannot open /dev/net/tun: %s. Load the tun module (sudo modprobe tun) or create the "
             "device node (sudo mkdir -p /dev/net && sudo mknod /dev/net/tun c 10 200)",
             strerror(errnum));
    throw_coded(env, "WIRESTACK_ERR_NO_TUN", message, errnum, syscall);
  } else if (errnum == EINVAL && strcmp(syscall, "ioctl(TUNSETIFF)") == 0) {
    snprintf(message, sizeof message,
             "cannot attach TAP device %s: %s. The name may be invalid, or %s exists and is not a "
             "TAP device without packet information (ip -d link show %s)",
             name, strerror(errnum), name, name);
    throw_coded(env, "WIRESTACK_ERR_TAP_OPEN", message, errnum, syscall);
  } else if (errnum == EBUSY) {
    snprintf(message, sizeof message,
             "cannot attach TAP device %s: %s. Another process holds it open (ip -d link show %s)",
             name, strerror(errnum), name);
    throw_coded(env, "WIRESTACK_ERR_TAP_OPEN", message, errnum, syscall);
  } else {
    snprintf(message, sizeof message, "cannot open TAP device %s: %s (%s)", name,
             strerror(errnum), syscall);
    throw_coded(env, "WIRESTACK_ERR_TAP_OPEN", message, errnum, syscall);
  }
}

/* Mirrors the kernel's dev_valid_name() so a bad name is a clear error, not EINVAL. */
static const char *invalid_name_reason(const char *name, size_t len) {
  if (len == 0) return "is empty";
  if (len >= IFNAMSIZ) return "is longer than 15 bytes (IFNAMSIZ - 1)";
  if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0) return "is . or ..";
  for (size_t i = 0; i < len; i++) {
    unsigned char c = (unsigned char)name[i];
    if (c == '/' || c == ':' || c == ' ' || (c >= '\t' && c <= '\r') || c == 0)
      return "contains '/', ':', NUL or white space";
  }
  return NULL;
}

/* ---- teardown --------------------------------------------------------------------------------- */

static void on_poll_closed(uv_handle_t *handle) { free(handle); }

/* Busy-poll (opt-in, setBusyPoll): an active idle handle makes libuv poll for I/O with a zero
 * timeout instead of sleeping in epoll_wait, so the loop thread never leaves the CPU while frames
 * keep coming. A reply then skips the wakeup of a halted vCPU and runs on warm caches: measured
 * here, the JS path from a received echo request to its reply took 73-80 us after 5 ms idle and
 * 18-20 us with the previous frame 0.2 ms before (native-notes.md). It burns a CPU until
 * busy_poll_ns pass without a frame, then the loop sleeps as before. */
static void on_idle(uv_idle_t *handle) {
  tap_t *tap = (tap_t *)handle->data;
  if (tap == NULL || tap->closed || uv_hrtime() - tap->last_rx > tap->busy_poll_ns) uv_idle_stop(handle);
}

static void cleanup_hook(void *arg);

/* Releases the fd and the poll handle. Safe to call twice; makes no JS calls. */
static void tap_shutdown(tap_t *tap, int from_hook) {
  if (tap->closed) return;
  tap->closed = 1;
  if (tap->idle != NULL) {
    uv_idle_stop(tap->idle);
    uv_close((uv_handle_t *)tap->idle, on_poll_closed);
    tap->idle = NULL;
  }
  if (tap->poll != NULL) {
    if (tap->polling) uv_poll_stop(tap->poll);
    tap->polling = 0;
    uv_close((uv_handle_t *)tap->poll, on_poll_closed);
    tap->poll = NULL;
  }
  if (tap->fd >= 0) {
    /* Offloads are a property of the interface, not of the fd: leave a persistent device as found. */
    if (tap->vnet) ioctl(tap->fd, TUNSETOFFLOAD, 0U);
    close(tap->fd);
    tap->fd = -1;
  }
  if (tap->hook_registered && !from_hook) napi_remove_env_cleanup_hook(tap->env, cleanup_hook, tap);
  tap->hook_registered = 0;
}

static void cleanup_hook(void *arg) { tap_shutdown((tap_t *)arg, 1); }

static void tap_finalize(napi_env env, void *data, void *hint) {
  (void)hint;
  tap_t *tap = (tap_t *)data;
  tap_shutdown(tap, 0);
  if (tap->callback != NULL) napi_delete_reference(env, tap->callback);
  if (tap->ends_ref != NULL) napi_delete_reference(env, tap->ends_ref);
  if (tap->self != NULL) napi_delete_reference(env, tap->self);
  if (tap->async_context != NULL) napi_async_destroy(env, tap->async_context);
  free(tap->slab);
  free(tap);
}

/* ---- receive ---------------------------------------------------------------------------------- */

/* Hands one batch (or a fatal errno with count 0) to JS, inside a callback scope so that
 * process.nextTick and promise jobs queued by the receiver run before the loop moves on. */
static void deliver(tap_t *tap, size_t total, uint32_t count, int errnum) {
  napi_env env = tap->env;
  napi_handle_scope scope;
  if (napi_open_handle_scope(env, &scope) != napi_ok) return;
  napi_value recv, cb, argv[3], result;
  if (napi_get_reference_value(env, tap->self, &recv) != napi_ok ||
      napi_get_reference_value(env, tap->callback, &cb) != napi_ok) {
    napi_close_handle_scope(env, scope);
    return;
  }
  if (count > 0) {
    void *copy;
    if (napi_create_buffer_copy(env, total, tap->slab, &copy, &argv[0]) != napi_ok) {
      napi_close_handle_scope(env, scope);
      return;
    }
  } else {
    napi_get_null(env, &argv[0]);
  }
  napi_create_uint32(env, count, &argv[1]);
  napi_create_int32(env, errnum, &argv[2]);
  napi_status status = napi_make_callback(env, tap->async_context, recv, cb, 3, argv, &result);
  if (status == napi_pending_exception) {
    napi_value exception;
    napi_get_and_clear_last_exception(env, &exception);
    napi_fatal_exception(env, exception);
  }
  napi_close_handle_scope(env, scope);
}

/* Our own flag in a received virtio_net_hdr (virtio_net.h defines bits 0-2 only): the partial
 * checksum was completed here, NEEDS_CSUM cleared. It never leaves the process. Same value as
 * VNET_HDR_F_COMPLETED in src/device/gso.ts. */
#define TAP_VNET_F_COMPLETED 0x80

/* One's-complement sum (RFC 1071) of len bytes, in the host's byte order: 32-bit words added into a
 * 64-bit accumulator (no carry is lost for any frame this size), folded by the caller. */
static uint64_t sum_native(const uint8_t *p, size_t len) {
  uint64_t a = 0, b = 0;
  while (len >= 16) {
    uint32_t w[4];
    memcpy(w, p, 16);
    a += (uint64_t)w[0] + w[1];
    b += (uint64_t)w[2] + w[3];
    p += 16;
    len -= 16;
  }
  a += b;
  while (len >= 4) {
    uint32_t w;
    memcpy(&w, p, 4);
    a += w;
    p += 4;
    len -= 4;
  }
  if (len >= 2) {
    uint16_t h;
    memcpy(&h, p, 2);
    a += h;
    p += 2;
    len -= 2;
  }
  if (len == 1) {
    /* The odd last byte is the high byte of a zero-padded 16-bit word (RFC 1071 §4.1). */
    uint16_t h = 0;
    memcpy(&h, p, 1);
    a += h;
  }
  return a;
}

/* Folds a host-order sum to the 16-bit one's-complement sum in network order. */
static uint16_t fold_be(uint64_t s) {
  s = (s & 0xffffffffu) + (s >> 32);
  s = (s & 0xffffffffu) + (s >> 32);
  s = (s & 0xffffu) + (s >> 16);
  s = (s & 0xffffu) + (s >> 16);
  uint16_t h = (uint16_t)s;
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
  h = (uint16_t)((h >> 8) | (h << 8));
#endif
  return h;
}

/*
 * Completes a partial checksum (VIRTIO_NET_HDR_F_NEEDS_CSUM) of the unit just read, as a NIC would,
 * while its bytes are still in cache: the field at csum_start + csum_offset holds the pseudo-header
 * sum; everything from csum_start to the end of the IP packet (link padding excluded) is summed with
 * it and the complement stored (a UDP 0 as 0xFFFF). Done for plain frames always,
 * and for TCP super-frames when JS keeps them whole (split, each piece gets its own sum in JS). A
 * header whose offsets do not fit the frame is left as it is, for JS to refuse. The same sum in
 * JavaScript cost about 9 % of the process's time in a 64 KiB-frame receive (README, Performance).
 */
static void complete_csum(tap_t *tap, uint8_t *unit, size_t n) {
  const size_t hl = sizeof(struct virtio_net_hdr);
  if (n < hl + 14 || !(unit[0] & VIRTIO_NET_HDR_F_NEEDS_CSUM)) return;
  if (unit[1] != VIRTIO_NET_HDR_GSO_NONE && !tap->csum_super) return;
  uint8_t *f = unit + hl;
  size_t flen = n - hl;
  size_t start = (size_t)unit[6] | ((size_t)unit[7] << 8);
  size_t field = start + ((size_t)unit[8] | ((size_t)unit[9] << 8));
  size_t end = flen;
  uint16_t type = (uint16_t)((f[12] << 8) | f[13]);
  if (type == 0x0800 && flen >= 14 + 20) {
    size_t ip_end = 14 + (((size_t)f[16] << 8) | f[17]);
    if (ip_end <= flen) end = ip_end;
  } else if (type == 0x86dd && flen >= 14 + 40) {
    size_t ip_end = 14 + 40 + (((size_t)f[18] << 8) | f[19]);
    if (ip_end <= flen) end = ip_end;
  }
  if (start >= end || field + 2 > end) return;
  uint16_t c = (uint16_t)~fold_be(sum_native(f + start, end - start));
  /* RFC 768: a UDP sum of 0 is sent as 0xFFFF (0 means "no checksum"); TCP and ICMPv6 keep 0
   * (Wireshark calls a TCP checksum of 0xFFFF an error; RFC 1624 §3). csum_offset 6 is UDP's. */
  if (c == 0 && ((size_t)unit[8] | ((size_t)unit[9] << 8)) == 6) c = 0xffff;
  f[field] = (uint8_t)(c >> 8);
  f[field + 1] = (uint8_t)c;
  unit[0] = (uint8_t)((unit[0] & ~VIRTIO_NET_HDR_F_NEEDS_CSUM) | TAP_VNET_F_COMPLETED);
}

static void on_readable(uv_poll_t *handle, int status, int events) {
  tap_t *tap = (tap_t *)handle->data;
  if (tap == NULL || tap->closed) return;
  if (status < 0) {
    tap->rx_errors++;
    tap->last_errno = -status;
    uv_poll_stop(handle);
    tap->polling = 0;
    deliver(tap, 0, 0, -status);
    return;
  }
  if (!(events & UV_READABLE)) return;
  size_t used = 0;
  uint32_t count = 0;
  int fatal = 0;
  while (count < TAP_MAX_BATCH && TAP_SLAB_LEN - used >= TAP_READ_MAX) {
    ssize_t n = read(tap->fd, tap->slab + used, TAP_READ_MAX);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) break;
      /* EBADFD/EIO: the device went away underneath us; level-triggered poll would spin. */
      tap->rx_errors++;
      tap->last_errno = errno;
      fatal = errno;
      break;
    }
    if (n == 0) continue; /* a zero-length frame cannot be Ethernet; skip it */
    if (tap->vnet) complete_csum(tap, tap->slab + used, (size_t)n);
    used += (size_t)n;
    tap->ends[count++] = (uint32_t)used;
    tap->rx_frames++;
    tap->rx_bytes += (double)n;
  }
  if (fatal != 0) {
    uv_poll_stop(handle);
    tap->polling = 0;
  }
  if (count > 0) {
    tap->rx_batches++;
    if (tap->busy_poll_ns > 0 && tap->idle != NULL) {
      tap->last_rx = uv_hrtime();
      if (!uv_is_active((uv_handle_t *)tap->idle)) uv_idle_start(tap->idle, on_idle);
    }
    deliver(tap, used, count, 0);
  }
  if (fatal != 0 && !tap->closed) deliver(tap, 0, 0, fatal);
}

/* ---- methods ---------------------------------------------------------------------------------- */

static tap_t *unwrap_this(napi_env env, napi_callback_info info, size_t *argc, napi_value *argv) {
  napi_value self;
  void *data = NULL;
  if (napi_get_cb_info(env, info, argc, argv, &self, NULL) != napi_ok) return NULL;
  if (napi_unwrap(env, self, &data) != napi_ok || data == NULL) {
    napi_throw_type_error(env, "WIRESTACK_ERR_TAP_NAPI", "not a TAP handle");
    return NULL;
  }
  return (tap_t *)data;
}

/* All-zero virtio_net_hdr: gso NONE, no checksum flags (the frame is complete as it is). */
static const uint8_t zero_vnet_hdr[sizeof(struct virtio_net_hdr)];

/* Writes one frame (after `hdr`, hdr_len bytes, when the device has IFF_VNET_HDR); returns 1 when
 * the kernel took it, 0 when it was counted as dropped/failed. */
static int write_frame_hdr(tap_t *tap, const void *hdr, size_t hdr_len, const void *data, size_t len) {
  if (tap->closed) {
    tap->tx_dropped++;
    return 0;
  }
  for (;;) {
    ssize_t n;
    if (hdr_len > 0) {
      struct iovec iov[2] = {{(void *)hdr, hdr_len}, {(void *)data, len}};
      n = writev(tap->fd, iov, 2);
    } else {
      n = write(tap->fd, data, len);
    }
    if (n >= 0) {
      tap->tx_frames++;
      tap->tx_bytes += (double)len;
      return 1;
    }
    if (errno == EINTR) continue;
    tap->last_errno = errno;
    if (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS) tap->tx_dropped++;
    else tap->tx_errors++;
    return 0;
  }
}

static int write_frame(tap_t *tap, const void *data, size_t len) {
  if (tap->vnet) return write_frame_hdr(tap, zero_vnet_hdr, sizeof zero_vnet_hdr, data, len);
  return write_frame_hdr(tap, NULL, 0, data, len);
}

static int get_bytes(napi_env env, napi_value v, void **data, size_t *len) {
  bool is_typed;
  if (napi_is_typedarray(env, v, &is_typed) != napi_ok) return 0;
  if (is_typed) {
    napi_typedarray_type type;
    size_t length, offset;
    napi_value ab;
    if (napi_get_typedarray_info(env, v, &type, &length, data, &ab, &offset) != napi_ok) return 0;
    if (type != napi_uint8_array && type != napi_uint8_clamped_array && type != napi_int8_array)
      return 0;
    *len = length;
    return 1;
  }
  return 0;
}

/* write(frame: Uint8Array): boolean */
static napi_value tap_write(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  tap_t *tap = unwrap_this(env, info, &argc, argv);
  if (tap == NULL) return NULL;
  void *data;
  size_t len;
  if (argc < 1 || !get_bytes(env, argv[0], &data, &len)) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "frame must be a Uint8Array");
    return NULL;
  }
  napi_value result;
  CHECK(napi_get_boolean(env, write_frame(tap, data, len), &result));
  return result;
}

/* writeVnet(hdr: Uint8Array, frame: Uint8Array): boolean — only on a device opened with offload;
 * hdr is a whole struct virtio_net_hdr (10 bytes), written before the frame with one writev. */
static napi_value tap_write_vnet(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  tap_t *tap = unwrap_this(env, info, &argc, argv);
  if (tap == NULL) return NULL;
  void *hdr, *data;
  size_t hdr_len, len;
  if (argc < 2 || !get_bytes(env, argv[0], &hdr, &hdr_len) || !get_bytes(env, argv[1], &data, &len)) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "writeVnet(hdr: Uint8Array, frame: Uint8Array)");
    return NULL;
  }
  if (!tap->vnet || hdr_len != sizeof(struct virtio_net_hdr)) {
    napi_throw_error(env, "ERR_INVALID_ARG_VALUE",
                     "writeVnet needs a device opened with offload and a 10-byte virtio_net_hdr");
    return NULL;
  }
  napi_value result;
  CHECK(napi_get_boolean(env, write_frame_hdr(tap, hdr, hdr_len, data, len), &result));
  return result;
}

/* writeBatch(frames: Uint8Array[]): number (frames the kernel took) */
static napi_value tap_write_batch(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  tap_t *tap = unwrap_this(env, info, &argc, argv);
  if (tap == NULL) return NULL;
  bool is_array = false;
  if (argc >= 1) napi_is_array(env, argv[0], &is_array);
  if (!is_array) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "frames must be an array of Uint8Array");
    return NULL;
  }
  uint32_t n;
  CHECK(napi_get_array_length(env, argv[0], &n));
  uint32_t sent = 0;
  for (uint32_t i = 0; i < n; i++) {
    napi_value item;
    void *data;
    size_t len;
    CHECK(napi_get_element(env, argv[0], i, &item));
    if (!get_bytes(env, item, &data, &len)) {
      napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "frames must be an array of Uint8Array");
      return NULL;
    }
    sent += (uint32_t)write_frame(tap, data, len);
  }
  napi_value result;
  CHECK(napi_create_uint32(env, sent, &result));
  return result;
}

/* start(): begins delivering batches to the callback. */
static napi_value tap_start(napi_env env, napi_callback_info info) {
  size_t argc = 0;
  tap_t *tap = unwrap_this(env, info, &argc, NULL);
  if (tap == NULL) return NULL;
  if (!tap->closed && !tap->polling) {
    int r = uv_poll_start(tap->poll, UV_READABLE, on_readable);
    if (r < 0) {
      throw_coded(env, "WIRESTACK_ERR_TAP_OPEN", uv_strerror(r), -r, "uv_poll_start");
      return NULL;
    }
    tap->polling = 1;
  }
  return NULL;
}

/* setBusyPoll(us: number): busy-poll for `us` microseconds after each batch (0: off, the default;
 * at most 1 s). See on_idle. */
static napi_value tap_set_busy_poll(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  tap_t *tap = unwrap_this(env, info, &argc, argv);
  if (tap == NULL) return NULL;
  double us = 0;
  if (argc < 1 || napi_get_value_double(env, argv[0], &us) != napi_ok || !(us >= 0 && us <= 1e6)) {
    napi_throw_range_error(env, "ERR_OUT_OF_RANGE", "busy-poll time must be 0 to 1000000 microseconds");
    return NULL;
  }
  if (tap->closed) return NULL;
  if (us > 0 && tap->idle == NULL) {
    uv_idle_t *idle = (uv_idle_t *)calloc(1, sizeof *idle);
    struct uv_loop_s *loop;
    if (idle == NULL || napi_get_uv_event_loop(env, &loop) != napi_ok || uv_idle_init(loop, idle) < 0) {
      free(idle);
      napi_throw_error(env, "WIRESTACK_ERR_TAP_OPEN", "cannot create the busy-poll handle");
      return NULL;
    }
    idle->data = tap;
    /* Spinning never keeps the process alive by itself; the poll handle decides that. */
    uv_unref((uv_handle_t *)idle);
    tap->idle = idle;
  }
  tap->busy_poll_ns = (uint64_t)(us * 1000.0);
  if (tap->busy_poll_ns == 0 && tap->idle != NULL) uv_idle_stop(tap->idle);
  return NULL;
}

/* ref()/unref(): whether an open device keeps the event loop alive (it does by default). */
static napi_value tap_set_ref(napi_env env, napi_callback_info info, int on) {
  size_t argc = 0;
  tap_t *tap = unwrap_this(env, info, &argc, NULL);
  if (tap == NULL) return NULL;
  if (tap->poll != NULL) {
    if (on) uv_ref((uv_handle_t *)tap->poll);
    else uv_unref((uv_handle_t *)tap->poll);
  }
  return NULL;
}
static napi_value tap_ref(napi_env env, napi_callback_info info) { return tap_set_ref(env, info, 1); }
static napi_value tap_unref(napi_env env, napi_callback_info info) { return tap_set_ref(env, info, 0); }

/* close(): idempotent. */
static napi_value tap_close(napi_env env, napi_callback_info info) {
  size_t argc = 0;
  tap_t *tap = unwrap_this(env, info, &argc, NULL);
  if (tap == NULL) return NULL;
  if (!tap->closed) {
    tap_shutdown(tap, 0);
    /* Let GC collect the object (and run tap_finalize) once JS drops it. */
    uint32_t refs;
    napi_reference_unref(env, tap->self, &refs);
  }
  return NULL;
}

static napi_value set_number(napi_env env, napi_value obj, const char *key, double v) {
  napi_value n;
  if (napi_create_double(env, v, &n) != napi_ok) return NULL;
  if (napi_set_named_property(env, obj, key, n) != napi_ok) return NULL;
  return obj;
}

/* stats(): counters since open. */
static napi_value tap_stats(napi_env env, napi_callback_info info) {
  size_t argc = 0;
  tap_t *tap = unwrap_this(env, info, &argc, NULL);
  if (tap == NULL) return NULL;
  napi_value o;
  CHECK(napi_create_object(env, &o));
  set_number(env, o, "rxFrames", tap->rx_frames);
  set_number(env, o, "rxBatches", tap->rx_batches);
  set_number(env, o, "rxBytes", tap->rx_bytes);
  set_number(env, o, "rxErrors", tap->rx_errors);
  set_number(env, o, "txFrames", tap->tx_frames);
  set_number(env, o, "txBytes", tap->tx_bytes);
  set_number(env, o, "txDropped", tap->tx_dropped);
  set_number(env, o, "txErrors", tap->tx_errors);
  set_number(env, o, "lastErrno", tap->last_errno);
  return o;
}

/* ---- open ------------------------------------------------------------------------------------- */

/* Reads MTU and kernel MAC through an AF_INET socket (SIOCGIFMTU/SIOCGIFHWADDR, linux/sockios.h).
 * Informational: failure leaves mtu 0 and mac empty, and open still succeeds. */
static void query_link(const char name[IFNAMSIZ], int *mtu, uint8_t mac[6], int *have_mac) {
  *mtu = 0;
  *have_mac = 0;
  int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (s < 0) return;
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  memcpy(ifr.ifr_name, name, IFNAMSIZ);
  if (ioctl(s, SIOCGIFMTU, &ifr) == 0) *mtu = ifr.ifr_mtu;
  memset(&ifr, 0, sizeof ifr);
  memcpy(ifr.ifr_name, name, IFNAMSIZ);
  if (ioctl(s, SIOCGIFHWADDR, &ifr) == 0 && ifr.ifr_hwaddr.sa_family == ARPHRD_ETHER) {
    memcpy(mac, ifr.ifr_hwaddr.sa_data, 6);
    *have_mac = 1;
  }
  close(s);
}

static napi_value make_method(napi_env env, napi_value obj, const char *name, napi_callback fn) {
  napi_value f;
  if (napi_create_function(env, name, NAPI_AUTO_LENGTH, fn, NULL, &f) != napi_ok) return NULL;
  if (napi_set_named_property(env, obj, name, f) != napi_ok) return NULL;
  return obj;
}

/*
 * open(name: string, callback: (buf: Buffer | null, count: number, errno: number) => void,
 *      offload?: boolean, wholeSuperFrames?: boolean)  (the latter: complete_csum's super-frames)
 *   → { name, mtu, mac: Buffer | null, ends: Uint32Array, vnetHdrLen, write, writeVnet, writeBatch, setBusyPoll,
 *       start, ref, unref, close, stats }
 */
static napi_value tap_open(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  napi_valuetype t0 = napi_undefined, t1 = napi_undefined;
  if (argc >= 1) napi_typeof(env, argv[0], &t0);
  if (argc >= 2) napi_typeof(env, argv[1], &t1);
  if (t0 != napi_string || t1 != napi_function) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "open(name: string, callback: function)");
    return NULL;
  }
  bool offload = false;
  if (argc >= 3) {
    napi_valuetype t2 = napi_undefined;
    napi_typeof(env, argv[2], &t2);
    if (t2 == napi_boolean) CHECK(napi_get_value_bool(env, argv[2], &offload));
  }
  bool csum_super = false;
  if (argc >= 4) {
    napi_valuetype t3 = napi_undefined;
    napi_typeof(env, argv[3], &t3);
    if (t3 == napi_boolean) CHECK(napi_get_value_bool(env, argv[3], &csum_super));
  }
  char name[64];
  size_t name_len;
  CHECK(napi_get_value_string_utf8(env, argv[0], name, sizeof name, &name_len));
  const char *why = (name_len >= sizeof name - 1) ? "is longer than 15 bytes (IFNAMSIZ - 1)"
                                                  : invalid_name_reason(name, name_len);
  if (why == NULL && strlen(name) != name_len) why = "contains '/', ':', NUL or white space";
  if (why != NULL) {
    char message[160];
    snprintf(message, sizeof message, "invalid TAP device name \"%.40s\": it %s", name, why);
    throw_coded(env, "WIRESTACK_ERR_TAP_NAME", message, 0, "");
    return NULL;
  }

  int fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) {
    throw_open_error(env, name, errno, "open(/dev/net/tun)");
    return NULL;
  }
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  /* linux/if_tun.h: a TAP (Ethernet frames), no 4-byte packet-information prefix. */
  ifr.ifr_flags = IFF_TAP | IFF_NO_PI | (offload ? IFF_VNET_HDR : 0);
  memcpy(ifr.ifr_name, name, name_len);
  if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
    int e = errno;
    close(fd);
    throw_open_error(env, name, e, "ioctl(TUNSETIFF)");
    return NULL;
  }
  if (offload) {
    /* 10 bytes: struct virtio_net_hdr without num_buffers (no VIRTIO_NET_F_MRG_RXBUF). */
    int hdr_sz = (int)sizeof(struct virtio_net_hdr);
    /* Little-endian fields on every host (legacy virtio is host order; Linux ≥ 4.0 has the ioctl). */
    int le = 1;
    const char *failed = NULL;
    if (ioctl(fd, TUNSETVNETHDRSZ, &hdr_sz) < 0) failed = "ioctl(TUNSETVNETHDRSZ)";
    else if (ioctl(fd, TUNSETVNETLE, &le) < 0 && !(errno == EINVAL && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__))
      failed = "ioctl(TUNSETVNETLE)";
    /* The kernel may hand us partial checksums and TCP super-frames, and accepts both from us. */
    else if (ioctl(fd, TUNSETOFFLOAD, (unsigned int)(TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6)) < 0)
      failed = "ioctl(TUNSETOFFLOAD)";
    if (failed != NULL) {
      int e = errno;
      close(fd);
      throw_open_error(env, name, e, failed);
      return NULL;
    }
  }
  /* Already set by open(); kept explicit because everything below depends on it. */
  int fl = fcntl(fd, F_GETFL);
  if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0) {
    int e = errno;
    close(fd);
    throw_open_error(env, name, e, "fcntl(O_NONBLOCK)");
    return NULL;
  }

  tap_t *tap = (tap_t *)calloc(1, sizeof *tap);
  uv_poll_t *poll = (uv_poll_t *)calloc(1, sizeof *poll);
  uint8_t *slab = (uint8_t *)malloc(TAP_SLAB_LEN);
  if (tap == NULL || poll == NULL || slab == NULL) {
    free(tap);
    free(poll);
    free(slab);
    close(fd);
    throw_coded(env, "WIRESTACK_ERR_TAP_OPEN", "out of memory", ENOMEM, "malloc");
    return NULL;
  }
  tap->env = env;
  tap->fd = fd;
  tap->slab = slab;
  tap->vnet = offload ? 1 : 0;
  tap->csum_super = offload && csum_super ? 1 : 0;
  /* The kernel may have expanded a pattern such as "tap%d". */
  memcpy(tap->name, ifr.ifr_name, IFNAMSIZ);
  tap->name[IFNAMSIZ - 1] = 0;

  struct uv_loop_s *loop;
  int r = -1;
  if (napi_get_uv_event_loop(env, &loop) == napi_ok) r = uv_poll_init(loop, poll, fd);
  if (r < 0) {
    free(poll);
    free(slab);
    free(tap);
    close(fd);
    throw_coded(env, "WIRESTACK_ERR_TAP_OPEN", "uv_poll_init failed", r < -1 ? -r : 0, "uv_poll_init");
    return NULL;
  }
  poll->data = tap;
  tap->poll = poll;

  napi_value obj;
  if (napi_create_object(env, &obj) != napi_ok ||
      napi_wrap(env, obj, tap, tap_finalize, NULL, NULL) != napi_ok) {
    tap_shutdown(tap, 0);
    free(slab);
    free(tap);
    napi_throw_error(env, "WIRESTACK_ERR_TAP_NAPI", "cannot create the TAP handle");
    return NULL;
  }
  /* From here tap_finalize owns tap. */
  CHECK(napi_create_reference(env, obj, 1, &tap->self));
  CHECK(napi_create_reference(env, argv[1], 1, &tap->callback));
  napi_add_env_cleanup_hook(env, cleanup_hook, tap);
  tap->hook_registered = 1;

  napi_value resource_name;
  CHECK(napi_create_string_utf8(env, "WirestackTap", NAPI_AUTO_LENGTH, &resource_name));
  CHECK(napi_async_init(env, obj, resource_name, &tap->async_context));

  napi_value ab, ends, v;
  void *ends_data;
  CHECK(napi_create_arraybuffer(env, TAP_MAX_BATCH * sizeof(uint32_t), &ends_data, &ab));
  CHECK(napi_create_typedarray(env, napi_uint32_array, TAP_MAX_BATCH, ab, 0, &ends));
  CHECK(napi_create_reference(env, ab, 1, &tap->ends_ref));
  tap->ends = (uint32_t *)ends_data;
  CHECK(napi_set_named_property(env, obj, "ends", ends));

  int mtu, have_mac;
  uint8_t mac[6];
  query_link(tap->name, &mtu, mac, &have_mac);
  CHECK(napi_create_string_utf8(env, tap->name, NAPI_AUTO_LENGTH, &v));
  CHECK(napi_set_named_property(env, obj, "name", v));
  CHECK(napi_create_int32(env, mtu, &v));
  CHECK(napi_set_named_property(env, obj, "mtu", v));
  if (have_mac) {
    void *copy;
    CHECK(napi_create_buffer_copy(env, 6, mac, &copy, &v));
  } else {
    CHECK(napi_get_null(env, &v));
  }
  CHECK(napi_set_named_property(env, obj, "mac", v));
  CHECK(napi_create_int32(env, fd, &v));
  CHECK(napi_set_named_property(env, obj, "fd", v));
  CHECK(napi_create_int32(env, offload ? (int)sizeof(struct virtio_net_hdr) : 0, &v));
  CHECK(napi_set_named_property(env, obj, "vnetHdrLen", v));

  if (!make_method(env, obj, "write", tap_write) ||
      !make_method(env, obj, "writeVnet", tap_write_vnet) ||
      !make_method(env, obj, "writeBatch", tap_write_batch) ||
      !make_method(env, obj, "start", tap_start) || !make_method(env, obj, "ref", tap_ref) ||
      !make_method(env, obj, "unref", tap_unref) || !make_method(env, obj, "close", tap_close) ||
      !make_method(env, obj, "stats", tap_stats) ||
      !make_method(env, obj, "setBusyPoll", tap_set_busy_poll))
    return NULL;
  return obj;
}

static napi_value init(napi_env env, napi_value exports) {
  napi_value fn, n;
  CHECK(napi_create_function(env, "open", NAPI_AUTO_LENGTH, tap_open, NULL, &fn));
  CHECK(napi_set_named_property(env, exports, "open", fn));
  CHECK(napi_create_uint32(env, TAP_MAX_BATCH, &n));
  CHECK(napi_set_named_property(env, exports, "maxBatch", n));
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
