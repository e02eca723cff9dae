/**
 * Two TcpConnections joined by a simulated link in virtual time: seeded loss, duplication,
 * reordering, delay and a rate-limited bottleneck with a bounded queue. Used to check that transfers
 * arrive intact and both ends close, whatever the impairments.
 */
import { TcpConnection, type Endpoint, type SegmentOut, type TcpConfig } from "../../../src/transport/tcp/connection.ts";
import { seededRandom, type Random } from "../../../src/time/random.ts";
import { TCP_SYN, TCP_ACK, type TcpRepr } from "../../../src/wire/tcp.ts";

const LOCAL: Endpoint = { family: 4, address: 0x0a000001, port: 49500 };
const REMOTE: Endpoint = { family: 4, address: 0x0a000002, port: 80 };

export interface LinkOptions {
  delayMs: number;
  loss?: number;
  duplicate?: number;
  /** Probability that a segment takes an extra `reorderMs`. */
  reorder?: number;
  reorderMs?: number;
  /** Bottleneck, bits per ms (10 Mbit/s = 10_000); undefined: infinite. */
  rateBitsPerMs?: number;
  queueLimit?: number;
}

interface InFlight {
  at: number;
  order: number;
  seg: TcpRepr;
}

class Direction {
  queue: InFlight[] = [];
  private busyUntil = 0;
  private order = 0;
  dropped = 0;
  constructor(
    private readonly opts: LinkOptions,
    private readonly rnd: Random,
    private readonly srcPort: number,
    private readonly dstPort: number,
  ) {}

  push(now: number, s: SegmentOut): void {
    if (this.opts.loss !== undefined && this.rnd.nextFloat() < this.opts.loss) {
      this.dropped++;
      return;
    }
    const copies = this.opts.duplicate !== undefined && this.rnd.nextFloat() < this.opts.duplicate ? 2 : 1;
    for (let c = 0; c < copies; c++) {
      let at = now;
      if (this.opts.rateBitsPerMs !== undefined) {
        const waiting = this.queue.filter((q) => q.at > now).length;
        if (waiting >= (this.opts.queueLimit ?? 50)) {
          this.dropped++;
          return;
        }
        const start = Math.max(now, this.busyUntil);
        this.busyUntil = start + ((s.payload.length + 52) * 8) / this.opts.rateBitsPerMs;
        at = this.busyUntil;
      }
      at += this.opts.delayMs;
      if (this.opts.reorder !== undefined && this.rnd.nextFloat() < this.opts.reorder) at += this.opts.reorderMs ?? 5;
      const seg: TcpRepr = {
        srcPort: this.srcPort,
        dstPort: this.dstPort,
        seq: s.seq,
        ack: s.ack,
        flags: s.flags,
        window: s.window,
        urgentPointer: 0,
        options: s.options,
        payload: s.payload.slice(), // the layer copies the view into the packet
      };
      this.queue.push({ at, order: this.order++, seg });
    }
  }

  nextAt(): number | undefined {
    let m: number | undefined;
    for (const q of this.queue) if (m === undefined || q.at < m) m = q.at;
    return m;
  }

  takeDue(now: number): TcpRepr[] {
    const due = this.queue.filter((q) => q.at <= now).sort((x, y) => x.at - y.at || x.order - y.order);
    this.queue = this.queue.filter((q) => q.at > now);
    return due.map((q) => q.seg);
  }
}

export interface TransferResult {
  received: Uint8Array;
  sent: Uint8Array;
  receivedBack: Uint8Array;
  sentBack: Uint8Array;
  endTime: number;
  a: TcpConnection;
  b: TcpConnection;
  aClosed: boolean;
  bClosed: boolean;
  maxOooBytes: number;
}

/**
 * A sends `size` bytes to B (and B sends `backSize` to A), both shut down after writing, run until
 * both are CLOSED or `limitMs` of virtual time passes.
 */
export function transfer(opts: {
  seed: number;
  size: number;
  backSize?: number;
  link: LinkOptions;
  configA?: TcpConfig;
  configB?: TcpConfig;
  limitMs?: number;
  readChunk?: number;
  /** B reads at most this many bytes per ms of virtual time (a slow reader). */
  readRatePerMs?: number;
}): TransferResult {
  const rnd = seededRandom(opts.seed);
  const data = rnd.fork("data").bytes(opts.size);
  const back = rnd.fork("back").bytes(opts.backSize ?? 0);
  const baseCfg: TcpConfig = { timeWaitMs: 2000 };
  const a = new TcpConnection({ local: LOCAL, remote: REMOTE, iss: rnd.nextU32(), config: { ...baseCfg, ...opts.configA }, random: rnd.fork("a"), now: 0 });
  const b = new TcpConnection({ local: REMOTE, remote: LOCAL, iss: rnd.nextU32(), config: { ...baseCfg, ...opts.configB }, random: rnd.fork("b"), now: 0 });
  const ab = new Direction(opts.link, rnd.fork("ab"), LOCAL.port, REMOTE.port);
  const ba = new Direction(opts.link, rnd.fork("ba"), REMOTE.port, LOCAL.port);
  let now = 0;
  let bStarted = false;
  const recvB: Uint8Array[] = [];
  const recvA: Uint8Array[] = [];
  let recvBLen = 0;
  let written = 0;
  let writtenBack = 0;
  let aShut = false;
  let bShut = false;
  let aClosed = false;
  let bClosed = false;
  let bEnd = false;
  let maxOoo = 0;
  let readBudget = 0;
  let lastReadAt = 0;
  a.connect(now);
  const limit = opts.limitMs ?? 600_000;
  for (let step = 0; step < 5_000_000 && now <= limit; step++) {
    // Applications.
    if (a.state !== "SYN-SENT") {
      while (written < data.length) {
        const n = a.write(data.subarray(written));
        if (n === 0) break;
        written += n;
      }
      if (written === data.length && !aShut) {
        a.shutdown(now);
        aShut = true;
      }
      for (let r = a.read(); r !== undefined; r = a.read()) recvA.push(r.slice());
    }
    if (bStarted && b.state !== "SYN-RECEIVED") {
      while (writtenBack < back.length) {
        const n = b.write(back.subarray(writtenBack));
        if (n === 0) break;
        writtenBack += n;
      }
      if (opts.readRatePerMs !== undefined) {
        readBudget += (now - lastReadAt) * opts.readRatePerMs;
        lastReadAt = now;
        while (readBudget >= 1) {
          const r = b.read(Math.min(Math.floor(readBudget), opts.readChunk ?? 65536));
          if (r === undefined) break;
          readBudget -= r.length;
          recvB.push(r.slice());
          recvBLen += r.length;
        }
        if (readBudget > 4096) readBudget = 4096;
      } else {
        for (let r = b.read(opts.readChunk); r !== undefined; r = b.read(opts.readChunk)) {
          recvB.push(r.slice());
          recvBLen += r.length;
        }
      }
      if (bEnd && writtenBack === back.length && !bShut) {
        b.shutdown(now);
        bShut = true;
      }
    }
    for (const e of a.takeEvents()) if (e.kind === "closed") aClosed = true;
    if (bStarted) {
      for (const e of b.takeEvents()) {
        if (e.kind === "closed") bClosed = true;
        if (e.kind === "end") bEnd = true;
      }
    }
    if (aClosed && bClosed && b.readableLength === 0 && a.readableLength === 0) break;
    // Egress.
    a.dispatch(now, (s) => ab.push(now, s));
    if (bStarted) b.dispatch(now, (s) => ba.push(now, s));
    // Next event.
    let next: number | undefined;
    for (const t of [ab.nextAt(), ba.nextAt(), a.nextDeadline(), bStarted ? b.nextDeadline() : undefined]) {
      if (t !== undefined && (next === undefined || t < next)) next = t;
    }
    if (opts.readRatePerMs !== undefined && bStarted && b.readableLength > 0) next = Math.min(next ?? Infinity, now + 1);
    if (next === undefined) break;
    now = Math.max(now, next);
    for (const seg of ab.takeDue(now)) {
      if (!bStarted) {
        if (seg.flags & TCP_SYN && !(seg.flags & TCP_ACK)) {
          b.acceptSyn(seg, now);
          bStarted = true;
        }
        continue;
      }
      b.processSegment(seg, now);
      maxOoo = Math.max(maxOoo, (b as unknown as { ooo: { bytes: number } }).ooo.bytes);
    }
    for (const seg of ba.takeDue(now)) a.processSegment(seg, now);
    a.poll(now);
    if (bStarted) b.poll(now);
  }
  return {
    received: concat(recvB, recvBLen),
    sent: data,
    receivedBack: concat(recvA, recvA.reduce((n, x) => n + x.length, 0)),
    sentBack: back,
    endTime: now,
    a,
    b,
    aClosed,
    bClosed,
    maxOooBytes: maxOoo,
  };
}

function concat(parts: Uint8Array[], len: number): Uint8Array {
  const out = new Uint8Array(len);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}
