import { ExitCode } from "./exit-codes.js";

/**
 * An error a user can cause or act on. The CLI prints `message` (and `hint`)
 * without a stack trace and exits with `exitCode`.
 */
export class SpillwayError extends Error {
  readonly exitCode: ExitCode;
  readonly hint: string | undefined;

  constructor(message: string, exitCode: ExitCode, hint?: string) {
    super(message);
    this.name = "SpillwayError";
    this.exitCode = exitCode;
    this.hint = hint;
  }
}

export class UsageError extends SpillwayError {
  constructor(message: string, hint?: string) {
    super(message, ExitCode.Usage, hint);
    this.name = "UsageError";
  }
}

/** Infrastructure failure: a process, container, port or engine that did not behave. */
export class InfraError extends SpillwayError {
  constructor(message: string, hint?: string) {
    super(message, ExitCode.Infrastructure, hint);
    this.name = "InfraError";
  }
}
