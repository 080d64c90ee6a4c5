import { InfraError } from "../errors.js";
import { describeErrno } from "./output.js";

export interface Io {
  out: (text: string) => void;
  err: (text: string) => void;
  /** Whether stderr is a terminal: progress is drawn only there. */
  isTTY: boolean;
  /** Whether stdout is a terminal: text printed there may then be coloured. */
  outIsTTY?: boolean;
  /**
   * Waits until everything given to out() has been written, and throws an
   * InfraError if stdout failed (a reader that closed the pipe, a full disk).
   */
  flushOut?: () => Promise<void>;
}

let pending = 0;
let stdoutFailure: unknown = null;
const drained: (() => void)[] = [];

// Without a listener, a failed write to stdout (EPIPE, ENOSPC) is an uncaught
// exception with a stack trace; flushOut() reports it instead.
process.stdout.on("error", (err) => {
  stdoutFailure ??= err;
});
// A failed stderr leaves nowhere to report anything; the exit code still tells.
process.stderr.on("error", () => {});

function writeOut(text: string) {
  if (stdoutFailure !== null) return;
  pending++;
  process.stdout.write(text, (err) => {
    if (err) stdoutFailure ??= err;
    if (--pending === 0) for (const resolve of drained.splice(0)) resolve();
  });
}

async function flushOut(): Promise<void> {
  if (pending > 0) await new Promise<void>((resolve) => drained.push(resolve));
  if (stdoutFailure !== null) {
    throw new InfraError(
      `cannot write to stdout: ${describeErrno(stdoutFailure)}; the output is incomplete`,
      "Send the output where it can be written in full (a file, or a reader that reads to the end), and run again.",
    );
  }
}

export const processIo: Io = {
  out: writeOut,
  err: (t) => process.stderr.write(t),
  isTTY: Boolean(process.stderr.isTTY),
  outIsTTY: Boolean(process.stdout.isTTY),
  flushOut,
};
