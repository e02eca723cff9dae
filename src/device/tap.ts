/**
 * TAP device: a Linux TAP interface as a FrameDevice, through the native addon in native/tap.c
 * (native-notes.md explains the ioctls, the batch read and the build).
 *
 * What it guarantees: frames arrive in kernel order, every frame the kernel had ready at one moment
 * in one batch (at most `TAP_MAX_BATCH`); `send` writes synchronously and never throws for a frame
 * the link refuses (it counts it: `stats()`); `close` releases the fd and the event-loop handle, so
 * a closed device never keeps the process alive. Received frames are views over one Buffer per
 * batch; they are the receiver's to keep (the buffer is not reused).
 *
 * What it never does: bring the link up or configure addresses. Whoever runs the stack does that
 * (`ip link set NAME up`): the device moves bytes and nothing else (STYLE.md §11).
 *
 * Offload (opt-in, `openTap(name, { offload: true })`, as gVisor's fdbased endpoint does): the TAP
 * is opened with IFF_VNET_HDR and TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6, so Linux may hand us TCP
 * super-frames of up to 64 KiB with partial checksums, and takes super-frames from us. The device
 * is the one place that reads protocol headers (src/device/gso.ts explains the exception). By
 * default the device then advertises `offload` (types.ts `DeviceOffload`) and the stack moves TCP in
 * 64 KiB units end to end, as gVisor does: received super-frames go up whole with their checksum
 * completed (GRO), and the stack's own super-segments (`sendSegmented`) go to the kernel with a
 * TCPV4/TCPV6 header for it to cut (TSO). With `superFrames: false` the stack is kept on a plain
 * link: super-frames are split into MSS-sized frames before the receiver sees them. Either way,
 * frames sent are held until the end of the current job (one microtask: `FrameDevice` has no flush,
 * and the stack sends a whole burst — the answer to one received batch, or one timer —
 * synchronously), in order, and adjacent plain segments of one TCP flow go to the kernel as one
 * super-frame. Without `offload` none of this code runs.
 */
import { createRequire } from "node:module";
import { WirestackError } from "../errors.ts";
import {
  coalesceTcp,
  GsoError,
  emitVirtioNetHdr,
  receiveVnetUnit,
  receiveVnetUnitWhole,
  superFrameHeader,
  VIRTIO_NET_HDR_F_NEEDS_CSUM,
  VIRTIO_NET_HDR_LEN,
  VNET_HDR_F_COMPLETED,
} from "./gso.ts";
import type { DeviceOffload, FrameDevice, FrameReceiver } from "./types.ts";
import { recyclePacket } from "../wire/packet-buffer.ts";

/** Codes of the errors `openTap` throws. */
export type TapErrorCode =
  /** The addon is not built (no compiler at install time, or not Linux). */
  | "WIRESTACK_ERR_TAP_UNAVAILABLE"
  /** /dev/net/tun is missing: the tun module is not loaded. */
  | "WIRESTACK_ERR_NO_TUN"
  /** EPERM/EACCES: not root / no CAP_NET_ADMIN, or the device belongs to another user. */
  | "WIRESTACK_ERR_TAP_PERMISSION"
  /** The name is not a valid interface name (empty, over 15 bytes, '/', ':' or white space). */
  | "WIRESTACK_ERR_TAP_NAME"
  /** Any other failure to attach (EBUSY: another process holds it; EINVAL: it is not a TAP). */
  | "WIRESTACK_ERR_TAP_OPEN";

/** An error opening or using a TAP device. `errno`/`syscall` are set when the kernel refused. */
export class TapError extends WirestackError<TapErrorCode> {
  override readonly name = "TapError";
  readonly errno: number | undefined;
  readonly syscall: string | undefined;

  constructor(code: TapErrorCode, message: string, errno?: number, syscall?: string, options?: ErrorOptions) {
    super(code, message, options);
    this.errno = errno;
    this.syscall = syscall;
  }
}

/** Counters since open. Doubles: they do not wrap in any realistic run. */
export interface TapStats {
  readonly rxFrames: number;
  readonly rxBatches: number;
  readonly rxBytes: number;
  /** Fatal read errors (the device went away); receiving stops after one. */
  readonly rxErrors: number;
  readonly txFrames: number;
  readonly txBytes: number;
  /** Frames the kernel refused for lack of room (EAGAIN/ENOBUFS), or sent after close. */
  readonly txDropped: number;
  /** Frames the kernel refused otherwise (EIO: the link is down; EINVAL: too short/long). */
  readonly txErrors: number;
  /** errno of the last refused read or write, 0 if none. */
  readonly lastErrno: number;
}

/** Options of `openTap`. */
export interface TapOptions {
  /** When false, an open device does not keep the event loop alive (like `socket.unref()`). */
  readonly ref?: boolean;
  /** Called once if the device fails while open (e.g. deleted underneath us); receiving stops. */
  readonly onError?: (error: TapError) => void;
  /**
   * IFF_VNET_HDR with checksum offload and TSO/GSO both ways (native-notes.md). Default false.
   * Sends are then coalesced at the end of the current job (a microtask), not written at once.
   */
  readonly offload?: boolean;
  /**
   * With `offload`: hand TCP super-frames to the stack whole and take its super-segments
   * (`TapDevice.offload` set, see the module comment). Default true; false splits and coalesces
   * at the device only, so the stack sees MTU-sized frames.
   */
  readonly superFrames?: boolean;
  /**
   * Busy-poll for this many microseconds after each received batch (default 0: off; at most
   * 1 000 000). Meanwhile the event loop polls without sleeping — it keeps one CPU busy — so a frame
   * arriving in that window is answered without waking an idle CPU, on warm caches: for latency
   * (request/response, ping), at the price of a CPU. Timers and other I/O keep running.
   */
  readonly busyPollUs?: number;
}

/** Counters of the offload path (all 0 without `offload`). */
export interface TapOffloadStats {
  /** Super-frames received from the kernel, and the frames they were split into (0 when handed up whole). */
  readonly rxSuperFrames: number;
  readonly rxSplitFrames: number;
  /** Frames whose partial checksum we completed (NEEDS_CSUM without GSO; in the addon or here). */
  readonly rxChecksumsCompleted: number;
  /** Units the kernel handed us that we could not turn into frames (dropped). */
  readonly rxDropped: number;
  /** Super-frames written, and the frames of the stack they carried. */
  readonly txSuperFrames: number;
  readonly txCoalescedFrames: number;
  /** Super-segments the stack built itself (`sendSegmented`), and the payload bytes they carried. */
  readonly txStackSuperFrames: number;
  readonly txStackSuperBytes: number;
  /** Super-segments refused before writing (headers the device cannot segment). */
  readonly txDropped: number;
}

/** TSO limit advertised to the stack: Linux's GSO_LEGACY_MAX_SIZE (65536) less the largest headers. */
const TAP_TSO_MAX_BYTES = 65536 - 14 - 60 - 60;

/** A partial checksum: still to complete (NEEDS_CSUM) or completed by the addon. */
const CSUM_FLAGS = VIRTIO_NET_HDR_F_NEEDS_CSUM | VNET_HDR_F_COMPLETED;

/** The largest batch the addon hands over per readiness callback. */
export const TAP_MAX_BATCH = 256;

/** MTU assumed when the kernel's cannot be read (SIOCGIFMTU failed). */
const DEFAULT_MTU = 1500;

/** The addon's handle (native/tap.c `tap_open`). */
interface NativeTap {
  readonly name: string;
  readonly mtu: number;
  readonly mac: Buffer | null;
  readonly fd: number;
  /** End offset of each frame of the current batch within the batch Buffer. */
  readonly ends: Uint32Array;
  /** 10 when opened with offload (every read starts with a virtio_net_hdr), else 0. */
  readonly vnetHdrLen: number;
  write(frame: Uint8Array): boolean;
  writeVnet(hdr: Uint8Array, frame: Uint8Array): boolean;
  writeBatch(frames: readonly Uint8Array[]): number;
  start(): void;
  ref(): void;
  unref(): void;
  close(): void;
  stats(): TapStats;
  setBusyPoll(us: number): void;
}

type NativeCallback = (batch: Buffer | null, count: number, errno: number) => void;

interface NativeAddon {
  /** `wholeSuperFrames`: the addon also completes the partial checksums of TCP super-frames. */
  open(name: string, callback: NativeCallback, offload?: boolean, wholeSuperFrames?: boolean): NativeTap;
  readonly maxBatch: number;
}

const ADDON_PATH = "../../native/build/Release/tap.node";

let addon: NativeAddon | Error | undefined;

function loadAddon(): NativeAddon | Error {
  if (addon === undefined) {
    try {
      addon = createRequire(import.meta.url)(ADDON_PATH) as NativeAddon;
    } catch (e) {
      addon = e instanceof Error ? e : new Error(String(e));
    }
  }
  return addon;
}

/** True when the native addon is built and loads (TAP may still need root to open). */
export function tapAvailable(): boolean {
  return !(loadAddon() instanceof Error);
}

function isTapErrorCode(code: unknown): code is TapErrorCode {
  return (
    code === "WIRESTACK_ERR_NO_TUN" ||
    code === "WIRESTACK_ERR_TAP_PERMISSION" ||
    code === "WIRESTACK_ERR_TAP_NAME" ||
    code === "WIRESTACK_ERR_TAP_OPEN" ||
    code === "WIRESTACK_ERR_TAP_UNAVAILABLE"
  );
}

function toTapError(e: unknown): unknown {
  if (!(e instanceof Error)) return e;
  const { code, errno, syscall } = e as Error & { code?: unknown; errno?: unknown; syscall?: unknown };
  if (!isTapErrorCode(code)) return e; // a bug (ours or the addon's), not a user error
  return new TapError(
    code,
    e.message,
    typeof errno === "number" ? errno : undefined,
    typeof syscall === "string" && syscall !== "" ? syscall : undefined,
    { cause: e },
  );
}

/** A TAP interface attached to this process. Create with `openTap`. */
export class TapDevice implements FrameDevice {
  /** The interface name as the kernel has it (a pattern such as "tap%d" is expanded). */
  readonly name: string;
  /** The link MTU at open time (later `ip link set mtu` changes are not seen). */
  readonly mtu: number;
  /**
   * The kernel side's MAC address at open time: the address Linux uses on this link, so the
   * stack must pick a different one for itself. Undefined if it could not be read.
   */
  readonly kernelMac: Uint8Array | undefined;
  private readonly handle: NativeTap;
  private receiver: FrameReceiver | undefined;
  private readonly onError: ((error: TapError) => void) | undefined;
  private closed = false;
  /** True when opened with `offload` (IFF_VNET_HDR). */
  readonly vnetHdr: boolean;
  /** What the device does for the stack: set with `offload` unless `superFrames: false`. */
  readonly offload: DeviceOffload | undefined;
  private pending: Uint8Array[] = [];
  /** Per queued frame: the segment size of a stack super-segment, 0 for a plain frame. */
  private pendingSeg: number[] = [];
  private anySegmented = false;
  private flushQueued = false;
  private readonly hdrOut = new Uint8Array(VIRTIO_NET_HDR_LEN);
  private off = {
    rxSuperFrames: 0,
    rxSplitFrames: 0,
    rxChecksumsCompleted: 0,
    rxDropped: 0,
    txSuperFrames: 0,
    txCoalescedFrames: 0,
    txStackSuperFrames: 0,
    txStackSuperBytes: 0,
    txDropped: 0,
  };

  /** @internal Use `openTap`. */
  constructor(addonModule: NativeAddon, name: string, opts: TapOptions) {
    this.onError = opts.onError;
    this.vnetHdr = opts.offload === true;
    this.offload = this.vnetHdr && opts.superFrames !== false ? { tsoMaxBytes: TAP_TSO_MAX_BYTES, rxSuperFrames: true } : undefined;
    // With super-frames kept whole, the addon completes their partial checksums too (in C, while the
    // bytes are in cache); split, each piece gets its own sum here, so the addon leaves them alone.
    this.handle = this.vnetHdr ? addonModule.open(name, this.onBatch, true, this.offload !== undefined) : addonModule.open(name, this.onBatch);
    if (this.vnetHdr && this.handle.vnetHdrLen !== VIRTIO_NET_HDR_LEN) {
      this.handle.close();
      throw new TapError("WIRESTACK_ERR_TAP_OPEN", `TAP device ${name}: the addon does not support offload; rebuild it (node scripts/build-native.mjs)`);
    }
    this.name = this.handle.name;
    this.mtu = this.handle.mtu > 0 ? this.handle.mtu : DEFAULT_MTU;
    this.kernelMac = this.handle.mac === null ? undefined : new Uint8Array(this.handle.mac);
    if (opts.ref === false) this.handle.unref();
    if (opts.busyPollUs !== undefined && opts.busyPollUs !== 0) this.setBusyPoll(opts.busyPollUs);
  }

  /** Sets the busy-poll window after each received batch (`TapOptions.busyPollUs`); 0 turns it off. */
  setBusyPoll(us: number): void {
    if (!Number.isFinite(us) || us < 0 || us > 1_000_000) {
      throw new RangeError(`TAP device ${this.name}: busy-poll time must be 0 to 1000000 µs, got ${us}`);
    }
    this.handle.setBusyPoll(us);
  }

  /** The file descriptor on /dev/net/tun (for diagnostics; do not read or close it). */
  get fd(): number {
    return this.handle.fd;
  }

  /**
   * Writes one frame now; false when the kernel refused it (counted in `stats()`). With `offload`
   * the frame is queued for the end of the current job and the result is true.
   */
  send(frame: Uint8Array): boolean {
    if (!this.vnetHdr) return this.handle.write(frame);
    this.enqueue(frame, 0);
    return true;
  }

  /**
   * Queues a TCP super-frame the stack built (types.ts `FrameDevice.sendSegmented`); the kernel cuts
   * it into segments of `segmentSize` payload bytes. Only with `offload`; otherwise a misuse.
   */
  sendSegmented(frame: Uint8Array, segmentSize: number): void {
    if (this.offload === undefined) throw new Error(`TAP device ${this.name}: sendSegmented without offload`);
    this.anySegmented = true;
    this.enqueue(frame, segmentSize);
  }

  private enqueue(frame: Uint8Array, segmentSize: number): void {
    this.pending.push(frame);
    this.pendingSeg.push(segmentSize);
    if (!this.flushQueued) {
      this.flushQueued = true;
      queueMicrotask(this.flushNow);
    }
  }

  /** Writes frames in order (with `offload`: after anything queued, coalesced); returns how many the kernel took. */
  sendBatch(frames: readonly Uint8Array[]): number {
    if (!this.vnetHdr) return this.handle.writeBatch(frames);
    for (const f of frames) {
      this.pending.push(f);
      this.pendingSeg.push(0);
    }
    return this.flush();
  }

  /**
   * With `offload`: writes every queued frame now, adjacent segments of one TCP flow as one
   * super-frame; returns how many frames the kernel took. Without: 0 (nothing is ever queued).
   */
  flush(): number {
    this.flushQueued = false;
    const frames = this.pending;
    if (frames.length === 0) return 0;
    const segs = this.pendingSeg;
    this.pending = [];
    this.pendingSeg = [];
    if (!this.anySegmented) return this.writeCoalesced(frames);
    this.anySegmented = false;
    // Plain runs are coalesced; each stack super-segment is written where it was queued.
    let sent = 0;
    let runStart = 0;
    for (let i = 0; i <= frames.length; i++) {
      const seg = i < frames.length ? (segs[i] as number) : 0;
      if (i < frames.length && seg === 0) continue;
      if (i > runStart) sent += this.writeCoalesced(runStart === 0 && i === frames.length ? frames : frames.slice(runStart, i));
      runStart = i + 1;
      if (i === frames.length) break;
      sent += this.writeSuper(frames[i] as Uint8Array, seg);
    }
    return sent;
  }

  /** Writes one stack super-segment with its TSO header; returns the MSS-sized frames it stands for. */
  private writeSuper(frame: Uint8Array, segmentSize: number): number {
    const hdr = superFrameHeader(frame, segmentSize);
    if (hdr instanceof GsoError) {
      this.off.txDropped++;
      return 0;
    }
    emitVirtioNetHdr(hdr, this.hdrOut, 0);
    const payload = frame.length - hdr.hdrLen;
    this.off.txStackSuperFrames++;
    this.off.txStackSuperBytes += payload;
    const ok = this.handle.writeVnet(this.hdrOut, frame);
    // write(2) copied it: the 64 KiB buffer can carry the next super-segment.
    recyclePacket(frame);
    return ok ? Math.max(1, Math.ceil(payload / segmentSize)) : 0;
  }

  private writeCoalesced(frames: readonly Uint8Array[]): number {
    let sent = 0;
    for (const w of coalesceTcp(frames)) {
      if (w.hdr === undefined) {
        if (this.handle.write(w.frame)) sent++;
        continue;
      }
      emitVirtioNetHdr(w.hdr, this.hdrOut, 0);
      this.off.txSuperFrames++;
      this.off.txCoalescedFrames += w.frames;
      if (this.handle.writeVnet(this.hdrOut, w.frame)) sent += w.frames;
    }
    return sent;
  }

  private readonly flushNow = (): void => {
    if (this.flushQueued) this.flush();
  };

  /** Counters of the offload path since open. */
  offloadStats(): TapOffloadStats {
    return { ...this.off };
  }

  /** Sets the receiver; reading starts with the first one (frames wait in the kernel until then). */
  setReceiver(receiver: FrameReceiver): void {
    this.receiver = receiver;
    if (!this.closed) this.handle.start();
  }

  /** Counters since open. */
  stats(): TapStats {
    return this.handle.stats();
  }

  /** Lets an open device keep the process alive (the default). */
  ref(): this {
    this.handle.ref();
    return this;
  }

  /** Lets the process exit while the device is open. */
  unref(): this {
    this.handle.unref();
    return this;
  }

  /** Detaches from the interface. A device created by `openTap` disappears; a persistent one stays. */
  close(): void {
    if (this.closed) return;
    if (this.vnetHdr) this.flush();
    this.closed = true;
    this.receiver = undefined;
    this.handle.close();
  }

  private readonly onBatch: NativeCallback = (batch, count, errno) => {
    if (batch === null) {
      const error = new TapError(
        "WIRESTACK_ERR_TAP_OPEN",
        `TAP device ${this.name} failed while open (errno ${errno}); receiving stopped`,
        errno,
        "read",
      );
      this.onError?.(error);
      return;
    }
    const receiver = this.receiver;
    if (receiver === undefined) return;
    const ends = this.handle.ends;
    if (this.vnetHdr) {
      // Flags only for whole super-frames (one frame per unit); split pieces are verified as usual.
      const valid = this.offload !== undefined ? new Uint8Array(count) : undefined;
      const frames = this.unwrapVnet(batch, count, ends, valid);
      if (frames.length > 0) receiver(frames, valid);
      return;
    }
    const frames = new Array<Uint8Array>(count);
    let start = 0;
    for (let i = 0; i < count; i++) {
      const end = ends[i] as number;
      frames[i] = new Uint8Array(batch.buffer, batch.byteOffset + start, end - start);
      start = end;
    }
    receiver(frames);
  };

  /**
   * A batch of (virtio_net_hdr + frame) units as frames: super-frames whole for an offload-aware
   * stack (`offload`), else cut into the frames a plain link would deliver. With `valid` (whole
   * super-frames only), `valid[k]` is set for each frame k the local kernel built (partial checksum
   * or GSO): its checksum was completed or computed just now, so there is nothing to verify.
   */
  private unwrapVnet(batch: Buffer, count: number, ends: Uint32Array, valid: Uint8Array | undefined): Uint8Array[] {
    const whole = this.offload !== undefined;
    const frames: Uint8Array[] = [];
    let start = 0;
    for (let i = 0; i < count; i++) {
      const end = ends[i] as number;
      const unit = new Uint8Array(batch.buffer, batch.byteOffset + start, end - start);
      start = end;
      const gsoType = unit.length > 1 ? (unit[1] as number) : 0;
      const needsCsum = unit.length > 0 && ((unit[0] as number) & CSUM_FLAGS) !== 0;
      const out = whole ? receiveVnetUnitWhole(unit) : receiveVnetUnit(unit);
      if (out instanceof GsoError) {
        this.off.rxDropped++;
        continue;
      }
      if (gsoType !== 0) this.off.rxSuperFrames++;
      else if (needsCsum) this.off.rxChecksumsCompleted++;
      if (out instanceof Uint8Array) {
        if (valid !== undefined && (gsoType !== 0 || needsCsum)) valid[frames.length] = 1;
        frames.push(out);
      } else {
        if (gsoType !== 0) this.off.rxSplitFrames += out.length;
        for (const f of out) frames.push(f);
      }
    }
    return frames;
  }
}

/**
 * Creates TAP interface `name`, or attaches to it if it exists (e.g. made beforehand with
 * `ip tuntap add dev NAME mode tap user $USER`, which lets a non-root user open it).
 * Throws `TapError` with a code of `TapErrorCode` and a message that says what to do.
 */
export function openTapSync(name: string, opts: TapOptions = {}): TapDevice {
  if (typeof name !== "string") {
    throw new TapError("WIRESTACK_ERR_TAP_NAME", `TAP device name must be a string, got ${typeof name}`);
  }
  const loaded = loadAddon();
  if (loaded instanceof Error) {
    throw new TapError(
      "WIRESTACK_ERR_TAP_UNAVAILABLE",
      "TAP support is unavailable: the native addon (native/build/Release/tap.node) is not built. " +
        "Install a C compiler, python3 and make, then run `npm rebuild` or `node scripts/build-native.mjs`",
      undefined,
      undefined,
      { cause: loaded },
    );
  }
  try {
    return new TapDevice(loaded, name, opts);
  } catch (e) {
    throw toTapError(e);
  }
}

/** `openTapSync` as a promise (opening is immediate; the promise form fits `createStack`). */
export async function openTap(name: string, opts: TapOptions = {}): Promise<TapDevice> {
  return openTapSync(name, opts);
}
