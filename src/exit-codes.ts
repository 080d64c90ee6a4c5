/** Exit codes shared by every command; documented in the README. */
export const ExitCode = {
  Ok: 0,
  Usage: 1,
  InvalidSpec: 2,
  Infrastructure: 3,
  ExpectationFailed: 4,
} as const;

export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];
