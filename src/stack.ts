/**
 * The stack: one device, one Ethernet interface, IPv4 and/or IPv6 with ICMP, UDP and TCP, around
 * one clock and one timer (DESIGN.md, "The data path").
 *
 * Theory of operation. The device hands us a batch of frames; we read `now` once for the batch and
 * pass each frame up by return values: link → ipv4/ipv6 → icmp/udp/tcp. Replies and other egress go
 * down through each layer's `dispatch…` to the device. After every batch, every API call that sends,
 * and every timer expiry, `service(now)` polls each module (retransmit ARP and NS, expire
 * reassembly, time out pings, run TCP timers and send what connections queued) and re-arms the single clock timer for the earliest deadline any
 * module reports. No module touches the clock, a timer or the device itself.
 *
 * An exception escaping a protocol module while processing a frame is a bug, never the peer's fault:
 * it is counted (`stack.exception`), kept in `lastError`, passed to `onError` when given, and the
 * frame is dropped; the stack keeps running.
 */
import type { Clock, TimerId } from "./time/clock.ts";
import { RealClock } from "./time/clock.ts";
import { seededRandom, systemRandom, type Random } from "./time/random.ts";
import type { FrameDevice } from "./device/types.ts";
import { CaptureDevice, type PacketSink } from "./device/capture.ts";
import { openPcapFile, pcapToStdout } from "./pcap/file.ts";
import { Counters } from "./util/counters.ts";
import { WirestackError } from "./errors.ts";
import { parseMac, macToString, type MacAddress } from "./wire/mac.ts";
import {
  parseInterfaceAddress,
  parseIpv4,
  parseIpv6,
  ipv4ToString,
  ipv6ToString,
  type Ipv4Address,
  type Ipv6Address,
} from "./wire/ip-address.ts";
import { allocPacket } from "./wire/packet-buffer.ts";
import { NeighborCache, type NeighborCacheConfig } from "./link/neighbor-cache.ts";
import type { ArpConfig } from "./link/arp-cache.ts";
import { EthernetLink, type LinkIngress } from "./link/ethernet-link.ts";
import { Ipv4Layer, type Ipv4Delivery, type Ipv4ReassemblyConfig } from "./net/ipv4.ts";
import type { TokenBucketConfig } from "./net/rate-limit.ts";
import { Icmpv4 } from "./net/icmpv4.ts";
import { Ipv6Layer, type Ipv6Delivery } from "./net/ipv6.ts";
import { Ndp } from "./net/ndp.ts";
import { Icmpv6 } from "./net/icmpv6.ts";
import { UdpLayer, type IcmpErrorEvent } from "./transport/udp.ts";
import { UdpSocket, parseIpLiteral } from "./api/udp-socket.ts";
import { TcpLayer, type TcpLimits } from "./transport/tcp/layer.ts";
import type { TcpConfig } from "./transport/tcp/connection.ts";
import { attachTcpSocket, type TcpSocket } from "./api/tcp-socket.ts";
import { TcpServer, tcpServerHost, type TcpServerHost, type TcpServerOptions } from "./api/tcp-server.ts";

const IP_PROTOCOL_ICMP = 1;
const IP_PROTOCOL_TCP = 6;
const IP_PROTOCOL_UDP = 17;
const IP_PROTOCOL_ICMPV6 = 58;

/**
 * Every resource bound of a stack, each over its module's documented default (README, "Limits").
 * Past a bound the stack drops and counts; nothing grows without one.
 */
export interface StackLimits {
  /** ARP cache entries, datagrams waiting for resolution, timers (link/arp-cache.ts `ARP_DEFAULTS`). */
  readonly arp?: Partial<ArpConfig>;
  /** NDP neighbor cache entries and queued packets (link/neighbor-cache.ts `NEIGHBOR_CACHE_DEFAULTS`). */
  readonly neighbors?: Partial<NeighborCacheConfig>;
  /** IPv4 reassembly: datagrams, bytes, fragments each, timeout (net/ipv4.ts `IPV4_REASSEMBLY_DEFAULTS`). */
  readonly ipv4Reassembly?: Partial<Ipv4ReassemblyConfig>;
  /** IPv6 reassembly, the same fields (net/ipv6.ts `IPV6_REASSEMBLY_DEFAULTS`). */
  readonly ipv6Reassembly?: Partial<Ipv4ReassemblyConfig>;
  /** ICMPv4 error token bucket (net/icmpv4.ts `ICMPV4_RATE_DEFAULTS`). */
  readonly icmpv4Errors?: Partial<TokenBucketConfig>;
  /** ICMPv6 error token bucket (net/icmpv6.ts `ICMPV6_RATE_LIMIT_DEFAULTS`). */
  readonly icmpv6Errors?: Partial<TokenBucketConfig>;
  /** Connections, SYN and accept queues (transport/tcp/layer.ts); merged over `tcp.limits`. */
  readonly tcp?: Partial<TcpLimits>;
}

/** How to build a stack. Addresses are given as text, as on the command line. */
export interface StackOptions {
  readonly device: FrameDevice;
  /** "02:00:00:00:00:01"; default: a random locally administered unicast MAC. */
  readonly mac?: string | MacAddress;
  /** "10.0.0.2/24", or several. */
  readonly ipv4?: string | readonly string[];
  /** "fd00::2/64", or several. A link-local address is always added. */
  readonly ipv6?: string | readonly string[];
  /** Default gateway, IPv4 or IPv6 text (one of each may be given). */
  readonly gateway?: string | readonly string[];
  /** Default: a RealClock (unref'd, so the stack alone does not keep the process alive). */
  readonly clock?: Clock;
  /** Seed for every random choice (ISNs, ports, IDs, jitter); default: from the system. */
  readonly seed?: number;
  readonly random?: Random;
  /** Record every frame sent and received: a file name (".pcapng" for pcapng), "-" for stdout, or a sink. */
  readonly pcap?: string | PacketSink;
  /** IPv6 duplicate address detection for configured addresses (RFC 4862 §5.4); default true. */
  readonly dad?: boolean;
  /** Send Router Solicitations at start (RFC 4861 §6.3.7); default true. */
  readonly routerSolicitation?: boolean;
  /** Called with any exception a protocol module threw while processing a frame (a bug). */
  readonly onError?: (err: unknown) => void;
  /** TCP defaults for every connection (connection.ts) and the layer's bounds (layer.ts). */
  readonly tcp?: { readonly config?: TcpConfig; readonly limits?: Partial<TcpLimits> };
  /** Resource bounds (buffer sizes and the out-of-order queue are per connection, in `tcp.config`). */
  readonly limits?: StackLimits;
}

/** Options of `stack.tcp.listen`: net.Server's options plus where and how many to queue. */
export interface StackListenOptions extends TcpServerOptions {
  /** An IP literal to listen on; default every address of the stack. */
  readonly host?: string | undefined;
  /** Accept queue bound (default 128). */
  readonly backlog?: number | undefined;
}

/** Options of `stack.tcp.connect`, as net.connect's. */
export interface StackConnectOptions {
  /** The peer's IP literal (names are not resolved). */
  readonly host: string;
  readonly port: number;
  /** Our port; default an ephemeral one. */
  readonly localPort?: number | undefined;
  /** As net.Socket: keep our side open after the peer's FIN (default false). */
  readonly allowHalfOpen?: boolean | undefined;
  /** Per-connection TCP settings over the stack's. */
  readonly config?: TcpConfig | undefined;
}

/** Options for `stack.ping`. */
export interface PingOptions {
  /** ICMP data bytes (like ping -s); default 56. */
  readonly size?: number;
  /** Give up after this long; default 1000 ms. */
  readonly timeoutMs?: number;
}

interface PendingPing {
  readonly key: string;
  readonly sentAt: number;
  readonly deadline: number;
  readonly resolve: (rtt: number) => void;
  readonly reject: (err: Error) => void;
}

/** A user error in stack options: one line that says what to fix. */
export class StackConfigError extends WirestackError<"WIRESTACK_ERR_BAD_ADDRESS" | "WIRESTACK_ERR_CONFIG"> {
  override readonly name = "StackConfigError";
}

function asList(v: string | readonly string[] | undefined): readonly string[] {
  return v === undefined ? [] : typeof v === "string" ? [v] : v;
}

function randomMac(random: Random): MacAddress {
  const mac = random.bytes(6);
  mac[0] = ((mac[0] as number) & 0xfc) | 0x02; // locally administered, unicast
  return mac;
}

export class Stack {
  readonly clock: Clock;
  readonly random: Random;
  readonly device: FrameDevice;
  readonly mac: MacAddress;
  readonly link: EthernetLink;
  readonly ipv4: Ipv4Layer | undefined;
  readonly icmpv4: Icmpv4 | undefined;
  readonly ipv6: Ipv6Layer | undefined;
  readonly ndp: Ndp | undefined;
  readonly icmpv6: Icmpv6 | undefined;
  readonly udpLayer: UdpLayer;
  readonly tcpLayer: TcpLayer;
  readonly stats = new Counters("stack");
  /** The last exception a module threw (see the module comment), for tests and `--debug`. */
  lastError: unknown = undefined;

  private readonly pings = new Map<string, PendingPing>();
  private pingId: number;
  private pingSeq = 0;
  private timer: TimerId | undefined = undefined;
  private timerAt = Infinity;
  private closed = false;
  private readonly onError: ((err: unknown) => void) | undefined;

  constructor(opts: StackOptions) {
    this.clock = opts.clock ?? new RealClock({ unref: true });
    this.random = opts.random ?? (opts.seed !== undefined ? seededRandom(opts.seed) : systemRandom());
    this.onError = opts.onError;
    const mac = opts.mac === undefined ? randomMac(this.random.fork("mac")) : typeof opts.mac === "string" ? parseMac(opts.mac) : opts.mac;
    if (mac === undefined) {
      throw new StackConfigError("WIRESTACK_ERR_BAD_ADDRESS", `bad MAC address '${String(opts.mac)}': write six hex bytes like 02:00:00:00:00:01`);
    }
    this.mac = mac;

    let device = opts.device;
    if (opts.pcap !== undefined) {
      const sink = typeof opts.pcap === "string" ? (opts.pcap === "-" ? pcapToStdout() : openPcapFile(opts.pcap)) : opts.pcap;
      device = new CaptureDevice(device, sink, { clock: this.clock });
    }
    this.device = device;

    const v4: { address: Ipv4Address; prefixLength: number }[] = [];
    const v6: { address: Ipv6Address; prefixLength: number }[] = [];
    for (const text of asList(opts.ipv4)) {
      const a = parseInterfaceAddress(text);
      if (a === undefined || a.family !== 4) {
        throw new StackConfigError("WIRESTACK_ERR_BAD_ADDRESS", `bad IPv4 address '${text}': write it with its prefix length, like 10.0.0.2/24`);
      }
      v4.push({ address: a.address, prefixLength: a.prefixLength });
    }
    for (const text of asList(opts.ipv6)) {
      const a = parseInterfaceAddress(text);
      if (a === undefined || a.family !== 6) {
        throw new StackConfigError("WIRESTACK_ERR_BAD_ADDRESS", `bad IPv6 address '${text}': write it with its prefix length, like fd00::2/64`);
      }
      v6.push({ address: a.address, prefixLength: a.prefixLength });
    }
    let gw4: Ipv4Address | undefined;
    let gw6: Ipv6Address | undefined;
    for (const text of asList(opts.gateway)) {
      const g4 = parseIpv4(text);
      const g6 = g4 === undefined ? parseIpv6(text) : undefined;
      if (g4 !== undefined) gw4 = g4;
      else if (g6 !== undefined) gw6 = g6;
      else throw new StackConfigError("WIRESTACK_ERR_BAD_ADDRESS", `bad gateway '${text}': give an IPv4 or IPv6 address without a prefix length`);
    }

    const limits = opts.limits ?? {};
    const neighbors = new NeighborCache(limits.neighbors ?? {});
    // Segmentation offload (device/types.ts `DeviceOffload`): TCP builds super-segments up to the
    // device's limit and the link hands them to `sendSegmented`; received super-frames need nothing.
    const tso = device.offload !== undefined && device.offload.tsoMaxBytes > 0 && device.sendSegmented !== undefined ? device.offload.tsoMaxBytes : 0;
    this.link = new EthernetLink({
      mac,
      mtu: device.mtu,
      emit: (frame) => this.device.send(frame),
      ...(tso > 0 ? { emitSegmented: (frame: Uint8Array, segmentSize: number) => this.device.sendSegmented?.(frame, segmentSize) } : {}),
      neighbors,
      ...(limits.arp !== undefined ? { arp: limits.arp } : {}),
    });

    if (v4.length > 0) {
      this.ipv4 = new Ipv4Layer({
        link: this.link,
        addresses: v4,
        ...(gw4 !== undefined ? { gateway: gw4 } : {}),
        ...(limits.ipv4Reassembly !== undefined ? { reassembly: limits.ipv4Reassembly } : {}),
        random: this.random.fork("ipv4"),
      });
      this.icmpv4 = new Icmpv4({ ipv4: this.ipv4, ...(limits.icmpv4Errors !== undefined ? { rateLimit: limits.icmpv4Errors } : {}) });
    }
    // IPv6 always runs: every interface has a link-local address (RFC 4291 §2.1).
    this.ipv6 = new Ipv6Layer({
      link: this.link,
      mac,
      addresses: v6,
      random: this.random.fork("ipv6"),
      dad: opts.dad ?? true,
      sendRouterSolicitation: opts.routerSolicitation ?? true,
      ...(gw6 !== undefined ? { gateway: gw6 } : {}),
      ...(limits.ipv6Reassembly !== undefined ? { reassembly: limits.ipv6Reassembly } : {}),
    });
    this.ndp = new Ndp({ ipv6: this.ipv6 });
    this.icmpv6 = new Icmpv6({ ipv6: this.ipv6, ndp: this.ndp, ...(limits.icmpv6Errors !== undefined ? { rateLimit: limits.icmpv6Errors } : {}) });
    this.udpLayer = new UdpLayer({ ipv4: this.ipv4, ipv6: this.ipv6, random: this.random.fork("udp") });
    this.tcpLayer = new TcpLayer({
      ipv4: this.ipv4,
      ipv6: this.ipv6,
      random: this.random.fork("tcp"),
      config: tso > 0 ? { tsoMaxBytes: tso, ...opts.tcp?.config } : opts.tcp?.config,
      limits: { ...opts.tcp?.limits, ...limits.tcp },
    });
    this.tcpHost = tcpServerHost({ layer: this.tcpLayer, clock: this.clock, kick: () => this.kick(), random: this.random.fork("tcp-server") });
    this.pingId = this.random.fork("ping").nextInt(0x10000);

    device.setReceiver((frames, checksumsValid) => this.receive(frames, checksumsValid));
    const now = this.clock.now();
    this.link.announce(now);
    this.ipv6.start(now);
    this.service(now);
  }

  /** UDP sockets in the manner of node:dgram. */
  readonly udp = {
    /** Binds a UDP socket to `port` (0 or omitted: an ephemeral port) on every address, or on `address`. */
    bind: (port = 0, address?: string): UdpSocket =>
      new UdpSocket({ layer: this.udpLayer, port, ...(address !== undefined ? { address } : {}), now: () => this.clock.now(), kick: () => this.kick() }),
  };

  private readonly tcpHost: TcpServerHost;

  /**
   * TCP in the manner of node:net (DESIGN.md, "Public API"):
   * `b.tcp.listen(7, (sock) => sock.pipe(sock))`, `a.tcp.connect({ host: "10.0.0.2", port: 7 })`.
   */
  readonly tcp = {
    /**
     * A server listening on `port` (every address, or `opts.host`); `onConnection` gets each accepted
     * socket. A taken port is emitted as the server's 'error' (EADDRINUSE), as net.Server does.
     */
    listen: (
      port: number,
      optsOrListener?: StackListenOptions | ((sock: TcpSocket) => void),
      onConnection?: (sock: TcpSocket) => void,
    ): TcpServer => {
      const opts = typeof optsOrListener === "function" ? {} : (optsOrListener ?? {});
      const cb = typeof optsOrListener === "function" ? optsOrListener : onConnection;
      const server = new TcpServer(this.tcpHost, opts, cb);
      server.listen({ port, host: opts.host, backlog: opts.backlog });
      return server;
    },
    /** A socket connecting to `host`:`port` (a stream.Duplex; 'connect' once established). */
    connect: (opts: StackConnectOptions): TcpSocket => {
      const dst = parseIpLiteral(opts.host);
      if (dst === undefined) {
        throw new StackConfigError("WIRESTACK_ERR_BAD_ADDRESS", `'${opts.host}' is not an IPv4 or IPv6 address (names are not resolved)`);
      }
      const conn = this.tcpLayer.connect(
        { family: dst.family, address: dst.address, port: opts.port },
        { localPort: opts.localPort, config: opts.config },
        this.clock.now(),
      );
      const sock = attachTcpSocket({ layer: this.tcpLayer, clock: this.clock, kick: () => this.kick() }, conn, { allowHalfOpen: opts.allowHalfOpen });
      this.kick();
      return sock;
    },
  };

  /** Every counter of every layer, flat: `{ "ipv4.drop.bad-checksum": 2, … }`. */
  counters(): Record<string, number> {
    const out: Record<string, number> = {};
    this.stats.snapshot(out);
    this.link.counters.snapshot(out);
    this.link.arp.counters.snapshot(out);
    this.link.neighbors.counters.snapshot(out);
    this.ipv4?.counters.snapshot(out);
    this.icmpv4?.counters.snapshot(out);
    this.ipv6?.counters.snapshot(out);
    this.ndp?.counters.snapshot(out);
    this.icmpv6?.counters.snapshot(out);
    this.udpLayer.counters.snapshot(out);
    this.tcpLayer.counters.snapshot(out);
    this.tcpLayer.listenCounters.snapshot(out);
    return out;
  }

  /**
   * Sends ICMP echo requests' one round: resolves to the round-trip time in milliseconds, rejects
   * with a WirestackError (code WIRESTACK_ERR_TIMEOUT) when no reply came in time.
   */
  ping(host: string, opts: PingOptions = {}): Promise<number> {
    const size = opts.size ?? 56;
    const timeoutMs = opts.timeoutMs ?? 1000;
    if (!Number.isInteger(size) || size < 0 || size > 65507) {
      return Promise.reject(new StackConfigError("WIRESTACK_ERR_CONFIG", `ping size ${size} is out of range: give 0 to 65507 bytes`));
    }
    const v4 = parseIpv4(host);
    const v6 = v4 === undefined ? parseIpv6(host) : undefined;
    if (v4 === undefined && v6 === undefined) {
      return Promise.reject(new StackConfigError("WIRESTACK_ERR_BAD_ADDRESS", `'${host}' is not an IPv4 or IPv6 address (names are not resolved)`));
    }
    const now = this.clock.now();
    const id = this.pingId;
    const seq = (this.pingSeq = (this.pingSeq + 1) & 0xffff);
    const data = allocPacket(size, 0);
    for (let i = 0; i < size; i++) data[i] = (i + 8) & 0xff; // like iputils: a recognizable pattern
    let sent: boolean;
    let key: string;
    if (v4 !== undefined) {
      if (!this.icmpv4) return Promise.reject(new StackConfigError("WIRESTACK_ERR_CONFIG", "this stack has no IPv4 address: give --ip A.B.C.D/N"));
      key = `4/${ipv4ToString(v4)}/${id}/${seq}`;
      sent = this.icmpv4.sendEcho(v4, id, seq, data, now);
    } else {
      key = `6/${ipv6ToString(v6 as Ipv6Address)}/${id}/${seq}`;
      sent = (this.icmpv6 as Icmpv6).sendEcho(v6 as Ipv6Address, id, seq, data, now);
    }
    if (!sent) {
      return Promise.reject(new WirestackError("WIRESTACK_ERR_NO_ROUTE", `no route to ${host}: give an address on a configured subnet or set --gateway`));
    }
    return new Promise<number>((resolve, reject) => {
      this.pings.set(key, { key, sentAt: now, deadline: now + timeoutMs, resolve, reject });
      this.kick();
    });
  }

  /**
   * Resets every TCP connection (the peers learn at once rather than by timeout), stops the timer,
   * closes the device (and the capture). Pending pings are rejected.
   */
  async close(): Promise<void> {
    if (this.closed) return;
    const now = this.clock.now();
    for (const l of this.tcpLayer.listeners()) this.tcpLayer.closeListener(l, now);
    for (const c of this.tcpLayer.connections()) {
      c.abort(now);
      this.tcpLayer.kick(c);
    }
    this.tcpLayer.flush(now);
    this.closed = true;
    if (this.timer !== undefined) this.clock.cancel(this.timer);
    this.timer = undefined;
    for (const p of this.pings.values()) p.reject(new WirestackError("WIRESTACK_ERR_CLOSED", "the stack was closed"));
    this.pings.clear();
    this.device.close();
  }

  /** Runs timed work now and re-arms the timer; API calls that queue work call this. */
  kick(): void {
    if (!this.closed) this.service(this.clock.now());
  }

  private receive(frames: readonly Uint8Array[], checksumsValid: Uint8Array | undefined): void {
    if (this.closed) return;
    const now = this.clock.now();
    for (let i = 0; i < frames.length; i++) {
      try {
        this.processFrame(frames[i] as Uint8Array, now, checksumsValid !== undefined && checksumsValid[i] === 1);
      } catch (err) {
        this.stats.inc("exception");
        this.lastError = err;
        this.onError?.(err);
      }
    }
    this.service(now);
  }

  /** `checksumValid`: the device vouches for the transport checksum (device/types.ts FrameReceiver). */
  private processFrame(frame: Uint8Array, now: number, checksumValid: boolean): void {
    const ingress: LinkIngress | undefined = this.link.processFrame(frame, now);
    if (ingress === undefined) return;
    if (ingress.kind === "ipv4") {
      if (!this.ipv4) {
        this.stats.inc("drop.ipv4-not-configured");
        return;
      }
      const d = this.ipv4.processPacket(ingress, now);
      // A reassembled datagram is new memory: what the device said of one frame says nothing of it.
      if (d !== undefined) this.processIpv4(d, now, checksumValid && d.packet.buffer === frame.buffer);
    } else {
      const d = this.ipv6?.processPacket(ingress, now);
      if (d !== undefined) this.processIpv6(d, now, checksumValid && d.packet.buffer === frame.buffer);
    }
  }

  private processIpv4(d: Ipv4Delivery, now: number, checksumValid: boolean): void {
    const icmp = this.icmpv4 as Icmpv4;
    switch (d.protocol) {
      case IP_PROTOCOL_ICMP: {
        const ev = icmp.processIcmp(d, now);
        if (ev === undefined) return;
        if (ev.kind === "echo-reply") this.pingReply(`4/${ipv4ToString(ev.src)}/${ev.id}/${ev.seq}`, now);
        else if (ev.kind === "error") this.icmpErrorToTransport(ev, now);
        return;
      }
      case IP_PROTOCOL_UDP:
        if (this.udpLayer.processDatagram(d, now) === "port-unreachable") icmp.sendError(d, "port-unreachable", now);
        return;
      case IP_PROTOCOL_TCP:
        // RFC 9293 §3.10.7.1: TCP answers closed ports itself (RST), not with ICMP.
        this.tcpLayer.processSegment(d, now, checksumValid);
        return;
      default:
        // RFC 1122 §3.2.2.1: a protocol we do not implement.
        icmp.sendError(d, "protocol-unreachable", now);
    }
  }

  private processIpv6(d: Ipv6Delivery, now: number, checksumValid: boolean): void {
    const icmp = this.icmpv6 as Icmpv6;
    switch (d.protocol) {
      case IP_PROTOCOL_ICMPV6: {
        const ev = icmp.processIcmpv6(d, now);
        if (ev === undefined) return;
        if (ev.kind === "echo-reply") this.pingReply(`6/${ipv6ToString(ev.src)}/${ev.id}/${ev.seq}`, now);
        else if (ev.kind === "error") {
          // One shape for both families' errors, as the transports take it.
          this.icmpErrorToTransport(
            {
              error: { type: ev.type, code: { kind: ev.reason }, mtu: ev.mtu },
              reporter: ev.from,
              protocol: ev.quoted.protocol ?? -1,
              src: ev.quoted.src,
              dst: ev.quoted.dst,
              srcPort: ev.quoted.srcPort,
              dstPort: ev.quoted.dstPort,
              quotedPayload: ev.quoted.upperLayer,
            },
            now,
          );
        }
        return;
      }
      case IP_PROTOCOL_UDP:
        if (this.udpLayer.processDatagram(d, now) === "port-unreachable") icmp.sendError(d, "port-unreachable", now);
        return;
      case IP_PROTOCOL_TCP:
        this.tcpLayer.processSegment(d, now, checksumValid);
        return;
      default:
        // RFC 8200 §4: an unrecognized Next Header is answered with Parameter Problem code 1.
        icmp.sendError(d, "unrecognized-next-header", now);
    }
  }

  /** An ICMP error goes to the transport of the datagram it quotes. */
  private icmpErrorToTransport(ev: IcmpErrorEvent, now: number): void {
    if (ev.protocol === IP_PROTOCOL_TCP) this.tcpLayer.processIcmpError(ev, now);
    else this.udpLayer.processIcmpError(ev, now);
  }

  private pingReply(key: string, now: number): void {
    const p = this.pings.get(key);
    if (p === undefined) return;
    this.pings.delete(key);
    p.resolve(now - p.sentAt);
  }

  private service(now: number): void {
    if (this.closed) return;
    this.link.poll(now);
    this.ipv4?.poll(now);
    this.ipv6?.poll(now);
    // TCP timers, then every connection with work to send (after a batch, a timer or an app call).
    // Owners' callbacks run here too: what they throw is treated like a module's exception.
    try {
      this.tcpLayer.poll(now);
    } catch (err) {
      this.stats.inc("exception");
      this.lastError = err;
      this.onError?.(err);
    }
    let next = Infinity;
    for (const p of this.pings.values()) {
      if (p.deadline <= now) {
        this.pings.delete(p.key);
        p.reject(new WirestackError("WIRESTACK_ERR_TIMEOUT", `no echo reply within the timeout (${p.key.split("/")[1]})`));
      } else if (p.deadline < next) next = p.deadline;
    }
    // One comparison each, no array per service call (it runs after every batch of frames).
    const dl = this.link.nextDeadline();
    if (dl !== undefined && dl < next) next = dl;
    const d4 = this.ipv4?.nextDeadline();
    if (d4 !== undefined && d4 < next) next = d4;
    const d6 = this.ipv6?.nextDeadline();
    if (d6 !== undefined && d6 < next) next = d6;
    const dt = this.tcpLayer.nextDeadline();
    if (dt !== undefined && dt < next) next = dt;
    this.arm(next, now);
  }

  /** Keeps exactly one clock timer, at the earliest deadline. */
  private arm(at: number, now: number): void {
    // A later deadline keeps the armed timer: it fires early, service() finds nothing due and arms
    // again. Moving it on every batch (each received frame refreshes its neighbour entry, each ACK
    // moves the retransmission deadline) cost a clearTimeout and a setTimeout per batch.
    if (this.timer !== undefined && at >= this.timerAt) return;
    if (this.timer !== undefined) this.clock.cancel(this.timer);
    this.timer = undefined;
    this.timerAt = at;
    if (at === Infinity) return;
    this.timer = this.clock.schedule(Math.max(at, now), () => {
      this.timer = undefined;
      this.timerAt = Infinity;
      this.service(this.clock.now());
    });
  }
}

/** Builds a stack (DESIGN.md, "Public API"). */
export function createStack(opts: StackOptions): Stack {
  return new Stack(opts);
}

export { macToString };
