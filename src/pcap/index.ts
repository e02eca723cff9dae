/** pcap and pcapng: writers (sans-IO, and over a file or stdout) and a reader. */
export {
  DEFAULT_SNAPLEN,
  LINKTYPE,
  PCAP_MAGIC,
  isPcap,
  parsePcapHeader,
  type PcapHeaderRepr,
  type PcapResolution,
} from "./pcap.ts";
export { PCAPNG_BLOCK, type TimestampResolution } from "./pcapng.ts";
export {
  PcapWriter,
  PcapngWriter,
  createCaptureWriter,
  type CaptureFormat,
  type CaptureWriterOptions,
  type ChunkWriter,
  type PacketSink,
} from "./writer.ts";
export { openPcapFile, pcapToStdout, type FileCaptureSink } from "./file.ts";
export {
  CaptureReader,
  readCapture,
  type CaptureFile,
  type CaptureInterface,
  type CaptureRecord,
} from "./reader.ts";
