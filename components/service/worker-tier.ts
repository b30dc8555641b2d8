import * as k8s from "@pulumi/kubernetes";
import * as kx from "@pulumi/kubernetesx";
import * as pulumi from "@pulumi/pulumi";
import { modelServerEnv, simulatedModelServerEnv } from "../../contract";
import type { ContainerResources, ModelServerSettings } from "./tier-args";
import { InputPropertyError, quote, requireInteger } from "../shared/errors";
import { HARDENED_CONTAINER, hardenedPod } from "../shared/pod-hardening";
import { appContainer, spreadAcrossNodes, WEB_PORT_NAME } from "./service-tiers";

/** Writable home of the model-server container (an emptyDir): caches land in `~/.cache`. */
const MODEL_HOME = "/home/model";

/** What {@link workerTierObjects} builds the worker tier from (GpuInferenceService resolves the defaults). */
export interface WorkerTierObjectsArgs {
  namespace: string;
  /** Deployment and headless Service name. */
  name: string;
  /** The project's image: the `worker` container, and the simulated model server when asked. */
  image: string;
  /** Port of the worker's `/metrics` and probes, named `web`. */
  port: number;
  gpuCount: number;
  slotsPerPod: number;
  modelServer: ModelServerSettings;
  gpuResourceName: string;
  /** The `worker` container's CPU and memory. @default { requests: { cpu: "500m", memory: "1Gi" }, limits: { memory: "2Gi" } } */
  resources?: ContainerResources;
  /** @default {} */
  nodeSelector?: Record<string, string>;
  /** @default tolerate the GPU taint; none when simulated */
  tolerations?: k8s.types.input.core.v1.Toleration[];
  /** Fixed replicas; undefined when an autoscaler owns them. */
  replicas?: number;
  /** @default 1 */
  maxUnavailable?: number;
  /** @default 600 */
  terminationGracePeriodSeconds?: number;
  /** @default "60m" */
  rolloutTimeout?: string;
  selector: Record<string, string>;
  labels: Record<string, string>;
  /** The `worker` container's environment, given the model server's port and the pod's grace. */
  env: (
    modelServerPort: number,
    terminationGracePeriodSeconds: number,
  ) => Record<string, pulumi.Input<string | k8s.types.input.core.v1.EnvVarSource>>;
}

/**
 * The worker tier: a Deployment whose pods run the job runner (`worker`: pulls jobs from the shared
 * queue while its model server is ready, serves only `/metrics` and its probes on `web`) beside the
 * `model-server` container that holds the GPU, a headless Service that exists only for its
 * ServiceMonitor (headless: Pulumi does not wait for its endpoints, which at zero replicas never come),
 * and a PodDisruptionBudget.
 */
export function workerTierObjects(
  name: string,
  args: WorkerTierObjectsArgs,
  opts: pulumi.CustomResourceOptions,
): { deployment: k8s.apps.v1.Deployment; service: k8s.core.v1.Service } {
  const checked = checkWorkerTier(args);
  const { simulated, modelPort, grace } = checked;
  const resources = args.resources ?? {
    requests: { cpu: "500m", memory: "1Gi" },
    limits: { memory: "2Gi" },
  };
  const modelServer = modelServerContainer(args, checked);
  // Ready = its model server is ready, the queue reachable, not draining. Inputs are staged in /tmp
  // on their way to the model server.
  const worker: kx.types.Container = appContainer("worker", {
    image: args.image,
    port: args.port,
    env: args.env(modelPort, grace),
    resources,
  });

  const podSpec: kx.types.PodSpec = {
    terminationGracePeriodSeconds: grace,
    nodeSelector: args.nodeSelector ?? {},
    // The runner and the model need no Kubernetes API: no token in the pod.
    automountServiceAccountToken: false,
    topologySpreadConstraints: spreadAcrossNodes(args.selector),
    tolerations:
      args.tolerations ??
      (simulated ? [] : [{ key: args.gpuResourceName, operator: "Exists", effect: "NoSchedule" }]),
    securityContext: hardenedPod(10001),
    containers: [worker, modelServer],
  };

  // kx.PodBuilder.asDeploymentSpec always sets `replicas` and labels pods only with `app`, so the
  // spec is written here and kx only assembles the pod (port and env maps, volume mounts).
  const rolloutTimeout = args.rolloutTimeout ?? "60m";
  const deployment = new kx.Deployment(
    name,
    {
      metadata: { name: args.name, namespace: args.namespace, labels: args.labels },
      spec: {
        ...(args.replicas === undefined ? {} : { replicas: args.replicas }),
        selector: { matchLabels: args.selector },
        // A GPU node rarely has a spare GPU: surge 0 replaces pods one at a time in place.
        strategy: { type: "RollingUpdate", rollingUpdate: { maxSurge: 0, maxUnavailable: 1 } },
        template: {
          metadata: {
            labels: args.labels,
            ...(simulated ? { annotations: { "sonic-observability/model-server": "simulated" } } : {}),
          },
          spec: podSpec,
        },
      },
    },
    { ...opts, customTimeouts: { create: rolloutTimeout, update: rolloutTimeout } },
  );
  const service = new k8s.core.v1.Service(
    name,
    {
      metadata: { name: args.name, namespace: args.namespace, labels: args.labels },
      spec: {
        // Headless: for the ServiceMonitor's endpoint discovery only; nobody calls the workers.
        clusterIP: "None",
        selector: args.selector,
        ports: [{ name: WEB_PORT_NAME, port: args.port, targetPort: WEB_PORT_NAME, protocol: "TCP" }],
      },
    },
    opts,
  );
  new k8s.policy.v1.PodDisruptionBudget(
    name,
    {
      metadata: { name: args.name, namespace: args.namespace, labels: args.labels },
      spec: {
        maxUnavailable: args.maxUnavailable ?? 1,
        selector: { matchLabels: args.selector },
        // An unready pod (a model that will not load) must never block a node drain.
        unhealthyPodEvictionPolicy: "AlwaysAllow",
      },
    },
    opts,
  );
  return { deployment, service };
}

/** Checks the tier's settings (what the model server needs above all) and resolves their defaults. */
function checkWorkerTier(args: WorkerTierObjectsArgs): {
  simulated: boolean;
  modelPort: number;
  grace: number;
  startup: number;
} {
  const model = args.modelServer;
  const simulated = model.simulated ?? false;
  const modelPort = model.port ?? 9000;
  const grace = args.terminationGracePeriodSeconds ?? 600;
  const startup = model.startupTimeoutSeconds ?? 900;
  requireInteger("modelServer.port", modelPort, 1, 65535);
  requireInteger("terminationGracePeriodSeconds", grace, 1);
  requireInteger("modelServer.startupTimeoutSeconds", startup, 10);
  if (args.replicas !== undefined) requireInteger("replicas", args.replicas, 0);
  if (modelPort === args.port) {
    throw new InputPropertyError("modelServer.port", `(${modelPort}) must differ from 'port' (${args.port})`);
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
  return { simulated, modelPort, grace, startup };
}

/**
 * The `model-server` container: the real image with the GPU limit, or the simulated server from the
 * project's image; a startup probe that allows the model's load once, a writable HOME under the
 * read-only root.
 */
function modelServerContainer(
  args: WorkerTierObjectsArgs,
  { simulated, modelPort, startup }: ReturnType<typeof checkWorkerTier>,
): kx.types.Container {
  const model = args.modelServer;
  const modelResources = model.resources ?? {
    requests: { cpu: "4", memory: "16Gi" },
    limits: { memory: "24Gi" },
  };

  return {
    name: "model-server",
    image: simulated ? args.image : model.image!,
    ...(simulated ? { command: ["node", "app/simulated-model-server-main.js"] } : {}),
    env: {
      ...(simulated
        ? simulatedModelServerEnv({ port: modelPort, gpuCount: args.gpuCount, slots: args.slotsPerPod })
        : modelServerEnv(modelPort)),
      HOME: MODEL_HOME,
      XDG_CACHE_HOME: `${MODEL_HOME}/.cache`,
      ...model.env,
    },
    resources: {
      // The emptyDirs below count against the node's ephemeral storage: request what they may hold.
      requests: { ...modelResources.requests, "ephemeral-storage": "20Gi" },
      // Extended resources are set as limits (requests default to them) and are never overcommitted.
      limits: {
        ...modelResources.limits,
        ...(simulated ? {} : { [args.gpuResourceName]: String(args.gpuCount) }),
      },
    },
    // A model loads for minutes (the cold start of a tier woken from zero): the startup probe allows
    // that once; readiness then gates job pulling and liveness only checks the process still answers.
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
}
