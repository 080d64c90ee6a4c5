/**
 * Whether text for a stream may carry colour: only when the stream is a
 * terminal, and never when NO_COLOR holds any value (https://no-color.org) or
 * the terminal says it cannot (TERM=dumb). Pipes, files and reports never get
 * escape codes, whatever the environment says.
 */
export function colorFor(streamIsTTY: boolean, env: NodeJS.ProcessEnv = process.env): boolean {
  if (!streamIsTTY) return false;
  if (env.NO_COLOR !== undefined && env.NO_COLOR !== "") return false;
  return env.TERM !== "dumb";
}
