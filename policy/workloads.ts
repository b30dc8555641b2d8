// The pods a stack runs, read from its objects: what the hardening rules (hardening.ts) judge. Both a
// `pulumi preview`'s resources and the charts' rendered objects (the tests) come in as `{ type, props }`.

/** One object as a stack policy sees it. */
export interface StackObject {
  type: string;
  props: Record<string, any>;
}

/** A container as the hardening rules read it. */
export interface WorkloadContainer {
  name?: string;
  resources?: { limits?: Record<string, unknown>; requests?: Record<string, unknown> };
  livenessProbe?: Record<string, any>;
  readinessProbe?: Record<string, any>;
  startupProbe?: Record<string, any>;
  args?: string[];
}

/** A workload: something that makes pods, with the pod it makes. */
export interface Workload {
  /** `Deployment`, `StatefulSet`, `DaemonSet`, `Job`, `CronJob`, `Prometheus`, `Alertmanager`... */
  kind: string;
  namespace: string;
  name: string;
  /** `Kind namespace/name`: how every message names the object. */
  id: string;
  /** The labels its pods carry. */
  podLabels: Record<string, string>;
  /** Its pod spec (for an operator's custom resource: the parts of the CR that become the pod's). */
  podSpec: Record<string, any>;
  /** Containers and init containers. */
  containers: WorkloadContainer[];
  /** The most pods it runs at once: `spec.replicas`, or the largest maximum of its autoscalers. */
  maxReplicas: number;
  /** One pod per node by construction (a DaemonSet), or run to completion (a Job): nothing to spread. */
  spreadsByItself: boolean;
  /**
   * Rendered from a Helm chart (its labels say `helm.sh/chart` or `managed-by: Helm`): the chart owns
   * the pod, the program only its values.
   */
  fromChart: boolean;
  /**
   * Made by an operator from a custom resource (Prometheus, Alertmanager): the operator writes the
   * probes, so a probe rule has nothing to read.
   */
  operatorManaged: boolean;
}

/** Workload kinds and where their pod template is. */
const POD_TEMPLATES: Record<string, (p: Record<string, any>) => any> = {
  "kubernetes:apps/v1:Deployment": (p) => p.spec?.template,
  "kubernetes:apps/v1:StatefulSet": (p) => p.spec?.template,
  "kubernetes:apps/v1:DaemonSet": (p) => p.spec?.template,
  "kubernetes:apps/v1:ReplicaSet": (p) => p.spec?.template,
  "kubernetes:batch/v1:Job": (p) => p.spec?.template,
  "kubernetes:batch/v1:CronJob": (p) => p.spec?.jobTemplate?.spec?.template,
  "kubernetes:core/v1:Pod": (p) => ({ metadata: p.metadata, spec: p.spec }),
};
const RUN_ONCE_OR_PER_NODE = new Set(["DaemonSet", "Job", "CronJob", "Pod"]);

/**
 * prometheus-operator's custom resources that become StatefulSets, with the labels the operator puts
 * on their pods (besides `spec.podMetadata.labels`): NetworkPolicies and anti-affinities select them.
 */
const OPERATOR_WORKLOADS: Record<
  string,
  { container: string; podLabels: (name: string) => Record<string, string> }
> = {
  "kubernetes:monitoring.coreos.com/v1:Prometheus": {
    container: "prometheus",
    podLabels: (name) => ({
      "app.kubernetes.io/name": "prometheus",
      "app.kubernetes.io/instance": name,
      "app.kubernetes.io/managed-by": "prometheus-operator",
      "operator.prometheus.io/name": name,
      "operator.prometheus.io/shard": "0",
      prometheus: name,
    }),
  },
  "kubernetes:monitoring.coreos.com/v1:Alertmanager": {
    container: "alertmanager",
    podLabels: (name) => ({
      "app.kubernetes.io/name": "alertmanager",
      "app.kubernetes.io/instance": name,
      "app.kubernetes.io/managed-by": "prometheus-operator",
      alertmanager: name,
    }),
  },
};

const HPA = "kubernetes:autoscaling/v2:HorizontalPodAutoscaler";
const SCALED_OBJECT = "kubernetes:keda.sh/v1alpha1:ScaledObject";

/** `Kind namespace/name` of an object. */
export function objectId(kind: string, namespace: unknown, name: unknown): string {
  return `${kind} ${String(namespace ?? "default")}/${String(name)}`;
}

/** The largest replica count any autoscaler may set, by the `Kind namespace/name` it targets. */
function autoscalerMaxima(objects: StackObject[]): Map<string, number> {
  const maxima = new Map<string, number>();
  for (const o of objects) {
    if (o.type !== HPA && o.type !== SCALED_OBJECT) continue;
    const target = o.props.spec?.scaleTargetRef;
    const max = o.type === HPA ? o.props.spec?.maxReplicas : (o.props.spec?.maxReplicaCount ?? 100);
    const id = objectId(target?.kind ?? "Deployment", o.props.metadata?.namespace, target?.name);
    maxima.set(id, Math.max(maxima.get(id) ?? 0, Number(max ?? 1)));
  }
  return maxima;
}

const isChartOutput = (labels: Record<string, string> | undefined) =>
  labels?.["helm.sh/chart"] !== undefined || labels?.["app.kubernetes.io/managed-by"] === "Helm";

/** Every workload among a stack's objects. */
export function workloadsOf(objects: StackObject[]): Workload[] {
  const maxima = autoscalerMaxima(objects);
  const workloads: Workload[] = [];
  for (const { type, props } of objects) {
    const kind = type.split(":").pop() ?? type;
    const namespace = String(props.metadata?.namespace ?? "default");
    const name = String(props.metadata?.name);
    const id = objectId(kind, namespace, name);
    const fromChart = isChartOutput(props.metadata?.labels);
    const template = POD_TEMPLATES[type]?.(props);
    if (template?.spec) {
      const spec = template.spec;
      const replicas = maxima.get(id) ?? props.spec?.replicas ?? 1;
      workloads.push({
        kind,
        namespace,
        name,
        id,
        podLabels: template.metadata?.labels ?? {},
        podSpec: spec,
        containers: [...(spec.initContainers ?? []), ...(spec.containers ?? [])],
        maxReplicas: Number(replicas),
        spreadsByItself: RUN_ONCE_OR_PER_NODE.has(kind),
        fromChart,
        operatorManaged: false,
      });
      continue;
    }
    const operated = OPERATOR_WORKLOADS[type];
    if (operated && props.spec) {
      const spec = props.spec;
      workloads.push({
        kind,
        namespace,
        name,
        id,
        podLabels: { ...operated.podLabels(name), ...(spec.podMetadata?.labels ?? {}) },
        podSpec: spec,
        containers: [{ name: operated.container, resources: spec.resources }],
        maxReplicas: Number(spec.replicas ?? 1) * Number(spec.shards ?? 1),
        spreadsByItself: false,
        fromChart,
        operatorManaged: true,
      });
    }
  }
  return workloads;
}
