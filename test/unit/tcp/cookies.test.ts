import { describe, expect, it } from "vitest";
import { seededRandom } from "../../../src/time/random.ts";
import type { Endpoint } from "../../../src/transport/tcp/connection.ts";
import {
  COOKIE_MSS_V4,
  COOKIE_MSS_V6,
  COOKIE_PERIOD_MS,
  SynCookies,
  cookieMssIndex,
  cookieSynInfo,
  cookieTsVal,
} from "../../../src/transport/tcp/cookies.ts";
import { parseIpv4, parseIpv6 } from "../../../src/wire/ip-address.ts";

const v4 = (s: string, port: number): Endpoint => ({ family: 4, address: parseIpv4(s) as number, port });
const v6 = (s: string, port: number): Endpoint => ({ family: 6, address: parseIpv6(s) as Uint8Array, port });
const LOCAL = v4("10.0.0.1", 80);
const REMOTE = v4("10.0.0.2", 40000);
const ALL = { windowScale: true, sack: true, timestamps: true };

describe("SYN cookies (RFC 4987 §3.6)", () => {
  const cookies = new SynCookies(seededRandom(11));

  it("a cookie validates for its 4-tuple and peer ISN and returns the MSS", () => {
    const c = cookies.make(LOCAL, REMOTE, 0xdeadbeef, 1460, 5_000);
    expect(cookies.check(LOCAL, REMOTE, 0xdeadbeef, c, 5_000)).toEqual({ mss: 1460 });
    // RFC 4987 §3.6 layout: top 5 bits the period, 3 bits the MSS index.
    expect(c >>> 27).toBe(0);
    expect((c >>> 24) & 7).toBe(COOKIE_MSS_V4.indexOf(1460));
  });

  it("encodes the largest table MSS not above the peer's (536 at least)", () => {
    expect(cookieMssIndex(4, 1460)).toBe(7);
    expect(cookieMssIndex(4, 1459)).toBe(6); // 1452
    expect(cookieMssIndex(4, 9000)).toBe(7);
    expect(cookieMssIndex(4, 100)).toBe(0);
    const c = cookies.make(LOCAL, REMOTE, 1, 1400, 0);
    expect(cookies.check(LOCAL, REMOTE, 1, c, 0)).toEqual({ mss: 1380 });
    const l6 = v6("fd00::1", 80);
    const r6 = v6("fd00::2", 5000);
    const c6 = cookies.make(l6, r6, 1, 1440, 0);
    expect(cookies.check(l6, r6, 1, c6, 0)).toEqual({ mss: 1440 });
    expect(COOKIE_MSS_V6[cookieMssIndex(6, 1300)]).toBe(1280);
  });

  it("lives for the period it was made in and the next (Linux MAX_SYNCOOKIE_AGE = 2)", () => {
    const made = COOKIE_PERIOD_MS - 1; // last ms of period 0
    const c = cookies.make(LOCAL, REMOTE, 7, 1460, made);
    expect(cookies.check(LOCAL, REMOTE, 7, c, 2 * COOKIE_PERIOD_MS - 1)).toEqual({ mss: 1460 });
    expect(cookies.check(LOCAL, REMOTE, 7, c, 2 * COOKIE_PERIOD_MS)).toBe("expired");
    // The 5-bit counter wraps: a cookie from 32 periods ago is not mistaken for a fresh one.
    expect(cookies.check(LOCAL, REMOTE, 7, c, made + 32 * COOKIE_PERIOD_MS)).toBe("bad-hash");
  });

  it("validates across the wrap of the 5-bit period counter", () => {
    const made = 31 * COOKIE_PERIOD_MS + 10;
    const c = cookies.make(LOCAL, REMOTE, 7, 1460, made);
    expect(c >>> 27).toBe(31);
    expect(cookies.check(LOCAL, REMOTE, 7, c, 32 * COOKIE_PERIOD_MS + 10)).toEqual({ mss: 1460 });
  });

  it("rejects forged cookies: another tuple, ISN, key, or any flipped bit", () => {
    const c = cookies.make(LOCAL, REMOTE, 1000, 1460, 0);
    expect(cookies.check(LOCAL, v4("10.0.0.3", 40000), 1000, c, 0)).toBe("bad-hash");
    expect(cookies.check(LOCAL, { ...REMOTE, port: 40001 }, 1000, c, 0)).toBe("bad-hash");
    expect(cookies.check(LOCAL, REMOTE, 1001, c, 0)).toBe("bad-hash");
    expect(new SynCookies(seededRandom(12)).check(LOCAL, REMOTE, 1000, c, 0)).toBe("bad-hash");
    for (let bit = 0; bit < 27; bit++) {
      expect(cookies.check(LOCAL, REMOTE, 1000, (c ^ (1 << bit)) >>> 0, 0), `bit ${bit}`).toBe("bad-hash");
    }
  });

  it("different SYNs get different cookies", () => {
    const seen = new Set<number>();
    for (let i = 0; i < 500; i++) seen.add(cookies.make(LOCAL, REMOTE, i, 1460, 0));
    expect(seen.size).toBe(500);
  });
});

describe("options in the timestamp (Linux cookie_init_timestamp / cookie_timestamp_decode)", () => {
  it("carries window shift and SACK in the low 6 bits of TSval, never ahead of the clock", () => {
    const now = 0x12345678;
    const ts = cookieTsVal(now, 7, true);
    expect(ts & 0x3f).toBe(0x17);
    expect(((now - ts) | 0) >= 0).toBe(true);
    expect(((now - ts) | 0) < 64).toBe(true);
    // Low bits of the clock below the options: lowered by 64 rather than run ahead.
    const t2 = cookieTsVal(0x1000_0005, undefined, true);
    expect(t2).toBe(0x1000_0005 - 0x05 - 64 + 0x1f);
    expect(cookieTsVal(0x3f, 14, false) & 0xf).toBe(14);
    expect(cookieTsVal(0x3f, 20, false) & 0xf).toBe(14); // RFC 7323 §2.3: clamp
  });

  it("decodes what the peer echoes in TSecr", () => {
    const tsVal = cookieTsVal(99999, 7, true);
    expect(cookieSynInfo(5, 1460, { timestamps: { tsVal: 1, tsEcr: tsVal } }, ALL)).toEqual({
      irs: 5,
      peerMss: 1460,
      windowScale: 7,
      sackPermitted: true,
      timestamps: true,
    });
    const none = cookieTsVal(99999, undefined, false);
    expect(cookieSynInfo(5, 536, { timestamps: { tsVal: 1, tsEcr: none } }, ALL)).toEqual({
      irs: 5,
      peerMss: 536,
      windowScale: undefined,
      sackPermitted: false,
      timestamps: true,
    });
  });

  it("without timestamps on the ACK: no window scaling, no SACK", () => {
    expect(cookieSynInfo(5, 1460, {}, ALL)).toEqual({ irs: 5, peerMss: 1460, windowScale: undefined, sackPermitted: false, timestamps: false });
  });

  it("refuses a cookie promising what the config no longer offers", () => {
    const ts = { tsVal: 1, tsEcr: cookieTsVal(99999, 7, true) };
    expect(cookieSynInfo(5, 1460, { timestamps: ts }, { ...ALL, sack: false })).toBe("sack-off");
    expect(cookieSynInfo(5, 1460, { timestamps: ts }, { ...ALL, windowScale: false })).toBe("wscale-off");
    expect(cookieSynInfo(5, 1460, { timestamps: ts }, { ...ALL, timestamps: false })).toBe("timestamps-off");
  });
});
