/**
 * TSO/GRO through the whole stack (issue 7): two stacks joined by a pair of devices where A's
 * advertises segmentation offload (device/types.ts `DeviceOffload`) — as a TAP with IFF_VNET_HDR does
 * — and B's is a plain link. A's TCP then builds super-segments that pass IPv4/IPv6 unfragmented over
 * the MTU to `sendSegmented`, their TCP checksum field holding only the pseudo-header sum; the test
 * device completes it (virtio NEEDS_CSUM, gso.ts `completeChecksum`) and hands the super-frame to B
 * WHOLE, so B's receive path takes IP packets and TCP segments larger than its MTU and MSS (what
 * Linux GRO delivers). What arrives must hash (SHA-256) to what was sent; Linux's segmentation of
 * every super-frame (gso.ts `splitTcpGso`) must give MTU-sized frames.
 */
import { describe, expect, test } from "vitest";
import { completeChecksum, GsoError, splitTcpGso } from "../../src/device/gso.ts";
import type { DeviceOffload, FrameDevice, FrameReceiver } from "../../src/device/types.ts";
import { createStack, type Stack } from "../../src/stack.ts";
import { VirtualClock } from "../../src/time/clock.ts";
import { settle } from "../../src/time/drive.ts";
import { checksumOf, pseudoHeaderSumV4, pseudoHeaderSumV6 } from "../../src/wire/checksum.ts";
import { patternBytes, sha256 } from "./tcp-helpers.ts";

/** One end of a lossless synchronous-in-order link; delivery on a microtask, one frame per batch. */
class PairPort implements FrameDevice {
  readonly mtu = 1500;
  peer: PairPort | undefined;
  receiver: FrameReceiver | undefined;
  readonly offload: DeviceOffload | undefined;
  /** Super-frames handed to `sendSegmented`, with their segment size, as they were given. */
  readonly supers: { frame: Uint8Array; segmentSize: number; checksumOk: boolean }[] = [];
  plainFrames = 0;
  largestPlain = 0;

  constructor(
    readonly name: string,
    tsoMaxBytes: number | undefined,
  ) {
    this.offload = tsoMaxBytes === undefined ? undefined : { tsoMaxBytes, rxSuperFrames: true };
  }

  send(frame: Uint8Array): void {
    this.plainFrames++;
    this.largestPlain = Math.max(this.largestPlain, frame.length);
    this.deliver(frame.slice());
  }

  sendSegmented(frame: Uint8Array, segmentSize: number): void {
    const copy = frame.slice();
    const v6 = copy[12] === 0x86;
    const l4 = v6 ? 54 : 34;
    // virtio NEEDS_CSUM: the field holds the pseudo-header sum; the device folds the rest in.
    const err = completeChecksum(copy, l4, 16);
    const ph = v6
      ? pseudoHeaderSumV6(copy.subarray(22, 38), copy.subarray(38, 54), 6, copy.length - l4)
      : pseudoHeaderSumV4(new DataView(copy.buffer).getUint32(26), new DataView(copy.buffer).getUint32(30), 6, copy.length - l4);
    this.supers.push({ frame: frame.slice(), segmentSize, checksumOk: err === undefined && checksumOf(copy, l4, copy.length, ph) === 0 });
    this.deliver(copy);
  }

  private deliver(frame: Uint8Array): void {
    queueMicrotask(() => this.peer?.receiver?.([frame]));
  }

  setReceiver(receiver: FrameReceiver): void {
    this.receiver = receiver;
  }

  close(): void {
    this.receiver = undefined;
  }
}

function pair(tsoMaxBytes: number): { clock: VirtualClock; a: Stack; b: Stack; pa: PairPort; pb: PairPort } {
  const clock = new VirtualClock();
  const pa = new PairPort("tso:a", tsoMaxBytes);
  const pb = new PairPort("plain:b", undefined);
  pa.peer = pb;
  pb.peer = pa;
  const common = { clock, dad: false, routerSolicitation: false } as const;
  const a = createStack({ ...common, device: pa, seed: 2, mac: "02:00:00:00:00:01", ipv4: "10.0.0.1/24", ipv6: "fd00::1/64" });
  const b = createStack({ ...common, device: pb, seed: 3, mac: "02:00:00:00:00:02", ipv4: "10.0.0.2/24", ipv6: "fd00::2/64" });
  return { clock, a, b, pa, pb };
}

/** A sends `data` to B's port 9000 at `host`; resolves with what B read. */
async function transfer(p: ReturnType<typeof pair>, host: string, data: Uint8Array): Promise<Uint8Array> {
  const got = new Promise<Uint8Array>((resolve) => {
    const server = p.b.tcp.listen(9000, (sock) => {
      const chunks: Buffer[] = [];
      sock.on("data", (c: Buffer) => chunks.push(c));
      sock.on("end", () => {
        resolve(new Uint8Array(Buffer.concat(chunks)));
        sock.end();
        server.close();
      });
    });
  });
  const c = p.a.tcp.connect({ host, port: 9000 });
  c.end(Buffer.from(data.buffer, data.byteOffset, data.byteLength));
  return settle(p.clock, got, { limitMs: 120_000 });
}

describe("TSO from the stack, super-frames received whole (issue 7)", () => {
  for (const [family, host] of [
    ["IPv4", "10.0.0.2"],
    ["IPv6", "fd00::2"],
  ] as const) {
    test(`${family}: 4 MiB intact; super-segments up to tsoMaxBytes, cut at the MSS, pseudo-header checksums`, async () => {
      const p = pair(65000);
      const data = patternBytes(4 * 1024 * 1024, 77);
      const got = await transfer(p, host, data);
      expect(got.length).toBe(data.length);
      expect(sha256(got)).toBe(sha256(data));
      const supers = p.pa.supers;
      expect(supers.length).toBeGreaterThan(10);
      const mss = family === "IPv4" ? 1448 : 1428; // 1460 / 1440 less the timestamp option
      const hl = family === "IPv4" ? 14 + 20 + 32 : 14 + 40 + 32;
      let superBytes = 0;
      for (const s of supers) {
        const payload = s.frame.length - hl;
        superBytes += payload;
        expect(s.segmentSize).toBe(mss);
        expect(payload).toBeGreaterThan(mss);
        expect(payload).toBeLessThanOrEqual(65000);
        expect(s.checksumOk).toBe(true);
        // What Linux's tcp_gso_segment makes of it: frames that fit the 1500-byte MTU.
        const cut = splitTcpGso(s.frame, s.segmentSize);
        if (cut instanceof GsoError) throw new Error(String(cut));
        expect(Math.max(...cut.map((f) => f.length))).toBeLessThanOrEqual(1514);
      }
      // Most of the data went as super-segments; everything else A sent fits the MTU.
      expect(superBytes).toBeGreaterThan(data.length * 0.9);
      expect(p.pa.largestPlain).toBeLessThanOrEqual(1514);
      const ca = p.a.counters();
      const cb = p.b.counters();
      expect(ca[family === "IPv4" ? "ipv4.tx.fragments" : "ipv6.tx.fragments"] ?? 0).toBe(0);
      expect(cb["tcp.drop.bad-checksum"] ?? 0).toBe(0);
      expect(ca["stack.exception"] ?? 0).toBe(0);
      expect(cb["stack.exception"] ?? 0).toBe(0);
    }, 60_000);
  }

  test("B (plain link) answers with MTU-sized frames only, and A's stack counts the super-segments", async () => {
    const p = pair(65000);
    await transfer(p, "10.0.0.2", patternBytes(1024 * 1024, 5));
    expect(p.pb.largestPlain).toBeLessThanOrEqual(1514);
    expect(p.pb.supers.length).toBe(0);
    expect(p.a.counters()["tcp.tx.super-segments"]).toBe(p.pa.supers.length);
    expect(p.a.counters()["link.tx.tso-frames"]).toBe(p.pa.supers.length);
    expect(p.a.counters()["ipv4.tx.tso-packets"]).toBe(p.pa.supers.length);
    expect(p.a.counters()["ipv4.tx.fragments"]).toBeUndefined();
  }, 60_000);
});
