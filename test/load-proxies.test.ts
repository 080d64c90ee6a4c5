/**
 * The load driver against real nginx and HAProxy on 127.0.0.1: their HPACK
 * encoders (nginx: Huffman and incremental indexing on every response;
 * HAProxy: plain literals), nginx's GOAWAY after keepalive_requests, and
 * counts reconciled with nginx's own stub_status.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import http from "node:http";
import net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseLoadProfile, runLoad, type LoadResult } from "../src/load/index.js";

function expectAccounted(r: LoadResult): void {
  const attributed = Object.values(r.backends).reduce((a, b) => a + b.count, 0);
  expect(attributed + r.unattributed.total).toBe(r.requests.sent);
}

async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, "127.0.0.1", r));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

async function waitForPort(port: number, proc: ChildProcess, log: () => string): Promise<void> {
  for (let i = 0; i < 100; i++) {
    if (proc.exitCode !== null) throw new Error(`process exited early: ${log()}`);
    const ok = await new Promise<boolean>((resolve) => {
      const c = net.connect(port, "127.0.0.1");
      c.once("connect", () => {
        c.destroy();
        resolve(true);
      });
      c.once("error", () => resolve(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`port ${port} did not open: ${log()}`);
}

function startProcess(cmd: string, args: string[]): { proc: ChildProcess; log: () => string } {
  const proc = spawn(cmd, args, { stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  proc.stdout!.on("data", (d: Buffer) => (out += d.toString()));
  proc.stderr!.on("data", (d: Buffer) => (out += d.toString()));
  return { proc, log: () => out.slice(-2000) };
}

function stop(proc: ChildProcess | null): Promise<void> {
  if (!proc || proc.pid === undefined || proc.exitCode !== null || proc.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    proc.once("exit", () => resolve());
    process.kill(proc.pid!, "SIGTERM");
  });
}

describe("against nginx", () => {
  let dir = "";
  let nginx: ChildProcess | null = null;
  const ports = { h2c: 0, h2cGoaway: 0, h1: 0, status: 0 };

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "spillway-nginx-"));
    for (const k of Object.keys(ports) as (keyof typeof ports)[]) ports[k] = await freePort();
    const conf = `
worker_processes 1;
daemon off;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path ${dir}/body; proxy_temp_path ${dir}/proxy; fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi; scgi_temp_path ${dir}/scgi;
  server {
    listen 127.0.0.1:${ports.h2c} http2;
    keepalive_requests 1000000;
    location / { add_header x-spillway-backend ngx-h2c; add_header x-spillway-server ngx-h2c/1; add_header x-spillway-route ngx-route; return 200; }
    location /text { add_header x-spillway-backend ngx-text; return 200 "hello from nginx"; }
  }
  server {
    listen 127.0.0.1:${ports.h2cGoaway} http2;
    keepalive_requests 50;
    location / { add_header x-spillway-backend ngx-goaway; return 200; }
  }
  server {
    listen 127.0.0.1:${ports.h1};
    keepalive_requests 1000000;
    location / { add_header x-spillway-backend ngx-h1; add_header x-spillway-route ngx-h1-route; return 200 "h1 body"; }
  }
  server {
    listen 127.0.0.1:${ports.status};
    location / { stub_status; }
  }
}
`;
    writeFileSync(join(dir, "nginx.conf"), conf);
    const started = startProcess("nginx", ["-p", dir, "-c", join(dir, "nginx.conf")]);
    nginx = started.proc;
    await waitForPort(ports.status, nginx, started.log);
  });

  afterAll(async () => {
    await stop(nginx);
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  async function nginxRequests(): Promise<number> {
    const body = await new Promise<string>((resolve, reject) => {
      http
        .get({ host: "127.0.0.1", port: ports.status, path: "/", agent: false }, (res) => {
          let b = "";
          res.on("data", (d: Buffer) => (b += d.toString()));
          res.on("end", () => resolve(b));
        })
        .on("error", reject);
    });
    // "server accepts handled requests\n N N N"
    const m = /\n\s*(\d+)\s+(\d+)\s+(\d+)/.exec(body);
    return Number(m![3]);
  }

  it("h2c: every response attributed, and the count agrees with nginx's stub_status", async () => {
    const before = await nginxRequests();
    const r = await runLoad(parseLoadProfile({ connections: 8, streams: 20, requests: 20_000 }, { url: `http://127.0.0.1:${ports.h2c}/` }));
    const after = await nginxRequests();
    expectAccounted(r);
    expect(r.backends["ngx-h2c"]!.count).toBe(20_000);
    expect(r.backends["ngx-h2c"]!.servers).toEqual({ "ngx-h2c/1": 20_000 });
    // The route stamp, read from every response beside the backend header.
    expect(Object.keys(r.routed)).toEqual(["ngx-route"]);
    expect(r.routed["ngx-route"]).toMatchObject({ count: 20_000, served: { "ngx-h2c": 20_000 }, proxyStatuses: {}, minConns: null, maxConns: null });
    // stub_status counts its own request too.
    expect(after - before - 1).toBe(20_000);
  });

  it("h2c with response bodies (DATA frames counted and dropped)", async () => {
    const r = await runLoad(parseLoadProfile({ connections: 2, streams: 10, requests: 2000 }, { url: `http://127.0.0.1:${ports.h2c}/text` }));
    expectAccounted(r);
    expect(r.backends["ngx-text"]!.count).toBe(2000);
  });

  it("h2c: nginx's GOAWAY after keepalive_requests is followed by a new connection, nothing lost", async () => {
    const r = await runLoad(parseLoadProfile({ connections: 3, streams: 10, requests: 3000 }, { url: `http://127.0.0.1:${ports.h2cGoaway}/` }));
    expectAccounted(r);
    expect(r.backends["ngx-goaway"]!.count).toBe(3000);
    expect(r.connections.goaways).toBeGreaterThanOrEqual(3000 / 50 - 3);
    expect(r.connections.opened).toBeGreaterThanOrEqual(3000 / 50);
  });

  it("h1 keep-alive and h1-close", async () => {
    const ka = await runLoad(parseLoadProfile({ protocol: "h1", connections: 4, requests: 4000 }, { url: `http://127.0.0.1:${ports.h1}/` }));
    expectAccounted(ka);
    expect(ka.backends["ngx-h1"]!.count).toBe(4000);
    expect(ka.routed["ngx-h1-route"]).toMatchObject({ count: 4000, served: { "ngx-h1": 4000 } });
    expect(ka.connections.opened).toBe(4);
    const cl = await runLoad(parseLoadProfile({ protocol: "h1-close", connections: 4, requests: 200 }, { url: `http://127.0.0.1:${ports.h1}/` }));
    expectAccounted(cl);
    expect(cl.backends["ngx-h1"]!.count).toBe(200);
    expect(cl.connections.opened).toBe(200);
  });
});

describe("against HAProxy", () => {
  let dir = "";
  let haproxy: ChildProcess | null = null;
  let h2 = 0;
  let h1 = 0;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "spillway-haproxy-"));
    h2 = await freePort();
    h1 = await freePort();
    const ret = "http-request return status 200 content-type text/plain string ok hdr x-spillway-backend hap hdr x-spillway-server hap/s1 hdr x-spillway-proxy-conns %[fe_conn] hdr x-spillway-route hap-route";
    const cfg = `
global
  maxconn 2000
defaults
  mode http
  timeout client 30s
  timeout connect 5s
  timeout server 30s
frontend fe_h2
  bind 127.0.0.1:${h2} proto h2
  ${ret}
frontend fe_h1
  bind 127.0.0.1:${h1}
  ${ret}
`;
    writeFileSync(join(dir, "haproxy.cfg"), cfg);
    const started = startProcess("haproxy", ["-db", "-f", join(dir, "haproxy.cfg")]);
    haproxy = started.proc;
    await waitForPort(h1, haproxy, started.log);
    await waitForPort(h2, haproxy, started.log);
  });

  afterAll(async () => {
    await stop(haproxy);
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it("h2c: attribution, and the proxy's connection count from its own header", async () => {
    const r = await runLoad(parseLoadProfile({ connections: 6, streams: 20, requests: 20_000 }, { url: `http://127.0.0.1:${h2}/` }));
    expectAccounted(r);
    expect(r.backends["hap"]!.count).toBe(20_000);
    expect(r.backends["hap"]!.servers).toEqual({ "hap/s1": 20_000 });
    // fe_conn counts this run's connections (the readiness probe has gone by then).
    expect(r.maxProxyConnsSeen).toBe(6);
    expect(r.routed).toEqual({ "hap-route": { count: 20_000, served: { hap: 20_000 }, proxyStatuses: {}, minConns: expect.any(Number), maxConns: 6, firstMs: expect.any(Number), lastMs: expect.any(Number) } });
  });

  it("h1 keep-alive", async () => {
    const r = await runLoad(parseLoadProfile({ protocol: "h1", connections: 3, requests: 3000 }, { url: `http://127.0.0.1:${h1}/` }));
    expectAccounted(r);
    expect(r.backends["hap"]!.count).toBe(3000);
    expect(r.routed["hap-route"]).toMatchObject({ count: 3000, served: { hap: 3000 }, maxConns: 3 });
  });
});
