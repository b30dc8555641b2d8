import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
} from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { CHART_PINS, chartPin, type ChartPin } from "../components/shared/chart-pins";
import { findHelm, HELM_INSTALL_HINT } from "./helm";
import { REPO_ROOT } from "./stack-file";

/**
 * The environment variable naming a folder of the pinned archives (`<chart>-<version>.tgz`), read after
 * the chart cache: a machine's offline copy, or CI's.
 */
export const ARCHIVES_ENV = "SONIC_CHART_ARCHIVES";
/** The former name of {@link ARCHIVES_ENV}, still read when it is unset. */
export const LEGACY_ARCHIVES_ENV = "SONIC_CHARTS_DIR";
/** Moves the chart cache elsewhere (the tests fill throwaway ones); `.charts/` in the checkout by default. */
export const CACHE_ENV = "SONIC_CHART_CACHE";

/** What fills the chart cache, as every "not found" says it. */
export const FETCH_HINT =
  "run 'npm run charts' (helm pull of each pinned chart from its repository), or 'npm run charts -- --from <dir>' with a folder of the pinned archives";

/** The chart cache: `npm run charts` fills it, git ignores it (charts/README.md). */
export function chartCache(): string {
  return process.env[CACHE_ENV] ? path.resolve(process.env[CACHE_ENV]) : path.join(REPO_ROOT, ".charts");
}

/** The archive folder named by {@link ARCHIVES_ENV} (else {@link LEGACY_ARCHIVES_ENV}), if any. */
export function archivesFromEnv(): string | undefined {
  return process.env[ARCHIVES_ENV] || process.env[LEGACY_ARCHIVES_ENV] || undefined;
}

/**
 * The folders a pinned archive is looked up in, first match wins: the chart cache, then `dir` (render's
 * `--charts-dir`) or else the folder {@link ARCHIVES_ENV} names.
 */
export function archiveDirs(dir?: string): string[] {
  const archives = dir ?? archivesFromEnv();
  return [chartCache(), ...(archives ? [path.resolve(archives)] : [])];
}

/** A folder as messages name it: relative to the working directory when inside it, else absolute. */
export function shownPath(dir: string): string {
  const relative = path.relative(process.cwd(), dir);
  return relative === "" ? "." : relative.startsWith("..") ? dir : relative;
}

/** A chart at a version that none of the folders holds. */
export class MissingChartError extends Error {
  constructor(
    public readonly chart: string,
    public readonly version: string,
    message: string,
  ) {
    super(message);
    this.name = "MissingChartError";
  }
}

const digests = new Map<string, string>();

/** SHA-256 (hex) of a file, remembered per path, size and modification time. */
export function sha256Of(file: string): string {
  const stat = statSync(file);
  const key = `${file}\0${stat.size}\0${stat.mtimeMs}`;
  if (!digests.has(key)) digests.set(key, createHash("sha256").update(readFileSync(file)).digest("hex"));
  return digests.get(key)!;
}

/** Why `file` is not the pinned archive of `pin` (its digest differs), or undefined; a pin without a digest accepts any. */
export function digestProblem(pin: ChartPin, file: string): string | undefined {
  if (pin.sha256 === null) return undefined;
  const actual = sha256Of(file);
  return actual === pin.sha256 ? undefined : `sha256 ${actual}, the pin says ${pin.sha256}`;
}

/**
 * The archive of `chart` at `version`: from the chart cache, else from `dir` (or the folder
 * {@link ARCHIVES_ENV} names). A pinned archive is checked against its digest. A pin that ships inside
 * another pinned archive (`packagedFrom`: the fleet's Grafana) is packaged from it into the cache when
 * neither folder holds it. Throws a {@link MissingChartError} naming the chart, the version and
 * `npm run charts` when there is none.
 */
export function resolveChartArchive(chart: string, version: string, dir?: string): string {
  const pin = chartPin(chart);
  const pinned = pin?.version === version ? pin : undefined;
  const file = `${chart}-${version}.tgz`;
  const dirs = archiveDirs(dir);
  for (const d of dirs) {
    const candidate = path.join(d, file);
    if (!existsSync(candidate)) continue;
    const problem = pinned && digestProblem(pinned, candidate);
    if (problem) throw new Error(`${candidate} has ${problem}: delete it and ${FETCH_HINT}`);
    return candidate;
  }
  if (pinned?.packagedFrom) {
    const parent: ChartPin = CHART_PINS[pinned.packagedFrom];
    try {
      return packageSubchart(pinned, resolveChartArchive(parent.chart, parent.version, dir), chartCache());
    } catch (e) {
      if (!(e instanceof MissingChartError)) throw e;
      // Said as the chart asked for: its parent is what is missing.
    }
  }
  const where =
    `the chart cache ${shownPath(dirs[0])}/` +
    (dirs[1] ? ` nor in ${shownPath(dirs[1])}/ (${dir ? "--charts-dir" : ARCHIVES_ENV})` : "");
  const why = !pin
    ? ` (not a pinned chart: put its archive in the folder ${ARCHIVES_ENV} names)`
    : !pinned
      ? ` (not the pinned version ${pin.version}: 'npm run charts' fetches pinned versions only, so put its archive in the folder ${ARCHIVES_ENV} names)`
      : pinned.packagedFrom
        ? ` (nor is ${CHART_PINS[pinned.packagedFrom].archive}, which carries it)`
        : "";
  throw new MissingChartError(
    chart,
    version,
    `chart ${chart} ${version} (${file}) is not in ${where}${why}: ${FETCH_HINT}` +
      (dirs[1] ? "" : `; or set ${ARCHIVES_ENV} to a folder of them`),
  );
}

/** {@link resolveChartArchive} for a pin. */
export function pinnedArchive(pin: ChartPin, dir?: string): string {
  return resolveChartArchive(pin.chart, pin.version, dir);
}

/**
 * `pin.archive` packaged into `into` from the copy inside its parent's archive (`charts/<chart>/`), so
 * the same chart is fetched once. Written under a temporary name and renamed: renders in parallel
 * processes never read half a file.
 */
export function packageSubchart(pin: ChartPin, parentArchive: string, into: string): string {
  const helm = findHelm();
  if (!helm) throw new Error(HELM_INSTALL_HINT);
  const parent = CHART_PINS[pin.packagedFrom!];
  const work = mkdtempSync(path.join(tmpdir(), "sonic-subchart-"));
  try {
    execFileSync("tar", ["-xzf", parentArchive, "-C", work, `${parent.chart}/charts/${pin.chart}`]);
    execFileSync(helm, ["package", path.join(work, parent.chart, "charts", pin.chart), "-d", work], {
      encoding: "utf8",
    });
    const packaged = path.join(work, pin.archive);
    if (!existsSync(packaged))
      throw new Error(
        `${parent.archive} holds no ${pin.chart} ${pin.version}: 'helm package' made no ${pin.archive}`,
      );
    mkdirSync(into, { recursive: true });
    const target = path.join(into, pin.archive);
    copyAtomically(packaged, target);
    return target;
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

/**
 * `from` copied to `target` through a temporary name beside it, then renamed, so the target appears
 * whole or not at all (a rename across file systems would fail, hence the copy).
 */
export function copyAtomically(from: string, target: string): void {
  const staged = `${target}.${process.pid}.tmp`;
  copyFileSync(from, staged);
  renameSync(staged, target);
}

/** A file of a chart archive (`values.yaml` by default) as text, read with tar. */
export function archiveFile(archive: string, chart: string, file = "values.yaml"): string {
  return execFileSync("tar", ["-xzOf", archive, `${chart}/${file}`], {
    encoding: "utf8",
    maxBuffer: 64 * 1024 * 1024,
  });
}
