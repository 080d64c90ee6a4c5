import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

/**
 * A run's record on disk of what it started, so `spillway down` can remove
 * what a run that was killed outright (SIGKILL, a crash) left behind.
 */
export interface RunRecord {
  runId: string;
  ownerPid: number;
  startedAt: string;
  runtime: "process" | "docker";
  dirs: string[];
  /** `marker` must appear in /proc/PID/cmdline before a pid is signalled: pids get reused. */
  processes: { pid: number; name: string; marker: string }[];
}

export function runsDir(): string {
  return process.env.SPILLWAY_RUNS_DIR ?? join(tmpdir(), "spillway-runs");
}

/**
 * Written on the first thing recorded, not before: a run refused before it
 * starts anything leaves no record (and creates no runs directory).
 */
export class RunRegistry {
  private readonly record: RunRecord;
  private readonly dir: string;
  private readonly file: string;
  private written = false;

  constructor(runId: string, runtime: RunRecord["runtime"]) {
    this.record = { runId, ownerPid: process.pid, startedAt: new Date().toISOString(), runtime, dirs: [], processes: [] };
    this.dir = runsDir();
    this.file = join(this.dir, `${runId}.json`);
  }

  addDir(dir: string): void {
    this.record.dirs.push(dir);
    this.save();
  }

  addProcess(pid: number, name: string, marker: string): void {
    this.record.processes.push({ pid, name, marker });
    this.save();
  }

  /** Called last in teardown: the run left nothing behind. */
  remove(): void {
    if (this.written) rmSync(this.file, { force: true });
  }

  /** Atomically (write, then rename), so `down` never reads half a record. */
  private save(): void {
    if (!this.written) mkdirSync(this.dir, { recursive: true });
    this.written = true;
    const temp = `${this.file}.${process.pid}.tmp`;
    writeFileSync(temp, `${JSON.stringify(this.record, null, 2)}\n`);
    renameSync(temp, this.file);
  }
}

export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

function cmdline(pid: number): string | null {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, "utf8").replace(/\0/g, " ");
  } catch {
    return null;
  }
}

/** Child pids of a process, from /proc (nginx workers of a master, for instance). */
export function childPids(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, "utf8").trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

export interface SweepResult {
  runs: string[];
  killed: string[];
  removedDirs: string[];
  skipped: string[];
}

/**
 * Removes what dead runs left: their processes (only where the command line
 * still names the run's marker) and their directories. Runs whose owner is
 * alive are left alone unless `includeLive`.
 */
export function sweepProcessRuns(opts: { includeLive?: boolean } = {}): SweepResult {
  const result: SweepResult = { runs: [], killed: [], removedDirs: [], skipped: [] };
  const dir = runsDir();
  if (!existsSync(dir)) return result;
  for (const name of readdirSync(dir).filter((f) => f.endsWith(".json"))) {
    let record: RunRecord;
    try {
      record = JSON.parse(readFileSync(join(dir, name), "utf8")) as RunRecord;
    } catch {
      continue;
    }
    if (pidAlive(record.ownerPid) && record.ownerPid !== process.pid && !opts.includeLive) {
      result.skipped.push(`${record.runId} (still running as pid ${record.ownerPid})`);
      continue;
    }
    result.runs.push(record.runId);
    for (const p of [...record.processes].reverse()) {
      const line = cmdline(p.pid);
      if (line === null || !line.includes(p.marker)) continue;
      for (const child of childPids(p.pid)) {
        if ((cmdline(child) ?? "").length > 0) {
          try {
            process.kill(child, "SIGKILL");
          } catch {
            // already gone
          }
        }
      }
      try {
        process.kill(p.pid, "SIGKILL");
        result.killed.push(`${p.name} (pid ${p.pid})`);
      } catch {
        // already gone
      }
    }
    for (const d of record.dirs) {
      if (existsSync(d)) {
        rmSync(d, { recursive: true, force: true });
        result.removedDirs.push(d);
      }
    }
    rmSync(join(dir, name), { force: true });
  }
  return result;
}
