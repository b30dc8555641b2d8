import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import Mocha from "mocha";
import { TIMINGS_FILE } from "./file-timings";

/** Files that took at least this long are listed after the run (the ones worth making faster). */
const LISTED_FROM_MS = 20_000;

/**
 * Mocha's spec reporter, plus the wall time of each test file, hooks included, listed after the run for
 * every file that took 20 s or more: the figures docs/develop.md's "Tests by cost" quotes, taken the same
 * way before and after a change. In parallel mode files overlap, so their times add up to more than the
 * run's wall time.
 */
class TimingReporter extends Mocha.reporters.Spec {
  constructor(runner: Mocha.Runner, options?: Mocha.MochaOptions) {
    super(runner, options);
    const took = new Map<string, number>();
    let timingsFile: string | undefined;
    if ((runner as Mocha.Runner & { isParallelMode(): boolean }).isParallelMode()) {
      timingsFile = path.join(mkdtempSync(path.join(tmpdir(), "sonic-test-timings-")), "files.jsonl");
      process.env[TIMINGS_FILE] = timingsFile;
    } else {
      const started = new Map<string, number>();
      runner.on(Mocha.Runner.constants.EVENT_SUITE_BEGIN, (suite: Mocha.Suite) => {
        if (suite.file && suite.parent?.root && !started.has(suite.file)) started.set(suite.file, Date.now());
      });
      runner.on(Mocha.Runner.constants.EVENT_SUITE_END, (suite: Mocha.Suite) => {
        const start = suite.file && suite.parent?.root ? started.get(suite.file) : undefined;
        if (start !== undefined) took.set(suite.file!, Date.now() - start);
      });
    }
    runner.once(Mocha.Runner.constants.EVENT_RUN_END, () => {
      if (timingsFile) {
        let lines: string[] = [];
        try {
          lines = readFileSync(timingsFile, "utf8").split("\n").filter(Boolean);
        } catch {
          // No file finished (a run that failed to load): nothing to list.
        }
        for (const { file, ms } of lines.map((l) => JSON.parse(l) as { file: string; ms: number }))
          took.set(file, ms);
        rmSync(path.dirname(timingsFile), { recursive: true, force: true });
      }
      const slow = [...took].filter(([, ms]) => ms >= LISTED_FROM_MS).sort((a, b) => b[1] - a[1]);
      if (slow.length === 0) return;
      console.log(`  Test files of ${LISTED_FROM_MS / 1000} s or more (wall time, hooks included):`);
      for (const [file, ms] of slow)
        console.log(`    ${(ms / 1000).toFixed(1).padStart(7)} s  ${path.relative(process.cwd(), file)}`);
      console.log();
    });
  }
}

export = TimingReporter;
