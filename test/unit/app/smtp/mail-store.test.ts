/**
 * src/host/mail-store.ts: one .eml per message, written atomically (temp file, then rename), with
 * unique names that nothing the client sends can steer.
 */
import { readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, test } from "vitest";
import { storedMessage, type SmtpMessage } from "../../../../src/app/smtp/server-core.ts";
import { DirectoryMailStore } from "../../../../src/host/mail-store.ts";
import { tempDir } from "../../../helpers/tools.ts";
import { SWAKS_MESSAGE } from "./fixtures.ts";

const MESSAGE: SmtpMessage = {
  id: "M5G1-1",
  reversePath: "c@d",
  recipients: ["a@b"],
  heloName: "client.example",
  remoteAddress: "127.0.0.1",
  receivedAt: Date.UTC(2025, 2, 4, 9, 5, 7),
  receivedHeader: "Received: from client.example ([127.0.0.1]) by mx.test (wirestack) with ESMTP id M5G1-1; Tue, 04 Mar 2025 09:05:07 +0000\r\n",
  content: SWAKS_MESSAGE,
};

let cleanup: (() => void) | undefined;
afterEach(() => cleanup?.());

describe("DirectoryMailStore", () => {
  test("writes the Received header and the content byte for byte, as NAME.eml, leaving no temp file", async () => {
    const t = tempDir("wirestack-mail-");
    cleanup = t.remove;
    const dir = join(t.dir, "new", "mail");
    const name = await new DirectoryMailStore(dir).store(MESSAGE);
    expect(name).toMatch(/^20250304T090507Z-M5G1-1-000001-[0-9a-f]{8}\.eml$/);
    expect(readdirSync(dir)).toEqual([name]);
    const file = new Uint8Array(readFileSync(join(dir, name)));
    expect(file).toEqual(storedMessage(MESSAGE));
    expect(Buffer.from(file).toString("latin1")).toBe(MESSAGE.receivedHeader + Buffer.from(SWAKS_MESSAGE).toString("latin1"));
  });

  test("the same id twice, concurrently, gives two files; a hostile id cannot leave the directory", async () => {
    const t = tempDir("wirestack-mail-");
    cleanup = t.remove;
    const store = new DirectoryMailStore(t.dir);
    const names = await Promise.all([store.store(MESSAGE), store.store(MESSAGE), store.store({ ...MESSAGE, id: "../../etc/passwd" })]);
    expect(new Set(names).size).toBe(3);
    expect(readdirSync(t.dir).sort()).toEqual([...names].sort());
    for (const n of names) expect(n).toMatch(/^[0-9TZ]+-[A-Za-z0-9-]*-\d{6}-[0-9a-f]{8}\.eml$/);
    expect(names[2]).toContain("-etcpasswd-");
  });

  test("a store that cannot write rejects (the server answers 451) and leaves nothing behind", async () => {
    const t = tempDir("wirestack-mail-");
    cleanup = t.remove;
    await new DirectoryMailStore(t.dir).store(MESSAGE);
    const [existing] = readdirSync(t.dir);
    await expect(new DirectoryMailStore(join(t.dir, existing as string, "sub")).store(MESSAGE)).rejects.toThrow();
    expect(readdirSync(t.dir)).toEqual([existing]);
  });
});
