/**
 * The FrameDevice: what every device (TAP, a memory-wire port) and every device wrapper (capture,
 * fault injection) is. A device moves whole Ethernet frames (destination MAC first, no preamble, no
 * FCS) and knows nothing of protocols (STYLE.md §11).
 *
 * Ownership: a frame handed to `send` belongs to the device from then on (the caller must not reuse
 * the buffer). Frames handed to the receiver belong to the receiver.
 */

/** Receives a batch of frames: everything the device had ready at one moment. */
export type FrameReceiver = (frames: readonly Uint8Array[]) => void;

export interface FrameDevice {
  /** A short name for messages and captures ("tap0", "wire:1"). */
  readonly name: string;
  /** The largest Ethernet payload (IP packet) the link carries: 1500 on ordinary Ethernet. */
  readonly mtu: number;
  /** Queues one frame for transmission. Never throws for a frame the link drops; counts it. */
  send(frame: Uint8Array): void;
  /** Sets (or replaces) the function that receives incoming batches. */
  setReceiver(receiver: FrameReceiver): void;
  /** Stops receiving and releases the device. Idempotent. */
  close(): void;
}
