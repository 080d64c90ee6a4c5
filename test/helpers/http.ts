import http from "node:http";
import http2 from "node:http2";
import { expect } from "vitest";

/** One answer, whichever protocol carried it. Header names are lower case; h2c replies carry `:status` too. */
export interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

const TIMEOUT_MS = 10_000;

/** The error as thrown, with what was asked in front; its `code` (ECONNREFUSED...) is kept for callers that test it. */
function named(what: string, err: Error): Error {
  const wrapped = new Error(`${what}: ${err.message}`, { cause: err });
  const code = (err as NodeJS.ErrnoException).code;
  if (code !== undefined) (wrapped as NodeJS.ErrnoException).code = code;
  return wrapped;
}

/** GET `path` over HTTP/2 without TLS (prior knowledge), on a fresh session closed afterwards; bounded by `timeoutMs`. */
export function h2cGet(base: string, path = "/", timeoutMs = TIMEOUT_MS): Promise<Reply> {
  const what = `h2c GET ${base}${path}`;
  return new Promise((resolve, reject) => {
    const session = http2.connect(base);
    const timer = setTimeout(() => {
      session.destroy();
      reject(new Error(`${what}: no answer within ${timeoutMs} ms`));
    }, timeoutMs);
    const fail = (err: Error) => {
      clearTimeout(timer);
      session.destroy();
      reject(named(what, err));
    };
    session.on("error", fail);
    const req = session.request({ ":path": path });
    let body = "";
    let headers: Reply["headers"] = {};
    req.setEncoding("utf8");
    req.on("response", (h) => (headers = h as Reply["headers"]));
    req.on("data", (c: string) => (body += c));
    req.on("end", () => {
      clearTimeout(timer);
      session.close();
      resolve({ status: Number(headers[":status"]), headers, body });
    });
    req.on("error", fail);
    req.end();
  });
}

/** GET `base + path` over HTTP/1.1 on a connection of its own (no agent, `connection: close`); bounded by `timeoutMs`. */
export function h1Get(base: string, path = "", timeoutMs = TIMEOUT_MS): Promise<Reply> {
  const url = `${base}${path}`;
  const what = `HTTP/1.1 GET ${url}`;
  return new Promise((resolve, reject) => {
    const req = http.get(url, { agent: false, headers: { connection: "close" } }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (c: string) => (body += c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
      res.on("error", (err) => reject(named(what, err)));
    });
    req.setTimeout(timeoutMs, () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    req.on("error", (err) => reject(named(what, err)));
  });
}

/**
 * A reply from one of the classic spec's `ade` stubs through a proxy: 200,
 * the stub's backend and server headers, and the proxy's connection count.
 * Returns the server ("ade/s1" or "ade/s2").
 */
export function expectServedByAde(r: Reply): string {
  expect(r.status).toBe(200);
  expect(r.headers["x-spillway-backend"]).toBe("ade");
  const server = r.headers["x-spillway-server"];
  expect(server).toMatch(/^ade\/s[12]$/);
  const conns = r.headers["x-spillway-proxy-conns"];
  expect(typeof conns, "x-spillway-proxy-conns header").toBe("string");
  expect(conns, "x-spillway-proxy-conns header").toMatch(/^[1-9]\d*$/);
  return server as string;
}
