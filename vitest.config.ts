import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Interop tests share network namespaces and TAP devices: files run one at a time
    // in a fork each, so a crashed test cannot leave another's namespace half-built.
    pool: "forks",
  },
});
