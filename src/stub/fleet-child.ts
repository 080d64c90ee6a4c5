/**
 * @internal Entry point of the stub fleet's child process (forked by startStubFleet).
 * Runs the stubs on their own event loop so they never share a thread with the load driver.
 */
import { SpillwayError } from "../errors.js";
import { stubKey, type StubCounts } from "./counts.js";
import { isParentMessage, type ChildMessage } from "./fleet-protocol.js";
import type { StubOptions } from "./options.js";
import { startStub, type StartedStub } from "./server.js";

/** Bound on closing the stubs before the child exits anyway. */
const SHUTDOWN_GRACE_MS = 2_000;

let stubs: StartedStub[] = [];
let started = false;
let shuttingDown = false;

function send(msg: ChildMessage): Promise<void> {
  return new Promise((resolve) => {
    if (process.send === undefined || !process.connected) {
      resolve();
      return;
    }
    try {
      process.send(msg, undefined, {}, () => resolve());
    } catch {
      resolve();
    }
  });
}

async function shutdown(code: number): Promise<void> {
  if (shuttingDown) return;
  shuttingDown = true;
  setTimeout(() => process.exit(code), SHUTDOWN_GRACE_MS).unref();
  await Promise.allSettled(stubs.map((s) => s.stop()));
  process.exit(code);
}

async function start(options: StubOptions[]): Promise<void> {
  if (started) return;
  started = true;
  const results = await Promise.allSettled(options.map((o) => startStub(o)));
  const ok: StartedStub[] = [];
  const failures: unknown[] = [];
  for (const r of results) {
    if (r.status === "fulfilled") ok.push(r.value);
    else failures.push(r.reason);
  }
  stubs = ok;
  if (failures.length > 0) {
    await Promise.allSettled(ok.map((s) => s.stop()));
    stubs = [];
    const messages = failures.map((e) => (e instanceof Error ? e.message : String(e)));
    const hints = failures.flatMap((e) => (e instanceof SpillwayError && e.hint !== undefined ? [e.hint] : []));
    await send({ type: "error", message: messages.join("\n"), hint: hints.length > 0 ? hints.join("\n") : undefined });
    await shutdown(1);
    return;
  }
  if (shuttingDown) return;
  await send({
    type: "ready",
    stubs: ok.map((s) => ({ backend: s.backend, server: s.server, host: s.host, port: s.port, url: s.url })),
  });
}

function counts(): Record<string, StubCounts> {
  const all: Record<string, StubCounts> = {};
  for (const s of stubs) all[stubKey(s)] = s.counts();
  return all;
}

if (process.send === undefined) {
  process.stderr.write("fleet-child: start it through startStubFleet(), which talks to it over IPC\n");
  process.exit(1);
}

process.title = "spillway-stub-fleet";

process.on("message", (msg: unknown) => {
  if (!isParentMessage(msg)) return;
  switch (msg.type) {
    case "start":
      void start(msg.stubs);
      break;
    case "counts":
      void send({ type: "counts", id: msg.id, counts: counts() });
      break;
    case "stop":
      void shutdown(0);
      break;
  }
});

// The parent is gone (exited, crashed or was killed): nobody will stop us, so stop now.
process.on("disconnect", () => void shutdown(0));
// Ctrl-C reaches the whole process group; the parent owns teardown and still wants our counts.
process.on("SIGINT", () => {});
process.on("SIGTERM", () => void shutdown(0));
process.on("SIGHUP", () => void shutdown(0));
