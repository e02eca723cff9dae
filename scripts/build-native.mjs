#!/usr/bin/env node
/**
 * Builds the TAP addon (native/ → native/build/Release/tap.node) with node-gyp. Run by npm as the
 * package's `install` script, and by hand: `node scripts/build-native.mjs`.
 *
 * It never fails the install: everything in wirestack except TAP works without the addon, so a
 * failed build prints one line saying what is missing and exits 0. `--strict` exits 1 instead.
 *
 * node-gyp is the one npm bundles (npm sets npm_config_node_gyp for lifecycle scripts); run by hand
 * we look for it next to the npm installation, then fall back to `npx node-gyp`. `--nodedir` comes
 * from npm's config (here nodedir=/usr: the headers are local; without it node-gyp tries to
 * download them).
 */
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const nativeDir = join(root, "native");
const strict = process.argv.includes("--strict");
const verbose = process.argv.includes("--verbose") || process.env.WIRESTACK_NATIVE_VERBOSE === "1";

/** Where npm's bundled node-gyp lives, or undefined. */
function findNodeGyp() {
  const fromNpm = process.env.npm_config_node_gyp;
  if (fromNpm && existsSync(fromNpm)) return fromNpm;
  const candidates = [];
  // npm_execpath is .../npm/bin/npm-cli.js when npm runs us.
  if (process.env.npm_execpath) candidates.push(join(dirname(process.env.npm_execpath), "..", "node_modules", "node-gyp", "bin", "node-gyp.js"));
  // <prefix>/bin/node → <prefix>/lib/node_modules/npm/...
  const prefix = resolve(dirname(process.execPath), "..");
  candidates.push(join(prefix, "lib", "node_modules", "npm", "node_modules", "node-gyp", "bin", "node-gyp.js"));
  if (process.env.npm_config_prefix) {
    candidates.push(join(process.env.npm_config_prefix, "lib", "node_modules", "npm", "node_modules", "node-gyp", "bin", "node-gyp.js"));
  }
  return candidates.find((c) => existsSync(c));
}

function fail(why) {
  const line =
    `wirestack: TAP support is unavailable (native addon not built: ${why}). ` +
    "Everything else works. To enable it install a C compiler, python3 and make " +
    "(Debian: apt-get install g++ make python3), then run `npm rebuild` or `node scripts/build-native.mjs`.";
  console.warn(line);
  process.exit(strict ? 1 : 0);
}

if (process.platform !== "linux") fail(`TAP needs Linux, this is ${process.platform}`);

const nodedir = process.env.npm_config_nodedir || "/usr";
const gypArgs = ["rebuild", `--nodedir=${nodedir}`];
const gyp = findNodeGyp();
const [cmd, args] = gyp ? [process.execPath, [gyp, ...gypArgs]] : ["npx", ["--no-install", "node-gyp", ...gypArgs]];

const result = spawnSync(cmd, args, {
  cwd: nativeDir,
  stdio: verbose ? "inherit" : "pipe",
  encoding: "utf8",
  timeout: 300_000,
});

if (result.error) fail(`${cmd}: ${result.error.message}`);
if (result.status !== 0) {
  const output = `${result.stdout ?? ""}\n${result.stderr ?? ""}`;
  // The first real error is the useful one: a missing compiler, python or header.
  const firstError = output.split("\n").find((l) => /error|not found|ENOENT|No such file/i.test(l) && !/^gyp info/.test(l));
  fail(firstError ? firstError.trim().slice(0, 200) : `node-gyp exited with ${result.status ?? result.signal}`);
}
if (!existsSync(join(nativeDir, "build", "Release", "tap.node"))) fail("node-gyp succeeded but tap.node is missing");
if (verbose) console.log("wirestack: TAP addon built: native/build/Release/tap.node");
