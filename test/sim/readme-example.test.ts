/**
 * README's "Use it as a library" example, through the public API (src/index.ts) exactly as shown,
 * so the example cannot rot.
 */
import { describe, expect, test } from "vitest";
import { createStack, MemoryWire, VirtualClock, settle } from "../../src/index.ts";

describe("README library example", () => {
  test("two stacks on a memory wire: UDP echo bound, a ping answered in virtual time", async () => {
    const clock = new VirtualClock();
    const wire = new MemoryWire({ clock, seed: 7, loss: 0.01, delayMs: 5 });
    const a = createStack({ device: wire.port(), clock, mac: "02:00:00:00:00:01", ipv4: "10.0.0.1/24", ipv6: "fd00::1/64" });
    const b = createStack({ device: wire.port(), clock, mac: "02:00:00:00:00:02", ipv4: "10.0.0.2/24" });
    const echo = b.udp.bind(7);
    echo.on("message", (msg, rinfo) => echo.send(msg, rinfo.port, rinfo.address));
    const rtt = await settle(clock, a.ping("10.0.0.2"));
    // Two hops of 5 ms each way (ARP, then the echo): at least 10 ms of virtual time.
    expect(rtt).toBeGreaterThanOrEqual(10);
    const got = new Promise<Buffer>((resolve) => {
      const s = a.udp.bind(0);
      s.on("message", (m) => resolve(m));
      s.send(Buffer.from("hello"), 7, "10.0.0.2");
    });
    expect((await settle(clock, got)).toString()).toBe("hello");
    expect(a.counters()["stack.exception"] ?? 0).toBe(0);
    await a.close();
    await b.close();
  });
});
