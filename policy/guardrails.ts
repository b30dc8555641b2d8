import type { ReportViolation, ResourceValidationPolicy, StackValidationPolicy } from "@pulumi/policy";

// The organisation's rules for monitored GPU inference services, from the source article's practices
// and this project's: policies as data, so the pack (index.ts) and the unit tests share them.

const DEPLOYMENT = "kubernetes:apps/v1:Deployment";
const STATEFUL_SET = "kubernetes:apps/v1:StatefulSet";
const SERVICE_MONITOR = "kubernetes:monitoring.coreos.com/v1:ServiceMonitor";
const HELM_RELEASE = "kubernetes:helm.sh/v3:Release";
const HPA = "kubernetes:autoscaling/v2:HorizontalPodAutoscaler";
const GPU_RESOURCE = /^nvidia\.com\/gpu$|^amd\.com\/gpu$/;

interface Container {
  name?: string;
  resources?: { limits?: Record<string, unknown>; requests?: Record<string, unknown> };
  securityContext?: { runAsNonRoot?: boolean; readOnlyRootFilesystem?: boolean };
}

function podSpecOf(
  type: string,
  props: Record<string, any>,
): { spec: any; containers: Container[] } | undefined {
  if (type !== DEPLOYMENT && type !== STATEFUL_SET) return undefined;
  const spec = props.spec?.template?.spec;
  return spec
    ? { spec, containers: [...(spec.containers ?? []), ...(spec.initContainers ?? [])] }
    : undefined;
}

export const serviceMonitorNamespaces: ResourceValidationPolicy = {
  name: "servicemonitor-names-its-namespaces",
  description:
    "A ServiceMonitor names the namespaces it scrapes; 'any: true' or no selector scrapes every namespace.",
  enforcementLevel: "mandatory",
  validateResource: (args, report) => {
    if (args.type !== SERVICE_MONITOR) return;
    const selector = args.props.spec?.namespaceSelector;
    if (selector?.any === true)
      report(`ServiceMonitor '${args.name}': namespaceSelector.any is true; list namespaces in matchNames`);
    else if (!Array.isArray(selector?.matchNames) || selector.matchNames.length === 0) {
      report(
        `ServiceMonitor '${args.name}': namespaceSelector.matchNames is empty; name the namespaces to scrape`,
      );
    }
  },
};

export const prometheusAdminApiOff: ResourceValidationPolicy = {
  name: "prometheus-admin-api-off",
  description: "Prometheus runs with its admin API (delete series, snapshots) disabled.",
  enforcementLevel: "mandatory",
  validateResource: (args, report) => {
    if (args.type === HELM_RELEASE && args.props.chart === "kube-prometheus-stack") {
      if (args.props.values?.prometheus?.prometheusSpec?.enableAdminAPI !== false) {
        report(`Helm release '${args.name}': set values.prometheus.prometheusSpec.enableAdminAPI to false`);
      }
    }
    if (
      args.type === "kubernetes:monitoring.coreos.com/v1:Prometheus" &&
      args.props.spec?.enableAdminAPI === true
    ) {
      report(`Prometheus '${args.name}': spec.enableAdminAPI must be false`);
    }
  },
};

export const gpuContainersBounded: ResourceValidationPolicy = {
  name: "gpu-containers-set-limits-and-requests",
  description:
    "A container that uses a GPU requests it as a limit and sets CPU and memory requests (scheduling, HPA Utilization).",
  enforcementLevel: "mandatory",
  validateResource: (args, report) => {
    const pod = podSpecOf(args.type, args.props);
    if (!pod) return;
    for (const c of pod.containers) {
      const limits = Object.keys(c.resources?.limits ?? {});
      const requests = Object.keys(c.resources?.requests ?? {});
      const gpuRequested = requests.some((k) => GPU_RESOURCE.test(k));
      const gpuLimited = limits.some((k) => GPU_RESOURCE.test(k));
      if (gpuRequested && !gpuLimited)
        report(
          `${args.name}/${c.name}: a GPU is requested but not limited; extended resources are set as limits`,
        );
      if ((gpuRequested || gpuLimited) && !(requests.includes("cpu") && requests.includes("memory"))) {
        report(`${args.name}/${c.name}: a GPU container must set cpu and memory requests`);
      }
    }
  },
};

export const nonRootReadOnly: ResourceValidationPolicy = {
  name: "workloads-run-non-root-read-only",
  description: "Workload containers run as non-root with a read-only root filesystem.",
  enforcementLevel: "mandatory",
  validateResource: (args, report) => {
    const pod = podSpecOf(args.type, args.props);
    if (!pod) return;
    for (const c of pod.containers) {
      const nonRoot = c.securityContext?.runAsNonRoot ?? pod.spec.securityContext?.runAsNonRoot;
      if (nonRoot !== true)
        report(`${args.name}/${c.name}: set securityContext.runAsNonRoot: true (pod or container)`);
      if (c.securityContext?.readOnlyRootFilesystem !== true)
        report(`${args.name}/${c.name}: set securityContext.readOnlyRootFilesystem: true`);
    }
  },
};

/** Keys whose plain string value is a credential. References (`existingSecret`, `passwordKey`) do not match. */
const SECRET_KEY =
  /^(.*password|.*token|api_?key|api_url|routing_key|service_key|webhook_?url|client_secret|secret_key|bearer)$/i;
const SECRET_VALUE = /hooks\.slack\.com\/services\/|-----BEGIN [A-Z ]*PRIVATE KEY-----|\bAKIA[0-9A-Z]{16}\b/;
const MASKED = "[secret]";

function plaintextSecrets(value: unknown, at: string, found: string[]): void {
  if (typeof value === "string") {
    const key = at.split(".").pop() ?? "";
    if (value !== "" && value !== MASKED && (SECRET_KEY.test(key) || SECRET_VALUE.test(value)))
      found.push(at);
  } else if (Array.isArray(value)) value.forEach((v, i) => plaintextSecrets(v, `${at}[${i}]`, found));
  else if (value !== null && typeof value === "object") {
    for (const [k, v] of Object.entries(value)) plaintextSecrets(v, at ? `${at}.${k}` : k, found);
  }
}

export const noPlaintextSecretsInHelmValues: ResourceValidationPolicy = {
  name: "no-plaintext-secrets-in-helm-values",
  description:
    "Helm values hold no credentials in plain text: reference a Secret (existingSecret, configSecret) instead.",
  enforcementLevel: "mandatory",
  validateResource: (args, report) => {
    if (args.type !== HELM_RELEASE) return;
    const found: string[] = [];
    plaintextSecrets(args.props.values ?? {}, "values", found);
    for (const at of found)
      report(
        `Helm release '${args.name}': ${at} looks like a plaintext credential; reference a Secret instead`,
      );
  },
};

export const hpaOwnsReplicas: StackValidationPolicy = {
  name: "hpa-owns-replicas",
  description:
    "A Deployment scaled by an HPA does not set spec.replicas, or every update resets what the HPA chose.",
  enforcementLevel: "mandatory",
  validateStack: (args, report: ReportViolation) => {
    const key = (ns: unknown, name: unknown) => `${String(ns ?? "default")}/${String(name)}`;
    const scaled = new Set(
      args.resources
        .filter((r) => r.type === HPA && r.props.spec?.scaleTargetRef?.kind === "Deployment")
        .map((r) => key(r.props.metadata?.namespace, r.props.spec.scaleTargetRef.name)),
    );
    for (const r of args.resources) {
      if (r.type !== DEPLOYMENT) continue;
      const id = key(r.props.metadata?.namespace, r.props.metadata?.name);
      if (scaled.has(id) && r.props.spec?.replicas !== undefined) {
        report(
          `Deployment '${id}' sets spec.replicas (${r.props.spec.replicas}) but an HPA scales it; leave replicas out`,
        );
      }
    }
  },
};

export const resourcePolicies: ResourceValidationPolicy[] = [
  serviceMonitorNamespaces,
  prometheusAdminApiOff,
  gpuContainersBounded,
  nonRootReadOnly,
  noPlaintextSecretsInHelmValues,
];
export const stackPolicies: StackValidationPolicy[] = [hpaOwnsReplicas];
