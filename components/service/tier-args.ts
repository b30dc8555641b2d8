/**
 * The argument types GpuInferenceService shares with the builders of its tiers (api-tier.ts,
 * worker-tier.ts): here, so that the tiers need not import the component that composes them.
 */

/** CPU and memory of one container: requests (HPA Utilization targets need them) and limits. */
export interface ContainerResources {
  /** What the scheduler reserves for the container. */
  requests: {
    /** CPU request, a Kubernetes quantity (`500m`, `2`). */
    cpu: string;
    /** Memory request, a Kubernetes quantity (`1Gi`). */
    memory: string;
  };
  /** Ceilings of the container. @default none */
  limits?: {
    /** CPU limit; usually left out, so a busy container is throttled only by its node. @default none */
    cpu?: string;
    /** Memory limit: the container is OOM-killed above it. @default none */
    memory?: string;
  };
}

/**
 * The `model-server` container: the GPU model behind the API, on the pod's localhost. A real Sonic
 * worker image implements the model-server protocol (docs/develop.md#the-model-server-protocol-what-a-real-sonic-worker-image-implements); `simulated` runs the project's own
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

/** The API tier: CPU pods that accept, store and answer jobs, and never run them. */
export interface ApiTierArgs {
  /** Fixed replicas when no autoscaler owns the API Deployment; at least 1 (clients need it). @default 1 */
  replicas?: number;
  /** True when an HPA or a ScaledObject owns the API's replicas (the Deployment then leaves them out). @default false */
  autoscaled?: boolean;
  /** CPU and memory of the `api` container. @default { requests: { cpu: "250m", memory: "256Mi" }, limits: { memory: "512Mi" } } */
  resources?: ContainerResources;
  /** Seconds an API pod gets after SIGTERM to finish its requests (uploads take up to the request timeout). @default 150 */
  terminationGracePeriodSeconds?: number;
  /** PodDisruptionBudget: API pods that may be voluntarily evicted at once. @default 1 */
  maxUnavailable?: number;
  /** How long Pulumi waits for an API rollout: a first image pull on a fresh node takes minutes. @default "15m" */
  rolloutTimeout?: string;
}
