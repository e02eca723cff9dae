import { describe, expect, it } from "vitest";
import { CaptureDevice, captureTimestamp, type PacketSink } from "../../../src/device/capture.ts";
import { MemoryWire } from "../../../src/device/memory-wire.ts";
import type { FrameDevice, FrameReceiver } from "../../../src/device/types.ts";
import { VIRTUAL_EPOCH_MS, VirtualClock } from "../../../src/time/clock.ts";

/** A sink that keeps copies of what it is given. */
class MemorySink implements PacketSink {
  packets: { frame: Uint8Array; sec: number; nsec: number; origLen: number | undefined }[] = [];
  closed = 0;
  writePacket(frame: Uint8Array, sec: number, nsec: number, origLen?: number): void {
    this.packets.push({ frame: new Uint8Array(frame), sec, nsec, origLen });
  }
  close(): void {
    this.closed++;
  }
}

class FakeDevice implements FrameDevice {
  readonly name = "fake0";
  readonly mtu = 1500;
  sent: Uint8Array[] = [];
  receiver: FrameReceiver | undefined;
  closed = 0;
  send(frame: Uint8Array): void {
    this.sent.push(frame);
  }
  setReceiver(receiver: FrameReceiver): void {
    this.receiver = receiver;
  }
  close(): void {
    this.closed++;
  }
}

const EPOCH_SEC = VIRTUAL_EPOCH_MS / 1000; // 1767225600, 2026-01-01T00:00:00Z

describe("captureTimestamp", () => {
  it("splits epoch + now into seconds and nanoseconds", () => {
    expect(captureTimestamp(VIRTUAL_EPOCH_MS, 0)).toEqual({ sec: EPOCH_SEC, nsec: 0 });
    expect(captureTimestamp(VIRTUAL_EPOCH_MS, 1234.5)).toEqual({ sec: EPOCH_SEC + 1, nsec: 234_500_000 });
    expect(captureTimestamp(1_500, 0.25)).toEqual({ sec: 1, nsec: 500_250_000 });
  });

  it("keeps sub-microsecond precision that adding as floats would lose", () => {
    // 123 ns after the origin: epochMs + 0.000123 as one double is off by ~100 ns.
    const naive = VIRTUAL_EPOCH_MS + 0.000123;
    expect(Math.round((naive - VIRTUAL_EPOCH_MS) * 1e6)).not.toBe(123);
    expect(captureTimestamp(VIRTUAL_EPOCH_MS, 0.000123)).toEqual({ sec: EPOCH_SEC, nsec: 123 });
    expect(captureTimestamp(VIRTUAL_EPOCH_MS, 86_400_000 + 7.000001)).toEqual({ sec: EPOCH_SEC + 86_400, nsec: 7_000_001 });
  });

  it("carries a rounded-up nanosecond into the next second", () => {
    expect(captureTimestamp(VIRTUAL_EPOCH_MS, 1999.9999999)).toEqual({ sec: EPOCH_SEC + 2, nsec: 0 });
  });

  it("handles times before the origin", () => {
    expect(captureTimestamp(VIRTUAL_EPOCH_MS, -0.5)).toEqual({ sec: EPOCH_SEC - 1, nsec: 999_500_000 });
  });
});

describe("CaptureDevice", () => {
  it("tees sent and received frames with clock timestamps, and passes them on", () => {
    const clock = new VirtualClock({ startMs: 1000.25 });
    const inner = new FakeDevice();
    const sink = new MemorySink();
    const dev = new CaptureDevice(inner, sink, { clock });
    expect([dev.name, dev.mtu]).toEqual(["fake0", 1500]);
    const got: Uint8Array[] = [];
    dev.setReceiver((frames) => got.push(...frames));

    const out = new Uint8Array([1, 2, 3]);
    dev.send(out);
    expect(inner.sent).toEqual([out]);
    clock.advance(0.5);
    inner.receiver!([new Uint8Array([4]), new Uint8Array([5, 6])]);
    expect(got.map((f) => [...f])).toEqual([[4], [5, 6]]);

    expect(sink.packets.map((p) => [[...p.frame], p.sec, p.nsec, p.origLen])).toEqual([
      [[1, 2, 3], EPOCH_SEC + 1, 250_000, undefined],
      [[4], EPOCH_SEC + 1, 750_000, undefined],
      [[5, 6], EPOCH_SEC + 1, 750_000, undefined],
    ]);
  });

  it("records a received frame before the receiver may mutate it", () => {
    const clock = new VirtualClock();
    const inner = new FakeDevice();
    const sink = new MemorySink();
    const dev = new CaptureDevice(inner, sink, { clock });
    dev.setReceiver((frames) => frames[0]!.fill(0));
    inner.receiver!([new Uint8Array([9, 9])]);
    expect([...sink.packets[0]!.frame]).toEqual([9, 9]);
  });

  it("cuts frames to snapLen and reports the original length", () => {
    const clock = new VirtualClock();
    const sink = new MemorySink();
    const dev = new CaptureDevice(new FakeDevice(), sink, { clock, snapLen: 4 });
    dev.send(new Uint8Array([1, 2, 3, 4, 5, 6]));
    dev.send(new Uint8Array([1, 2]));
    expect(sink.packets.map((p) => [[...p.frame], p.origLen])).toEqual([
      [[1, 2, 3, 4], 6],
      [[1, 2], undefined],
    ]);
    expect(() => new CaptureDevice(new FakeDevice(), sink, { clock, snapLen: 0 })).toThrow(RangeError);
  });

  it("close closes the inner device and the sink, once", () => {
    const inner = new FakeDevice();
    const sink = new MemorySink();
    const dev = new CaptureDevice(inner, sink, { clock: new VirtualClock() });
    dev.close();
    dev.close();
    dev.send(new Uint8Array([1]));
    inner.receiver!([new Uint8Array([2])]);
    expect([inner.closed, sink.closed, sink.packets.length, inner.sent.length]).toEqual([1, 1, 0, 0]);
  });

  it("on a memory wire with delay, records send and arrival times on both sides", () => {
    const wire = new MemoryWire({ delayMs: 2.5 });
    const clock = wire.clock;
    const sa = new MemorySink();
    const sb = new MemorySink();
    const a = new CaptureDevice(wire.port(), sa, { clock });
    const b = new CaptureDevice(wire.port(), sb, { clock });
    b.setReceiver(() => {});
    a.send(new Uint8Array(60));
    (clock as VirtualClock).runUntilIdle();
    expect(sa.packets.map((p) => [p.sec, p.nsec])).toEqual([[EPOCH_SEC, 0]]);
    expect(sb.packets.map((p) => [p.sec, p.nsec])).toEqual([[EPOCH_SEC, 2_500_000]]);
  });
});
