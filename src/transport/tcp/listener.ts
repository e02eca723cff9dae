/**
 * A TCP listener: the LISTEN state of RFC 9293 §3.10.7.2 for one port, with Linux's two bounded
 * queues and SYN cookies (RFC 4987 §3.6).
 *
 * Read before editing: RFC 9293 §3.10.7.2 (segments arriving in LISTEN), RFC 4987 (SYN flooding and
 * the defences; §3.6 cookies), cookies.ts.
 *
 * Owns: the SYN queue (half-open connections in SYN-RECEIVED, each a `TcpConnection` that retransmits
 * its own SYN-ACK) and the accept queue (established connections the application has not taken).
 * Guarantees: neither queue grows past its bound. Once the SYN queue is full, a SYN is answered with
 * a cookie SYN-ACK and no state, so a flood of SYNs from forged sources fills the SYN queue but cannot
 * lock out a real client, whose ACK brings the cookie back (RFC 4987 §3.6). Never: sends anything or
 * creates a connection itself — `decide` says what to do and the layer (layer.ts) does it, so the
 * rules here are testable without packets.
 *
 * Linux's behaviour where RFC 9293 leaves room:
 *   - a SYN while the accept queue is full is dropped (the peer retransmits; `tcp_conn_request`);
 *   - the ACK completing a handshake while the accept queue is full is dropped too (the half-open
 *     connection stays; the peer or our SYN-ACK retransmission tries again), as `tcp_check_req`
 *     does without tcp_abort_on_overflow;
 *   - an ACK arriving at the listener is checked as a cookie only within two cookie periods of the
 *     last SYN-queue overflow (`tcp_synq_no_recent_overflow`); then a failed cookie is dropped and
 *     counted rather than reset (our choice: a RST would tell a blind attacker its guess was checked);
 *     outside that window RFC 9293's LISTEN rule applies: an ACK is answered with a RST.
 */
import { Counters } from "../../util/counters.ts";
import { WireError } from "../../wire/error.ts";
import { TCP_ACK, TCP_RST, TCP_SYN, tcpOptionSet, type TcpOptionSet, type TcpRepr } from "../../wire/tcp.ts";
import type { Ipv4Address, Ipv6Address } from "../../wire/ip-address.ts";
import type { CookieSynInfo, Endpoint, TcpConfig, TcpConnection } from "./connection.ts";
import { COOKIE_MAX_AGE, COOKIE_PERIOD_MS, cookieSynInfo, type CookieFeatures, type SynCookies } from "./cookies.ts";

/** Default bound of the SYN queue (half-open connections), like Linux's tcp_max_syn_backlog floor. */
export const DEFAULT_SYN_QUEUE = 256;
/** Default backlog: the accept queue's bound (Linux's SOMAXCONN before 5.4). */
export const DEFAULT_BACKLOG = 128;

/** Where a listener listens: one family or both, on one address or (address undefined) on all. */
export type TcpListenLocal =
  | { readonly family: "dual" }
  | { readonly family: 4; readonly address?: Ipv4Address | undefined }
  | { readonly family: 6; readonly address?: Ipv6Address | undefined };

/** Hears that connections wait in the accept queue (the socket API's TcpServer). */
export interface TcpListenerOwner {
  /** Called by the layer after a batch in which the accept queue gained connections. */
  acceptable(): void;
}

/** What the layer should do with a segment that reached the listener (no connection matched it). */
export type ListenDecision =
  /** Drop silently; `reason` is counted. */
  | { readonly kind: "drop"; readonly reason: string }
  /** RFC 9293 §3.10.7.2: answer with a RST built from the segment (§3.10.7.1's rules). */
  | { readonly kind: "reset" }
  /** A SYN with room in the SYN queue: create a connection in SYN-RECEIVED (`acceptSyn`). */
  | { readonly kind: "syn-received" }
  /** A SYN with the SYN queue full: answer a stateless cookie SYN-ACK (RFC 4987 §3.6). */
  | { readonly kind: "cookie-syn"; readonly options: TcpOptionSet }
  /** The ACK of a valid cookie: create the connection with ISS = `iss`, ESTABLISHED (`acceptCookie`). */
  | { readonly kind: "cookie-ack"; readonly iss: number; readonly info: CookieSynInfo };

/** Construction options of a listener. */
export interface TcpListenerOptions {
  readonly port: number;
  readonly local: TcpListenLocal;
  /** The accept queue's bound (default 128). */
  readonly backlog?: number | undefined;
  /** The SYN queue's bound (default 256). */
  readonly synQueue?: number | undefined;
  /** Which options cookie connections may use (the listener's TcpConfig). */
  readonly features: CookieFeatures;
  readonly cookies: SynCookies;
  /** Settings of connections made from this listener (the layer's, merged with `listen`'s). */
  readonly config?: TcpConfig | undefined;
  /** Where to count (the layer passes its own "tcp.listen" counters so every listener adds up). */
  readonly counters?: Counters | undefined;
}

/** The decisions that carry nothing of the segment: one object each, not one per SYN. */
const SYN_RECEIVED: ListenDecision = Object.freeze({ kind: "syn-received" });
const RESET: ListenDecision = Object.freeze({ kind: "reset" });

/** A listening port (see the module comment). Created by `TcpLayer.listen`. */
export class TcpListener {
  readonly port: number;
  readonly local: TcpListenLocal;
  readonly backlog: number;
  readonly synQueueLimit: number;
  /** Drops, cookies sent and accepted (prefix "tcp.listen"; shared by every listener of a layer). */
  readonly counters: Counters;
  /** Settings of the connections this listener creates. */
  readonly config: TcpConfig;
  /** Set by the socket API; told when the accept queue gains connections. */
  owner: TcpListenerOwner | undefined = undefined;
  /** False once closed. */
  open = true;

  /** Half-open connections (SYN-RECEIVED), in arrival order. */
  readonly synQueue = new Set<TcpConnection>();
  /** Established connections waiting for `accept`, oldest first. */
  readonly acceptQueue: TcpConnection[] = [];
  /** When the SYN queue last overflowed (a cookie was sent); undefined: never. */
  lastOverflowAt: number | undefined = undefined;

  private readonly features: CookieFeatures;
  private readonly cookies: SynCookies;

  constructor(opts: TcpListenerOptions) {
    this.port = opts.port;
    this.local = opts.local;
    this.backlog = Math.max(1, Math.floor(opts.backlog ?? DEFAULT_BACKLOG));
    this.synQueueLimit = Math.max(0, Math.floor(opts.synQueue ?? DEFAULT_SYN_QUEUE));
    this.features = opts.features;
    this.cookies = opts.cookies;
    this.config = opts.config ?? {};
    this.counters = opts.counters ?? new Counters("tcp.listen");
  }

  /** True when the accept queue holds `backlog` connections. */
  get acceptQueueFull(): boolean {
    return this.acceptQueue.length >= this.backlog;
  }

  /** The oldest established connection, removed from the accept queue; undefined when none waits. */
  accept(): TcpConnection | undefined {
    return this.acceptQueue.shift();
  }

  /**
   * RFC 9293 §3.10.7.2 for a segment from `remote` to `local` that matched no connection. Counts
   * what it decides (`listen.*`); the caller carries it out.
   */
  decide(seg: TcpRepr, local: Endpoint, remote: Endpoint, now: number): ListenDecision {
    const f = seg.flags;
    // "First, check for a RST: An incoming RST segment could not be valid ... it should be ignored."
    if (f & TCP_RST) return this.drop("rst");
    // "Second, check for an ACK: Any acknowledgment is bad if it arrives on a connection still in
    // the LISTEN state. An acceptable reset segment should be formed" — unless it returns a cookie.
    if (f & TCP_ACK) {
      if (f & TCP_SYN || !this.cookiesRecent(now)) {
        this.counters.inc("rx.ack-reset");
        return RESET;
      }
      return this.checkCookie(seg, local, remote, now);
    }
    // "Third, check for a SYN".
    if (f & TCP_SYN) {
      // Linux's tcp_conn_request: no room to hand the connection over, so do not start it.
      if (this.acceptQueueFull) return this.drop("accept-queue-full");
      if (this.synQueue.size < this.synQueueLimit) {
        this.counters.inc("rx.syn");
        return SYN_RECEIVED;
      }
      // RFC 4987 §3.6: the SYN queue is full; answer with a cookie and keep nothing.
      this.lastOverflowAt = now;
      this.counters.inc("tx.cookie");
      const options = seg.options instanceof WireError ? {} : tcpOptionSet(seg.options);
      return { kind: "cookie-syn", options };
    }
    // "Fourth, other data or control: ... drop the segment and return."
    return this.drop("no-syn");
  }

  /** True within two cookie periods of the last SYN-queue overflow (cookies may be in flight). */
  cookiesRecent(now: number): boolean {
    return this.lastOverflowAt !== undefined && now - this.lastOverflowAt < COOKIE_MAX_AGE * COOKIE_PERIOD_MS;
  }

  private checkCookie(seg: TcpRepr, local: Endpoint, remote: Endpoint, now: number): ListenDecision {
    const iss = (seg.ack - 1) >>> 0;
    const irs = (seg.seq - 1) >>> 0;
    const r = this.cookies.check(local, remote, irs, iss, now);
    if (typeof r === "string") return this.drop(`cookie-${r}`);
    const opts = seg.options instanceof WireError ? {} : tcpOptionSet(seg.options);
    const info = cookieSynInfo(irs, r.mss, opts, this.features);
    if (typeof info === "string") return this.drop(`cookie-${info}`);
    // Valid, but nowhere to put it: as for a regular handshake, the peer will try again.
    if (this.acceptQueueFull) return this.drop("accept-queue-full");
    this.counters.inc("rx.cookie-valid");
    return { kind: "cookie-ack", iss, info };
  }

  private drop(reason: string): ListenDecision {
    this.counters.inc(`drop.${reason}`);
    return { kind: "drop", reason };
  }
}
