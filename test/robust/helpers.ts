/**
 * Scaffolding for the robustness tests: hand-built attack frames from the src/wire codecs, and TCP
 * servers and clients driven straight on a stack's TcpLayer (synchronous, so a virtual-time test
 * sees exactly what each injected frame did).
 */
import type { Stack } from "../../src/stack.ts";
import type { TcpConnection, TcpConfig } from "../../src/transport/tcp/connection.ts";
import { emitTcp, type TcpRepr } from "../../src/wire/tcp.ts";
import { emitUdp } from "../../src/wire/udp.ts";
import { emitArp } from "../../src/wire/arp.ts";
import { emitEthernet, ETHERTYPE_ARP } from "../../src/wire/ethernet.ts";
import { parseIpv4 as parseIpv4Text } from "../../src/wire/ip-address.ts";
import { parseMac } from "../../src/wire/mac.ts";
import { ipv4Frame } from "../sim/helpers.ts";

/** An IPv4 text address as our number, or a test failure. */
export function v4(text: string): number {
  const a = parseIpv4Text(text);
  if (a === undefined) throw new Error(`bad IPv4 ${text}`);
  return a;
}

function mac(text: string): Uint8Array {
  const m = parseMac(text);
  if (m === undefined) throw new Error(`bad MAC ${text}`);
  return m;
}

/** Ethernet + IPv4 + TCP with a correct checksum. */
export function tcpFrame(o: {
  srcMac: string;
  dstMac: string;
  src: string;
  dst: string;
  srcPort: number;
  dstPort: number;
  seq: number;
  ack: number;
  flags: number;
  window?: number;
  payload?: Uint8Array;
  ident?: number;
}): Uint8Array {
  const payload = o.payload ?? new Uint8Array(0);
  const repr: TcpRepr = {
    srcPort: o.srcPort,
    dstPort: o.dstPort,
    seq: o.seq >>> 0,
    ack: o.ack >>> 0,
    flags: o.flags,
    window: o.window ?? 65535,
    urgentPointer: 0,
    options: [],
    payload,
  };
  const seg = new Uint8Array(20 + payload.length);
  emitTcp(repr, seg, 0, { family: 4, src: v4(o.src), dst: v4(o.dst) });
  return ipv4Frame({ srcMac: o.srcMac, dstMac: o.dstMac, src: o.src, dst: o.dst, protocol: 6, ident: o.ident ?? 1, payload: seg });
}

/** Ethernet + IPv4 + UDP with a correct checksum. */
export function udpFrame(o: { srcMac: string; dstMac: string; src: string; dst: string; srcPort: number; dstPort: number; payload: Uint8Array; ident?: number }): Uint8Array {
  const dgram = new Uint8Array(8 + o.payload.length);
  emitUdp({ srcPort: o.srcPort, dstPort: o.dstPort, payload: o.payload }, dgram, 0, { family: 4, src: v4(o.src), dst: v4(o.dst) });
  return ipv4Frame({ srcMac: o.srcMac, dstMac: o.dstMac, src: o.src, dst: o.dst, protocol: 17, ident: o.ident ?? 1, payload: dgram });
}

/** An ARP reply (RFC 826) claiming `senderIp` is at `senderMac`, sent to `dstMac`. */
export function arpReply(o: { senderMac: string; senderIp: string; dstMac: string; targetIp: string }): Uint8Array {
  const frame = new Uint8Array(42);
  const at = emitEthernet({ kind: "ethernet-ii", etherType: ETHERTYPE_ARP, dst: mac(o.dstMac), src: mac(o.senderMac) }, frame, 0);
  emitArp(
    { kind: "ethernet-ipv4", op: { kind: "reply" }, senderMac: mac(o.senderMac), senderIp: v4(o.senderIp), targetMac: mac(o.dstMac), targetIp: v4(o.targetIp) },
    frame,
    at,
  );
  return frame;
}

/** A connection with everything it received collected. */
export interface Collected {
  readonly conn: TcpConnection;
  readonly received: Uint8Array[];
  readonly errors: string[];
  bytes(): Uint8Array;
}

function collect(stack: Stack, conn: TcpConnection, echo: boolean, read: boolean): Collected {
  const received: Uint8Array[] = [];
  const errors: string[] = [];
  const layer = stack.tcpLayer;
  layer.setOwner(conn, {
    deliver(events) {
      for (const e of events) {
        if (e.kind === "error") errors.push(e.code);
        if (!read || (e.kind !== "readable" && e.kind !== "writable")) continue;
        for (let guard = 0; guard < 1024; guard++) {
          const room = echo ? conn.writableFree : undefined;
          if (room !== undefined && room <= 0) break;
          const chunk = conn.read(room);
          if (chunk === undefined) break;
          received.push(chunk.slice());
          if (echo) conn.write(chunk);
        }
        layer.kick(conn);
      }
    },
  });
  return {
    conn,
    received,
    errors,
    bytes() {
      const n = received.reduce((s, c) => s + c.length, 0);
      const out = new Uint8Array(n);
      let at = 0;
      for (const c of received) (out.set(c, at), (at += c.length));
      return out;
    },
  };
}

/** Listens on `port`; each accepted connection echoes (or, with `read: false`, never reads). */
export function tcpServer(stack: Stack, port: number, o: { echo?: boolean; read?: boolean; backlog?: number; synQueue?: number; config?: TcpConfig } = {}): Collected[] {
  const layer = stack.tcpLayer;
  const l = layer.listen(port, undefined, { backlog: o.backlog, synQueue: o.synQueue, config: o.config });
  const accepted: Collected[] = [];
  l.owner = {
    acceptable() {
      for (let c = layer.accept(l); c !== undefined; c = layer.accept(l)) accepted.push(collect(stack, c, o.echo ?? true, o.read ?? true));
    },
  };
  return accepted;
}

/** Connects from `stack`; what comes back is collected. */
export function tcpClient(stack: Stack, host: string, port: number, config?: TcpConfig): Collected {
  const conn = stack.tcpLayer.connect({ family: 4, address: v4(host), port }, { config }, stack.clock.now());
  const c = collect(stack, conn, false, true);
  stack.kick();
  return c;
}

/** Writes all of `data` as the send buffer allows (the rest is returned). */
export function send(stack: Stack, c: Collected, data: Uint8Array): number {
  const n = c.conn.write(data);
  stack.tcpLayer.kick(c.conn);
  stack.kick();
  return n;
}
