/**
 * The one owner of cleanup for a run. Everything a run starts registers a
 * step here; `run()` undoes them in reverse order, once, collecting every
 * failure instead of stopping at the first.
 */
export interface TeardownReport {
  failed: { name: string; error: string }[];
}

export class Teardown {
  private readonly steps: { name: string; fn: () => Promise<void> | void }[] = [];
  private running: Promise<TeardownReport> | null = null;
  private finished = false;
  private readonly late: Promise<void>[] = [];
  private failures = 0;

  /** Steps that failed so far; a last step can use it to keep evidence for `spillway down`. */
  get failedSoFar(): number {
    return this.failures;
  }

  /**
   * Registers a cleanup step. One added while teardown runs (something was
   * starting when a signal came) is still run before teardown resolves.
   */
  add(name: string, fn: () => Promise<void> | void): void {
    if (this.finished) {
      this.late.push(Promise.resolve().then(fn).catch(() => undefined));
      return;
    }
    this.steps.push({ name, fn });
  }

  get started(): boolean {
    return this.running !== null;
  }

  /** Safe to call twice or concurrently: later calls get the first call's report. */
  run(): Promise<TeardownReport> {
    this.running ??= (async () => {
      const failed: TeardownReport["failed"] = [];
      while (this.steps.length > 0) {
        const step = this.steps.pop()!;
        try {
          await step.fn();
        } catch (err) {
          this.failures++;
          failed.push({ name: step.name, error: err instanceof Error ? err.message : String(err) });
        }
      }
      this.finished = true;
      await Promise.all(this.late);
      return { failed };
    })();
    return this.running;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.run();
  }
}

export function formatTeardownReport(report: TeardownReport): string {
  return report.failed.map((f) => `could not clean up ${f.name}: ${f.error}`).join("\n");
}
