/**
 * Host adapters for the applications: node:net as a `NetFaces`, and the host's timers as `Timers`.
 * With these, every server and client in src/app also runs over the kernel's TCP, which is how the
 * application tests compare us with real clients before TCP of our own is involved.
 */
import net from "node:net";
import type { AppServer, AppSocket, NetFaces, Timers } from "../app/net-faces.ts";

/** node:net as NetFaces. */
export function nodeNetFaces(): NetFaces {
  return {
    listen(opts, onConnection) {
      return new Promise<AppServer>((resolve, reject) => {
        // allowHalfOpen: a client may send its requests and half-close; the app ends the socket itself.
        const server = net.createServer({ allowHalfOpen: true }, (sock) => onConnection(sock as AppSocket));
        server.once("error", reject);
        server.listen({ port: opts.port, ...(opts.host !== undefined ? { host: opts.host } : {}) }, () => {
          server.off("error", reject);
          const addr = server.address() as net.AddressInfo;
          resolve({
            port: addr.port,
            address: addr.address,
            close: () =>
              new Promise<void>((done) => {
                server.close(() => done());
              }),
          });
        });
      });
    },
    connect(opts) {
      return new Promise<AppSocket>((resolve, reject) => {
        const sock = net.connect({ host: opts.host, port: opts.port, ...(opts.localAddress !== undefined ? { localAddress: opts.localAddress } : {}) });
        sock.once("error", reject);
        sock.once("connect", () => {
          sock.off("error", reject);
          resolve(sock as AppSocket);
        });
      });
    },
  };
}

/** The host's timers (unref'd: a pending idle timeout never keeps a process alive by itself). */
export function hostTimers(): Timers {
  return {
    schedule(fn, ms) {
      const t = setTimeout(fn, ms);
      t.unref();
      return t;
    },
    cancel(handle) {
      clearTimeout(handle as ReturnType<typeof setTimeout>);
    },
    now: () => performance.now(),
  };
}
