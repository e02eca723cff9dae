#!/usr/bin/env node
// The `wirestack` command: registers tsx so Node runs the TypeScript sources directly, then hands
// over to src/cli.ts. Kept in plain JavaScript so it runs before any loader is in place.
import { register } from "tsx/esm/api";

register();
const { main } = await import("../src/cli.ts");
process.exitCode = await main(process.argv.slice(2));
