import { spawnSync } from "node:child_process";
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, renameSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { CHART_PINS, chartSource, type ChartPin } from "../components/shared/chart-pins";
import { chartCache, digestProblem, packageSubchart, shownPath } from "../testkit/chart-archives";
import { findHelm, HELM_INSTALL_HINT } from "../testkit/helm";

/** Where `npm run charts` takes the archives from. */
export interface FillOptions {
  /** A folder of the pinned archives (`<chart>-<version>.tgz`) to copy from, for machines without network. */
  from?: string;
  /**
   * A mirror to pull every chart from, as the stack setting `charts.repository` names one: an
   * `https://` Helm repository or an `oci://` registry.
   * @default each pin's own repository
   */
  repository?: string;
  /** Where a line per chart goes. @default stdout */
  log?: (line: string) => void;
}

/**
 * Fills the chart cache with the archive of every pinned chart (`CHART_PINS`): `helm pull` from the
 * pin's repository (or `repository`), or a copy from `from`. Each archive is checked against the pin's
 * SHA-256 before it enters the cache; a mismatch is refused and the file deleted. An archive already in
 * the cache with the right digest is kept. A pin without an archive of its own in `from` (the fleet's
 * Grafana) is packaged from its parent's copy. Returns the problems, one line each (none: all there).
 */
export function fillChartCache(options: FillOptions = {}): string[] {
  const log = options.log ?? ((line: string) => process.stdout.write(`${line}\n`));
  // A wrong mirror is said once, as the stack setting would say it.
  if (options.repository) sourceOf(CHART_PINS.kubePrometheusStack, options.repository);
  const cache = chartCache();
  mkdirSync(cache, { recursive: true });
  const problems: string[] = [];
  // CHART_PINS lists a parent before the pins packaged from it.
  for (const pin of Object.values(CHART_PINS) as ChartPin[]) {
    const target = path.join(cache, pin.archive);
    if (existsSync(target)) {
      const problem = digestProblem(pin, target);
      if (!problem) {
        log(`${pin.archive}: in the cache`);
        continue;
      }
      rmSync(target);
      log(`${pin.archive} in the cache has ${problem}: deleted`);
    }
    const work = mkdtempSync(path.join(tmpdir(), "sonic-charts-"));
    try {
      // A pin packaged from another (the fleet's Grafana) comes from its parent's checked archive, pulled or
      // copied: so every archive in the cache traces back to a digest of the table.
      const got = pin.packagedFrom
        ? fromParent(pin, cache)
        : options.from
          ? fromFolder(pin, options.from)
          : pull(pin, options.repository, work);
      if (typeof got !== "string") {
        problems.push(`${pin.archive}: ${got.problem}`);
        continue;
      }
      if (got === target) {
        log(`${pin.archive}: packaged from ${CHART_PINS[pin.packagedFrom!].archive} (no digest of its own)`);
        continue;
      }
      // Checked under a temporary name: the cache never holds an unchecked archive.
      const staged = `${target}.${process.pid}.tmp`;
      copyFileSync(got, staged);
      chmodSync(staged, 0o644);
      const problem = digestProblem(pin, staged);
      if (problem) {
        rmSync(staged);
        problems.push(`${pin.archive} has ${problem}: refused and deleted`);
        continue;
      }
      renameSync(staged, target);
      const from = options.from ? `copied from ${got}` : `pulled from ${sourceOf(pin, options.repository)}`;
      log(`${pin.archive}: ${from}, ${pin.sha256 ? "sha256 matches the pin" : "no digest pinned"}`);
    } catch (e) {
      problems.push(`${pin.archive}: ${(e as Error).message}`);
    } finally {
      rmSync(work, { recursive: true, force: true });
    }
  }
  return problems;
}

/** The archive in `from`. */
function fromFolder(pin: ChartPin, from: string): string | { problem: string } {
  const file = path.join(from, pin.archive);
  return existsSync(file) ? file : { problem: `not in ${from}` };
}

/** A pin packaged from another: its folder inside the parent's archive (already checked), packaged into the cache. */
function fromParent(pin: ChartPin, cache: string): string | { problem: string } {
  const parent = path.join(cache, CHART_PINS[pin.packagedFrom!].archive);
  if (!existsSync(parent)) return { problem: `its parent ${path.basename(parent)} is not in the cache` };
  return packageSubchart(pin, parent, cache);
}

/** Where a pin is pulled from: the mirror, else its own repository. */
function sourceOf(pin: ChartPin, repository?: string): string {
  const source = chartSource(pin.chart, pin.repository, repository, "--repository");
  return source.repositoryOpts?.repo ?? source.chart;
}

/** `helm pull` of a pin into `work`, from the mirror or its own repository. */
function pull(pin: ChartPin, repository: string | undefined, work: string): string | { problem: string } {
  const helm = findHelm();
  if (!helm) return { problem: HELM_INSTALL_HINT };
  const source = chartSource(pin.chart, pin.repository, repository, "--repository");
  const from = source.repositoryOpts ? [source.chart, "--repo", source.repositoryOpts.repo] : [source.chart];
  const pulled = spawnSync(helm, ["pull", ...from, "--version", pin.version, "-d", work], {
    encoding: "utf8",
  });
  const file = path.join(work, pin.archive);
  if (pulled.status === 0 && existsSync(file)) return file;
  const said = `${pulled.stderr ?? ""}${pulled.error?.message ?? ""}`.trim().split("\n").pop();
  return {
    problem: `helm pull from ${sourceOf(pin, repository)} failed: ${said || `exit ${pulled.status}`}`,
  };
}

const USAGE = "usage: npm run charts [-- --from <dir> | --repository <https://… or oci://…>]";

function main(argv: string[]): void {
  if (argv.includes("--help") || argv.includes("-h")) {
    process.stdout.write(
      `${USAGE}\n  Fills ${shownPath(chartCache())}/ with every pinned chart (components/shared/chart-pins.ts), each checked\n` +
        "  against its sha256: helm pull from its repository, from a mirror (--repository), or a copy from a\n" +
        "  folder of the archives (--from; SONIC_CHART_ARCHIVES names one when no argument is given).\n",
    );
    return;
  }
  const options: FillOptions = {};
  // No argument: a folder of the archives named in the environment, as the tests and renders read it.
  if (argv.length === 0 && process.env.SONIC_CHART_ARCHIVES) options.from = process.env.SONIC_CHART_ARCHIVES;
  // npm runs scripts from the package root; a relative --from is the caller's.
  const cwd = process.env.INIT_CWD ?? process.cwd();
  for (let i = 0; i < argv.length; i++) {
    const value = argv[i + 1];
    if ((argv[i] === "--from" || argv[i] === "--repository") && (!value || value.startsWith("--")))
      throw new Error(`${argv[i]} needs a value. ${USAGE}`);
    if (argv[i] === "--from") options.from = path.resolve(cwd, argv[++i]);
    else if (argv[i] === "--repository") options.repository = argv[++i];
    else throw new Error(`unknown argument ${JSON.stringify(argv[i])}. ${USAGE}`);
  }
  if (options.from && options.repository)
    throw new Error(`--from and --repository exclude each other. ${USAGE}`);
  if (options.from && !existsSync(options.from)) throw new Error(`--from ${options.from}: no such folder`);
  const problems = fillChartCache(options);
  const cache = shownPath(chartCache());
  const count = Object.keys(CHART_PINS).length;
  if (problems.length > 0) {
    process.stderr.write(
      `charts: ${problems.length} of ${count} pinned charts not in ${cache}/:\n${problems.map((p) => `  ${p}\n`).join("")}` +
        (options.from
          ? ""
          : "  Without network: npm run charts -- --from <folder of the archives> (or set SONIC_CHART_ARCHIVES to it).\n"),
    );
    process.exit(1);
  }
  process.stdout.write(`charts: all ${count} pinned charts are in ${cache}/\n`);
}

if (require.main === module) {
  try {
    main(process.argv.slice(2));
  } catch (e) {
    process.stderr.write(`charts: ${(e as Error).message}\n`);
    process.exit(1);
  }
}
