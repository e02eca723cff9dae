/**
 * The FrameDevice: what every device (TAP, a memory-wire port) and every device wrapper (capture,
 * fault injection) is. A device moves whole Ethernet frames (destination MAC first, no preamble, no
 * FCS) and knows nothing of protocols (STYLE.md §11).
 *
 * Ownership: a frame handed to `send` belongs to the device from then on (the caller must not reuse
 * the buffer). Frames handed to the receiver belong to the receiver.
 */

/**
 * Receives a batch of frames: everything the device had ready at one moment. `checksumsValid`, when
 * given, has one entry per frame: 1 when the device vouches for the frame's transport checksum because the
 * frame never crossed a wire — the kernel built it and left the checksum to the device, which
 * completed it (Linux's CHECKSUM_PARTIAL/CHECKSUM_UNNECESSARY) — so the stack need not sum it again.
 */
export type FrameReceiver = (frames: readonly Uint8Array[], checksumsValid?: Uint8Array) => void;

/**
 * What a device with segmentation offload (a TAP with IFF_VNET_HDR; gVisor's fdbased endpoint with
 * GSO) does for the stack. Absent on plain links such as the memory wire: then every frame is at most
 * `mtu` + 14 bytes each way and every checksum is complete.
 */
export interface DeviceOffload {
  /**
   * TSO: the largest TCP payload of one super-segment `sendSegmented` accepts. The stack may build
   * TCP/IP packets beyond the MTU up to this, and the device cuts them into MSS-sized frames.
   */
  readonly tsoMaxBytes: number;
  /**
   * GRO: received TCP frames may exceed the MTU (one IP packet of up to 65535 bytes carrying what
   * the peer sent as many segments). Their checksums are always complete, so the stack verifies
   * them as usual.
   */
  readonly rxSuperFrames: boolean;
}

export interface FrameDevice {
  /** A short name for messages and captures ("tap0", "wire:1"). */
  readonly name: string;
  /** The largest Ethernet payload (IP packet) the link carries: 1500 on ordinary Ethernet. */
  readonly mtu: number;
  /** Queues one frame for transmission. Never throws for a frame the link drops; counts it. */
  send(frame: Uint8Array): void;
  /** Present only on devices that segment and coalesce TCP for the stack. */
  readonly offload?: DeviceOffload | undefined;
  /**
   * With `offload`: queues an untagged Ethernet + IPv4/IPv6 + TCP super-frame (no IP options or
   * extension headers) for the device to cut into segments of `segmentSize` payload bytes, as Linux's
   * tcp_gso_segment does (headers copied, lengths, IPv4 ID, sequence numbers, FIN/PSH on the last).
   * The TCP checksum field holds the folded pseudo-header sum over the whole segment, not complemented
   * (virtio NEEDS_CSUM): the device completes each segment's checksum. Ownership as for `send`.
   */
  sendSegmented?(frame: Uint8Array, segmentSize: number): void;
  /** Sets (or replaces) the function that receives incoming batches. */
  setReceiver(receiver: FrameReceiver): void;
  /** Stops receiving and releases the device. Idempotent. */
  close(): void;
}
