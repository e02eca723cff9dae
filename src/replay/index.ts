/** Replay: recorded sessions as conformance tests (src/replay/engine.ts). */
export { replay, flowKey, ReplayError, type ReplayOptions, type ReplayResult, type ReplayPair } from "./engine.ts";
export { compareFrames, flattenFrame, type Difference, type CompareContext, type FlatFrame } from "./compare.ts";
export { RULES, treatmentOf, type Rule, type RuleOverrides, type Treatment } from "./rules.ts";
export { formatReport } from "./report.ts";
