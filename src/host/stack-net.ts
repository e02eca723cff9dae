/**
 * wirestack's own TCP as a `NetFaces`: the applications in src/app run over the stack exactly as
 * they run over node:net (src/host/node-net.ts).
 */
import type { AppServer, AppSocket, NetFaces } from "../app/net-faces.ts";
import type { Stack } from "../stack.ts";

export function stackNetFaces(stack: Stack): NetFaces {
  return {
    listen(opts, onConnection) {
      return new Promise<AppServer>((resolve, reject) => {
        // allowHalfOpen, as over node:net: a client may send its request and half-close (e.g.
        // `nc -N`); the application still answers and ends the socket itself.
        const server = stack.tcp.listen(
          opts.port,
          { allowHalfOpen: true, ...(opts.host !== undefined ? { host: opts.host } : {}) },
          (sock) => onConnection(sock as unknown as AppSocket),
        );
        server.once("error", reject);
        server.once("listening", () => {
          server.off("error", reject);
          const addr = server.address() as { port: number; address: string };
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
        let sock: ReturnType<Stack["tcp"]["connect"]>;
        try {
          sock = stack.tcp.connect({ host: opts.host, port: opts.port });
        } catch (err) {
          reject(err as Error);
          return;
        }
        sock.once("error", reject);
        sock.once("connect", () => {
          sock.off("error", reject);
          resolve(sock as unknown as AppSocket);
        });
      });
    },
  };
}
