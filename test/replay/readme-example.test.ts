/**
 * README's "Test your protocol code against a recorded session" example, through the public API
 * (src/index.ts) exactly as shown, so the example cannot rot.
 */
import { readFileSync } from "node:fs";
import { expect, test } from "vitest";
import { replay, formatReport } from "../../src/index.ts";

test("README: an echo server replayed against the kernel's recorded session", async () => {
  const result = await replay({
    capture: readFileSync("captures/conformance/tcp-echo.pcap"),
    as: "10.77.0.1", // the stack plays the recorded server
    setup: (stack) => stack.tcp.listen(7, (sock) => sock.pipe(sock)),
  });
  expect(result.differences).toEqual([]);
  expect(formatReport(result)).toMatch(/^match:/);
});
