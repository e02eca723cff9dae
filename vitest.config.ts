import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // A fork per file: interop files create namespaces and TAP devices, and a crash in one must not
    // take another's cleanup with it. Files may run in parallel: each uses its own namespace names
    // (with the pid) and its own subnets.
    pool: "forks",
  },
});
