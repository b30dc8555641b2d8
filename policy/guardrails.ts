import type { ReportViolation, ResourceValidationPolicy, StackValidationPolicy } from "@pulumi/policy";
import { WRITABLE_ROOT_EXEMPTIONS } from "./exceptions";
import { hardeningPolicies } from "./hardening";

// The organisation's rules for monitored GPU inference services, from the source article's practices
// and this project's: policies as data, so the pack (index.ts) and the unit tests share them.

const DEPLOYMENT = "kubernetes:apps/v1:Deployment";
const STATEFUL_SET = "kubernetes:apps/v1:StatefulSet";
const SERVICE_MONITOR = "kubernetes:monitoring.coreos.com/v1:ServiceMonitor";
const HELM_RELEASE = "kubernetes:helm.sh/v3:Release";
const HPA = "kubernetes:autoscaling/v2:HorizontalPodAutoscaler";
const SCALED_OBJECT = "kubernetes:keda.sh/v1alpha1:ScaledObject";
const NAMESPACE = "kubernetes:core/v1:Namespace";
/** Workload kinds and where their pod spec is. */
const POD_TEMPLATES: Record<string, (props: Record<string, any>) => any> = {
  "kubernetes:apps/v1:Deployment": (p) => p.spec?.template?.spec,
  "kubernetes:apps/v1:StatefulSet": (p) => p.spec?.template?.spec,
  "kubernetes:apps/v1:DaemonSet": (p) => p.spec?.template?.spec,
  "kubernetes:batch/v1:Job": (p) => p.spec?.template?.spec,
  "kubernetes:batch/v1:CronJob": (p) => p.spec?.jobTemplate?.spec?.template?.spec,
  "kubernetes:apps/v1:ReplicaSet": (p) => p.spec?.template?.spec,
  "kubernetes:core/v1:Pod": (p) => p.spec,
};
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
  name: "servicemonitor-never-scrapes-every-namespace",
  description:
    "A ServiceMonitor never sets namespaceSelector.any: another team's Service with the same labels would land in our data. Without a selector it scrapes its own namespace (the CRD's default).",
  enforcementLevel: "mandatory",
  validateResource: (args, report) => {
    if (args.type !== SERVICE_MONITOR) return;
    if (args.props.spec?.namespaceSelector?.any === true)
      report(`ServiceMonitor '${args.name}': namespaceSelector.any is true; list namespaces in matchNames`);
  },
};

export const prometheusAdminApiOff: ResourceValidationPolicy = {
  name: "prometheus-admin-api-off",
  description: "Prometheus runs with its admin API (delete series, snapshots) disabled.",
  enforcementLevel: "mandatory",
  validateResource: (args, report) => {
    // By name: from a mirror's OCI registry the chart is `oci://host/path/kube-prometheus-stack`.
    if (args.type === HELM_RELEASE && String(args.props.chart).split("/").pop() === "kube-prometheus-stack") {
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

// Re-exported: the exemptions live with every other exception the pack grants.
export { WRITABLE_ROOT_EXEMPTIONS };

export const nonRootReadOnly: ResourceValidationPolicy = {
  name: "workloads-run-non-root-read-only",
  description:
    "Workload containers run as non-root with a read-only root filesystem (exemptions, with reasons, in WRITABLE_ROOT_EXEMPTIONS).",
  enforcementLevel: "mandatory",
  validateResource: (args, report) => {
    const pod = podSpecOf(args.type, args.props);
    if (!pod) return;
    const workload = String(args.props.metadata?.name ?? args.name);
    for (const c of pod.containers) {
      const nonRoot = c.securityContext?.runAsNonRoot ?? pod.spec.securityContext?.runAsNonRoot;
      if (nonRoot !== true)
        report(`${args.name}/${c.name}: set securityContext.runAsNonRoot: true (pod or container)`);
      const exempt = WRITABLE_ROOT_EXEMPTIONS.some(
        (e) => e.workload.test(workload) && e.containers.includes(c.name ?? ""),
      );
      if (c.securityContext?.readOnlyRootFilesystem !== true && !exempt)
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

type StackResources = Parameters<NonNullable<StackValidationPolicy["validateStack"]>>[0]["resources"];
const workloadKey = (ns: unknown, name: unknown) => `${String(ns ?? "default")}/${String(name)}`;

/** Each Deployment (`namespace/name`) that an HPA or an unpaused KEDA ScaledObject scales, with those that do. */
function autoscalersByDeployment(resources: StackResources): Map<string, string[]> {
  const owners = new Map<string, string[]>();
  for (const r of resources) {
    if (r.type !== HPA && r.type !== SCALED_OBJECT) continue;
    // A paused ScaledObject creates no HPA and leaves replicas alone: it stands by (a migration).
    if (r.type === SCALED_OBJECT && r.props.metadata?.annotations?.["autoscaling.keda.sh/paused"] === "true")
      continue;
    const target = r.props.spec?.scaleTargetRef;
    if ((target?.kind ?? "Deployment") !== "Deployment") continue;
    const id = workloadKey(r.props.metadata?.namespace, target?.name);
    const kind = r.type === HPA ? "HorizontalPodAutoscaler" : "ScaledObject";
    owners.set(id, [...(owners.get(id) ?? []), `${kind} '${r.props.metadata?.name}'`]);
  }
  return owners;
}

export const hpaOwnsReplicas: StackValidationPolicy = {
  name: "hpa-owns-replicas",
  description:
    "A Deployment scaled by an HPA or a KEDA ScaledObject does not set spec.replicas, or every update resets what the autoscaler chose.",
  enforcementLevel: "mandatory",
  validateStack: (args, report: ReportViolation) => {
    const owners = autoscalersByDeployment(args.resources);
    for (const r of args.resources) {
      if (r.type !== DEPLOYMENT || r.props.spec?.replicas === undefined) continue;
      const id = workloadKey(r.props.metadata?.namespace, r.props.metadata?.name);
      const by = owners.get(id)?.[0];
      if (by)
        report(
          `Deployment '${id}' sets spec.replicas (${r.props.spec.replicas}) but ${by.startsWith("Scaled") ? "a ScaledObject" : "an HPA"} scales it; leave replicas out`,
        );
    }
  },
};

/**
 * One autoscaler per Deployment: KEDA creates an HPA for each ScaledObject and refuses to share its
 * target, and two HPAs on one Deployment fight over its replicas. Holds during a migration between
 * the two engines too.
 */
export const oneAutoscalerPerDeployment: StackValidationPolicy = {
  name: "one-autoscaler-per-deployment",
  description: "No two of HPA and KEDA ScaledObject target the same Deployment.",
  enforcementLevel: "mandatory",
  validateStack: (args, report: ReportViolation) => {
    for (const [id, list] of autoscalersByDeployment(args.resources))
      if (list.length > 1) report(`Deployment '${id}' is scaled by ${list.join(" and ")}; keep one`);
  },
};

/** Volume types the `restricted` Pod Security Standard allows. */
const RESTRICTED_VOLUMES = new Set([
  "configMap",
  "csi",
  "downwardAPI",
  "emptyDir",
  "ephemeral",
  "persistentVolumeClaim",
  "projected",
  "secret",
]);

/**
 * What the Pod Security admission controller would refuse in a pod spec at a level (baseline or
 * restricted; privileged admits anything), after the Pod Security Standards.
 */
export function podSecurityViolations(spec: any, level: string): string[] {
  if (level !== "baseline" && level !== "restricted") return [];
  const problems: string[] = [];
  const containers: any[] = [...(spec.containers ?? []), ...(spec.initContainers ?? [])];
  for (const host of ["hostNetwork", "hostPID", "hostIPC"]) if (spec[host]) problems.push(`${host}: true`);
  for (const v of spec.volumes ?? []) if (v.hostPath) problems.push(`hostPath volume '${v.name}'`);
  for (const c of containers) {
    const sc = c.securityContext ?? {};
    if (sc.privileged) problems.push(`${c.name}: privileged`);
    for (const p of c.ports ?? []) if (p.hostPort) problems.push(`${c.name}: hostPort ${p.hostPort}`);
  }
  if (level === "baseline") return problems;
  for (const v of spec.volumes ?? []) {
    const type = Object.keys(v).find((k) => k !== "name");
    if (type && !RESTRICTED_VOLUMES.has(type)) problems.push(`volume '${v.name}' of type ${type}`);
  }
  const podSc = spec.securityContext ?? {};
  for (const c of containers) {
    const sc = c.securityContext ?? {};
    if (sc.allowPrivilegeEscalation !== false)
      problems.push(`${c.name}: allowPrivilegeEscalation must be false`);
    if ((sc.runAsNonRoot ?? podSc.runAsNonRoot) !== true)
      problems.push(`${c.name}: runAsNonRoot must be true`);
    if ((sc.runAsUser ?? podSc.runAsUser) === 0) problems.push(`${c.name}: runAsUser 0`);
    const seccomp = (sc.seccompProfile ?? podSc.seccompProfile)?.type;
    if (seccomp !== "RuntimeDefault" && seccomp !== "Localhost")
      problems.push(`${c.name}: seccompProfile must be RuntimeDefault or Localhost`);
    if (!(sc.capabilities?.drop ?? []).includes("ALL"))
      problems.push(`${c.name}: capabilities must drop ALL`);
    for (const cap of sc.capabilities?.add ?? [])
      if (cap !== "NET_BIND_SERVICE") problems.push(`${c.name}: adds capability ${cap}`);
  }
  return problems;
}

export const podSecurityAdmitted: StackValidationPolicy = {
  name: "workloads-pass-their-namespace-pod-security",
  description:
    "Every workload would be admitted under the Pod Security level its namespace enforces (pod-security.kubernetes.io/enforce), and every namespace we create says which level it enforces.",
  enforcementLevel: "mandatory",
  validateStack: (args, report: ReportViolation) => {
    const levels = new Map<string, string | undefined>(
      args.resources
        .filter((r) => r.type === NAMESPACE)
        .map((r) => [
          r.props.metadata?.name,
          r.props.metadata?.labels?.["pod-security.kubernetes.io/enforce"],
        ]),
    );
    for (const [ns, level] of levels)
      if (!level)
        report(`Namespace '${ns}': label pod-security.kubernetes.io/enforce with the level it needs`);
    for (const r of args.resources) {
      const spec = POD_TEMPLATES[r.type]?.(r.props);
      const ns = r.props.metadata?.namespace;
      if (!spec) continue;
      if (!levels.has(ns)) {
        // Admission happens in every namespace: one the stack does not create has a level nobody chose.
        report(
          `${r.type.split(":").pop()} '${ns}/${r.props.metadata?.name}' runs in namespace '${ns}', which this stack does not create: its Pod Security level is unknown`,
        );
        continue;
      }
      const level = levels.get(ns) ?? "privileged";
      for (const problem of podSecurityViolations(spec, level))
        report(
          `${r.type.split(":").pop()} '${ns}/${r.props.metadata?.name}' breaks '${level}' in its namespace: ${problem}`,
        );
    }
  },
};

/** A Kubernetes quantity in base units (cores, bytes), or undefined where it is not one. */
export function quantity(value: unknown): number | undefined {
  const m = /^([+-]?[0-9.]+)(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?$/.exec(String(value ?? ""));
  if (!m) return undefined;
  const units: Record<string, number> = {
    "": 1,
    m: 1e-3,
    k: 1e3,
    M: 1e6,
    G: 1e9,
    T: 1e12,
    P: 1e15,
    E: 1e18,
    Ki: 2 ** 10,
    Mi: 2 ** 20,
    Gi: 2 ** 30,
    Ti: 2 ** 40,
    Pi: 2 ** 50,
    Ei: 2 ** 60,
  };
  return Number(m[1]) * units[m[2] ?? ""];
}

const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;
/** IANA_SVC_NAME: a container port's name. */
const PORT_NAME = /^(?=.*[a-z])(?!.*--)[a-z0-9]([a-z0-9-]{0,13}[a-z0-9])?$/;

/**
 * What the API server's validation of built-in kinds refuses and their OpenAPI schema cannot say: a
 * PodDisruptionBudget with both budgets, a request above its limit, a label value or port name that is not
 * one, two ports of a pod with one name. Each refusal would fail `pulumi up` (or Helm's install) on the
 * object; found offline, it names the object and the field.
 */
export function apiValidationProblems(type: string, props: Record<string, any>): string[] {
  const problems: string[] = [];
  const labels = (at: string, map: Record<string, unknown> | undefined) => {
    for (const [k, v] of Object.entries(map ?? {}))
      if (typeof v !== "string" || v.length > 63 || !LABEL_VALUE.test(v))
        problems.push(`${at}["${k}"] (${JSON.stringify(v)}) is not a label value`);
  };
  labels("metadata.labels", props.metadata?.labels);
  if (type === "kubernetes:policy/v1:PodDisruptionBudget") {
    const spec = props.spec ?? {};
    if (spec.minAvailable !== undefined && spec.maxUnavailable !== undefined)
      problems.push(
        `sets both spec.minAvailable (${spec.minAvailable}) and spec.maxUnavailable (${spec.maxUnavailable}); keep one`,
      );
  }
  const template = POD_TEMPLATES[type];
  if (!template) return problems;
  const templateLabels =
    type === "kubernetes:core/v1:Pod"
      ? undefined
      : (props.spec?.jobTemplate?.spec ?? props.spec)?.template?.metadata?.labels;
  labels("the pod template's labels", templateLabels);
  const spec = template(props);
  const ports = new Set<string>();
  for (const c of [...(spec?.containers ?? []), ...(spec?.initContainers ?? [])]) {
    for (const [resource, limit] of Object.entries(c.resources?.limits ?? {})) {
      const request = c.resources?.requests?.[resource];
      const [r, l] = [quantity(request), quantity(limit)];
      if (r !== undefined && l !== undefined && r > l)
        problems.push(
          `container '${c.name}': requests.${resource} (${request}) is above limits.${resource} (${limit})`,
        );
    }
    for (const p of c.ports ?? []) {
      if (p.name === undefined) continue;
      if (!PORT_NAME.test(String(p.name)))
        problems.push(
          `container '${c.name}': port name '${p.name}' is not an IANA service name (at most 15 of a-z, 0-9, '-', a letter among them)`,
        );
      if (ports.has(p.name))
        problems.push(`container '${c.name}': port name '${p.name}' is used twice in the pod`);
      ports.add(p.name);
    }
  }
  return problems;
}

export const apiServerValidation: ResourceValidationPolicy = {
  name: "api-server-validation",
  description:
    "Objects the API server would refuse on validation its schema cannot express: a PodDisruptionBudget with both budgets, a request above its limit, a label value or port name that is not one.",
  enforcementLevel: "mandatory",
  validateResource: (args, report: ReportViolation) => {
    for (const problem of apiValidationProblems(args.type, args.props))
      report(`${args.type.split(":").pop()} '${args.props.metadata?.name ?? args.name}': ${problem}`);
  },
};

export const resourcePolicies: ResourceValidationPolicy[] = [
  serviceMonitorNamespaces,
  prometheusAdminApiOff,
  gpuContainersBounded,
  nonRootReadOnly,
  noPlaintextSecretsInHelmValues,
  apiServerValidation,
];
export const stackPolicies: StackValidationPolicy[] = [
  hpaOwnsReplicas,
  podSecurityAdmitted,
  oneAutoscalerPerDeployment,
  ...hardeningPolicies,
];
