import { createWriteStream, unlinkSync, type Stats, type WriteStream } from "node:fs";
import { copyFile, link, lstat, mkdir, open, realpath, rename, rmdir, stat, unlink, writeFile } from "node:fs/promises";
import { finished } from "node:stream/promises";
import { dirname, join, resolve } from "node:path";
import { InfraError, UsageError, type SpillwayError } from "../errors.js";

/*
 * Every file spillway writes goes through here, all or nothing.
 *
 * What is guaranteed: before anything is replaced, every new file is written
 * in full to a temporary file next to its destination, synced to disk and its
 * size checked. Only then are they renamed into place, one by one (each
 * rename is atomic). If a rename fails midway, the files already renamed are
 * put back from hard-link copies of the old ones taken before the first
 * rename (or removed, where there was no old one). So whenever spillway
 * reports an error, every destination holds exactly what it held before and
 * no `*.spillway-*.tmp` file is left; directories that spillway created for
 * the output are removed again.
 *
 * What is not: POSIX has no rename of several files at once, so a reader
 * looking during the commit, or a power loss or SIGKILL between two renames,
 * can see some files new and others old. If putting an old file back itself
 * fails, the error says so and names the copy it kept. A destination that is
 * a device or a pipe (--json /dev/stdout) is written directly: it cannot be
 * replaced, only written to.
 */

/** Error codes that say the place cannot take the file: the user should name another (exit 1). Anything else, such as ENOSPC or EIO, is an I/O failure (exit 3). */
const PLACE_CODES = new Set(["ENOENT", "ENOTDIR", "EISDIR", "EACCES", "EPERM", "EROFS", "EEXIST", "ENAMETOOLONG", "ELOOP", "ENXIO", "ETXTBSY", "EXDEV"]);

const REASONS: Record<string, string> = {
  ENOENT: "no such file or directory",
  ENOTDIR: "part of the path is not a directory",
  EISDIR: "it is a directory",
  EACCES: "permission denied",
  EPERM: "operation not permitted",
  EROFS: "read-only file system",
  EEXIST: "it already exists",
  ENAMETOOLONG: "the name is too long",
  ELOOP: "too many symbolic links",
  ENXIO: "no such device",
  ENOSPC: "no space left on device",
  EDQUOT: "disk quota exceeded",
  EIO: "input/output error",
  EFBIG: "file too large",
  EPIPE: "the reading end of the pipe was closed",
};

function errnoOf(err: unknown): string | undefined {
  return err && typeof err === "object" && "code" in err && typeof err.code === "string" ? err.code : undefined;
}

/** "permission denied (EACCES)" */
export function describeErrno(err: unknown): string {
  const code = errnoOf(err);
  if (!code) return err instanceof Error ? err.message : String(err);
  return `${REASONS[code] ?? (err instanceof Error ? err.message : code)} (${code})`;
}

/** A file-system error as one the CLI prints without a stack trace: `<option> <path>: cannot <action>: <reason>; <outcome>`. */
export function outputError(option: string, path: string, action: string, err: unknown, outcome = "nothing was written"): SpillwayError {
  const code = errnoOf(err);
  const message = `${option} ${path}: cannot ${action}: ${describeErrno(err)}; ${outcome}`;
  if (code !== undefined && PLACE_CODES.has(code)) return new UsageError(message, `Choose a place you can write to for ${option}, or fix that one, and run again.`);
  return new InfraError(message, code === "ENOSPC" || code === "EDQUOT" ? "Free some space on that file system and run again." : "Check that file system and run again.");
}

/** Temporary files alive right now; removed even when the process exits on Ctrl-C. */
const live = new Set<string>();
process.on("exit", () => {
  for (const p of live) {
    try {
      unlinkSync(p);
    } catch {
      // already gone
    }
  }
});

async function removeQuietly(path: string | undefined) {
  if (!path) return;
  try {
    await unlink(path);
  } catch {
    // gone already, or nothing more we can do; the error that got us here is the one to report
  }
  live.delete(path);
}

const tempName = (real: string, tag: string) => `${real}.spillway-${process.pid}${tag}.tmp`;

interface Target {
  /** The flag that named it, for messages: --out, --json... */
  option: string;
  /** The path as the user sees it. */
  shown: string;
  /** Where it is really written: symbolic links followed. */
  real: string;
  /** new: nothing there yet; file: replaces a regular file; device: written in place. */
  kind: "new" | "file" | "device";
  mode: number;
  text?: string;
  temp?: string;
  backup?: string;
  renamed?: boolean;
}

async function lstatOrNull(path: string): Promise<Stats | null> {
  try {
    return await lstat(path);
  } catch (err) {
    if (errnoOf(err) === "ENOENT") return null;
    throw err;
  }
}

/** What is at `shown` now, and whether a file may go there. */
async function inspect(option: string, shown: string, single: boolean, outcome = "nothing was written"): Promise<Target> {
  let st: Stats | null;
  let real = shown;
  try {
    st = await lstatOrNull(shown);
    if (st?.isSymbolicLink()) {
      try {
        real = await realpath(shown);
      } catch (err) {
        if (errnoOf(err) !== "ENOENT") throw err;
        throw new UsageError(`${option} ${shown} is a symbolic link to a file that does not exist; ${outcome}`, `Remove the link, or create its target, or choose another place for ${option}.`);
      }
      st = await stat(real);
    }
  } catch (err) {
    if (err instanceof UsageError) throw err;
    throw outputError(option, shown, "look at it", err, outcome);
  }
  if (!st) return { option, shown, real, kind: "new", mode: 0o666 };
  if (st.isDirectory()) {
    throw new UsageError(`${option} ${shown} is a directory, where spillway would write a file; ${outcome}`, `Move that directory away, or choose another place for ${option}.`);
  }
  if (st.isFile()) return { option, shown, real, kind: "file", mode: st.mode & 0o7777 };
  if (single) return { option, shown, real, kind: "device", mode: 0o666 };
  throw new UsageError(`${option} ${shown} is not a regular file (a device, pipe or socket), so it cannot be replaced together with the others; ${outcome}`, `Move it away, or choose another directory for ${option}.`);
}

/** Writes each new file to a temporary one next to its destination, synced, and checks its size. */
async function stage(t: Target) {
  if (t.kind === "device" || t.temp) return;
  const temp = tempName(t.real, "");
  const text = t.text ?? "";
  try {
    const fh = await open(temp, "w", t.mode);
    live.add(temp);
    t.temp = temp;
    try {
      await fh.writeFile(text);
      await fh.sync();
    } finally {
      await fh.close();
    }
    const size = (await stat(temp)).size;
    const expected = Buffer.byteLength(text);
    if (size !== expected) throw Object.assign(new Error(`wrote ${size} bytes of ${expected}`), { code: "EIO" });
  } catch (err) {
    throw outputError(t.option, t.shown, "write it", err);
  }
}

/** Renames every staged file into place; on a failure puts back what was there. */
async function commit(targets: Target[]) {
  // Copies of the files about to be replaced, taken before the first rename.
  for (const t of targets) {
    if (t.kind !== "file") continue;
    const backup = tempName(t.real, ".old");
    try {
      try {
        await link(t.real, backup);
      } catch {
        await copyFile(t.real, backup);
      }
      live.add(backup);
      t.backup = backup;
    } catch (err) {
      await removeQuietly(backup);
      throw outputError(t.option, t.shown, "keep a copy of the old file while replacing it", err);
    }
  }
  for (const t of targets) {
    if (t.kind === "device") continue;
    try {
      await rename(t.temp!, t.real);
      live.delete(t.temp!);
      t.temp = undefined;
      t.renamed = true;
    } catch (err) {
      const lost = await restore(targets);
      if (lost.length === 0) throw outputError(t.option, t.shown, "replace it", err, "nothing was changed");
      throw new InfraError(
        `${t.option} ${t.shown}: cannot replace it: ${describeErrno(err)}; and could not put back the files already replaced:\n${lost.join("\n")}`,
        "Copy the old files back by hand from the copies named above.",
      );
    }
  }
  // The direct writes last: they cannot be undone. writeAll never has one
  // among several files (see inspect); reports may, and then a failure here
  // puts the replaced files back but cannot take back what a device got.
  for (const t of targets) {
    if (t.kind !== "device") continue;
    try {
      await writeFile(t.real, t.text ?? "");
    } catch (err) {
      await restore(targets);
      throw outputError(t.option, t.shown, "write to it", err, "what it received may be incomplete");
    }
  }
}

/** Puts back every file already renamed into place; returns what could not be. */
async function restore(targets: Target[]): Promise<string[]> {
  const lost: string[] = [];
  for (const t of targets) {
    if (!t.renamed) continue;
    try {
      if (t.backup) {
        await rename(t.backup, t.real);
        live.delete(t.backup);
        t.backup = undefined;
      } else await unlink(t.real);
      t.renamed = false;
    } catch (err) {
      if (t.backup) {
        live.delete(t.backup); // kept on purpose: it is the only copy left
        lost.push(`  ${t.shown}: ${describeErrno(err)}; the old file is kept as ${t.backup}`);
        t.backup = undefined;
      } else lost.push(`  ${t.shown}: ${describeErrno(err)}; it holds the new output and did not exist before`);
    }
  }
  return lost;
}

async function writeTargets(targets: Target[]) {
  try {
    for (const t of targets) await stage(t);
    await commit(targets);
  } finally {
    for (const t of targets) {
      await removeQuietly(t.temp);
      await removeQuietly(t.backup);
    }
  }
}

/** Creates `dir` (and its parents) if missing; returns the directories created, to remove on failure. */
async function ensureDir(option: string, dir: string, hint: string, given?: string): Promise<string[]> {
  // For a file's directory, messages name the file the user gave and then the directory.
  const named = (what: string) => (given ? `${option} ${given}: ${what}` : `${option} ${what}`);
  let st: Stats | null = null;
  try {
    st = await stat(dir);
  } catch (err) {
    const code = errnoOf(err);
    if (code !== "ENOENT" && code !== "ENOTDIR") throw outputError(option, given ?? dir, given ? `use ${dir} as its directory` : "use it as a directory", err);
  }
  if (st?.isDirectory()) return [];
  if (st) throw new UsageError(`${named(`${dir} is a file, not a directory`)}; nothing was written`, hint);
  // The missing directories, outermost first; and what stands in the way, for a message that names it.
  // (Not mkdir's `recursive`: under /proc it retries forever.)
  const missing: string[] = [];
  for (let d = resolve(dir); ; d = dirname(d)) {
    const a = await lstatOrNull(d).catch(() => null);
    if (a) {
      if (!a.isDirectory() && !(a.isSymbolicLink() && (await stat(d).catch(() => null))?.isDirectory())) {
        throw new UsageError(`${option} ${given ?? dir}: cannot create the directory${given ? ` ${dir}` : ""}: ${d} is a file, not a directory; nothing was written`, hint);
      }
      break;
    }
    missing.unshift(d);
    if (d === dirname(d)) break;
  }
  const created: string[] = [];
  try {
    for (const d of missing) {
      await mkdir(d);
      created.push(d);
    }
    return created;
  } catch (err) {
    await removeCreated(created);
    throw outputError(option, given ?? dir, given ? `create the directory ${dir}` : "create the directory", err);
  }
}

/** Removes the directories ensureDir created, deepest first, each only if still empty. */
async function removeCreated(created: string[]) {
  for (const d of [...created].reverse()) {
    try {
      await rmdir(d);
    } catch {
      return; // not empty: someone else's now
    }
  }
}

/**
 * Writes every file into `dir` (created if missing) or none of them; see the
 * guarantee at the top of this file. Returns the paths written.
 */
export async function writeAll(dir: string, files: Record<string, string>, opts: { option?: string; hint?: string; given?: string } = {}): Promise<string[]> {
  const option = opts.option ?? "--out";
  const hint = opts.hint ?? `Give ${option} a directory (it is created if missing).`;
  const created = await ensureDir(option, dir, hint, opts.given);
  try {
    const names = Object.keys(files);
    const targets: Target[] = [];
    for (const name of names) targets.push({ ...(await inspect(option, join(dir, name), names.length === 1)), text: files[name] });
    await writeTargets(targets);
    return targets.map((t) => t.shown);
  } catch (err) {
    await removeCreated(created);
    throw err;
  }
}

/** One output file of a report flag (--json FILE...), all or nothing. */
export interface OutputFile {
  option: string;
  path: string;
  text: string;
}

/** Writes single files, possibly in different directories, all or nothing together. Their directories must exist. */
export async function writeFiles(files: OutputFile[], streams: OutputStream[] = []): Promise<void> {
  const targets: Target[] = [];
  try {
    for (const f of files) {
      await checkDirectory(f.option, f.path, "nothing was written");
      targets.push({ ...(await inspect(f.option, f.path, true)), text: f.text });
    }
    for (const s of streams) {
      const t = await s.finish();
      if (t) targets.push(t);
    }
  } catch (err) {
    for (const s of streams) await s.abort();
    throw err;
  }
  await writeTargets(targets);
}

async function checkDirectory(option: string, path: string, outcome: string) {
  const dir = dirname(path);
  let st: Stats;
  try {
    st = await stat(dir);
  } catch (err) {
    if (errnoOf(err) === "ENOENT") throw new UsageError(`${option} ${path}: the directory ${dir} does not exist; ${outcome}`, `Create it first (mkdir -p ${dir}), or choose another place for ${option}.`);
    throw outputError(option, path, "use its directory", err, outcome);
  }
  if (!st.isDirectory()) throw new UsageError(`${option} ${path}: ${dir} is not a directory; ${outcome}`, `Choose another place for ${option}.`);
}

/**
 * Checks, before a long run starts, that `path` (a value of `option`) can be
 * written at its end: its directory exists, it is not a directory, and a file
 * can be created next to it (tried for real, so it holds for root too).
 */
export async function checkOutputFile(option: string, path: string | undefined): Promise<void> {
  if (path === undefined || path === "-") return;
  const outcome = "the run did not start";
  await checkDirectory(option, path, outcome);
  const t = await inspect(option, path, true, outcome);
  if (t.kind === "device") return; // opening a pipe here would wait for its reader
  const probe = tempName(t.real, ".probe");
  try {
    const fh = await open(probe, "wx");
    live.add(probe);
    await fh.close();
  } catch (err) {
    throw outputError(option, path, "create a file next to it", err, outcome);
  } finally {
    await removeQuietly(probe);
  }
}

/** Checks several report flags at once: `[["--json", opts.json], ...]`. */
export async function checkOutputFiles(flags: [string, string | undefined][]): Promise<void> {
  const seen = new Map<string, string>();
  for (const [option, path] of flags) {
    if (path === undefined || path === "-") continue;
    const key = resolve(path);
    const other = seen.get(key);
    if (other) throw new UsageError(`${other} and ${option} both name ${path}; the run did not start`, "Give each report its own file.");
    seen.set(key, option);
    await checkOutputFile(option, path);
  }
}

/**
 * A file written line by line during a run (--ndjson), into a temporary file
 * that finish() hands to writeFiles to be renamed into place with the other
 * reports; abort() removes it.
 */
export interface OutputStream {
  write(text: string): void;
  /** The staged file, or null when the destination is a device or pipe that already got every line. */
  finish(): Promise<Target | null>;
  abort(): Promise<void>;
}

export async function openOutputStream(option: string, path: string): Promise<OutputStream> {
  await checkDirectory(option, path, "the run did not start");
  const target = await inspect(option, path, true, "the run did not start");
  const file = target.kind === "device" ? target.real : tempName(target.real, "");
  let failure: unknown = null;
  const stream: WriteStream = createWriteStream(file, { flags: "w", mode: target.mode });
  if (target.kind !== "device") live.add(file);
  try {
    await new Promise((ok, fail) => {
      stream.once("open", ok);
      stream.once("error", fail);
    });
  } catch (err) {
    if (target.kind !== "device") await removeQuietly(file);
    throw outputError(option, path, "write it", err, "the run did not start");
  }
  stream.on("error", (err) => {
    failure ??= err;
  });
  const close = async () => {
    if (!stream.writableFinished && !stream.destroyed) stream.end();
    await finished(stream).catch((err: unknown) => {
      failure ??= err;
    });
  };
  return {
    write(text) {
      if (failure === null && !stream.destroyed) stream.write(text);
    },
    async finish() {
      await close();
      if (failure !== null) {
        if (target.kind !== "device") await removeQuietly(file);
        throw outputError(option, path, "write it", failure, target.kind === "device" ? "what it received may be incomplete" : "nothing was written");
      }
      return target.kind === "device" ? null : { ...target, temp: file };
    },
    async abort() {
      stream.destroy();
      await finished(stream).catch(() => {});
      if (target.kind !== "device") await removeQuietly(file);
    },
  };
}
