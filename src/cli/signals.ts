import type { Io } from "./io.js";

/** 128 + the signal's number, as a shell reports a process the signal ended. */
const EXIT_CODES = { SIGINT: 130, SIGTERM: 143, SIGHUP: 129 } as const;
type HandledSignal = keyof typeof EXIT_CODES;

/**
 * Runs a command that starts things (proxies, stubs, containers) with a
 * signal that SIGINT, SIGTERM and SIGHUP abort. The command's own cleanup
 * runs to its end: this resolves only once `fn` has settled, every `finally`
 * and teardown included, and then with the signal's exit code. Whatever `fn`
 * threw after the signal came is the interruption itself, not an error.
 */
export async function untilSignal(io: Io, fn: (signal: AbortSignal) => Promise<number>): Promise<number> {
  const controller = new AbortController();
  let received: HandledSignal | null = null;
  const handler = (signal: HandledSignal) => {
    // A second Ctrl-C during teardown is caught too: the teardown under way is the way out.
    if (received !== null) return;
    received = signal;
    io.err(`\nspillway: ${signal} received, stopping everything this run started...\n`);
    controller.abort(new Error(`${signal} received`));
  };
  const signals = Object.keys(EXIT_CODES) as HandledSignal[];
  for (const s of signals) process.on(s, handler);
  try {
    const code = await fn(controller.signal);
    return received === null ? code : EXIT_CODES[received];
  } catch (err) {
    if (received !== null) return EXIT_CODES[received];
    throw err;
  } finally {
    for (const s of signals) process.off(s, handler);
  }
}
