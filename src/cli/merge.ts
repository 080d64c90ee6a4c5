import { readFile } from "node:fs/promises";
import { basename, dirname } from "node:path";
import type { Command } from "commander";
import { SpillwayError, UsageError } from "../errors.js";
import { ExitCode } from "../exit-codes.js";
import type { Io } from "./io.js";
import { checkOutputFiles, describeErrno, writeAll } from "./output.js";

interface MergeCliOptions {
  json?: string;
  quiet?: boolean;
}

/**
 * The parts are merge's input documents, as a spec is verify's: a file that
 * cannot be read is exit 1, as a missing spec is; a part that is not a
 * shard's JSON, or does not fit with the others, is exit 2.
 */
function partError(message: string, hint: string): SpillwayError {
  return new SpillwayError(message, ExitCode.InvalidSpec, hint);
}

/** `spillway merge part-*.json`: the parts of one sharded load as one result. */
export function addMergeCommand(program: Command, io: Io, setExit: (code: number) => void): void {
  program
    .command("merge")
    .description("merge the --json parts of one load run with --shard i/N into one result: counts add, latency histograms merge")
    .argument("<parts...>", "the parts: spillway load ... --shard i/N --json part-i.json, one per shard")
    .option("--json <file>", "write the merged result as JSON (as spillway load --json does), or - for stdout (the summary then goes to stderr)")
    .option("-q, --quiet", "print only errors: no summary")
    .addHelpText(
      "after",
      [
        "",
        "Exit status:",
        "  0  merged",
        "  1  usage error: bad flags",
        "  2  the parts cannot be merged: a file unreadable or not a shard's JSON, parts of",
        "     different loads, a shard missing or given twice, a part whose counts do not add up",
        "     (sent = attributed + unattributed, completed = responses by status)",
      ].join("\n"),
    )
    .action(async (files: string[], o: MergeCliOptions) => {
      const { mergeShardParts, ShardProblem } = await import("../load/shard.js");
      const { formatLoadSummary } = await import("../report/load.js");
      await checkOutputFiles([["--json", o.json]]);
      const parts = [];
      for (const file of files) {
        let text: string;
        try {
          text = await readFile(file, "utf8");
        } catch (err) {
          throw new UsageError(`${file}: cannot read it: ${describeErrno(err)}`, "Give the part files that spillway load --shard i/N --json wrote.");
        }
        try {
          parts.push({ file, json: JSON.parse(text) as unknown });
        } catch (err) {
          throw partError(`${file} is not JSON: ${(err as Error).message}`, "Give the part files that spillway load --shard i/N --json wrote, whole.");
        }
      }
      let merged;
      try {
        merged = mergeShardParts(parts);
      } catch (err) {
        if (err instanceof ShardProblem) throw partError(err.message, err.hint);
        throw err;
      }
      const { result, load, count, reconciled } = merged;
      const summary = `merged ${count} shard${count === 1 ? "" : "s"} of one load\n${reconciled}\n` + formatLoadSummary(result, load);
      const text = `${JSON.stringify(result, null, 2)}\n`;
      if (o.json === "-") {
        if (!o.quiet) io.err(`${summary}\n`);
        io.out(text);
      } else {
        if (!o.quiet) io.out(`${summary}\n`);
        if (o.json) await writeAll(dirname(o.json), { [basename(o.json)]: text });
      }
      setExit(ExitCode.Ok);
    });
}
