/** Time and randomness: clocks, the deadline heap, seeded random streams. */
export { RealClock, VirtualClock, VIRTUAL_EPOCH_MS } from "./clock.ts";
export type { Clock, TimerId, RealClockOptions, VirtualClockOptions, RunOptions } from "./clock.ts";
export { DeadlineHeap } from "./heap.ts";
export { SeededRandom, seededRandom, systemRandom } from "./random.ts";
export type { Random } from "./random.ts";
