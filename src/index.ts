/** wirestack's public API. */
export { createStack, Stack, StackConfigError, type StackOptions, type PingOptions } from "./stack.ts";
export { UdpSocket } from "./api/udp-socket.ts";
export { MemoryWire } from "./device/memory-wire.ts";
export { FaultDevice, type Impairments } from "./device/fault.ts";
export { CaptureDevice, type PacketSink } from "./device/capture.ts";
export { openTap, openTapSync, tapAvailable, TapDevice, TapError } from "./device/tap.ts";
export type { FrameDevice, FrameReceiver } from "./device/types.ts";
export { RealClock, VirtualClock, type Clock } from "./time/clock.ts";
export { settle, runFor } from "./time/drive.ts";
export { seededRandom, systemRandom, type Random } from "./time/random.ts";
export { createCaptureWriter, openPcapFile, pcapToStdout, readCapture, CaptureReader, type CaptureRecord } from "./pcap/index.ts";
export { dissectFrame, type Dissection, type Layer } from "./decode/dissect.ts";
export { LineFormatter } from "./decode/format.ts";
export { WirestackError, isWirestackError } from "./errors.ts";
export { WireError } from "./wire/error.ts";
export { replay, formatReport, RULES, treatmentOf, ReplayError, type ReplayOptions, type ReplayResult, type Difference, type Rule, type Treatment } from "./replay/index.ts";
