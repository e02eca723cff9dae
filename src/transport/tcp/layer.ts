/**
 * The TCP layer of one stack: checksum, demultiplexing by 4-tuple, listeners, RSTs for segments that
 * belong to nothing, egress packet construction, and one deadline heap for every connection's timers.
 *
 * Read before editing: RFC 9293 §3.10.7.1 (CLOSED: the RST rules), §3.10.7.2 (LISTEN, in
 * listener.ts), §3.9.1 and RFC 1122 §4.2.3.10 (no TCP to broadcast or multicast), RFC 6528 (isn.ts),
 * RFC 4987 (cookies.ts), RFC 6056 (ephemeral ports), RFC 5927 and RFC 1122 §4.2.3.9 (ICMP errors).
 *
 * Owns: the connection table (a Map keyed by the 4-tuple), the listeners, the per-connection owner
 * (who hears its events) and the heap of deadlines. Guarantees: every segment handed to
 * `processSegment` reaches exactly one connection or one listener, is answered with a RST per
 * §3.10.7.1, or is dropped and counted under `tcp.drop.<reason>`; the checksum is verified first.
 * Never: reads a clock or holds a host timer (the stack asks `nextDeadline` and calls `poll`), or
 * calls an owner from inside a transition.
 *
 * Contract with the socket API (src/api/tcp-socket.ts, tcp-server.ts; the stack wires them):
 *
 *   const l = tcp.listen(port, local?, { backlog?, config? });  // WirestackError WIRESTACK_ERR_ADDR_IN_USE …
 *   l.owner = { acceptable() { for (let c; (c = tcp.accept(l)); ) adopt(c); } };
 *   const c = tcp.connect({ family: 4, address, port }, { localPort?, config? }, now);
 *   tcp.setOwner(c, { deliver(events) { … } });   // TcpEvent[] from conn.takeEvents(), in order
 *   c.write(bytes); tcp.kick(c); stackKick();      // every app call: mark dirty, then let the stack flush
 *   tcp.closeListener(l, now);                      // unaccepted and half-open connections are reset
 *
 * `flush(now)` runs after every batch of frames, timer expiry and app call (the stack's `service`):
 * it dispatches every dirty connection (building and sending its packets), re-arms its deadline,
 * forgets CLOSED connections, and only then — every transition finished — calls `owner.deliver(events)` for each
 * connection and `listener.owner.acceptable()` for each listener that gained connections. Events of
 * a connection without an owner yet (one waiting in an accept queue) are kept and delivered at the
 * first flush after `setOwner`. An owner may call back into the layer (write, kick, connect): the
 * work it marks is picked up by the same flush, in bounded rounds.
 *
 * A connection leaves its listener's SYN queue for the accept queue as soon as the segment that
 * establishes it has been processed, so later segments of the same batch see the accept queue's
 * true length and the backlog bound holds within a batch too.
 *
 * The IP layers are the structural `Ipv4Sender` / `Ipv6Sender` of transport/udp.ts; segments arrive
 * as its `IpDelivery`.
 */
import { WirestackError } from "../../errors.ts";
import { DeadlineHeap } from "../../time/heap.ts";
import type { Random } from "../../time/random.ts";
import { Counters } from "../../util/counters.ts";
import { foldSum, pseudoHeaderSumV4, pseudoHeaderSumV6 } from "../../wire/checksum.ts";
import { dataView } from "../../wire/bytes.ts";
import { WireError } from "../../wire/error.ts";
import { ipv4ToString, ipv6Equals, ipv6ToString, type Ipv4Address, type Ipv6Address } from "../../wire/ip-address.ts";
import { allocPacket } from "../../wire/packet-buffer.ts";
import {
  IP_PROTOCOL_TCP,
  NO_TCP_OPTIONS,
  TCP_ACK,
  TCP_FIN,
  TCP_RST,
  TCP_SYN,
  TcpView,
  emitTcp,
  tcpHeaderLen,
  tcpOptionsLikeLinux,
  type TcpOption,
  type TcpOptionSet,
  type TcpRepr,
} from "../../wire/tcp.ts";
import { pickEphemeralPort } from "../ports.ts";
import { classifyIcmpError, type IcmpErrorEvent, type IpDelivery, type Ipv4Sender, type Ipv6Sender } from "../udp.ts";
import { DEFAULT_TCP_CONFIG, TcpConnection, type Endpoint, type SegmentOut, type TcpConfig, type TcpEvent } from "./connection.ts";
import { SynCookies, cookieTsVal, COOKIE_MSS_V4, COOKIE_MSS_V6 } from "./cookies.ts";
import { IsnGenerator } from "./isn.ts";
import { DEFAULT_BACKLOG, DEFAULT_SYN_QUEUE, TcpListener, type TcpListenLocal } from "./listener.ts";

/** Default bound on connections in the table, every state included (issue 8). */
export const DEFAULT_MAX_CONNECTIONS = 10_000;
/** Owner-callback rounds one `flush` runs before leaving the rest for the next (a runaway guard). */
const MAX_FLUSH_ROUNDS = 64;
/** RFC 7323 §2.3: the largest window shift. */
const MAX_WINDOW_SHIFT = 14;

/** Receives a connection's events (the socket API's TcpSocket). */
export interface TcpConnectionOwner {
  /** The events since the last delivery, in order, after the transitions that made them. */
  deliver(events: readonly TcpEvent[]): void;
}

/** Bounds of the layer (issue 8: configurable, counted when hit). */
export interface TcpLimits {
  /** Connections in the table, any state; past it SYNs are dropped and `connect` throws. Default 10 000. */
  readonly maxConnections: number;
  /** Default SYN queue bound of a listener. Default 256. */
  readonly synQueue: number;
  /** Default accept queue bound (backlog) of a listener. Default 128. */
  readonly acceptQueue: number;
}

/** Construction options of `TcpLayer`; either IP layer may be absent. */
/** What TCP needs of the IPv4 layer: UDP's `Ipv4Sender`, plus the TSO option of `Ipv4Layer.dispatch`. */
export interface TcpIpv4Sender extends Ipv4Sender {
  dispatch(protocol: number, src: Ipv4Address | undefined, dst: Ipv4Address, payload: Uint8Array, now: number, opts?: TcpIpSendOptions): boolean;
}

/** What TCP needs of the IPv6 layer (as `TcpIpv4Sender`). */
export interface TcpIpv6Sender extends Ipv6Sender {
  dispatch(protocol: number, src: Ipv6Address | undefined, dst: Ipv6Address, payload: Uint8Array, now: number, opts?: TcpIpSendOptions): boolean;
}

/** The dispatch option TCP passes for a super-segment (net/ipv4.ts `Ipv4SendOptions.segmentSize`). */
export interface TcpIpSendOptions {
  readonly segmentSize?: number | undefined;
}

export interface TcpLayerOptions {
  readonly ipv4?: TcpIpv4Sender | undefined;
  readonly ipv6?: TcpIpv6Sender | undefined;
  /** ISN and cookie secrets, ephemeral ports, timestamp offsets: give the stack's Random, forked for TCP. */
  readonly random: Random;
  /** Defaults for every connection (connection.ts documents each). */
  readonly config?: TcpConfig | undefined;
  readonly limits?: Partial<TcpLimits> | undefined;
}

/** Options of `listen`. */
export interface TcpListenOptions {
  /** Accept queue bound; default `limits.acceptQueue`. */
  readonly backlog?: number | undefined;
  /** SYN queue bound; default `limits.synQueue`. */
  readonly synQueue?: number | undefined;
  /** Settings for this listener's connections, over the layer's. */
  readonly config?: TcpConfig | undefined;
}

/** Options of `connect`. */
export interface TcpConnectOptions {
  /** Our port; default an ephemeral one (RFC 6056). */
  readonly localPort?: number | undefined;
  /** Our address; default the source address the IP layer picks for the destination. */
  readonly localAddress?: Ipv4Address | Ipv6Address | undefined;
  /** Settings for this connection, over the layer's. */
  readonly config?: TcpConfig | undefined;
}

/**
 * The `pending` of an entry with nothing to deliver: shared, never written (the flush replaces it
 * with the connection's own array before anything is appended), so an entry costs no array.
 */
const NO_EVENTS: TcpEvent[] = Object.freeze([]) as unknown as TcpEvent[];

class Entry {
  /** The next entry in the same `byTuple` bucket (another 4-tuple with the same hash). */
  next: Entry | undefined = undefined;
  /** True while the entry is reachable through `byTuple`. */
  inTable = false;
  owner: TcpConnectionOwner | undefined = undefined;
  /** Events not yet delivered (no owner yet, or collected in the current flush). */
  pending: TcpEvent[] = NO_EVENTS;
  /** Set while the connection sits in its listener's SYN or accept queue. */
  queued: "syn" | "accept" | undefined = undefined;
  /** The deadline last pushed on the heap (entries with another deadline are stale). */
  deadline: number | undefined = undefined;
  removed = false;
  constructor(
    readonly key: number,
    readonly conn: TcpConnection,
    public listener: TcpListener | undefined,
  ) {}
}

/** A 32-bit mix of an address: the IPv4 number, or the four words of an IPv6 address. */
function addrHash(a: number | Uint8Array): number {
  if (typeof a === "number") return a | 0;
  let h = 0;
  for (let i = 0; i < 16; i += 4) {
    const w = ((a[i] as number) << 24) | ((a[i + 1] as number) << 16) | ((a[i + 2] as number) << 8) | (a[i + 3] as number);
    h = Math.imul(h ^ w, 0x9e3779b1);
  }
  return h;
}

/**
 * The bucket of a 4-tuple in `byTuple`: a small integer (a V8 Smi, so the Map hashes it without a
 * string built per segment or a boxed number). Distinct tuples may share a bucket; entries chain and
 * `sameTuple` decides. `salt` is drawn per layer, so colliding tuples differ from stack to stack (a
 * bucket's chain is at most `limits.maxConnections` long in any case). The salt of a layer is
 * `random.fork("tuples").nextU32() | 0` of the Random it was given. Exported for tests that need two
 * tuples in one bucket.
 * @internal
 */
export function tupleHash(salt: number, localAddr: number | Uint8Array, localPort: number, remoteAddr: number | Uint8Array, remotePort: number): number {
  let h = Math.imul(addrHash(remoteAddr) ^ salt, 0x85ebca6b);
  h = Math.imul(h ^ addrHash(localAddr), 0xc2b2ae35);
  h ^= (localPort << 16) | remotePort;
  h = Math.imul(h ^ (h >>> 15), 0x2c1b3c6d);
  return (h ^ (h >>> 13)) & 0x3fffffff;
}

function sameTuple(c: TcpConnection, localAddr: number | Uint8Array, localPort: number, remoteAddr: number | Uint8Array, remotePort: number): boolean {
  const l = c.local;
  const r = c.remote;
  return l.port === localPort && r.port === remotePort && sameAddress(r.address, remoteAddr) && sameAddress(l.address, localAddr);
}

function sameAddress(a: number | Uint8Array, b: number | Uint8Array): boolean {
  if (typeof a === "number" || typeof b === "number") return a === b;
  return ipv6Equals(a, b);
}

function coversFamily(local: TcpListenLocal, family: 4 | 6): boolean {
  return local.family === "dual" || local.family === family;
}

function listenAddress(local: TcpListenLocal): Ipv4Address | Ipv6Address | undefined {
  return local.family === "dual" ? undefined : local.address;
}

/** Linux's bind conflict rule without SO_REUSEADDR, as for UDP. */
function conflicts(a: TcpListenLocal, b: TcpListenLocal): boolean {
  const shared = ([4, 6] as const).filter((f) => coversFamily(a, f) && coversFamily(b, f));
  if (shared.length === 0) return false;
  const aa = listenAddress(a);
  const ba = listenAddress(b);
  return aa === undefined || ba === undefined || sameAddress(aa, ba);
}

function endpointText(e: Endpoint): string {
  const a = typeof e.address === "number" ? ipv4ToString(e.address) : `[${ipv6ToString(e.address)}]`;
  return `${a}:${e.port}`;
}

/** Writes the TCP checksum field (RFC 9293 §3.1: bytes 16–17 of the header) of the segment at `out[0..]`. */
function writeChecksumField(out: Uint8Array, value: number): void {
  out[16] = value >>> 8;
  out[17] = value & 0xff;
}

/** The segment length of RFC 9293 §3.4: data plus one for SYN and one for FIN. */
function segLen(seg: TcpRepr): number {
  return seg.payload.length + (seg.flags & TCP_SYN ? 1 : 0) + (seg.flags & TCP_FIN ? 1 : 0);
}

/** The TCP layer (see the module comment). */
export class TcpLayer {
  /** Drops and events, prefix "tcp" (`tcp.drop.bad-checksum`, `tcp.tx.rst`, …). */
  readonly counters = new Counters("tcp");
  private readonly rxSegments = this.counters.counter("rx.segments");
  private readonly rxChecksumTrusted = this.counters.counter("rx.checksum-trusted");
  private readonly rxDelivered = this.counters.counter("rx.delivered");
  private readonly txSegments = this.counters.counter("tx.segments");
  private readonly txRefused = this.counters.counter("tx.refused");
  private readonly txSuperSegments = this.counters.counter("tx.super-segments");
  /** Every listener's decisions, prefix "tcp.listen". */
  readonly listenCounters = new Counters("tcp.listen");
  readonly limits: TcpLimits;

  private readonly ipv4: TcpIpv4Sender | undefined;
  private readonly ipv6: TcpIpv6Sender | undefined;
  private readonly random: Random;
  private readonly connRandom: Random;
  private readonly config: TcpConfig;
  private readonly isns: IsnGenerator;
  private readonly cookies: SynCookies;
  /** Bucket heads by `tupleHash`; each bucket chains through `Entry.next`. */
  private readonly byTuple = new Map<number, Entry>();
  /** Entries reachable through `byTuple` (the table's size, bounded by `limits.maxConnections`). */
  private tableSize = 0;
  private readonly tupleSalt: number;
  private readonly byConn = new Map<TcpConnection, Entry>();
  private readonly listenersByPort = new Map<number, TcpListener[]>();
  private readonly heap = new DeadlineHeap<Entry>();
  private dirty = new Set<Entry>();
  private spareDirty = new Set<Entry>();
  /** Listeners whose accept queue gained connections since the last notification. */
  private acceptable = new Set<TcpListener>();
  private spareAcceptable = new Set<TcpListener>();
  private flushing = false;
  /** Connections with events to hand over in the current flush round (reused: flush is not re-entrant). */
  private readonly deliveries: Entry[] = [];
  /**
   * The connection `flush` is dispatching, its `now`, and one emit callback for all of them: no
   * closure per connection per flush.
   */
  private flushConn: TcpConnection | undefined = undefined;
  private flushNow = 0;
  private readonly flushEmit = (seg: SegmentOut): void => {
    const conn = this.flushConn as TcpConnection;
    this.transmit(conn.local, conn.remote, seg, this.flushNow);
  };

  constructor(opts: TcpLayerOptions) {
    this.ipv4 = opts.ipv4;
    this.ipv6 = opts.ipv6;
    this.random = opts.random.fork("ports");
    this.connRandom = opts.random.fork("connections");
    this.isns = new IsnGenerator(opts.random.fork("isn"));
    this.cookies = new SynCookies(opts.random.fork("cookies"));
    this.tupleSalt = opts.random.fork("tuples").nextU32() | 0;
    this.config = opts.config ?? {};
    this.limits = {
      maxConnections: opts.limits?.maxConnections ?? DEFAULT_MAX_CONNECTIONS,
      synQueue: opts.limits?.synQueue ?? DEFAULT_SYN_QUEUE,
      acceptQueue: opts.limits?.acceptQueue ?? DEFAULT_BACKLOG,
    };
  }

  /** The local scope a listener gets when none is asked for: both families when both are configured. */
  defaultLocal(): TcpListenLocal {
    if (this.ipv4 && this.ipv6) return { family: "dual" };
    return this.ipv4 ? { family: 4 } : { family: 6 };
  }

  /** True when the family has an IP layer in this stack. */
  hasFamily(family: 4 | 6): boolean {
    return (family === 4 ? this.ipv4 : this.ipv6) !== undefined;
  }

  // ---------------------------------------------------------------------------------------------
  // Ingress

  /**
   * One segment from the IP layer: verified, then handed to its connection or listener, or answered
   * with a RST (RFC 9293 §3.10.7.1). Replies of connections go out at the next `flush`.
   * `checksumValid`: the device vouches for the checksum (a frame the local kernel built, completed
   * by the device: device/types.ts FrameReceiver), so the payload is not summed again.
   */
  processSegment(d: IpDelivery, now: number, checksumValid = false): void {
    this.rxSegments.value++;
    if (d.protocol !== IP_PROTOCOL_TCP) return this.drop("not-tcp");
    const bytes = d.payload;
    const v = TcpView.check(bytes);
    if (v instanceof WireError) return this.drop(v.reason);
    // RFC 9293 §3.9.1 / RFC 1122 §4.2.3.10: TCP is unicast only; a SYN to a broadcast or multicast
    // address, and anything else sent there, is discarded.
    if (d.dstKind !== "unicast") return this.drop(`not-unicast`);
    // RFC 9293 §3.1 / MUST-2: a segment whose checksum fails is discarded.
    if (checksumValid) this.rxChecksumTrusted.value++;
    else {
      const pseudoSum =
        d.family === 4
          ? pseudoHeaderSumV4(d.src, d.dst, IP_PROTOCOL_TCP, bytes.length)
          : pseudoHeaderSumV6(d.src, d.dst, IP_PROTOCOL_TCP, bytes.length);
      if (!v.verifyChecksumFrom(pseudoSum)) return this.drop("bad-checksum");
    }
    const srcPort = v.srcPort;
    const dstPort = v.dstPort;
    if (srcPort === 0 || dstPort === 0) return this.drop("port-zero");
    // Parsed once, from the checked view; the connection takes this repr as it is.
    const seg = v.toRepr();

    let e = this.lookup(d.dst, dstPort, d.src, srcPort);
    if (e !== undefined && e.conn.state === "CLOSED") {
      // Closed since the last flush: the segment meets no connection (the flush still reports it).
      this.unregister(e);
      e = undefined;
    }
    if (e !== undefined) {
      const l = e.listener;
      const completes = seg.flags & TCP_ACK && !(seg.flags & (TCP_RST | TCP_SYN));
      if (e.queued === "syn" && l !== undefined && completes && l.acceptQueueFull) {
        // Linux's tcp_check_req without tcp_abort_on_overflow: leave the half-open connection as
        // it is; the peer's retransmission or our SYN-ACK's will complete it once there is room.
        l.counters.inc("drop.accept-queue-full");
        return;
      }
      this.rxDelivered.value++;
      e.conn.processSegment(seg, now);
      // At once, not at the flush: the next segment of this batch must see the accept queue as it is.
      this.promote(e);
      this.dirty.add(e);
      return;
    }

    const local: Endpoint = { family: d.family, address: d.dst, port: dstPort };
    const remote: Endpoint = { family: d.family, address: d.src, port: srcPort };
    const listener = this.findListener(dstPort, d.family, d.dst);
    if (listener !== undefined) return this.toListener(listener, seg, local, remote, now);
    this.counters.inc("rx.no-connection");
    this.replyReset(seg, local, remote, now);
  }

  /**
   * An ICMP error quoting one of our segments (RFC 1122 §4.2.3.9, RFC 5927), handed to the
   * connection (`TcpConnection.processIcmpError`: hard errors end SYN-SENT with ECONNREFUSED as on
   * Linux, PMTU errors lower the MSS, the rest are soft). The quoted SEQ goes along when the quote
   * holds it (`quotedPayload`, both families), for the RFC 5927 §4.1 in-flight check.
   */
  processIcmpError(event: IcmpErrorEvent, now: number): "delivered" | "dropped" {
    if (event.protocol !== IP_PROTOCOL_TCP) return this.dropIcmp("not-tcp");
    if (event.srcPort === undefined || event.dstPort === undefined) return this.dropIcmp("short-quote");
    const family = typeof event.src === "number" ? 4 : 6;
    if (typeof event.dst === "number" ? family !== 4 : family !== 6) return this.dropIcmp("mixed-family");
    const e = this.lookup(event.src, event.srcPort, event.dst, event.dstPort);
    if (e === undefined) return this.dropIcmp("no-connection");
    const kind = classifyIcmpError(event.error.type, event.error.code?.kind);
    this.counters.inc(`rx.icmp.${kind}`);
    const quoted = event.quotedPayload;
    const quotedSeq = quoted !== undefined && quoted.length >= 8 ? dataView(quoted).getUint32(4) : undefined;
    e.conn.processIcmpError({ kind, mtu: event.error.mtu ?? event.error.code?.nextHopMtu, quotedSeq }, now);
    this.dirty.add(e);
    return "delivered";
  }

  // ---------------------------------------------------------------------------------------------
  // Opening

  /**
   * Listens on `port` (1–65535) at `local` (default `defaultLocal()`). Throws WirestackError:
   * WIRESTACK_ERR_ADDR_IN_USE for a conflicting listener, WIRESTACK_ERR_BAD_PORT,
   * WIRESTACK_ERR_ADDR_NOT_AVAILABLE for a family or address this stack does not have.
   */
  listen(port: number, local?: TcpListenLocal, opts: TcpListenOptions = {}): TcpListener {
    const where = local ?? this.defaultLocal();
    if (!Number.isInteger(port) || port < 1 || port > 0xffff) {
      throw new WirestackError("WIRESTACK_ERR_BAD_PORT", `TCP port ${port} is not an integer in 1–65535`);
    }
    this.checkLocal(where);
    if (this.listenersByPort.get(port)?.some((l) => conflicts(l.local, where))) {
      throw new WirestackError("WIRESTACK_ERR_ADDR_IN_USE", `TCP port ${port} is already listening; choose another port or close the other server`);
    }
    const config = { ...this.config, ...opts.config };
    const l = new TcpListener({
      port,
      local: where,
      backlog: opts.backlog ?? this.limits.acceptQueue,
      synQueue: opts.synQueue ?? this.limits.synQueue,
      config,
      counters: this.listenCounters,
      cookies: this.cookies,
      features: {
        windowScale: config.windowScale ?? DEFAULT_TCP_CONFIG.windowScale,
        sack: config.sack ?? DEFAULT_TCP_CONFIG.sack,
        timestamps: config.timestamps ?? DEFAULT_TCP_CONFIG.timestamps,
      },
    });
    const list = this.listenersByPort.get(port);
    if (list) list.push(l);
    else this.listenersByPort.set(port, [l]);
    this.counters.inc("listen");
    return l;
  }

  /** Stops listening; half-open and unaccepted connections are reset (as Linux on close). Idempotent. */
  closeListener(l: TcpListener, now: number): void {
    if (!l.open) return;
    l.open = false;
    const rest = (this.listenersByPort.get(l.port) ?? []).filter((x) => x !== l);
    if (rest.length === 0) this.listenersByPort.delete(l.port);
    else this.listenersByPort.set(l.port, rest);
    for (const c of [...l.synQueue, ...l.acceptQueue]) {
      const e = this.byConn.get(c);
      c.abort(now);
      if (e !== undefined) {
        e.listener = undefined;
        e.queued = undefined;
        this.dirty.add(e);
      }
    }
    l.synQueue.clear();
    l.acceptQueue.length = 0;
  }

  /** The oldest established connection of `l`, or undefined. Give it an owner with `setOwner`. */
  accept(l: TcpListener): TcpConnection | undefined {
    const c = l.accept();
    if (c === undefined) return undefined;
    const e = this.byConn.get(c);
    if (e !== undefined) {
      e.queued = undefined;
      e.listener = undefined;
    }
    return c;
  }

  /**
   * Active open to `remote` (RFC 9293 §3.10.1): the SYN goes out at the next `flush`. Throws
   * WirestackError: WIRESTACK_ERR_BAD_PORT, WIRESTACK_ERR_ADDR_NOT_AVAILABLE (family not configured),
   * WIRESTACK_ERR_NO_ROUTE, WIRESTACK_ERR_ADDR_IN_USE (the 4-tuple exists, or no ephemeral port is
   * free), WIRESTACK_ERR_TOO_MANY_CONNECTIONS.
   */
  connect(remote: Endpoint, opts: TcpConnectOptions = {}, now: number): TcpConnection {
    if (!Number.isInteger(remote.port) || remote.port < 1 || remote.port > 0xffff) {
      throw new WirestackError("WIRESTACK_ERR_BAD_PORT", `TCP port ${remote.port} is not an integer in 1–65535`);
    }
    const family = remote.family;
    const ip = family === 4 ? this.ipv4 : this.ipv6;
    if (ip === undefined) {
      throw new WirestackError("WIRESTACK_ERR_ADDR_NOT_AVAILABLE", `this stack has no IPv${family} address; configure one to connect over IPv${family}`);
    }
    const src =
      opts.localAddress ??
      (typeof remote.address === "number" ? this.ipv4?.routeFor(remote.address)?.src : this.ipv6?.routeFor(remote.address)?.src);
    if (src === undefined) {
      throw new WirestackError("WIRESTACK_ERR_NO_ROUTE", `no route to ${endpointText(remote)}: give an address on a configured subnet or set a gateway`);
    }
    if (this.tableSize >= this.limits.maxConnections) {
      this.counters.inc("drop.connection-limit");
      throw new WirestackError(
        "WIRESTACK_ERR_TOO_MANY_CONNECTIONS",
        `this stack already holds ${this.limits.maxConnections} TCP connections; close some or raise limits.maxConnections`,
      );
    }
    const localOf = (port: number): Endpoint => ({ family, address: src, port });
    let port = opts.localPort;
    if (port === undefined || port === 0) {
      // RFC 6056 §3.3.1 (Algorithm 1). A port may serve several destinations, but never the same
      // 4-tuple twice, nor a port a listener holds.
      port = pickEphemeralPort(this.random, (p) => this.lookup(src, p, remote.address, remote.port) !== undefined || this.listenersByPort.has(p));
      if (port === undefined) {
        throw new WirestackError("WIRESTACK_ERR_ADDR_IN_USE", `every ephemeral port towards ${endpointText(remote)} is in use; close some connections`);
      }
    } else if (!Number.isInteger(port) || port < 1 || port > 0xffff) {
      throw new WirestackError("WIRESTACK_ERR_BAD_PORT", `TCP port ${port} is not an integer in 1–65535`);
    } else if (this.lookup(src, port, remote.address, remote.port) !== undefined) {
      throw new WirestackError("WIRESTACK_ERR_ADDR_IN_USE", `a connection from port ${port} to ${endpointText(remote)} already exists`);
    }
    const local = localOf(port);
    const conn = this.newConnection(local, remote, { ...this.config, ...opts.config }, this.isns.isn(local, remote, now), now);
    conn.connect(now);
    this.dirty.add(this.register(conn, undefined));
    this.counters.inc("tx.connect");
    return conn;
  }

  // ---------------------------------------------------------------------------------------------
  // The application side

  /** Sets who hears `conn`'s events; events kept so far go out at the next `flush`. */
  setOwner(conn: TcpConnection, owner: TcpConnectionOwner | undefined): void {
    const e = this.byConn.get(conn);
    if (e === undefined) return;
    e.owner = owner;
    if (owner !== undefined && e.pending.length > 0) this.dirty.add(e);
  }

  /** Marks `conn` as having work (after write, read, shutdown, abort …); the next `flush` sends it. */
  kick(conn: TcpConnection): void {
    const e = this.byConn.get(conn);
    if (e !== undefined) this.dirty.add(e);
  }

  /** Every connection in the table, for inspection. */
  connections(): TcpConnection[] {
    return [...this.byConn.keys()];
  }

  /** Every open listener. */
  listeners(): TcpListener[] {
    return [...this.listenersByPort.values()].flat();
  }

  // ---------------------------------------------------------------------------------------------
  // Timers and egress

  /** Runs the timers due at `now`, then flushes. */
  poll(now: number): void {
    for (let guard = this.heap.size; guard > 0; guard--) {
      const d = this.heap.peekDeadline();
      if (d === undefined || d > now) break;
      const e = this.heap.pop() as Entry;
      if (e.removed || e.deadline !== d) continue; // stale: the deadline moved since this push
      e.deadline = undefined;
      e.conn.poll(now);
      this.dirty.add(e);
    }
    this.flush(now);
  }

  /** The earliest connection deadline, or undefined. Stale heap tops are discarded on the way. */
  nextDeadline(): number | undefined {
    for (;;) {
      const d = this.heap.peekDeadline();
      const e = this.heap.peek();
      if (d === undefined || e === undefined) return undefined;
      if (!e.removed && e.deadline === d) return d;
      this.heap.pop();
    }
  }

  /**
   * Dispatches every dirty connection, settles queues and the table, then tells owners (see the
   * module comment). Re-entrant calls (from an owner) return at once: the running flush picks up
   * what they marked.
   */
  flush(now: number): void {
    if (this.flushing) return;
    this.flushing = true;
    try {
      for (let round = 0; round < MAX_FLUSH_ROUNDS && this.dirty.size > 0; round++) {
        // The two sets take turns (what owners mark while this batch runs lands in the other one),
        // so a flush allocates none.
        const batch = this.dirty;
        this.dirty = this.spareDirty;
        const deliveries = this.deliveries;
        deliveries.length = 0;
        this.flushNow = now;
        for (const e of batch) {
          const conn = e.conn;
          this.flushConn = conn;
          conn.dispatch(now, this.flushEmit);
          this.flushConn = undefined;
          this.settle(e);
          const evs = conn.takeEvents();
          if (evs.length > 0) {
            // Non-empty: the connection's own array, handed over (takeEvents).
            if (e.pending.length === 0) e.pending = evs as TcpEvent[];
            else e.pending.push(...evs);
          }
          if (e.owner !== undefined && e.pending.length > 0) deliveries.push(e);
        }
        batch.clear();
        this.spareDirty = batch;
        for (const e of deliveries) {
          const evs = e.pending;
          e.pending = NO_EVENTS;
          e.owner?.deliver(evs);
        }
        deliveries.length = 0;
        if (this.acceptable.size > 0) {
          const acceptable = this.acceptable;
          this.acceptable = this.spareAcceptable;
          for (const l of acceptable) if (l.open) l.owner?.acceptable();
          acceptable.clear();
          this.spareAcceptable = acceptable;
        }
      }
    } finally {
      this.flushing = false;
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Internals

  private toListener(l: TcpListener, seg: TcpRepr, local: Endpoint, remote: Endpoint, now: number): void {
    // A SYN that would create state past the connection limit is dropped (a cookie creates none,
    // but its ACK would): issue 8.
    const full = this.tableSize >= this.limits.maxConnections;
    if (full && seg.flags & TCP_SYN && !(seg.flags & (TCP_ACK | TCP_RST))) return this.drop("connection-limit");
    const decision = l.decide(seg, local, remote, now);
    switch (decision.kind) {
      case "drop":
        return; // counted by the listener (tcp.listen.drop.<reason>)
      case "reset":
        return this.replyReset(seg, local, remote, now);
      case "syn-received": {
        const conn = this.newConnection(local, remote, l.config, this.isns.isn(local, remote, now), now);
        conn.acceptSyn(seg, now);
        const e = this.register(conn, l);
        e.queued = "syn";
        l.synQueue.add(conn);
        this.dirty.add(e);
        return;
      }
      case "cookie-syn":
        return this.sendCookieSynAck(l, seg, decision.options, local, remote, now);
      case "cookie-ack": {
        if (full) return this.drop("connection-limit");
        const conn = this.newConnection(local, remote, l.config, decision.iss, now);
        const e = this.register(conn, l);
        // Counted against the SYN queue for the instant until `settle` moves it to the accept queue.
        e.queued = "syn";
        l.synQueue.add(conn);
        conn.acceptCookie(decision.info, seg, now);
        this.promote(e);
        this.dirty.add(e);
        return;
      }
      default:
        return assertNever(decision);
    }
  }

  /** RFC 4987 §3.6: the SYN-ACK of a SYN the full SYN queue could not take; see cookies.ts. */
  private sendCookieSynAck(l: TcpListener, syn: TcpRepr, o: TcpOptionSet, local: Endpoint, remote: Endpoint, now: number): void {
    const cfg = l.config;
    const family = local.family;
    const peerMss = o.mss ?? (family === 4 ? COOKIE_MSS_V4[0] : COOKIE_MSS_V6[0]);
    const iss = this.cookies.make(local, remote, syn.seq, peerMss, now);
    const ourMss = cfg.mss ?? (family === 4 ? 1460 : 1440);
    const recvBuf = cfg.recvBufferSize ?? DEFAULT_TCP_CONFIG.recvBufferSize;
    // Without timestamps there is nowhere to keep window scale and SACK: offer neither (cookies.ts).
    const ts = o.timestamps !== undefined && (cfg.timestamps ?? DEFAULT_TCP_CONFIG.timestamps) ? o.timestamps : undefined;
    const peerWs = ts !== undefined && (cfg.windowScale ?? DEFAULT_TCP_CONFIG.windowScale) ? o.windowScale : undefined;
    const sack = ts !== undefined && (cfg.sack ?? DEFAULT_TCP_CONFIG.sack) && o.sackPermitted === true;
    let ourWs = 0;
    // The shift the connection will choose (connection.ts: the smallest that fits the buffer, RFC 7323 §2.3).
    while (ourWs < MAX_WINDOW_SHIFT && recvBuf >>> ourWs > 0xffff) ourWs++;
    const tsNow = (Math.floor(now) + this.isns.tsOffset(local, remote)) >>> 0;
    const options: readonly TcpOption[] = tcpOptionsLikeLinux({
      mss: ourMss,
      windowScale: peerWs !== undefined ? ourWs : undefined,
      sackPermitted: sack || undefined,
      timestamps: ts !== undefined ? { tsVal: cookieTsVal(tsNow, peerWs, sack), tsEcr: ts.tsVal } : undefined,
    });
    this.transmit(
      local,
      remote,
      {
        seq: iss,
        ack: (syn.seq + 1) >>> 0,
        flags: TCP_SYN | TCP_ACK,
        // RFC 7323 §2.2: a SYN's window is not scaled; connection.ts's acceptCookie assumes this one.
        window: Math.min(recvBuf, 0xffff),
        options,
        payload: EMPTY,
      },
      now,
    );
    this.counters.inc("tx.cookie-syn-ack");
  }

  /**
   * RFC 9293 §3.10.7.1: "If the state is CLOSED ... a reset is sent in response to any incoming
   * segment except another reset." With ACK: <SEQ=SEG.ACK><CTL=RST>; without:
   * <SEQ=0><ACK=SEG.SEQ+SEG.LEN><CTL=RST,ACK>. Also LISTEN's answer to an ACK (§3.10.7.2).
   */
  private replyReset(seg: TcpRepr, local: Endpoint, remote: Endpoint, now: number): void {
    if (seg.flags & TCP_RST) return this.drop("rst-for-nothing");
    const out =
      seg.flags & TCP_ACK
        ? { seq: seg.ack, ack: 0, flags: TCP_RST }
        : { seq: 0, ack: (seg.seq + segLen(seg)) >>> 0, flags: TCP_RST | TCP_ACK };
    this.counters.inc("tx.rst");
    this.transmit(local, remote, { ...out, window: 0, options: NO_TCP_OPTIONS, payload: EMPTY }, now);
  }

  /**
   * Builds one packet (STYLE.md §9: one allocation, payload copied once) and hands it to IP. A
   * super-segment (`segmentSize` set, connection.ts) leaves its checksum to the device: the field
   * holds the folded pseudo-header sum over the whole segment (device/types.ts `sendSegmented`), so
   * the 64 KiB payload is never summed here.
   */
  private transmit(
    local: Endpoint,
    remote: Endpoint,
    seg: {
      seq: number;
      ack: number;
      flags: number;
      window: number;
      options: readonly TcpOption[];
      payload: Uint8Array;
      segmentSize?: number | undefined;
    },
    now: number,
  ): void {
    if (seg.segmentSize !== undefined) {
      this.transmitSuper(local, remote, seg, seg.segmentSize, now);
      return;
    }
    const repr: TcpRepr = {
      srcPort: local.port,
      dstPort: remote.port,
      seq: seg.seq,
      ack: seg.ack,
      flags: seg.flags,
      window: seg.window,
      urgentPointer: 0,
      options: seg.options,
      payload: seg.payload,
    };
    const hlen = tcpHeaderLen(repr);
    const packet = allocPacket(hlen + seg.payload.length);
    let sent = false;
    const src = local.address;
    const dst = remote.address;
    if (typeof src === "number" && typeof dst === "number") {
      if (this.ipv4 !== undefined) {
        emitTcp(repr, packet, 0, { family: 4, src, dst }, hlen);
        sent = this.ipv4.dispatch(IP_PROTOCOL_TCP, src, dst, packet, now);
      }
    } else if (typeof src !== "number" && typeof dst !== "number") {
      if (this.ipv6 !== undefined) {
        emitTcp(repr, packet, 0, { family: 6, src, dst }, hlen);
        sent = this.ipv6.dispatch(IP_PROTOCOL_TCP, src, dst, packet, now);
      }
    }
    (sent ? this.txSegments : this.txRefused).value++;
  }

  private transmitSuper(
    local: Endpoint,
    remote: Endpoint,
    seg: { seq: number; ack: number; flags: number; window: number; options: readonly TcpOption[]; payload: Uint8Array },
    segmentSize: number,
    now: number,
  ): void {
    const header: TcpRepr = {
      srcPort: local.port,
      dstPort: remote.port,
      seq: seg.seq,
      ack: seg.ack,
      flags: seg.flags,
      window: seg.window,
      urgentPointer: 0,
      options: seg.options,
      payload: EMPTY,
    };
    const hlen = tcpHeaderLen(header);
    const len = hlen + seg.payload.length;
    const packet = allocPacket(len);
    packet.set(seg.payload, hlen);
    const src = local.address;
    const dst = remote.address;
    let sent = false;
    // The header alone through the codec (its checksum is then overwritten), the payload placed once.
    if (typeof src === "number" && typeof dst === "number") {
      if (this.ipv4 !== undefined) {
        emitTcp(header, packet, 0, { family: 4, src, dst }, hlen);
        writeChecksumField(packet, foldSum(pseudoHeaderSumV4(src, dst, IP_PROTOCOL_TCP, len)));
        sent = this.ipv4.dispatch(IP_PROTOCOL_TCP, src, dst, packet, now, { segmentSize });
      }
    } else if (typeof src !== "number" && typeof dst !== "number") {
      if (this.ipv6 !== undefined) {
        emitTcp(header, packet, 0, { family: 6, src, dst }, hlen);
        writeChecksumField(packet, foldSum(pseudoHeaderSumV6(src, dst, IP_PROTOCOL_TCP, len)));
        sent = this.ipv6.dispatch(IP_PROTOCOL_TCP, src, dst, packet, now, { segmentSize });
      }
    }
    (sent ? this.txSegments : this.txRefused).value++;
    if (sent) this.txSuperSegments.value++;
  }

  /** Moves a connection that left SYN-RECEIVED from its listener's SYN queue to the accept queue. */
  private promote(e: Entry): void {
    const l = e.listener;
    const state = e.conn.state;
    if (e.queued !== "syn" || l === undefined || state === "SYN-RECEIVED" || state === "CLOSED") return;
    l.synQueue.delete(e.conn);
    l.acceptQueue.push(e.conn);
    e.queued = "accept";
    this.acceptable.add(l);
  }

  /** After a dispatch: re-arm the deadline, move the connection between queues, forget it when CLOSED. */
  private settle(e: Entry): void {
    const conn = e.conn;
    const state = conn.state;
    const l = e.listener;
    if (state === "CLOSED") {
      if (l !== undefined) {
        l.synQueue.delete(conn);
        const i = l.acceptQueue.indexOf(conn);
        if (i >= 0) l.acceptQueue.splice(i, 1);
      }
      this.unregister(e);
      return;
    }
    this.promote(e);
    const d = conn.nextDeadline();
    if (d !== e.deadline) {
      e.deadline = d;
      if (d !== undefined) this.heap.push(d, e);
      // Deadlines move on every ACK; stale entries wait until they surface. Compact when they dominate.
      if (this.heap.size > 1024 && this.heap.size > 8 * this.byConn.size) {
        this.heap.retain((x, at) => !x.removed && x.deadline === at);
      }
    }
  }

  private newConnection(local: Endpoint, remote: Endpoint, config: TcpConfig, iss: number, now: number): TcpConnection {
    // Not random: see the module comment of isn.ts (a cookie connection keeps the SYN-ACK's clock).
    const tsOffset = this.isns.tsOffset(local, remote);
    return new TcpConnection({ local, remote, iss, config, random: this.connRandom, now, tsOffset });
  }

  /** The table entry of a 4-tuple, or undefined. */
  private lookup(localAddr: number | Uint8Array, localPort: number, remoteAddr: number | Uint8Array, remotePort: number): Entry | undefined {
    let e = this.byTuple.get(tupleHash(this.tupleSalt, localAddr, localPort, remoteAddr, remotePort));
    while (e !== undefined && !sameTuple(e.conn, localAddr, localPort, remoteAddr, remotePort)) e = e.next;
    return e;
  }

  private register(conn: TcpConnection, listener: TcpListener | undefined): Entry {
    const l = conn.local;
    const r = conn.remote;
    // A connection with the same 4-tuple still in the table leaves it (it stays in `byConn` until unregistered).
    const old = this.lookup(l.address, l.port, r.address, r.port);
    if (old !== undefined) this.unlink(old);
    const key = tupleHash(this.tupleSalt, l.address, l.port, r.address, r.port);
    const e = new Entry(key, conn, listener);
    e.next = this.byTuple.get(key);
    e.inTable = true;
    this.byTuple.set(key, e);
    this.tableSize++;
    this.byConn.set(conn, e);
    return e;
  }

  /** Takes `e` out of its `byTuple` bucket. */
  private unlink(e: Entry): void {
    if (!e.inTable) return;
    e.inTable = false;
    this.tableSize--;
    const head = this.byTuple.get(e.key);
    if (head === e) {
      if (e.next === undefined) this.byTuple.delete(e.key);
      else this.byTuple.set(e.key, e.next);
    } else {
      let p = head;
      while (p !== undefined && p.next !== e) p = p.next;
      if (p !== undefined) p.next = e.next;
    }
    e.next = undefined;
  }

  private unregister(e: Entry): void {
    if (e.removed) return;
    e.removed = true;
    this.unlink(e);
    this.byConn.delete(e.conn);
    if (e.owner === undefined) e.pending = NO_EVENTS;
  }

  private findListener(port: number, family: 4 | 6, dst: Ipv4Address | Ipv6Address): TcpListener | undefined {
    const list = this.listenersByPort.get(port);
    if (list === undefined) return undefined;
    let any: TcpListener | undefined;
    for (const l of list) {
      if (!coversFamily(l.local, family)) continue;
      const a = listenAddress(l.local);
      if (a === undefined) any ??= l;
      else if (sameAddress(a, dst)) return l;
    }
    return any;
  }

  private checkLocal(local: TcpListenLocal): void {
    if (local.family === "dual") {
      if (!this.ipv4 || !this.ipv6) {
        throw new WirestackError("WIRESTACK_ERR_ADDR_NOT_AVAILABLE", "a dual-stack TCP listener needs both IPv4 and IPv6 on this stack; listen on one family");
      }
      return;
    }
    if (!this.hasFamily(local.family)) {
      throw new WirestackError(
        "WIRESTACK_ERR_ADDR_NOT_AVAILABLE",
        `this stack has no IPv${local.family} address; configure one before listening on IPv${local.family}`,
      );
    }
    if (local.address === undefined) return;
    const ours = local.family === 4 ? this.ipv4?.isLocal?.(local.address) : this.ipv6?.isLocal?.(local.address);
    if (ours === false) {
      throw new WirestackError("WIRESTACK_ERR_ADDR_NOT_AVAILABLE", "that address is not one of this stack's; listen on one of its addresses or on every address");
    }
  }

  private drop(reason: string): void {
    this.counters.inc(`drop.${reason}`);
  }

  private dropIcmp(reason: string): "dropped" {
    this.counters.inc(`drop.icmp-${reason}`);
    return "dropped";
  }
}

const EMPTY = new Uint8Array(0);

function assertNever(x: never): never {
  throw new Error(`unexpected listener decision ${JSON.stringify(x)}`);
}
