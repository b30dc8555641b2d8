import * as k8s from "@pulumi/kubernetes";
import * as kx from "@pulumi/kubernetesx";
import * as pulumi from "@pulumi/pulumi";
import { childOptions } from "./child-options";
import { requireInteger } from "./errors";

// This is the only file that uses @pulumi/kubernetesx: it is archived upstream and peer-pins
// @pulumi/kubernetes ^3 (package.json overrides it to 4.x), so keeping it here keeps it replaceable.

export interface GpuInferenceServiceArgs {
  /** Namespace of the service. @default "ai-inference" */
  namespace?: string;
  /** Create the namespace (with the `restricted` Pod Security level). @default true */
  createNamespace?: boolean;
  /** Name of the Deployment and Service, and the `app` label the ServiceMonitor selects. @default "sonic-generate-service" */
  appName?: string;
  /** Container image, pinned by tag or digest. */
  image: string;
  /** GPUs per pod, requested as the `gpuResourceName` extended resource. @default 1 */
  gpuCount?: number;
  /** Extended resource name of the GPU device plugin. @default "nvidia.com/gpu" */
  gpuResourceName?: string;
  /** Container port serving the API and `/metrics`; the port is always *named* `web`. @default 8080 */
  port?: number;
  /**
   * CPU and memory requests (needed by HPA `Utilization` targets) and the memory limit.
   * @default { requests: { cpu: "2", memory: "8Gi" }, limits: { memory: "16Gi" } }
   */
  resources?: { requests: { cpu: string; memory: string }; limits?: { memory?: string } };
  /** Node selector for GPU nodes. @default { "nvidia.com/gpu.present": "true" } (GPU feature discovery) */
  nodeSelector?: Record<string, string>;
  /** Tolerations for tainted GPU nodes. @default tolerate `nvidia.com/gpu` NoSchedule */
  tolerations?: k8s.types.input.core.v1.Toleration[];
  /**
   * True when an HPA owns the replica count: the Deployment then has no `spec.replicas`, or every
   * `pulumi up` would reset what the HPA chose.
   * @default false
   */
  autoscaled?: boolean;
  /** Fixed replica count, used only when `autoscaled` is false. @default 1 */
  replicas?: number;
  /** Extra environment variables of the container. @default {} */
  env?: Record<string, string>;
  /** Labels of the label convention (`team`, `service`, `env`) put on every object and pod. @default {} */
  labels?: Record<string, string>;
  /** PodDisruptionBudget: pods that may be voluntarily evicted at once. @default 1 */
  maxUnavailable?: number;
  /** Seconds a pod gets after SIGTERM to finish its in-flight jobs (they take minutes). @default 600 */
  terminationGracePeriodSeconds?: number;
  /** Seconds the model may take to load before the startup probe gives up. @default 600 */
  startupTimeoutSeconds?: number;
}

/** Name of the container port, the Service port and the ServiceMonitor endpoint: scraping is by name. */
export const WEB_PORT_NAME = "web";

/**
 * A GPU inference service: Deployment (GPU limits, probes, hardened security context), ClusterIP
 * Service with the port named `web`, and a PodDisruptionBudget, in its own namespace.
 */
export class GpuInferenceService extends pulumi.ComponentResource {
  public readonly namespace: pulumi.Output<string>;
  public readonly deploymentName: pulumi.Output<string>;
  public readonly serviceName: pulumi.Output<string>;
  /** Labels that select this service's pods (`app: <appName>`). */
  public readonly selectorLabels: Record<string, string>;
  public readonly deployment: k8s.apps.v1.Deployment;
  public readonly service: k8s.core.v1.Service;

  constructor(name: string, args: GpuInferenceServiceArgs, opts?: pulumi.ComponentResourceOptions) {
    super("sonic-observability:index:GpuInferenceService", name, {}, opts);
    const ns = args.namespace ?? "ai-inference";
    const appName = args.appName ?? "sonic-generate-service";
    const gpuCount = args.gpuCount ?? 1;
    const port = args.port ?? 8080;
    const grace = args.terminationGracePeriodSeconds ?? 600;
    const startup = args.startupTimeoutSeconds ?? 600;
    const resources = args.resources ?? { requests: { cpu: "2", memory: "8Gi" }, limits: { memory: "16Gi" } };
    requireInteger("gpuCount", gpuCount, 1);
    requireInteger("port", port, 1, 65535);
    requireInteger("terminationGracePeriodSeconds", grace, 1);
    requireInteger("startupTimeoutSeconds", startup, 10);
    if (!args.autoscaled) requireInteger("replicas", args.replicas ?? 1, 0);

    this.selectorLabels = { app: appName };
    const labels = { ...args.labels, ...this.selectorLabels };
    const dependsOn: pulumi.Resource[] = [];
    if (args.createNamespace ?? true) {
      dependsOn.push(
        new k8s.core.v1.Namespace(
          name,
          {
            metadata: {
              name: ns,
              labels: { ...args.labels, "pod-security.kubernetes.io/enforce": "restricted" },
            },
          },
          childOptions(this, opts),
        ),
      );
    }
    const childOpts = childOptions(this, opts, ...dependsOn);
    const gpuResource = args.gpuResourceName ?? "nvidia.com/gpu";

    const podSpec: kx.types.PodSpec = {
      terminationGracePeriodSeconds: grace,
      nodeSelector: args.nodeSelector ?? { "nvidia.com/gpu.present": "true" },
      tolerations: args.tolerations ?? [{ key: gpuResource, operator: "Exists", effect: "NoSchedule" }],
      securityContext: {
        runAsNonRoot: true,
        runAsUser: 10001,
        runAsGroup: 10001,
        fsGroup: 10001,
        seccompProfile: { type: "RuntimeDefault" },
      },
      containers: [
        {
          name: appName,
          image: args.image,
          ports: { [WEB_PORT_NAME]: port },
          env: { PORT: String(port), SONIC_GPU_COUNT: String(gpuCount), ...args.env },
          resources: {
            requests: { ...resources.requests },
            // Extended resources are set as limits (requests default to them) and are never overcommitted.
            limits: { ...resources.limits, [gpuResource]: String(gpuCount) },
          },
          startupProbe: {
            httpGet: { path: "/healthz", port: WEB_PORT_NAME },
            periodSeconds: 10,
            failureThreshold: Math.ceil(startup / 10),
          },
          livenessProbe: {
            httpGet: { path: "/healthz", port: WEB_PORT_NAME },
            periodSeconds: 15,
            timeoutSeconds: 5,
            failureThreshold: 4,
          },
          readinessProbe: {
            httpGet: { path: "/readyz", port: WEB_PORT_NAME },
            periodSeconds: 5,
            timeoutSeconds: 3,
            failureThreshold: 2,
          },
          securityContext: {
            allowPrivilegeEscalation: false,
            readOnlyRootFilesystem: true,
            capabilities: { drop: ["ALL"] },
          },
          // Uploads are spooled here: the root filesystem is read-only.
          volumeMounts: [{ volume: { name: "tmp", emptyDir: { sizeLimit: "2Gi" } }, destPath: "/tmp" }],
        },
      ],
    };

    // kx.PodBuilder.asDeploymentSpec always sets `replicas` and labels pods only with `app`, so the
    // spec is written here and kx only assembles the pod (port and env maps, volume mounts).
    this.deployment = new kx.Deployment(
      name,
      {
        metadata: { name: appName, namespace: ns, labels },
        spec: {
          ...(args.autoscaled ? {} : { replicas: args.replicas ?? 1 }),
          selector: { matchLabels: this.selectorLabels },
          // A GPU node rarely has a spare GPU: surge 0 replaces pods one at a time in place.
          strategy: { type: "RollingUpdate", rollingUpdate: { maxSurge: 0, maxUnavailable: 1 } },
          template: { metadata: { labels }, spec: podSpec },
        },
      },
      childOpts,
    );
    this.service = new kx.Service(
      name,
      {
        metadata: { name: appName, namespace: ns, labels },
        spec: {
          type: "ClusterIP",
          selector: this.selectorLabels,
          ports: [{ name: WEB_PORT_NAME, port, targetPort: WEB_PORT_NAME, protocol: "TCP" }],
        },
      },
      childOpts,
    );
    new k8s.policy.v1.PodDisruptionBudget(
      name,
      {
        metadata: { name: appName, namespace: ns, labels },
        spec: { maxUnavailable: args.maxUnavailable ?? 1, selector: { matchLabels: this.selectorLabels } },
      },
      childOpts,
    );

    this.namespace = pulumi.output(ns);
    this.deploymentName = this.deployment.metadata.name;
    this.serviceName = this.service.metadata.name;
    this.registerOutputs({
      namespace: this.namespace,
      deploymentName: this.deploymentName,
      serviceName: this.serviceName,
    });
  }
}
