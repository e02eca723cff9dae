/**
 * What an application needs of a network, whichever network it is: listen and connect, giving
 * Duplex streams. wirestack's stack and node:net both provide it (src/host/), so every server and
 * client in src/app runs over either, unchanged. Also the timer face the thin layers use, so no
 * protocol code reaches for a host timer itself (STYLE.md §4).
 */
import type { Duplex } from "node:stream";

/** A connected byte stream with the addressing net.Socket and wirestack's TcpSocket both carry. */
export interface AppSocket extends Duplex {
  readonly remoteAddress?: string | undefined;
  readonly remotePort?: number | undefined;
  readonly remoteFamily?: string | undefined;
  readonly localAddress?: string | undefined;
  readonly localPort?: number | undefined;
}

/** A listening server. */
export interface AppServer {
  readonly port: number;
  readonly address: string;
  /** Stops listening; resolves when closed. */
  close(): Promise<void>;
}

export interface NetFaces {
  /** Listens on `port` (0: an ephemeral port) at `host` (undefined: every address). */
  listen(opts: { port: number; host?: string }, onConnection: (sock: AppSocket) => void): Promise<AppServer>;
  /** Connects; resolves once connected. */
  connect(opts: { host: string; port: number; localAddress?: string }): Promise<AppSocket>;
}

/** Timers for the thin layers (idle and header timeouts); the host or a virtual clock provides them. */
export interface Timers {
  schedule(fn: () => void, ms: number): unknown;
  cancel(handle: unknown): void;
  now(): number;
}
