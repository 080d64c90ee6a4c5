import { fork, type ChildProcess } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { InfraError, UsageError } from "../errors.js";
import { stubKey, type StubCounts } from "./counts.js";
import { isChildMessage, type ChildMessage, type ParentMessage } from "./fleet-protocol.js";
import { resolveStubOptions, type StubOptions } from "./options.js";
import type { StubAddress } from "./server.js";
import { formatHostPort } from "../wire.js";

export interface StubFleetOptions {
  /** Node flags for the child (default none; the parent's own execArgv is not inherited). */
  nodeArgs?: string[];
  /** Bound on the child coming up with every stub listening; default 10 s. */
  startTimeoutMs?: number;
}

export interface StartedStubFleet {
  readonly pid: number;
  readonly stubs: ReadonlyArray<StubAddress>;
  /** Counts of every stub, keyed `backend/server`. Rejects with InfraError if the child is gone. */
  counts(): Promise<Record<string, StubCounts>>;
  /** Asks the child to close, waits up to 3 s, then SIGKILLs it; resolves once it has exited. Safe to call twice. */
  stop(): Promise<void>;
  /** Sends a signal to the child (default SIGKILL), e.g. to test a stub dying mid-run. */
  kill(signal?: NodeJS.Signals): void;
  [Symbol.asyncDispose](): Promise<void>;
}

const DEFAULT_START_TIMEOUT_MS = 10_000;
const STOP_GRACE_MS = 3_000;
const KILL_WAIT_MS = 5_000;
const COUNTS_TIMEOUT_MS = 5_000;
const STDERR_TAIL_CHARS = 4_000;

/**
 * Runs the stubs in a child process so they do not share a CPU thread with the
 * load driver. Rejects with InfraError (naming the stub and address) if a stub
 * cannot listen; the child is gone by then.
 */
export async function startStubFleet(stubs: StubOptions[], opts: StubFleetOptions = {}): Promise<StartedStubFleet> {
  const resolved = stubs.map((s) => resolveStubOptions(s));
  const seen = new Set<string>();
  for (const s of resolved) {
    const key = stubKey(s);
    if (seen.has(key)) throw new UsageError(`stub ${key} appears twice in one fleet: server names must be unique per backend`);
    seen.add(key);
  }
  const startTimeoutMs = opts.startTimeoutMs ?? DEFAULT_START_TIMEOUT_MS;
  const entry = fleetChildEntry();

  const child = fork(entry, [], {
    execArgv: opts.nodeArgs ?? [],
    stdio: ["ignore", "ignore", "pipe", "ipc"],
    serialization: "json",
  });
  const proc = new ChildHandle(child);
  let ready: StubAddress[];
  try {
    ready = await proc.waitReady(resolved, startTimeoutMs);
  } catch (err) {
    await proc.terminate();
    throw err;
  }
  return new Fleet(proc, ready);
}

/** The compiled child entry: dist/stub/fleet-child.js of this package, from src/ (tests) or dist/ alike. */
export function fleetChildEntry(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  const root = findPackageRoot(here);
  const entry = root === undefined ? join(here, "fleet-child.js") : join(root, "dist", "stub", "fleet-child.js");
  if (!existsSync(entry)) {
    throw new InfraError(`the stub fleet's entry point ${entry} is missing`, "run `npm run build` first");
  }
  return entry;
}

function findPackageRoot(from: string): string | undefined {
  let dir = from;
  for (;;) {
    const pkg = join(dir, "package.json");
    if (existsSync(pkg)) {
      try {
        const parsed: unknown = JSON.parse(readFileSync(pkg, "utf8"));
        if (typeof parsed === "object" && parsed !== null && (parsed as { name?: unknown }).name === "spillway") {
          return dir;
        }
      } catch {
        // not our package.json; keep walking up
      }
    }
    const parent = dirname(dir);
    if (parent === dir) return undefined;
    dir = parent;
  }
}

interface Pending {
  resolve(counts: Record<string, StubCounts>): void;
  reject(err: Error): void;
  timer: NodeJS.Timeout;
}

/** Owns the child process: its messages, its exit, its stderr tail. */
class ChildHandle {
  readonly child: ChildProcess;
  readonly exited: Promise<void>;
  exitDescription: string | undefined;
  spawnError: Error | undefined;
  private stderrTail = "";
  private readonly listeners = new Set<(msg: ChildMessage) => void>();
  private readonly exitListeners = new Set<() => void>();

  constructor(child: ChildProcess) {
    this.child = child;
    child.stderr?.setEncoding("utf8");
    child.stderr?.on("data", (chunk: string) => {
      this.stderrTail = (this.stderrTail + chunk).slice(-STDERR_TAIL_CHARS);
    });
    child.on("message", (msg: unknown) => {
      if (!isChildMessage(msg)) return;
      for (const l of this.listeners) l(msg);
    });
    this.exited = new Promise((resolve) => {
      child.once("exit", (code, signal) => {
        this.exitDescription = signal !== null ? `killed by ${signal}` : `exit code ${String(code)}`;
        for (const l of this.exitListeners) l();
        resolve();
      });
    });
    child.on("error", (err) => {
      // Spawn failures have no 'exit' to follow; later errors (a failed send) are handled where they happen.
      this.spawnError ??= err;
      if (child.pid === undefined) {
        this.exitDescription = `could not be started: ${err.message}`;
        for (const l of this.exitListeners) l();
      }
    });
  }

  get running(): boolean {
    return this.exitDescription === undefined;
  }

  get pid(): number {
    return this.child.pid ?? -1;
  }

  stderr(): string {
    const tail = this.stderrTail.trim();
    return tail === "" ? "" : `\nlast lines of its stderr:\n${tail}`;
  }

  onMessage(l: (msg: ChildMessage) => void): () => void {
    this.listeners.add(l);
    return () => this.listeners.delete(l);
  }

  onExit(l: () => void): () => void {
    this.exitListeners.add(l);
    return () => this.exitListeners.delete(l);
  }

  send(msg: ParentMessage): boolean {
    if (!this.running || !this.child.connected) return false;
    try {
      this.child.send(msg, (err) => {
        if (err !== null) this.spawnError ??= err;
      });
      return true;
    } catch {
      return false;
    }
  }

  waitReady(stubs: StubOptions[], timeoutMs: number): Promise<StubAddress[]> {
    const names = stubs.map((s) => `${stubKey(s)} on ${formatHostPort({ host: s.host ?? "127.0.0.1", port: s.port ?? 0 })}`);
    return new Promise((resolve, reject) => {
      const done = (): void => {
        clearTimeout(timer);
        offMessage();
        offExit();
      };
      const timer = setTimeout(() => {
        done();
        reject(
          new InfraError(
            `the stub fleet (pid ${this.pid}) did not come up within ${timeoutMs} ms (stubs: ${names.join(", ")})${this.stderr()}`,
          ),
        );
      }, timeoutMs);
      const offMessage = this.onMessage((msg) => {
        if (msg.type === "ready") {
          done();
          resolve(msg.stubs);
        } else if (msg.type === "error") {
          done();
          reject(new InfraError(msg.message, msg.hint));
        }
      });
      const offExit = this.onExit(() => {
        done();
        reject(
          new InfraError(
            `the stub fleet process (pid ${this.pid}) ${this.exitDescription ?? "exited"} before its stubs were listening${this.stderr()}`,
          ),
        );
      });
      if (!this.send({ type: "start", stubs })) {
        done();
        reject(new InfraError(`the stub fleet process (pid ${this.pid}) could not be reached over IPC${this.stderr()}`));
      }
    });
  }

  /** Asks, waits, then SIGKILLs; resolves once the child has exited (or never started). */
  async terminate(): Promise<void> {
    if (this.child.pid === undefined) return;
    if (this.running) {
      this.send({ type: "stop" });
      if (await exitsWithin(this.exited, STOP_GRACE_MS)) return;
      this.child.kill("SIGKILL");
      if (await exitsWithin(this.exited, KILL_WAIT_MS)) return;
      throw new InfraError(`the stub fleet process (pid ${this.pid}) did not exit after SIGKILL`);
    }
    await this.exited;
  }
}

function exitsWithin(exited: Promise<void>, ms: number): Promise<boolean> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), ms);
    void exited.then(() => {
      clearTimeout(timer);
      resolve(true);
    });
  });
}

class Fleet implements StartedStubFleet {
  readonly pid: number;
  readonly stubs: ReadonlyArray<StubAddress>;
  private readonly proc: ChildHandle;
  private readonly pending = new Map<number, Pending>();
  private nextId = 0;
  private stopping: Promise<void> | undefined;

  constructor(proc: ChildHandle, stubs: StubAddress[]) {
    this.proc = proc;
    this.pid = proc.pid;
    this.stubs = Object.freeze(stubs.map((s) => Object.freeze({ ...s })));
    proc.onMessage((msg) => {
      if (msg.type !== "counts") return;
      const p = this.pending.get(msg.id);
      if (p === undefined) return;
      this.pending.delete(msg.id);
      clearTimeout(p.timer);
      p.resolve(msg.counts);
    });
    proc.onExit(() => {
      for (const p of this.pending.values()) {
        clearTimeout(p.timer);
        p.reject(this.notRunning());
      }
      this.pending.clear();
    });
  }

  counts(): Promise<Record<string, StubCounts>> {
    if (!this.proc.running || this.stopping !== undefined) return Promise.reject(this.notRunning());
    const id = ++this.nextId;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new InfraError(`the stub fleet (pid ${this.pid}) did not answer a counts request within ${COUNTS_TIMEOUT_MS} ms`));
      }, COUNTS_TIMEOUT_MS);
      this.pending.set(id, { resolve, reject, timer });
      if (!this.proc.send({ type: "counts", id })) {
        this.pending.delete(id);
        clearTimeout(timer);
        reject(this.notRunning());
      }
    });
  }

  stop(): Promise<void> {
    this.stopping ??= this.proc.terminate();
    return this.stopping;
  }

  kill(signal: NodeJS.Signals = "SIGKILL"): void {
    if (this.proc.running) this.proc.child.kill(signal);
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.stop();
  }

  private notRunning(): InfraError {
    const why = this.proc.exitDescription ?? (this.stopping !== undefined ? "stopped" : "not running");
    return new InfraError(`the stub fleet process (pid ${this.pid}) is not running (${why}): its stubs' counts are lost${this.proc.stderr()}`);
  }
}
