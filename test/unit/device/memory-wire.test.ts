import { describe, expect, it } from "vitest";
import { MemoryWire } from "../../../src/device/memory-wire.ts";
import type { FrameDevice } from "../../../src/device/types.ts";
import { VirtualClock } from "../../../src/time/clock.ts";
import { allocPacket } from "../../../src/wire/packet-buffer.ts";

/** A frame of `len` bytes (0xAA filler) carrying `i` in bytes 14..17. */
function frame(i: number, len = 64): Uint8Array {
  const f = new Uint8Array(len).fill(0xaa);
  new DataView(f.buffer).setUint32(14, i);
  return f;
}
const idOf = (f: Uint8Array) => new DataView(f.buffer, f.byteOffset, f.byteLength).getUint32(14);

/** Records every batch a port receives: [time, ids]. */
function listen(clock: VirtualClock, port: FrameDevice): { log: [number, number[]][]; frames: Uint8Array[] } {
  const log: [number, number[]][] = [];
  const frames: Uint8Array[] = [];
  port.setReceiver((batch) => {
    log.push([clock.now(), batch.map(idOf)]);
    frames.push(...batch);
  });
  return { log, frames };
}

describe("MemoryWire", () => {
  it("ports are FrameDevices with names and the wire's mtu", () => {
    const wire = new MemoryWire({ mtu: 9000 });
    const a = wire.port();
    const b = wire.port("b");
    expect([a.name, a.mtu, b.name, b.mtu]).toEqual(["wire:0", 9000, "b", 9000]);
    expect(new MemoryWire().port().mtu).toBe(1500);
    expect(wire.clock).toBeInstanceOf(VirtualClock);
  });

  it("delivers to every other port through the clock at now, never inside send", () => {
    const clock = new VirtualClock({ startMs: 10 });
    const wire = new MemoryWire({ clock });
    const [a, b, c] = [wire.port(), wire.port(), wire.port()];
    const [la, lb, lc] = [listen(clock, a), listen(clock, b), listen(clock, c)];
    a.send(frame(1));
    a.send(frame(2));
    expect(lb.log).toEqual([]);
    clock.advance(0);
    expect(la.log).toEqual([]); // a hub does not echo to the sender
    expect(lb.log).toEqual([[10, [1, 2]]]); // same instant: one batch
    expect(lc.log).toEqual([[10, [1, 2]]]);
    expect(wire.counters).toMatchObject({ sent: 4, delivered: 4 });
    expect(wire.pathCounters(a, b)).toMatchObject({ sent: 2, delivered: 2 });
    expect(wire.pathCounters(b, a)).toMatchObject({ sent: 0 });
  });

  it("a reply sent from inside a receiver arrives later, not re-entrantly", () => {
    const clock = new VirtualClock();
    const wire = new MemoryWire({ clock });
    const a = wire.port();
    const b = wire.port();
    const order: string[] = [];
    b.setReceiver((frames) => {
      order.push(`b got ${frames.map(idOf).join()}`);
      b.send(frame(100));
      order.push("b sent");
    });
    a.setReceiver((frames) => order.push(`a got ${frames.map(idOf).join()}`));
    a.send(frame(1));
    clock.runUntilIdle();
    expect(order).toEqual(["b got 1", "b sent", "a got 100"]);
  });

  it("copies a frame it did not build (a Buffer the caller may reuse) before delivering it", () => {
    const clock = new VirtualClock();
    const wire = new MemoryWire({ clock });
    const a = wire.port();
    const lb = listen(clock, wire.port());
    const lc = listen(clock, wire.port());
    const sent = Buffer.from(frame(5));
    a.send(sent);
    clock.advance(0);
    const fb = lb.frames[0]!;
    const fc = lc.frames[0]!;
    expect(fb).toEqual(new Uint8Array(sent));
    sent[20] = 0; // the caller reuses its buffer
    expect(fb[20]).toBe(0xaa);
    expect(fc[20]).toBe(0xaa);
    expect(fb.buffer).not.toBe(sent.buffer);
  });

  it("hands a frame the stack built (packet-buffer memory) on as it is; corruption flips a bit of a copy", () => {
    const clock = new VirtualClock();
    const built = allocPacket(100);
    built.set(frame(7, 100));
    const before = new Uint8Array(built);
    const wire = new MemoryWire({ clock });
    const a = wire.port();
    const lb = listen(clock, wire.port());
    a.send(built);
    clock.advance(0);
    expect(lb.frames[0]).toBe(built);

    const noisy = new MemoryWire({ clock, corrupt: 1, seed: 3 });
    const c = noisy.port();
    const ld = listen(clock, noisy.port());
    c.send(built);
    clock.advance(0);
    expect(ld.frames[0]).not.toBe(built);
    expect(ld.frames[0]).not.toEqual(before);
    expect(built).toEqual(before);
  });

  it("marks untouched stack-built frames checksum-valid (veth's CHECKSUM_UNNECESSARY), nothing else", () => {
    const clock = new VirtualClock();
    const wire = new MemoryWire({ clock, corrupt: 0.5, seed: 7 });
    const a = wire.port();
    const b = wire.port();
    const seen: [Uint8Array, number][] = [];
    b.setReceiver((batch, valid) => batch.forEach((f, i) => seen.push([f, valid?.[i] ?? -1])));
    const built: Uint8Array[] = [];
    for (let i = 0; i < 40; i++) {
      const f = allocPacket(100);
      f.set(frame(i, 100));
      built.push(f);
      a.send(f);
    }
    a.send(Buffer.from(frame(99, 100)));
    clock.runUntilIdle();
    expect(seen.length).toBe(41);
    const corrupted = seen.filter(([f]) => !built.includes(f) && idOf(f) !== 99);
    expect(corrupted.length).toBeGreaterThan(0);
    for (const [f, v] of seen) expect(v).toBe(built.includes(f) ? 1 : 0);
  });

  it("drops and counts frames whose payload exceeds the mtu", () => {
    const clock = new VirtualClock();
    const wire = new MemoryWire({ clock, mtu: 1500 });
    const a = wire.port();
    const lb = listen(clock, wire.port());
    a.send(frame(1, 1514));
    a.send(frame(2, 1515));
    clock.runUntilIdle();
    expect(lb.log).toEqual([[0, [1]]]);
    expect(wire.counters).toMatchObject({ sent: 2, mtuDropped: 1, delivered: 1 });
  });

  it("rate limit: 1500-byte frames at 12 Mbit/s arrive 1 ms apart after the delay", () => {
    const clock = new VirtualClock();
    const wire = new MemoryWire({ clock, rateBitsPerSecond: 12e6, delayMs: 10 });
    const a = wire.port();
    const lb = listen(clock, wire.port());
    for (let i = 0; i < 4; i++) a.send(frame(i, 1500));
    clock.runUntilIdle();
    expect(lb.log).toEqual([
      [11, [0]],
      [12, [1]],
      [13, [2]],
      [14, [3]],
    ]);
  });

  it("frames arriving with no receiver set are counted undeliverable", () => {
    const clock = new VirtualClock();
    const wire = new MemoryWire({ clock });
    wire.port().send(frame(1));
    wire.port(); // joined after the send: gets nothing
    clock.runUntilIdle();
    expect(wire.counters).toMatchObject({ sent: 0 });
    const w2 = new MemoryWire({ clock });
    const a = w2.port();
    w2.port();
    a.send(frame(1));
    clock.runUntilIdle();
    expect(w2.counters).toMatchObject({ sent: 1, delivered: 0, undeliverable: 1 });
  });

  it("a closed port leaves the wire: frames in flight to it are dropped, its sends do nothing", () => {
    const clock = new VirtualClock();
    const wire = new MemoryWire({ clock, delayMs: 5 });
    const a = wire.port();
    const b = wire.port();
    const la = listen(clock, a);
    const lb = listen(clock, b);
    a.send(frame(1));
    b.close();
    b.close();
    b.send(frame(2));
    a.send(frame(3));
    clock.runUntilIdle();
    expect(lb.log).toEqual([]);
    expect(la.log).toEqual([]);
    expect(clock.pending).toBe(0);
  });

  const lossy = { loss: 0.1, duplicate: 0.05, reorder: 0.05, corrupt: 0.05, delayMs: 3, jitterMs: 2 };
  const run = (seed: number) => {
    const wire = new MemoryWire({ seed, ...lossy });
    const clock = wire.clock as VirtualClock;
    const ports = [wire.port(), wire.port(), wire.port()];
    const logs = ports.map((p) => {
      const log: string[] = [];
      p.setReceiver((frames) => log.push(`${clock.now()}:${frames.map((f) => Buffer.from(f).toString("hex")).join(",")}`));
      return log;
    });
    for (let i = 0; i < 1000; i++) {
      ports[i % 3]!.send(frame(i, 60 + (i % 50)));
      if (i % 4 === 0) clock.advance(0.5);
    }
    clock.runUntilIdle();
    return { logs, counters: wire.counters };
  };

  it("replays exactly from the same seed; a different seed differs", () => {
    const first = run(42);
    expect(run(42)).toEqual(first);
    expect(run(43).logs).not.toEqual(first.logs);
    expect(first.counters.lost).toBeGreaterThan(100);
    expect(first.counters.sent).toBe(2000);
  });

  it("impairs each receiver's copy independently: loss 0.5 loses different frames at each port", () => {
    const clock = new VirtualClock();
    const wire = new MemoryWire({ clock, seed: 1, loss: 0.5 });
    const a = wire.port();
    const lb = listen(clock, wire.port());
    const lc = listen(clock, wire.port());
    for (let i = 0; i < 200; i++) a.send(frame(i));
    clock.runUntilIdle();
    const ib = lb.frames.map(idOf);
    const ic = lc.frames.map(idOf);
    expect(ib.length).toBeGreaterThan(60);
    expect(ic.length).toBeGreaterThan(60);
    expect(ib).not.toEqual(ic);
    expect(wire.pathCounters(a, wire.port()).sent).toBe(0);
  });
});
