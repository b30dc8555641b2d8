import * as assert from "node:assert/strict";
import { execFile, execFileSync } from "node:child_process";
import {
  appendFileSync,
  copyFileSync,
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
} from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { CHART_PINS, type ChartPin } from "../../components";
import { fillChartCache } from "../../scripts/charts";
import {
  ARCHIVES_ENV,
  CACHE_ENV,
  LEGACY_ARCHIVES_ENV,
  pinnedArchive,
  resolveChartArchive,
  sha256Of,
} from "../../testkit/chart-archives";
import { requireHelmAndCharts } from "../../testkit/charts";
import { findHelm } from "../../testkit/helm";
import { REPO_ROOT } from "../../testkit/stack-file";

const PINS = Object.values(CHART_PINS) as ChartPin[];
/** The pins with an archive of their own (all but the fleet's Grafana, packaged from its parent). */
const ARCHIVED = PINS.filter((p) => p.sha256 !== null);
const HINT =
  "run 'npm run charts' (helm pull of each pinned chart from its repository), or 'npm run charts -- --from <dir>' with a folder of the pinned archives";

const scratches: string[] = [];
/** A temporary folder, removed after the suite. */
const scratch = (name: string) => {
  scratches.push(mkdtempSync(path.join(tmpdir(), `sonic-${name}-`)));
  return scratches.at(-1)!;
};

/** `fn` with these environment variables (undefined: unset), restored after. */
function withEnv<T>(vars: Record<string, string | undefined>, fn: () => T): T {
  const before = Object.fromEntries(Object.keys(vars).map((k) => [k, process.env[k]]));
  const set = (values: Record<string, string | undefined>) => {
    for (const [k, v] of Object.entries(values)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  };
  set(vars);
  try {
    return fn();
  } finally {
    set(before);
  }
}

/** The environment of a child with its own chart cache and helm home, and no archive folder. */
function childEnv(cache: string, extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, [CACHE_ENV]: cache, ...extra };
  if (!extra[ARCHIVES_ENV]) delete env[ARCHIVES_ENV];
  delete env[LEGACY_ARCHIVES_ENV];
  const helmHome = scratch("helm-home");
  for (const v of ["HELM_CACHE_HOME", "HELM_CONFIG_HOME", "HELM_DATA_HOME"]) env[v] = path.join(helmHome, v);
  return env;
}

/** A script of the repository in a child process (asynchronous: the test's own server must keep serving). */
function script(
  file: string,
  args: string[],
  env: NodeJS.ProcessEnv,
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ["-r", "ts-node/register/transpile-only", path.join(REPO_ROOT, "scripts", file), ...args],
      { cwd: REPO_ROOT, env, maxBuffer: 64 * 1024 * 1024 },
      (err, stdout, stderr) => resolve({ code: err ? Number(err.code ?? 1) : 0, stdout, stderr }),
    );
  });
}

/** A folder with a copy of each pinned archive (the fleet's Grafana included when `withGrafana`). */
function archiveFolder(withGrafana = false): string {
  const dir = scratch("archives");
  for (const pin of withGrafana ? PINS : ARCHIVED)
    copyFileSync(pinnedArchive(pin), path.join(dir, pin.archive));
  return dir;
}

/** A classic Helm repository over `dir` on 127.0.0.1: `helm repo index`, then index.yaml and the archives. */
async function serveRepository(dir: string): Promise<{ url: string; server: Server }> {
  const server = createServer((req, res) => {
    const name = path.basename(new URL(req.url ?? "/", "http://local").pathname);
    const file = path.join(dir, name);
    if (!existsSync(file)) return void res.writeHead(404).end();
    res.writeHead(200).end(readFileSync(file));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  execFileSync(findHelm()!, ["repo", "index", dir, "--url", url]);
  return { url, server };
}

describe("the chart cache: npm run charts and the one resolver of the pinned archives", function () {
  this.timeout(300_000);
  before(requireHelmAndCharts);
  after(() => scratches.forEach((d) => rmSync(d, { recursive: true, force: true })));

  it("copies every pinned archive from a folder (--from), each checked against its digest, and packages Grafana from kube-prometheus-stack's copy", () => {
    const cache = scratch("cache");
    const lines: string[] = [];
    const from = archiveFolder();
    const problems = withEnv({ [CACHE_ENV]: cache }, () =>
      fillChartCache({ from, log: (l) => lines.push(l) }),
    );
    assert.deepEqual(problems, []);
    assert.deepEqual(readdirSync(cache).sort(), PINS.map((p) => p.archive).sort());
    for (const pin of ARCHIVED)
      assert.equal(sha256Of(path.join(cache, pin.archive)), pin.sha256, pin.archive);
    assert.equal(
      lines.at(-1),
      `${CHART_PINS.grafana.archive}: packaged from ${CHART_PINS.kubePrometheusStack.archive} (no digest of its own)`,
    );
    // A second run keeps what is there.
    const again: string[] = [];
    withEnv({ [CACHE_ENV]: cache }, () => fillChartCache({ from, log: (l) => again.push(l) }));
    assert.deepEqual(
      again,
      PINS.map((p) => `${p.archive}: in the cache`),
    );
  });

  it("refuses a tampered archive (npm run charts exits 1 and leaves no file of it), and replaces a tampered one already in the cache", async () => {
    const from = archiveFolder();
    const adapter = CHART_PINS.prometheusAdapter;
    appendFileSync(path.join(from, adapter.archive), "tampered");
    const tampered = sha256Of(path.join(from, adapter.archive));
    const cache = scratch("cache");
    const run = await script("charts.ts", ["--from", from], childEnv(cache));
    assert.equal(run.code, 1);
    assert.equal(
      run.stderr,
      `charts: 1 of 6 pinned charts not in ${cache}/:\n` +
        `  ${adapter.archive} has sha256 ${tampered}, the pin says ${adapter.sha256}: refused and deleted\n`,
    );
    assert.deepEqual(
      readdirSync(cache).sort(),
      PINS.filter((p) => p !== adapter)
        .map((p) => p.archive)
        .sort(),
    );

    // Tampered in the cache: deleted and fetched again.
    copyFileSync(path.join(from, adapter.archive), path.join(cache, adapter.archive));
    const lines: string[] = [];
    const good = archiveFolder();
    const problems = withEnv({ [CACHE_ENV]: cache }, () =>
      fillChartCache({ from: good, log: (l) => lines.push(l) }),
    );
    assert.deepEqual(problems, []);
    assert.ok(
      lines.includes(
        `${adapter.archive} in the cache has sha256 ${tampered}, the pin says ${adapter.sha256}: deleted`,
      ),
    );
    assert.equal(sha256Of(path.join(cache, adapter.archive)), adapter.sha256);
  });

  it("refuses a tampered archive in the SONIC_CHART_ARCHIVES folder when a render asks for it", () => {
    const from = archiveFolder();
    const keda = CHART_PINS.keda;
    appendFileSync(path.join(from, keda.archive), "tampered");
    assert.throws(
      () =>
        withEnv({ [CACHE_ENV]: scratch("cache"), [ARCHIVES_ENV]: from }, () =>
          resolveChartArchive(keda.chart, keda.version),
        ),
      {
        message: `${path.join(from, keda.archive)} has sha256 ${sha256Of(path.join(from, keda.archive))}, the pin says ${keda.sha256}: delete it and ${HINT}`,
      },
    );
  });

  it("pulls every pinned chart with helm pull from a served chart repository (--repository), checking each digest", async () => {
    const { url, server } = await serveRepository(archiveFolder(true));
    try {
      const cache = scratch("cache");
      const run = await script("charts.ts", ["--repository", url], childEnv(cache));
      assert.equal(run.code, 0, run.stderr);
      for (const pin of ARCHIVED)
        assert.ok(
          run.stdout.includes(`${pin.archive}: pulled from ${url}, sha256 matches the pin\n`),
          run.stdout,
        );
      // Grafana has no archive of its own to check: it is packaged from the checked kube-prometheus-stack.
      assert.ok(
        run.stdout.includes(
          `${CHART_PINS.grafana.archive}: packaged from ${CHART_PINS.kubePrometheusStack.archive} (no digest of its own)\n`,
        ),
        run.stdout,
      );
      assert.deepEqual(readdirSync(cache).sort(), PINS.map((p) => p.archive).sort());
      for (const pin of ARCHIVED) assert.equal(sha256Of(path.join(cache, pin.archive)), pin.sha256);
    } finally {
      server.close();
    }
  });

  it("refuses a tampered archive that a chart repository serves", async () => {
    const dir = archiveFolder(true);
    const alert = CHART_PINS.victoriaMetricsAlert;
    appendFileSync(path.join(dir, alert.archive), "tampered");
    const { url, server } = await serveRepository(dir);
    try {
      const cache = scratch("cache");
      const run = await script("charts.ts", ["--repository", url], childEnv(cache));
      assert.equal(run.code, 1);
      assert.ok(
        run.stderr.includes(
          `  ${alert.archive} has sha256 ${sha256Of(path.join(dir, alert.archive))}, the pin says ${alert.sha256}: refused and deleted\n`,
        ),
        run.stderr,
      );
      assert.equal(existsSync(path.join(cache, alert.archive)), false);
      assert.deepEqual(
        readdirSync(cache).filter((f) => f.endsWith(".tmp")),
        [],
      );
    } finally {
      server.close();
    }
  });

  it("fails naming the chart, its version and npm run charts when the cache is empty and no folder is named", async () => {
    const cache = scratch("cache");
    const kps = CHART_PINS.kubePrometheusStack;
    assert.throws(
      () =>
        withEnv({ [CACHE_ENV]: cache, [ARCHIVES_ENV]: undefined, [LEGACY_ARCHIVES_ENV]: undefined }, () =>
          resolveChartArchive(kps.chart, kps.version),
        ),
      {
        name: "MissingChartError",
        message: `chart kube-prometheus-stack ${kps.version} (${kps.archive}) is not in the chart cache ${cache}/: ${HINT}; or set SONIC_CHART_ARCHIVES to a folder of them`,
      },
    );
    const render = await script("render.ts", ["--stack", "fleet"], childEnv(cache));
    assert.equal(render.code, 1);
    assert.match(
      render.stderr,
      /^chart (grafana|victoria-metrics-\w+) \S+ \(\S+\.tgz\) is not in the chart cache .*: run 'npm run charts' /,
    );
  });

  it("renders from the folder --charts-dir names when the cache is empty", async () => {
    const cache = scratch("cache");
    const out = scratch("render");
    const render = await script(
      "render.ts",
      ["--stack", "fleet", "--charts-dir", archiveFolder(), "--out", out],
      childEnv(cache),
    );
    assert.equal(render.code, 0, render.stderr);
    assert.ok(readdirSync(out).includes("fleet-grafana"), readdirSync(out).join(" "));
    // The fleet's Grafana was packaged into the cache from kube-prometheus-stack's copy.
    assert.deepEqual(readdirSync(cache), [CHART_PINS.grafana.archive]);
  });
});
