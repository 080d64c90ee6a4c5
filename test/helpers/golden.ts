import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, relative } from "node:path";
import { expect } from "vitest";

/**
 * Compares text with a golden file; vitest shows a line diff on mismatch.
 * `UPDATE_GOLDEN=1 npx vitest run` writes or rewrites the files after a
 * deliberate change. Without it a missing golden file fails the test: writing
 * it silently would make the comparison pass against itself.
 */
export function expectGolden(file: string, actual: string): void {
  if (process.env.UPDATE_GOLDEN === "1") {
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(file, actual);
  } else if (!existsSync(file)) {
    throw new Error(
      `golden file ${relative(process.cwd(), file)} is missing; create it with \`UPDATE_GOLDEN=1 npx vitest run\`, review the written file and commit it`,
    );
  }
  expect(actual, `differs from ${file} (UPDATE_GOLDEN=1 rewrites it)`).toBe(readFileSync(file, "utf8"));
}
