import * as k8s from "@pulumi/kubernetes";
import * as kx from "@pulumi/kubernetesx";
import * as pulumi from "@pulumi/pulumi";
import { apiEnv, modelServerEnv, simulatedModelServerEnv, workerEnv } from "../contract";
import { HARDENED_CONTAINER, hardenedPod } from "./pod-hardening";
import { restrictedNamespace } from "./restricted-namespace";
import { childOptions } from "./child-options";
import { InputPropertyError, quote, requireInteger } from "./errors";

// This is the only file that uses @pulumi/kubernetesx: it is archived upstream and peer-pins
// @pulumi/kubernetes ^3 (package.json overrides it to 4.x), so keeping it here keeps it replaceable.

/** CPU and memory of one container: requests (HPA Utilization targets need them) and limits. */
export interface ContainerResources {
  requests: { cpu: string; memory: string };
  limits?: { cpu?: string; memory?: string };
}

/**
 * The `model-server` container: the GPU model behind the API, on the pod's localhost. A real Sonic
 * worker image implements the model-server protocol (README); `simulated` runs the project's own
 * SIMULATED model server from the API image instead, with no GPU, for clusters without GPUs.
 */
export interface ModelServerSettings {
  /** Image of the real model server. Required unless `simulated`; there is no default. */
  image?: string;
  /** Run the simulated model server (same image as the API, another entrypoint, no GPU). @default false */
  simulated?: boolean;
  /** Port it serves on inside the pod (`POST /v1/generate`, `GET /healthz`). @default 9000 */
  port?: number;
  /** GPUs, requested as the `gpuResourceName` limit (none when simulated). @default 1 */
  gpuCount?: number;
  /** @default { requests: { cpu: "4", memory: "16Gi" }, limits: { memory: "24Gi" } } */
  resources?: ContainerResources;
  /** Seconds the model may take to load before the startup probe gives up. @default 900 */
  startupTimeoutSeconds?: number;
  /** Extra environment of the model server. @default {} */
  env?: Record<string, string>;
}

export interface GpuInferenceServiceArgs {
  /** Namespace of the service. @default "ai-inference" */
  namespace?: string;
  /** Create the namespace (with the `restricted` Pod Security level). @default true */
  createNamespace?: boolean;
  /** Name of the Deployment and Service, and the `app` label the ServiceMonitor selects. @default "sonic-generate-service" */
  appName?: string;
  /** Image of the `api` container (this project's image), pinned by tag or digest. */
  image: string;
  /** The `model-server` container. */
  modelServer: ModelServerSettings;
  /**
   * GPUs per pod. @deprecated the GPU belongs to the model server: use `modelServer.gpuCount` (this
   * alias is read when that is unset).
   */
  gpuCount?: number;
  /** Jobs one GPU runs at once; the pod's slots are GPUs x this. @default 1 */
  concurrencyPerGpu?: number;
  /** Extended resource name of the GPU device plugin. @default "nvidia.com/gpu" */
  gpuResourceName?: string;
  /** Port of the API and `/metrics`; the port is always *named* `web`. @default 8080 */
  port?: number;
  /**
   * CPU and memory of the `api` container (HTTP, validation, queue client: no GPU).
   * @default { requests: { cpu: "500m", memory: "1Gi" }, limits: { memory: "2Gi" } }
   */
  resources?: ContainerResources;
  /**
   * Node selector. The `nvidia.com/gpu` limit already keeps pods off nodes without GPUs; a selector such
   * as `nvidia.com/gpu.present: "true"` needs GPU feature discovery and leaves pods Pending without it.
   * @default {}
   */
  nodeSelector?: Record<string, string>;
  /** Tolerations. @default tolerate `nvidia.com/gpu` Exists NoSchedule; none when simulated */
  tolerations?: k8s.types.input.core.v1.Toleration[];
  /**
   * True when an HPA owns the replica count: the Deployment then has no `spec.replicas`, or every
   * `pulumi up` would reset what the HPA chose.
   * @default false
   */
  autoscaled?: boolean;
  /** Fixed replica count, used only when `autoscaled` is false. @default 1 */
  replicas?: number;
  /**
   * The API's settings a deployment decides (backlog, upload size, job history, version): written as
   * the `api` container's environment from the same table the app parses (contract/api-settings.ts).
   * @default {} (the app's defaults)
   */
  settings?: { backlogLimit?: number; maxUploadBytes?: number; jobHistory?: number; version?: string };
  /** Extra environment of the `api` container; values may be Secret references. @default {} */
  env?: Record<string, pulumi.Input<string | k8s.types.input.core.v1.EnvVarSource>>;
  /** Labels of the label convention (`team`, `service`, `env`) put on every object and pod. @default {} */
  labels?: Record<string, string>;
  /** PodDisruptionBudget: pods that may be voluntarily evicted at once. @default 1 */
  maxUnavailable?: number;
  /** Seconds a pod gets after SIGTERM to finish its running jobs (they take minutes). @default 600 */
  terminationGracePeriodSeconds?: number;
  /**
   * How long Pulumi waits for a rollout: with `maxSurge: 0`, each GPU pod is drained (the grace) and a
   * new one loads its model (the startup timeout) before the next. Pulumi's 10 minutes is too short.
   * @default "60m"
   */
  rolloutTimeout?: string;
}

/** Name of the container port, the Service port and the ServiceMonitor endpoint: scraping is by name. */
export const WEB_PORT_NAME = "web";

/** Writable home of the model-server container (an emptyDir): caches land in `~/.cache`. */
const MODEL_HOME = "/home/model";

/**
 * A GPU inference service: a Deployment whose pods run the `api` container (HTTP API, job runner on
 * the shared queue, metrics) and the `model-server` container (the GPU model, on localhost), a
 * ClusterIP Service with the API's port named `web`, and a PodDisruptionBudget, in its own namespace.
 */
export class GpuInferenceService extends pulumi.ComponentResource {
  public readonly namespace: pulumi.Output<string>;
  public readonly deploymentName: pulumi.Output<string>;
  public readonly serviceName: pulumi.Output<string>;
  /** Labels that select this service's pods (`app: <appName>`). */
  public readonly selectorLabels: Record<string, string>;
  /** Jobs one pod runs at once: GPUs x concurrency per GPU. */
  public readonly slotsPerPod: number;
  public readonly deployment: k8s.apps.v1.Deployment;
  public readonly service: k8s.core.v1.Service;
  /** The namespace, when this component creates it: what objects in it must wait for. */
  public readonly namespaceResource?: k8s.core.v1.Namespace;

  constructor(name: string, args: GpuInferenceServiceArgs, opts?: pulumi.ComponentResourceOptions) {
    super("sonic-observability:index:GpuInferenceService", name, {}, opts);
    const ns = args.namespace ?? "ai-inference";
    const appName = args.appName ?? "sonic-generate-service";
    const model = args.modelServer;
    const simulated = model.simulated ?? false;
    const gpuCount = model.gpuCount ?? args.gpuCount ?? 1;
    const concurrency = args.concurrencyPerGpu ?? 1;
    const port = args.port ?? 8080;
    const modelPort = model.port ?? 9000;
    const grace = args.terminationGracePeriodSeconds ?? 600;
    const startup = model.startupTimeoutSeconds ?? 900;
    const resources = args.resources ?? {
      requests: { cpu: "500m", memory: "1Gi" },
      limits: { memory: "2Gi" },
    };
    const modelResources = model.resources ?? {
      requests: { cpu: "4", memory: "16Gi" },
      limits: { memory: "24Gi" },
    };
    requireInteger("modelServer.gpuCount", gpuCount, 1);
    requireInteger("concurrencyPerGpu", concurrency, 1);
    requireInteger("port", port, 1, 65535);
    requireInteger("modelServer.port", modelPort, 1, 65535);
    requireInteger("terminationGracePeriodSeconds", grace, 1);
    requireInteger("modelServer.startupTimeoutSeconds", startup, 10);
    if (!args.autoscaled) requireInteger("replicas", args.replicas ?? 1, 0);
    if (modelPort === port) {
      throw new InputPropertyError("modelServer.port", `(${modelPort}) must differ from 'port' (${port})`);
    }
    if (!simulated && !model.image) {
      throw new InputPropertyError(
        "modelServer.image",
        "is required: name the Sonic model-server image, or set 'modelServer.simulated: true' to run the simulated one (no GPU)",
      );
    }
    if (simulated && model.image) {
      throw new InputPropertyError(
        "modelServer.image",
        `must be unset when 'modelServer.simulated' is true (the simulation runs from the API image), got ${quote(model.image)}`,
      );
    }
    this.slotsPerPod = gpuCount * concurrency;

    this.selectorLabels = { app: appName };
    const labels = { ...args.labels, ...this.selectorLabels };
    const dependsOn: pulumi.Resource[] = [];
    if (args.createNamespace ?? true) {
      this.namespaceResource = restrictedNamespace(name, ns, args.labels, childOptions(this, opts));
      dependsOn.push(this.namespaceResource);
    }
    const childOpts = childOptions(this, opts, ...dependsOn);
    const gpuResource = args.gpuResourceName ?? "nvidia.com/gpu";

    const modelServer: kx.types.Container = {
      name: "model-server",
      image: simulated ? args.image : model.image!,
      ...(simulated ? { command: ["node", "app/simulated-model-server-main.js"] } : {}),
      env: {
        ...(simulated
          ? simulatedModelServerEnv({ port: modelPort, gpuCount, slots: this.slotsPerPod })
          : modelServerEnv(modelPort)),
        HOME: MODEL_HOME,
        XDG_CACHE_HOME: `${MODEL_HOME}/.cache`,
        ...model.env,
      },
      resources: {
        // The emptyDirs below count against the node's ephemeral storage: request what they may hold.
        requests: { ...modelResources.requests, "ephemeral-storage": "20Gi" },
        // Extended resources are set as limits (requests default to them) and are never overcommitted.
        limits: { ...modelResources.limits, ...(simulated ? {} : { [gpuResource]: String(gpuCount) }) },
      },
      // A model loads for minutes: the startup probe allows that once; readiness then gates traffic and
      // liveness only checks the process still answers on its port.
      startupProbe: {
        httpGet: { path: "/healthz", port: modelPort },
        periodSeconds: 10,
        failureThreshold: Math.ceil(startup / 10),
      },
      readinessProbe: {
        httpGet: { path: "/healthz", port: modelPort },
        periodSeconds: 10,
        timeoutSeconds: 5,
      },
      livenessProbe: {
        tcpSocket: { port: modelPort },
        periodSeconds: 20,
        timeoutSeconds: 5,
        failureThreshold: 3,
      },
      securityContext: HARDENED_CONTAINER,
      // A real PyTorch image writes ~/.cache (hub downloads, compiled kernels): a writable HOME under
      // the read-only root.
      volumeMounts: [
        { volume: { name: "model-tmp", emptyDir: { sizeLimit: "10Gi" } }, destPath: "/tmp" },
        { volume: { name: "model-home", emptyDir: { sizeLimit: "10Gi" } }, destPath: MODEL_HOME },
      ],
    };
    const api: kx.types.Container = {
      name: "api",
      image: args.image,
      ports: { [WEB_PORT_NAME]: port },
      env: {
        // Until the component splits the tiers (issue 18): both programs' settings, as before.
        ...apiEnv({ ...args.settings, port, terminationGracePeriodSeconds: grace }),
        ...workerEnv({
          ...args.settings,
          port,
          modelServerPort: modelPort,
          gpuCount,
          concurrencyPerGpu: concurrency,
          terminationGracePeriodSeconds: grace,
        }),
        ...args.env,
      },
      resources: {
        requests: { ...resources.requests, "ephemeral-storage": "2Gi" },
        limits: { ...resources.limits },
      },
      startupProbe: {
        httpGet: { path: "/healthz", port: WEB_PORT_NAME },
        periodSeconds: 2,
        failureThreshold: 30,
      },
      livenessProbe: {
        httpGet: { path: "/healthz", port: WEB_PORT_NAME },
        periodSeconds: 15,
        timeoutSeconds: 5,
        failureThreshold: 4,
      },
      // Ready = can accept and store jobs (the queue is reachable, not draining). A full backlog is a
      // 429, never unreadiness.
      readinessProbe: {
        httpGet: { path: "/readyz", port: WEB_PORT_NAME },
        periodSeconds: 5,
        timeoutSeconds: 3,
        failureThreshold: 2,
      },
      securityContext: HARDENED_CONTAINER,
      // Uploads are spooled here: the root filesystem is read-only.
      volumeMounts: [{ volume: { name: "tmp", emptyDir: { sizeLimit: "2Gi" } }, destPath: "/tmp" }],
    };

    const podSpec: kx.types.PodSpec = {
      terminationGracePeriodSeconds: grace,
      nodeSelector: args.nodeSelector ?? {},
      // The API and the model need no Kubernetes API: no token in the pod.
      automountServiceAccountToken: false,
      // One node's loss takes one pod, not the service: spread across nodes when the scheduler can.
      topologySpreadConstraints: [
        {
          maxSkew: 1,
          topologyKey: "kubernetes.io/hostname",
          whenUnsatisfiable: "ScheduleAnyway",
          labelSelector: { matchLabels: this.selectorLabels },
        },
      ],
      tolerations:
        args.tolerations ??
        (simulated ? [] : [{ key: gpuResource, operator: "Exists", effect: "NoSchedule" }]),
      securityContext: hardenedPod(10001),
      containers: [api, modelServer],
    };

    // kx.PodBuilder.asDeploymentSpec always sets `replicas` and labels pods only with `app`, so the
    // spec is written here and kx only assembles the pod (port and env maps, volume mounts).
    const rolloutTimeout = args.rolloutTimeout ?? "60m";
    this.deployment = new kx.Deployment(
      name,
      {
        metadata: { name: appName, namespace: ns, labels },
        spec: {
          ...(args.autoscaled ? {} : { replicas: args.replicas ?? 1 }),
          selector: { matchLabels: this.selectorLabels },
          // A GPU node rarely has a spare GPU: surge 0 replaces pods one at a time in place.
          strategy: { type: "RollingUpdate", rollingUpdate: { maxSurge: 0, maxUnavailable: 1 } },
          template: {
            metadata: {
              labels,
              ...(simulated ? { annotations: { "sonic-observability/model-server": "simulated" } } : {}),
            },
            spec: podSpec,
          },
        },
      },
      { ...childOpts, customTimeouts: { create: rolloutTimeout, update: rolloutTimeout } },
    );
    this.service = new kx.Service(
      name,
      {
        metadata: {
          name: appName,
          namespace: ns,
          labels,
          // Pulumi would otherwise wait for Ready endpoints, i.e. for GPU pods to load their model; the
          // Deployment's own await (with its long timeout) already says whether the rollout worked.
          annotations: { "pulumi.com/skipAwait": "true" },
        },
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
        spec: {
          maxUnavailable: args.maxUnavailable ?? 1,
          selector: { matchLabels: this.selectorLabels },
          // An unready pod (a model that will not load) must never block a node drain.
          unhealthyPodEvictionPolicy: "AlwaysAllow",
        },
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
      slotsPerPod: this.slotsPerPod,
    });
  }
}
