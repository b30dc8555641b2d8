import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { parseAllDocuments } from "yaml";
import { REPO_ROOT } from "./stack-file";

/** The Kubernetes version charts are rendered for, as a real cluster would report it. */
export const KUBE_VERSION = "v1.32.0";

/**
 * API versions a real 1.32 cluster with the Prometheus Operator CRDs reports. Without them charts take
 * fallbacks no cluster needs (prometheus-adapter's APIService falls back to
 * `apiregistration.k8s.io/v1beta1`, removed in 1.22).
 */
export const API_VERSIONS = [
  "apiregistration.k8s.io/v1",
  "admissionregistration.k8s.io/v1",
  "policy/v1",
  "autoscaling/v2",
  "networking.k8s.io/v1",
  "monitoring.coreos.com/v1",
  "monitoring.coreos.com/v1alpha1",
];

export const HELM_INSTALL_HINT =
  "no helm binary: run 'npm run setup' (it unpacks Helm 4 into .tools/bin), install it from https://helm.sh/docs/intro/install/, or set SONIC_HELM to its path";

/**
 * The helm binary: SONIC_HELM when set (and only it: a wrong path is reported, not papered over),
 * else `helm` on PATH, else the one `npm run setup` unpacked into .tools/bin.
 */
export function findHelm(): string | undefined {
  if (process.env.SONIC_HELM) return existsSync(process.env.SONIC_HELM) ? process.env.SONIC_HELM : undefined;
  const onPath = spawnSync("sh", ["-c", "command -v helm"], { encoding: "utf8" }).stdout.trim();
  if (onPath) return onPath;
  const local = path.join(REPO_ROOT, ".tools", "bin", "helm");
  return existsSync(local) ? local : undefined;
}

/**
 * Folders that may hold the pinned chart archives (`<chart>-<version>.tgz`), first match wins:
 * `SONIC_CHARTS_DIR`, else the fleet charts committed in `charts/`, else `../shared/charts` beside the
 * checkout. Nothing machine-specific.
 */
export function chartDirs(): string[] {
  return [
    process.env.SONIC_CHARTS_DIR,
    // The fleet stack's charts, committed (charts/README.md).
    path.join(REPO_ROOT, "charts"),
    path.join(REPO_ROOT, "..", "shared", "charts"),
  ].filter((d): d is string => d !== undefined);
}

/** A Helm release as the program registers it (`helm.v3.Release` inputs). */
export interface ReleaseInputs {
  name: string;
  namespace: string;
  chart: string;
  version: string;
  repositoryOpts?: { repo?: string };
  values: Record<string, unknown>;
}

/** The chart's name: `chart` itself, or the last segment of an OCI reference (`oci://host/path/<name>`). */
export function chartName(chart: string): string {
  return chart.startsWith("oci://") ? chart.replace(/\/+$/, "").split("/").pop()! : chart;
}

/**
 * The archive of a chart at a version: from a local chart folder, else pulled from its repository or
 * OCI registry (a mirror's, when the stack sets `charts`) into `.tools/charts` (needs network).
 * Undefined when neither works.
 */
export function chartArchive(helm: string, release: ReleaseInputs): string | undefined {
  const name = chartName(release.chart);
  const file = `${name}-${release.version}.tgz`;
  const local = chartDirs()
    .map((d) => path.join(d, file))
    .find((f) => existsSync(f));
  if (local) return local;
  const cache = path.join(REPO_ROOT, ".tools", "charts");
  mkdirSync(cache, { recursive: true });
  const packaged = fromParentArchive(helm, release, cache);
  if (packaged) return packaged;
  const oci = release.chart.startsWith("oci://");
  if (!oci && !release.repositoryOpts?.repo) return undefined;
  const from = oci ? [release.chart] : [release.chart, "--repo", release.repositoryOpts!.repo!];
  const pulled = spawnSync(helm, ["pull", ...from, "--version", release.version, "-d", cache], {
    encoding: "utf8",
  });
  return pulled.status === 0 && existsSync(path.join(cache, file)) ? path.join(cache, file) : undefined;
}

/** Charts that ship, at the pinned version, inside another pinned archive: chart -> [version, parent archive]. */
export const SUBCHARTS: Record<string, [string, string]> = {
  // The fleet's Grafana is the very grafana chart kube-prometheus-stack 88.5.3 depends on.
  grafana: ["12.11.1", "kube-prometheus-stack-88.5.3.tgz"],
};

/** A chart packaged from its copy inside a parent archive (offline), into `cache`. */
function fromParentArchive(helm: string, release: ReleaseInputs, cache: string): string | undefined {
  const name = chartName(release.chart);
  return SUBCHARTS[name]?.[0] === release.version ? packageSubchart(helm, name, cache) : undefined;
}

/**
 * `<name>-<version>.tgz` packaged into `into` from the copy of a {@link SUBCHARTS} chart inside its pinned
 * parent archive, so no second copy of the same chart is committed. Undefined when the parent is absent.
 */
export function packageSubchart(helm: string, name: string, into: string): string | undefined {
  const [version, parentArchive] = SUBCHARTS[name];
  const parent = chartDirs()
    .map((d) => path.join(d, parentArchive))
    .find((f) => existsSync(f));
  if (!parent) return undefined;
  const dir = mkdtempSync(path.join(tmpdir(), "sonic-subchart-"));
  const parentName = parentArchive.replace(/-\d+\.\d+\.\d+\.tgz$/, "");
  execFileSync("tar", ["-xzf", parent, "-C", dir, `${parentName}/charts/${name}`]);
  execFileSync(helm, ["package", path.join(dir, parentName, "charts", name), "-d", into], {
    encoding: "utf8",
  });
  const file = path.join(into, `${name}-${version}.tgz`);
  return existsSync(file) ? file : undefined;
}

/**
 * `helm template` of a release with exactly the values the program passes, the CRDs included, for
 * the cluster version and API versions above. Returns the rendered objects.
 */
export function helmTemplate(helm: string, archive: string, release: ReleaseInputs): Record<string, any>[] {
  const dir = mkdtempSync(path.join(tmpdir(), "sonic-helm-"));
  const valuesFile = path.join(dir, "values.json");
  writeFileSync(valuesFile, JSON.stringify(release.values ?? {}));
  const out = execFileSync(
    helm,
    [
      "template",
      release.name,
      archive,
      "--namespace",
      release.namespace,
      "--values",
      valuesFile,
      "--include-crds",
      "--kube-version",
      KUBE_VERSION,
      ...API_VERSIONS.flatMap((v) => ["--api-versions", v]),
    ],
    { encoding: "utf8", maxBuffer: 256 * 1024 * 1024 },
  );
  return parseAllDocuments(out)
    .map((d) => d.toJS() as Record<string, any> | null)
    .filter((o): o is Record<string, any> => o !== null && typeof o === "object" && "kind" in o);
}
