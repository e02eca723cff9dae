/**
 * `UdpSocket`: a node:dgram-like socket over wirestack's UDP layer (src/transport/udp.ts).
 *
 * Owns one binding of a `UdpLayer` from construction until `close()`. Guarantees: every event is
 * emitted asynchronously (process.nextTick), after the protocol layer has finished the work that
 * caused it (STYLE.md: finish the transition, then notify); events keep the order of their causes,
 * so 'listening' precedes every 'message', and nothing but 'close' follows `close()`.
 *
 * Where it differs from node:dgram, on purpose:
 * - The constructor binds synchronously (the stack's `udp.bind(port, address)` creates it) and
 *   throws a WirestackError (WIRESTACK_ERR_ADDR_IN_USE, …) instead of emitting 'error': a bind here is
 *   a table lookup, and the caller has had no chance to attach an 'error' listener yet.
 * - ICMP errors about datagrams we sent (RFC 1122 §4.1.3.3) arrive as an 'icmp' event carrying a
 *   `UdpIcmpReport` with Linux's errno name (port unreachable → ECONNREFUSED, as Linux's
 *   icmp_err_convert). Node reports them only on connected sockets, as 'error'; an 'error' event
 *   without a listener throws, so any host on the path could crash an unconnected server with one
 *   forged ICMP message. 'icmp' is harmless when nobody listens.
 * - A dual-stack socket reports IPv4 senders as plain IPv4 ("10.0.0.1", family "IPv4"), not as
 *   "::ffff:10.0.0.1"; `send` accepts either form.
 * - Host names are not resolved: addresses are IP literals (a zone suffix "%eth0" is ignored: there
 *   is one interface).
 * - `close()` twice is allowed (the second call only waits for 'close').
 *
 * Received messages are Buffers viewing the received frame's bytes (the device hands each frame to
 * the stack for good, and UDP keeps no reference), so receiving copies nothing.
 */
import { EventEmitter } from "node:events";
import { WirestackError } from "../errors.ts";
import type { IcmpErrorKind, UdpBinding, UdpIcmpError, UdpLayer, UdpLocal, UdpPeer } from "../transport/udp.ts";
import {
  ipv4ToString,
  ipv6ToString,
  parseIpv4,
  parseIpv6,
  readIpv4,
  type Ipv4Address,
  type Ipv6Address,
} from "../wire/ip-address.ts";

/** The sender of a message, as node:dgram's `rinfo`. */
export interface UdpRemoteInfo {
  readonly address: string;
  readonly family: "IPv4" | "IPv6";
  readonly port: number;
  /** Payload bytes. */
  readonly size: number;
}

/** The socket's own address, as node:dgram's `socket.address()`. */
export interface UdpAddressInfo {
  readonly address: string;
  readonly family: "IPv4" | "IPv6";
  readonly port: number;
}

/** Linux's errno name for an ICMP error (net/ipv4/icmp.c icmp_err_convert, net/ipv6/icmp.c icmpv6_err_convert). */
export type UdpIcmpErrno = "ECONNREFUSED" | "ENETUNREACH" | "EHOSTUNREACH" | "ENOPROTOOPT" | "EACCES" | "EMSGSIZE" | "EPROTO";

/** An ICMP error about a datagram this socket sent: the payload of the 'icmp' event. */
export interface UdpIcmpReport {
  /** What Linux would report to a connected socket for this error. */
  readonly code: UdpIcmpErrno;
  readonly kind: IcmpErrorKind;
  /** The destination of the datagram that failed. */
  readonly address: string;
  readonly port: number;
  readonly family: "IPv4" | "IPv6";
  /** The host or router that sent the ICMP error. */
  readonly reporter: string;
  /** The ICMP type and code by name, e.g. "destination-unreachable" / "port-unreachable". */
  readonly icmpType: string;
  readonly icmpCode: string;
  /** The next-hop MTU of a packet-too-big error, when given. */
  readonly mtu: number | undefined;
}

/** Events of `UdpSocket`, with their listener arguments. */
export interface UdpSocketEvents {
  message: [msg: Buffer, rinfo: UdpRemoteInfo];
  listening: [];
  close: [];
  error: [err: Error];
  icmp: [report: UdpIcmpReport];
}

/** How the stack builds a socket. */
export interface UdpSocketOptions {
  readonly layer: UdpLayer;
  /** 0 or absent: an ephemeral port (RFC 6056, 49152–65535). */
  readonly port?: number | undefined;
  /**
   * An IP literal to bind to; "0.0.0.0" means every IPv4 address, "::" every address of both families
   * (IPv6 only when the stack has no IPv4). Absent: as `type` says, else every address.
   */
  readonly address?: string | undefined;
  /** As dgram.createSocket's type, used when `address` is absent: "udp4" binds IPv4 only. */
  readonly type?: "udp4" | "udp6" | undefined;
  /** The stack's clock, read once per send. */
  readonly now: () => number;
  /** Called after every send so the stack polls and re-arms its timer (ARP/NDP may be waiting). */
  readonly kick?: (() => void) | undefined;
}

/** Data `send` accepts, as node:dgram. */
export type UdpMessage = string | Uint8Array | readonly (string | Uint8Array)[];

/** `send`'s completion callback: `err` null and the byte count when the datagram went to the IP layer. */
export type UdpSendCallback = (err: Error | null, bytes: number) => void;

/** A destination address parsed from text: IPv4 as a number (also from "::ffff:a.b.c.d"), IPv6 as bytes. */
export type ParsedIpAddress = { readonly family: 4; readonly address: Ipv4Address } | { readonly family: 6; readonly address: Ipv6Address };

/**
 * Parses an IP literal; IPv4-mapped IPv6 (RFC 4291 §2.5.5.2) becomes IPv4 and a zone suffix is
 * dropped. Undefined for anything else (host names are not resolved).
 */
export function parseIpLiteral(text: string): ParsedIpAddress | undefined {
  const v4 = parseIpv4(text);
  if (v4 !== undefined) return { family: 4, address: v4 };
  const pct = text.indexOf("%");
  const v6 = parseIpv6(pct === -1 ? text : text.slice(0, pct));
  if (v6 === undefined) return undefined;
  if (isV4Mapped(v6)) return { family: 4, address: readIpv4(v6, 12) };
  return { family: 6, address: v6 };
}

function isV4Mapped(a: Ipv6Address): boolean {
  for (let i = 0; i < 10; i++) if (a[i] !== 0) return false;
  return a[10] === 0xff && a[11] === 0xff;
}

function isUnspecifiedV6(a: Ipv6Address): boolean {
  return a.every((b) => b === 0);
}

/**
 * Linux's errno for an ICMP error. Where its two tables differ, the IPv6 one wins for both families:
 * administratively prohibited is EACCES (icmpv6_err_convert; IPv4's table says EHOSTUNREACH).
 */
function errnoOf(kind: IcmpErrorKind): UdpIcmpErrno {
  switch (kind) {
    case "port-unreachable":
      return "ECONNREFUSED";
    case "net-unreachable":
      return "ENETUNREACH";
    case "host-unreachable":
    case "time-exceeded":
    case "other":
      return "EHOSTUNREACH";
    case "protocol-unreachable":
      return "ENOPROTOOPT";
    case "admin-prohibited":
      return "EACCES";
    case "packet-too-big":
      return "EMSGSIZE";
    case "parameter-problem":
      return "EPROTO";
    default:
      return assertNever(kind);
  }
}

function assertNever(x: never): never {
  throw new Error(`unexpected ${String(x)}`);
}

function textOf(addr: Ipv4Address | Ipv6Address): string {
  return typeof addr === "number" ? ipv4ToString(addr) : ipv6ToString(addr);
}

function toBytes(msg: UdpMessage): Uint8Array {
  if (typeof msg === "string") return Buffer.from(msg, "utf8");
  if (msg instanceof Uint8Array) return msg;
  if (!Array.isArray(msg)) {
    throw new WirestackError("WIRESTACK_ERR_BAD_ARGUMENT", "send: give the message as a string, a Buffer or Uint8Array, or an array of them");
  }
  const parts = (msg as readonly (string | Uint8Array)[]).map((p) => toBytes(p));
  return Buffer.concat(parts);
}

/** A UDP socket in the manner of node:dgram's Socket (see the module comment for the differences). */
export class UdpSocket extends EventEmitter<UdpSocketEvents> {
  private readonly layer: UdpLayer;
  private readonly now: () => number;
  private readonly kick: () => void;
  private readonly binding: UdpBinding;
  private closed = false;

  /** Binds at once; throws WirestackError when the port is taken or the address is bad or not ours. */
  constructor(opts: UdpSocketOptions) {
    super();
    this.layer = opts.layer;
    this.now = opts.now;
    this.kick = opts.kick ?? (() => {});
    const local = this.localFor(opts.address, opts.type);
    this.binding = this.layer.bind(opts.port ?? 0, local, {
      onMessage: (payload, from) => this.onMessage(payload, from),
      onIcmpError: (error) => this.onIcmpError(error),
    });
    process.nextTick(() => {
      if (!this.closed) this.emit("listening");
    });
  }

  /**
   * Sends `msg` to `address`:`port`, as dgram's `send(msg, port, address, cb)` or
   * `send(msg, offset, length, port, address, cb)`. As Node does: misuse (closed socket, bad port,
   * bad message type) throws a WirestackError synchronously; an address that is not an IP literal is
   * a lookup error, passed to `cb` or, without one, emitted as 'error'; a datagram too big or without a
   * route is passed to `cb` and, without one, only counted by the UDP layer (Node's doSend drops
   * send errors when there is no callback — and an echo server must not die of one).
   */
  send(msg: UdpMessage, port: number, address: string, cb?: UdpSendCallback): void;
  send(msg: Uint8Array | string, offset: number, length: number, port: number, address: string, cb?: UdpSendCallback): void;
  send(msg: UdpMessage, ...rest: unknown[]): void {
    let data: Uint8Array;
    let port: unknown;
    let address: unknown;
    let cb: unknown;
    if (typeof rest[0] === "number" && typeof rest[1] === "number" && typeof rest[2] === "number") {
      const [offset, length] = rest as [number, number];
      [, , port, address, cb] = rest;
      const whole = toBytes(msg);
      if (!Number.isInteger(offset) || !Number.isInteger(length) || offset < 0 || length < 0 || offset + length > whole.length) {
        throw new WirestackError(
          "WIRESTACK_ERR_BAD_ARGUMENT",
          `send: offset ${offset} and length ${length} do not lie within the ${whole.length}-byte message`,
        );
      }
      data = whole.subarray(offset, offset + length);
    } else {
      [port, address, cb] = rest;
      data = toBytes(msg);
    }
    if (typeof address === "function") [address, cb] = [undefined, address];
    if (this.closed) throw new WirestackError("WIRESTACK_ERR_CLOSED", "send on a closed UDP socket; bind a new socket");
    if (typeof port !== "number" || !Number.isInteger(port) || port < 1 || port > 0xffff) {
      throw new WirestackError("WIRESTACK_ERR_BAD_PORT", `send: destination port ${String(port)} is not an integer in 1–65535`);
    }
    const done = typeof cb === "function" ? (cb as UdpSendCallback) : undefined;
    const dst = typeof address === "string" ? parseIpLiteral(address) : undefined;
    if (dst === undefined) {
      const what =
        typeof address === "string"
          ? `'${address}' is not an IPv4 or IPv6 address (host names are not resolved)`
          : "no destination address given (there is no loopback: give an IP address)";
      this.fail(new WirestackError("WIRESTACK_ERR_BAD_ADDRESS", `send: ${what}`), done, true);
      return;
    }
    let sent: boolean;
    try {
      sent = this.layer.send(this.binding, dst.address, port, data, this.now());
    } catch (err) {
      this.fail(err as Error, done);
      return;
    }
    if (!sent) {
      this.fail(
        new WirestackError(
          "WIRESTACK_ERR_NO_ROUTE",
          `send: no route to ${textOf(dst.address)}; give an address on a configured subnet or set a gateway`,
        ),
        done,
      );
      return;
    }
    this.kick();
    if (done) process.nextTick(done, null, data.length);
  }

  /** The bound address and port. Throws WIRESTACK_ERR_CLOSED after `close()`, as Node does. */
  address(): UdpAddressInfo {
    if (this.closed) throw new WirestackError("WIRESTACK_ERR_CLOSED", "address() of a closed UDP socket");
    const { local, port } = this.binding;
    if (local.family === "dual") return { address: "::", family: "IPv6", port };
    if (local.family === 4) return { address: ipv4ToString(local.address ?? 0), family: "IPv4", port };
    return { address: local.address === undefined ? "::" : ipv6ToString(local.address), family: "IPv6", port };
  }

  /** Releases the port; 'close' follows asynchronously, and `cb` with it. */
  close(cb?: () => void): this {
    if (cb) this.once("close", cb);
    if (this.closed) return this;
    this.closed = true;
    this.layer.unbind(this.binding);
    process.nextTick(() => this.emit("close"));
    return this;
  }

  /** No-op (the stack's own timer decides whether the process stays alive); for dgram compatibility. */
  ref(): this {
    return this;
  }

  /** No-op; for dgram compatibility. */
  unref(): this {
    return this;
  }

  private localFor(address: string | undefined, type: "udp4" | "udp6" | undefined): UdpLocal | undefined {
    if (address === undefined) {
      if (type === "udp4") return { family: 4 };
      if (type === "udp6" && !this.layer.hasFamily(4)) return { family: 6 };
      return undefined; // the layer's default: every address of every configured family
    }
    const parsed = parseIpLiteral(address);
    if (parsed === undefined) {
      throw new WirestackError(
        "WIRESTACK_ERR_BAD_ADDRESS",
        `cannot bind to '${address}': give an IPv4 or IPv6 address of this stack, or 0.0.0.0 or ::`,
      );
    }
    if (parsed.family === 4) return { family: 4, address: parsed.address === 0 ? undefined : parsed.address };
    if (isUnspecifiedV6(parsed.address)) return this.layer.hasFamily(4) && this.layer.hasFamily(6) ? { family: "dual" } : { family: 6 };
    return { family: 6, address: parsed.address };
  }

  /** Reports a send error to `cb`; without one, as 'error' only when `orEmit` (Node's lookup errors). */
  private fail(err: Error, cb: UdpSendCallback | undefined, orEmit = false): void {
    if (cb) process.nextTick(cb, err, 0);
    else if (orEmit) process.nextTick(() => this.emit("error", err));
  }

  private onMessage(payload: Uint8Array, from: UdpPeer): void {
    const msg = Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength);
    const rinfo: UdpRemoteInfo = {
      address: textOf(from.address),
      family: from.family === 4 ? "IPv4" : "IPv6",
      port: from.port,
      size: payload.byteLength,
    };
    process.nextTick(() => {
      if (!this.closed) this.emit("message", msg, rinfo);
    });
  }

  private onIcmpError(error: UdpIcmpError): void {
    const report: UdpIcmpReport = {
      code: errnoOf(error.kind),
      kind: error.kind,
      address: textOf(error.dst),
      port: error.dstPort,
      family: error.family === 4 ? "IPv4" : "IPv6",
      reporter: textOf(error.reporter),
      icmpType: error.icmpType,
      icmpCode: error.icmpCode,
      mtu: error.mtu,
    };
    process.nextTick(() => {
      if (!this.closed) this.emit("icmp", report);
    });
  }
}
