import { mkdir, rename, writeFile } from "node:fs/promises";
import { join } from "node:path";

/** Writes every file or none: each goes to a temporary name first and is renamed once all are written. */
export async function writeAll(dir: string, files: Record<string, string>): Promise<string[]> {
  await mkdir(dir, { recursive: true });
  const staged: [string, string][] = [];
  for (const [name, text] of Object.entries(files)) {
    const final = join(dir, name);
    const temp = `${final}.spillway-${process.pid}.tmp`;
    await writeFile(temp, text);
    staged.push([temp, final]);
  }
  for (const [temp, final] of staged) await rename(temp, final);
  return staged.map(([, final]) => final);
}
