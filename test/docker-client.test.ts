import { randomUUID } from "node:crypto";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import http from "node:http";
import net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { InfraError } from "../src/errors.js";
import { parseVersion } from "../src/render/version.js";
import { createDockerClient, type StartedContainer } from "../src/runtime/docker/index.js";
import { dockerUsability, itRequiresDocker } from "./helpers/docker.js";

const LABEL = "spillway.test";
const session = randomUUID();

const docker = await dockerUsability("Docker client tests");
const { client, image: IMAGE, skip } = docker;
/** Exits at once on SIGTERM, as the proxies do; a bare `sleep` as PID 1 ignores it until the kill. */
const SLEEPER = ["sh", "-c", "trap 'exit 0' TERM; sleep 300 & wait"];

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      if (address === null || typeof address === "string") return reject(new Error("no port"));
      server.close(() => resolve(address.port));
    });
  });
}

function get(port: number): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: "127.0.0.1", port, path: "/", agent: false }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (chunk: string) => (body += chunk));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.setTimeout(5_000, () => req.destroy(new Error("request timed out")));
    req.on("error", reject);
  });
}

/** Retries while the server is not listening yet; bounded in attempts. */
async function getWhenUp(port: number, container: StartedContainer): Promise<{ status: number; body: string }> {
  let last: unknown;
  for (let attempt = 0; attempt < 100; attempt++) {
    try {
      return await get(port);
    } catch (err) {
      last = err;
      if ((err as NodeJS.ErrnoException).code !== "ECONNREFUSED") throw err;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  throw new Error(`nothing answered on 127.0.0.1:${port} (${String(last)}); logs:\n${await container.logs(20)}`);
}

async function namesWithLabel(value = session): Promise<string[]> {
  // Reads through a second client so the assertion does not trust the code under test.
  const { default: Docker } = await import("dockerode");
  const socketPath = client.endpoint.startsWith("unix://") ? client.endpoint.slice("unix://".length) : undefined;
  const list = await new Docker(socketPath === undefined ? undefined : { socketPath }).listContainers({
    all: true,
    filters: { label: [`${LABEL}=${value}`] },
  });
  return list.map((c) => (c.Names[0] ?? c.Id).replace(/^\//, ""));
}

describe("docker engine", () => {
  itRequiresDocker(docker);

  it("an unreachable engine gives InfraError saying how to start one", async () => {
    const dead = createDockerClient({ socketPath: "/nonexistent.sock" });
    expect(dead.endpoint).toBe("unix:///nonexistent.sock");
    const err = await dead.ping().then(() => null, (e: unknown) => e);
    expect(err).toBeInstanceOf(InfraError);
    const message = (err as InfraError).message;
    expect(message).toContain("unix:///nonexistent.sock");
    expect(message).toContain("dockerd --storage-driver=vfs --bridge=none --iptables=false --ip-masq=false");
    expect(message).toContain("DOCKER_HOST");
    await expect(dead.image(IMAGE)).rejects.toBeInstanceOf(InfraError);
    await expect(dead.removeByLabel(LABEL, session)).rejects.toBeInstanceOf(InfraError);
    await expect(
      dead.start({ name: "never", image: IMAGE, cmd: ["true"], binds: [], labels: {} }),
    ).rejects.toBeInstanceOf(InfraError);
  });

  it("DOCKER_HOST=unix://... selects that socket", () => {
    const c = createDockerClient({ env: { DOCKER_HOST: "unix:///run/elsewhere.sock" } });
    expect(c.endpoint).toBe("unix:///run/elsewhere.sock");
    expect(createDockerClient({ env: {} }).endpoint).toBe("unix:///var/run/docker.sock");
  });
});

describe.skipIf(skip)("docker client against the real engine", () => {
  let dir: string;
  let counter = 0;
  const started: StartedContainer[] = [];
  const labels = { [LABEL]: session };
  const nextName = (): string => `spillway-test-${session.slice(0, 8)}-${++counter}`;

  async function start(cmd: string[], extra: { env?: string[]; ulimitNofile?: number } = {}): Promise<StartedContainer> {
    const c = await client.start({
      name: nextName(),
      image: IMAGE,
      cmd,
      binds: [{ hostPath: dir, containerPath: "/etc/spillway", readOnly: true }],
      labels,
      ...extra,
    });
    started.push(c);
    return c;
  }

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "spillway-docker-"));
  });

  afterEach(async () => {
    const errors: unknown[] = [];
    for (const c of started.splice(0).reverse()) await c.stop().catch((e: unknown) => errors.push(e));
    if (errors.length > 0) throw new AggregateError(errors, "teardown failed");
  });

  afterAll(async () => {
    try {
      await client.removeByLabel(LABEL, session);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
    expect(await namesWithLabel()).toEqual([]);
  });

  it("runs nginx with a read-only mounted config on host networking and serves 127.0.0.1", async () => {
    const port = await freePort();
    await writeFile(
      join(dir, "nginx.conf"),
      [
        "worker_processes 1;",
        "pid /tmp/nginx.pid;",
        "error_log stderr notice;",
        "events { worker_connections 64; }",
        "http {",
        "  access_log /dev/stdout;",
        "  client_body_temp_path /tmp/body;",
        "  proxy_temp_path /tmp/proxy;",
        "  fastcgi_temp_path /tmp/fastcgi;",
        "  uwsgi_temp_path /tmp/uwsgi;",
        "  scgi_temp_path /tmp/scgi;",
        `  server { listen 127.0.0.1:${port}; location / { return 200 "ok"; } }`,
        "}",
        "",
      ].join("\n"),
    );
    const c = await start(["nginx", "-g", "daemon off;", "-c", "/etc/spillway/nginx.conf"]);
    expect(c.id).toMatch(/^[0-9a-f]{64}$/);

    const res = await getWhenUp(port, c);
    expect(res).toEqual({ status: 200, body: "ok" });
    expect(await c.state()).toEqual({ running: true, exitCode: null });
    expect(await namesWithLabel()).toEqual([c.name]);

    const logs = await c.logs();
    expect(logs).toContain('"GET / HTTP/1.1" 200');
    expect(logs).toContain("start worker processes");
    expect((await c.logs(1)).trim().split("\n")).toHaveLength(1);

    await Promise.all([c.stop(), c.stop()]);
    await c.stop();
    expect(await namesWithLabel()).toEqual([]);
    await expect(c.state()).rejects.toBeInstanceOf(InfraError);
    // Logs are kept at removal so a failed run can still show them.
    expect(await c.logs()).toContain('"GET / HTTP/1.1" 200');
    await expect(get(port)).rejects.toMatchObject({ code: "ECONNREFUSED" });
  });

  it("the mount is read-only and env and the nofile limit reach the process", async () => {
    const c = await start(
      ["sh", "-c", 'echo "greeting=$GREETING nofile=$(ulimit -n)"; touch /etc/spillway/x 2>/dev/null && echo writable || echo read-only'],
      { env: ["GREETING=hello"], ulimitNofile: 4321 },
    );
    expect(await c.wait(30_000)).toBe(0);
    const logs = await c.logs();
    expect(logs).toContain("greeting=hello nofile=4321");
    expect(logs).toContain("read-only");
  });

  it("the image holds a working haproxy: haproxy -c accepts a valid config and rejects a broken one", async () => {
    const port = await freePort();
    const valid = [
      "defaults",
      "  mode http",
      "  timeout client 5s",
      "  timeout server 5s",
      "  timeout connect 1s",
      "frontend fe",
      `  bind 127.0.0.1:${port}`,
      "  default_backend be",
      "backend be",
      "  server s1 127.0.0.1:9",
      "",
    ].join("\n");
    await writeFile(join(dir, "haproxy.cfg"), valid);
    await writeFile(join(dir, "broken.cfg"), valid.replace("default_backend be", "default_backend missing"));

    const ok = await start(["haproxy", "-c", "-f", "/etc/spillway/haproxy.cfg"]);
    expect(await ok.wait(30_000)).toBe(0);
    expect(await ok.state()).toEqual({ running: false, exitCode: 0 });
    expect(await ok.logs()).toContain("Configuration file is valid");

    const bad = await start(["haproxy", "-c", "-f", "/etc/spillway/broken.cfg"]);
    expect(await bad.wait(30_000)).not.toBe(0);
    expect(await bad.logs()).toContain("missing");
  });

  it("the image's haproxy and nginx versions match its labels", async () => {
    const image = await client.image(IMAGE);
    expect(image.id).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(Number.isNaN(Date.parse(image.created))).toBe(false);
    const c = await start(["sh", "-c", "haproxy -v; nginx -v"]);
    expect(await c.wait(30_000)).toBe(0);
    const logs = await c.logs();
    const haproxy = /HAProxy version (\S+)/.exec(logs)?.[1];
    const nginx = /nginx version: nginx\/(\S+)/.exec(logs)?.[1];
    console.info(`image ${IMAGE}: haproxy ${haproxy}, nginx ${nginx}, engine ${await client.version()}`);
    expect(haproxy).toMatch(/^\d+\.\d+/);
    expect(nginx).toMatch(/^\d+\.\d+/);
    // The docker runtime renders for the labelled versions (and refuses an image without them),
    // so both labels must be there and name the binaries the image really holds.
    expect(parseVersion(image.labels["spillway.haproxy.version"] ?? ""), "label spillway.haproxy.version").toEqual(parseVersion(haproxy!));
    expect(parseVersion(image.labels["spillway.nginx.version"] ?? ""), "label spillway.nginx.version").toEqual(parseVersion(nginx!));
  });

  it("removeByLabel force-removes running and exited containers with the label, and only those", async () => {
    const other = randomUUID();
    const running = await client.start({
      name: nextName(), image: IMAGE, cmd: SLEEPER, binds: [], labels: { [LABEL]: other },
    });
    started.push(running);
    const exited = await client.start({
      name: nextName(), image: IMAGE, cmd: ["true"], binds: [], labels: { [LABEL]: other },
    });
    started.push(exited);
    const bystander = await start(SLEEPER);
    await exited.wait(30_000);

    const removed = await client.removeByLabel(LABEL, other);
    expect(removed.sort()).toEqual([running.name, exited.name].sort());
    expect(await namesWithLabel(other)).toEqual([]);
    expect(await namesWithLabel()).toEqual([bystander.name]);
    expect(await client.removeByLabel(LABEL, other)).toEqual([]);
    // Handles of removed containers still stop cleanly.
    await running.stop();
  });

  it("a missing image gives InfraError saying how to build it, and creates nothing", async () => {
    const missing = `spillway/does-not-exist:${session.slice(0, 8)}`;
    const expected =
      `image ${missing} is not present locally and nothing can be pulled here; ` +
      "build it with bash .ci/docker-setup.sh or pass --image";
    await expect(client.image(missing)).rejects.toThrow(new InfraError(expected));
    const err = await client
      .start({ name: nextName(), image: missing, cmd: ["true"], binds: [], labels })
      .then(() => null, (e: unknown) => e);
    expect(err).toBeInstanceOf(InfraError);
    expect((err as InfraError).message).toBe(expected);
    expect(await namesWithLabel()).toEqual([]);
  });

  it("a container that cannot start is removed and the engine's words are shown", async () => {
    const name = nextName();
    const err = await client
      .start({ name, image: IMAGE, cmd: ["/no/such/binary"], binds: [], labels })
      .then(() => null, (e: unknown) => e);
    expect(err).toBeInstanceOf(InfraError);
    expect((err as InfraError).message).toContain(`could not start container ${name}`);
    expect((err as InfraError).message).toContain("/no/such/binary");
    expect(await namesWithLabel()).toEqual([]);
  });

  it("a missing bind source is refused instead of being created as a directory", async () => {
    const hostPath = join(dir, "does-not-exist");
    const err = await client
      .start({ name: nextName(), image: IMAGE, cmd: ["true"], binds: [{ hostPath, containerPath: "/x", readOnly: true }], labels })
      .then(() => null, (e: unknown) => e);
    expect(err).toBeInstanceOf(InfraError);
    expect((err as InfraError).message).toContain(hostPath);
    expect(await namesWithLabel()).toEqual([]);
  });

  it("a name already in use is reported and the existing container is left alone", async () => {
    const first = await start(SLEEPER);
    const err = await client
      .start({ name: first.name, image: IMAGE, cmd: ["true"], binds: [], labels })
      .then(() => null, (e: unknown) => e);
    expect(err).toBeInstanceOf(InfraError);
    expect((err as InfraError).message).toContain("already in use");
    expect(await first.state()).toEqual({ running: true, exitCode: null });
  });

  it.skipIf(!client.endpoint.startsWith("unix://"))("an explicit socket wins over a tcp DOCKER_HOST", async () => {
    const socketPath = client.endpoint.slice("unix://".length);
    const saved = process.env["DOCKER_HOST"];
    process.env["DOCKER_HOST"] = "tcp://127.0.0.1:1";
    try {
      const c = createDockerClient({ socketPath });
      await expect(c.ping()).resolves.toBeUndefined();
    } finally {
      if (saved === undefined) delete process.env["DOCKER_HOST"];
      else process.env["DOCKER_HOST"] = saved;
    }
  });

  it("wait() gives up after its bound, naming the container with its last log lines", async () => {
    await using c = await start(["sh", "-c", "echo still-here; trap 'exit 0' TERM; sleep 300 & wait"]);
    for (let i = 0; i < 100 && !(await c.logs()).includes("still-here"); i++) await new Promise((r) => setTimeout(r, 50));
    const err = await c.wait(300).then(() => null, (e: unknown) => e);
    expect(err).toBeInstanceOf(InfraError);
    expect((err as InfraError).message).toContain(c.name);
    expect((err as InfraError).message).toContain("still-here");
  });
});
