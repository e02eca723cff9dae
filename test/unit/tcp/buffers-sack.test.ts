/**
 * Unit tests for the byte queues (buffers.ts) and both ends of SACK (sack.ts): RFC 2018 §4 block
 * order, RFC 6675 §4 IsLost / SetPipe / NextSeg, bounds.
 */
import { describe, expect, test } from "vitest";
import { ReceiveBuffer, SendBuffer, VIEW_MIN_BYTES } from "../../../src/transport/tcp/buffers.ts";
import { OutOfOrderQueue, Scoreboard } from "../../../src/transport/tcp/sack.ts";

const seqBytes = (n: number, from = 0) => Uint8Array.from({ length: n }, (_, i) => (from + i) & 0xff);

describe("SendBuffer", () => {
  test("append is bounded by capacity; peek is a view inside a chunk and a copy across chunks", () => {
    const b = new SendBuffer(20, 8);
    expect(b.append(seqBytes(25))).toBe(20);
    expect(b.free).toBe(0);
    const inOne = b.peek(1, 5);
    expect([...inOne]).toEqual([1, 2, 3, 4, 5]);
    const across = b.peek(6, 5);
    expect([...across]).toEqual([6, 7, 8, 9, 10]);
    inOne[0] = 99; // a view: writes show through
    expect(b.peek(1, 1)[0]).toBe(99);
    across[0] = 77; // a copy: they do not
    expect(b.peek(6, 1)[0]).toBe(6);
  });

  test("ack frees from the front, across chunks, and reuses them", () => {
    const b = new SendBuffer(20, 8);
    b.append(seqBytes(20));
    b.ack(10);
    expect(b.length).toBe(10);
    expect([...b.peek(0, 10)]).toEqual([10, 11, 12, 13, 14, 15, 16, 17, 18, 19]);
    expect(b.append(seqBytes(10, 20))).toBe(10);
    expect([...b.peek(0, 20)]).toEqual([...seqBytes(20, 10)]);
    b.ack(20);
    expect(b.length).toBe(0);
    b.append(seqBytes(3, 50));
    expect([...b.peek(0, 3)]).toEqual([50, 51, 52]);
  });

  test("misuse throws RangeError", () => {
    const b = new SendBuffer(4);
    b.append(seqBytes(2));
    expect(() => b.peek(1, 2)).toThrow(RangeError);
    expect(() => b.ack(3)).toThrow(RangeError);
  });
});

describe("ReceiveBuffer", () => {
  test("window is the free space; read returns views or one copy", () => {
    const r = new ReceiveBuffer(10);
    expect(r.push(seqBytes(4))).toBe(4);
    expect(r.push(seqBytes(8, 4))).toBe(6);
    expect(r.window()).toBe(0);
    expect([...r.read(2)!]).toEqual([0, 1]);
    expect([...r.read(5)!]).toEqual([2, 3, 4, 5, 6]);
    expect([...r.read()!]).toEqual([7, 8, 9]);
    expect(r.read()).toBeUndefined();
    expect(r.window()).toBe(10);
  });

  test("a super-frame's payload (≥ VIEW_MIN_BYTES) is read alone as a view, not copied with the next", () => {
    const r = new ReceiveBuffer(1 << 20);
    const big = seqBytes(VIEW_MIN_BYTES + 100);
    const small = seqBytes(10);
    r.push(big);
    r.push(small);
    const first = r.read(64 * 1024)!;
    expect(first.buffer).toBe(big.buffer);
    expect(first.length).toBe(big.length);
    expect(r.read(64 * 1024)!.buffer).toBe(small.buffer);
    // Below the threshold, small segments are still joined into one read.
    r.push(seqBytes(5));
    r.push(seqBytes(5, 5));
    expect([...r.read(64 * 1024)!]).toEqual([...seqBytes(10)]);
  });
});

describe("OutOfOrderQueue (RFC 2018 §4)", () => {
  test("overlaps are stored once; take returns the bytes in order once the hole is filled", () => {
    const q = new OutOfOrderQueue(1000);
    q.insert(110, seqBytes(10, 10), 100);
    q.insert(115, seqBytes(10, 15), 100); // overlaps 115..120
    expect(q.bytes).toBe(15);
    expect(q.blocks()).toEqual([{ left: 110, right: 125 }]);
    expect(q.take(100)).toBeUndefined();
    const got: number[] = [];
    for (let p = q.take(110); p !== undefined; p = q.take(110 + got.length)) got.push(...p);
    expect(got).toEqual([...seqBytes(15, 10)]);
    expect(q.isEmpty).toBe(true);
  });

  test("data below RCV.NXT is not held; take trims a piece that straddles RCV.NXT", () => {
    const q = new OutOfOrderQueue(1000);
    q.insert(90, seqBytes(20), 100);
    expect(q.blocks()).toEqual([{ left: 100, right: 110 }]);
    q.insert(120, seqBytes(10), 100);
    expect([...q.take(125)!]).toEqual([5, 6, 7, 8, 9]);
  });

  test("bounded in bytes: what does not fit is refused, nothing held is evicted", () => {
    const q = new OutOfOrderQueue(10);
    expect(q.insert(200, seqBytes(8), 100)).toBe(true);
    expect(q.insert(300, seqBytes(8), 100)).toBe(false);
    expect(q.blocks()).toEqual([{ left: 200, right: 208 }]);
  });

  test("blocks: the latest segment's first, then most recently reported; wraps 2^32", () => {
    const q = new OutOfOrderQueue(1000);
    const base = 0xfffffff0;
    q.insert(base + 2, seqBytes(5), base);
    q.insert((base + 22) >>> 0, seqBytes(5), base);
    q.insert((base + 14) >>> 0, seqBytes(5), base);
    expect(q.sackBlocks(4, base)).toEqual([
      { left: 0xfffffffe, right: 3 },
      { left: 6, right: 11 },
      { left: 0xfffffff2, right: 0xfffffff7 },
    ]);
    expect(q.sackBlocks(2, base)).toEqual([{ left: 0xfffffffe, right: 3 }, { left: 6, right: 11 }]);
  });
});

describe("Scoreboard (RFC 6675)", () => {
  const SMSS = 100;
  test("update ignores D-SACK and blocks beyond SND.MAX; merges ranges; ACK drops what it covers", () => {
    const s = new Scoreboard();
    expect(s.update([{ left: 1100, right: 1200 }], 1000, 2000)).toBe(100);
    expect(s.update([{ left: 900, right: 1000 }], 1000, 2000)).toBe(0); // D-SACK (RFC 2883)
    expect(s.dsacks).toBe(1);
    expect(s.update([{ left: 1900, right: 2100 }], 1000, 2000)).toBe(0);
    expect(s.update([{ left: 1200, right: 1300 }, { left: 1150, right: 1250 }], 1000, 2000)).toBe(100);
    expect(s.sackedBytes).toBe(200);
    s.update(undefined, 1250, 2000);
    expect(s.sackedBytes).toBe(50);
    expect(s.isSacked(1260)).toBe(true);
    expect(s.isSacked(1300)).toBe(false);
  });

  test("IsLost: more than (DupThresh − 1) × SMSS SACKed above, or DupThresh ranges (§4)", () => {
    const s = new Scoreboard();
    s.update([{ left: 1100, right: 1300 }], 1000, 2000);
    expect(s.isLost(1000, SMSS)).toBe(false);
    s.update([{ left: 1300, right: 1301 }], 1000, 2000);
    expect(s.isLost(1000, SMSS)).toBe(true);
    const t = new Scoreboard();
    t.update([{ left: 1100, right: 1110 }, { left: 1200, right: 1210 }, { left: 1300, right: 1310 }], 1000, 2000);
    expect(t.isLost(1000, SMSS)).toBe(true);
    expect(t.isLost(1150, SMSS)).toBe(false);
  });

  test("SetPipe and NextSeg rules 1–3 (§4)", () => {
    const s = new Scoreboard();
    s.update([{ left: 1100, right: 1400 }, { left: 1500, right: 1600 }], 1000, 2000);
    // Hole 1000..1100 is lost (300+ bytes above); hole 1400..1500 has only 100 above: not lost.
    expect(s.pipe(1000, 2000, 1000, SMSS)).toBe(1000 - 400 - 100);
    expect(s.pipe(1000, 2000, 1100, SMSS)).toBe(1000 - 400);
    expect(s.nextSeg(1000, SMSS, true)).toEqual({ kind: "retransmit", seq: 1000, len: 100 });
    expect(s.nextSeg(1100, SMSS, true)).toEqual({ kind: "new-data" });
    expect(s.nextSeg(1100, SMSS, false)).toEqual({ kind: "retransmit", seq: 1400, len: 100 });
    expect(s.nextSeg(1500, SMSS, false)).toEqual({ kind: "none" });
  });
});
