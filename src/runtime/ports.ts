import { createServer } from "node:net";
import { InfraError } from "../errors.js";

/** A port the kernel says is free on `host` right now. */
export function freePort(host = "127.0.0.1"): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.once("error", (err) => reject(new InfraError(`cannot find a free port on ${host}: ${err.message}`)));
    server.listen({ host, port: 0, exclusive: true }, () => {
      const address = server.address();
      const port = typeof address === "object" && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/** Fails with a clear message when something already listens on host:port. */
export function assertPortFree(host: string, port: number, owner: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.once("error", (err: NodeJS.ErrnoException) =>
      reject(
        new InfraError(
          `${owner} cannot listen on ${host}:${port}: ${err.code === "EADDRINUSE" ? "the port is already in use" : err.message}.`,
          err.code === "EADDRINUSE"
            ? "Stop what listens there (ss -ltnp shows it), or drop --keep-ports so spillway picks free ports."
            : "Pick another address in the spec.",
        ),
      ),
    );
    server.listen({ host, port, exclusive: true }, () => server.close(() => resolve()));
  });
}
