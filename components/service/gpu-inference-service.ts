import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { API_TERMINATION_GRACE_SECONDS, apiTierObjects } from "./api-tier";
import { restrictedNamespace } from "../shared/restricted-namespace";
import { childOptions } from "../shared/child-options";
import { InputPropertyError, quote, requireInteger } from "../shared/errors";
import { apiEnv, workerEnv } from "../../contract";
import { workerTierObjects } from "./worker-tier";
import { TIER_LABEL } from "./service-tiers";
import type { ApiTierArgs, ContainerResources, ModelServerSettings } from "./tier-args";

export type { ApiTierArgs, ContainerResources, ModelServerSettings } from "./tier-args";

/** Arguments of `GpuInferenceService`: both tiers, their images, resources, scaling and settings. */
export interface GpuInferenceServiceArgs {
  /** Namespace of the service. @default "ai-inference" */
  namespace?: string;
  /** Create the namespace (with the `restricted` Pod Security level). @default true */
  createNamespace?: boolean;
  /**
   * Name of the API tier's Deployment and Service (what clients call), and the `app` label both
   * tiers' pods and Services carry, which the ServiceMonitors turn into their series' `job`.
   * @default "sonic-generate-service"
   */
  appName?: string;
  /** Name of the worker tier's Deployment and headless Service. @default appName with "-service" replaced by "-worker" */
  workerName?: string;
  /** Image of the `api` and `worker` containers (this project's image), pinned by tag or digest. */
  image: string;
  /** The `model-server` container of the worker pods. */
  modelServer: ModelServerSettings;
  /**
   * GPUs per worker pod. @deprecated the GPU belongs to the model server: use `modelServer.gpuCount`
   * (this alias is read when that is unset).
   */
  gpuCount?: number;
  /** Jobs one GPU runs at once; a worker pod's slots are GPUs x this. @default 1 */
  concurrencyPerGpu?: number;
  /** Extended resource name of the GPU device plugin. @default "nvidia.com/gpu" */
  gpuResourceName?: string;
  /** Port of the API and of both tiers' `/metrics`; the port is always *named* `web`. @default 8080 */
  port?: number;
  /** The API tier. @default {} (1 replica, the defaults of ApiTierArgs) */
  api?: ApiTierArgs;
  /**
   * CPU and memory of the `worker` container (the job runner beside the model server: no GPU).
   * @default { requests: { cpu: "500m", memory: "1Gi" }, limits: { memory: "2Gi" } }
   */
  resources?: ContainerResources;
  /**
   * Node selector of the worker pods. The `nvidia.com/gpu` limit already keeps them off nodes without
   * GPUs; a selector such as `nvidia.com/gpu.present: "true"` needs GPU feature discovery and leaves
   * pods Pending without it.
   * @default {}
   */
  nodeSelector?: Record<string, string>;
  /** Tolerations of the worker pods. @default tolerate `nvidia.com/gpu` Exists NoSchedule; none when simulated */
  tolerations?: k8s.types.input.core.v1.Toleration[];
  /**
   * True when an autoscaler (HPA or KEDA ScaledObject) owns the worker tier's replica count: the
   * Deployment then has no `spec.replicas`, or every `pulumi up` would reset what it chose.
   * @default false
   */
  autoscaled?: boolean;
  /** Fixed worker replicas, used only when `autoscaled` is false; 0 parks the GPUs. @default 1 */
  replicas?: number;
  /**
   * The API's settings a deployment decides: written as the `api` container's environment from the
   * table the app parses (contract/api-settings.ts, `apiEnv`).
   * @default {} (the app's defaults)
   */
  settings?: {
    /** `SONIC_BACKLOG_LIMIT`: jobs queued + running before submissions get 429. @default 16 */
    backlogLimit?: number;
    /** `SONIC_MAX_UPLOAD_BYTES`: bytes of one uploaded file. @default 26214400 (25 MiB) */
    maxUploadBytes?: number;
    /** `SONIC_JOB_HISTORY`: finished jobs kept for polling. @default 1000 */
    jobHistory?: number;
    /** `SONIC_VERSION`: the version in `sonic_build_info`. @default the app's (its package version) */
    version?: string;
    /** `SONIC_COLD_START_SECONDS`: a job's Retry-After while no worker is up. @default 600 */
    coldStartSeconds?: number;
  };
  /** Extra environment of the `api` and `worker` containers (both are queue clients); values may be Secret references. @default {} */
  env?: Record<string, pulumi.Input<string | k8s.types.input.core.v1.EnvVarSource>>;
  /** Labels of the label convention (`team`, `service`, `env`) put on every object and pod. @default {} */
  labels?: Record<string, string>;
  /** PodDisruptionBudget: worker pods that may be voluntarily evicted at once. @default 1 */
  maxUnavailable?: number;
  /** Seconds a worker pod gets after SIGTERM to finish its running jobs (they take minutes). @default 600 */
  terminationGracePeriodSeconds?: number;
  /**
   * How long Pulumi waits for a worker rollout: with `maxSurge: 0`, each GPU pod is drained (the grace)
   * and a new one loads its model (the startup timeout) before the next. Pulumi's 10 minutes is too short.
   * @default "60m"
   */
  rolloutTimeout?: string;
}

export { TIER_COMMANDS, TIER_LABEL, WEB_PORT_NAME, type ServiceTier } from "./service-tiers";

/**
 * A GPU inference service in two tiers on one shared queue, in its own namespace:
 * - **api**: Deployment + ClusterIP Service `appName` (CPU, port `web`): accepts, validates and stores
 *   jobs and answers polls; never runs one; at least one replica.
 * - **worker**: Deployment `workerName`, whose pods run the job runner (`worker`) beside the
 *   `model-server` container with the GPU; it pulls jobs while its model is ready, serves only
 *   `/metrics` and its probes, and may scale to zero. A headless Service exists for scraping only.
 * Each tier has its own probes, PodDisruptionBudget, resources and rollout settings; both tiers' pods
 * carry `app: <appName>` (the queue admits them, the ServiceMonitors make it their `job`) and
 * `app.kubernetes.io/component: api|worker`.
 */
export class GpuInferenceService extends pulumi.ComponentResource {
  /** Namespace of both tiers. */
  public readonly namespace: pulumi.Output<string>;
  /** The API tier's Deployment. */
  public readonly deploymentName: pulumi.Output<string>;
  /** The API tier's Service: what clients call. */
  public readonly serviceName: pulumi.Output<string>;
  /** The worker (GPU) tier's Deployment. */
  public readonly workerDeploymentName: pulumi.Output<string>;
  /** The worker tier's headless Service (scraping only). */
  public readonly workerServiceName: pulumi.Output<string>;
  /** Labels every pod of the service carries, both tiers (`app: <appName>`): the queue's clients. */
  public readonly selectorLabels: Record<string, string>;
  /** Labels that select the API tier's pods and Service. */
  public readonly apiSelectorLabels: Record<string, string>;
  /** Labels that select the worker tier's pods and Service. */
  public readonly workerSelectorLabels: Record<string, string>;
  /** Jobs one worker pod runs at once: GPUs x concurrency per GPU. */
  public readonly slotsPerPod: number;
  /** The API tier's Deployment and Service. */
  public readonly deployment: k8s.apps.v1.Deployment;
  /** The API tier's Service (the `deployment` is above). */
  public readonly service: k8s.core.v1.Service;
  /** The worker (GPU) tier's Deployment. */
  public readonly workerDeployment: k8s.apps.v1.Deployment;
  /** The worker tier's headless Service (scraping only). */
  public readonly workerService: k8s.core.v1.Service;
  /** The namespace, when this component creates it: what objects in it must wait for. */
  public readonly namespaceResource?: k8s.core.v1.Namespace;

  constructor(name: string, args: GpuInferenceServiceArgs, opts?: pulumi.ComponentResourceOptions) {
    super("sonic-observability:index:GpuInferenceService", name, {}, opts);
    const ns = args.namespace ?? "ai-inference";
    const appName = args.appName ?? "sonic-generate-service";
    const workerName = args.workerName ?? `${appName.replace(/-service$/, "")}-worker`;
    const model = args.modelServer;
    const gpuCount = model.gpuCount ?? args.gpuCount ?? 1;
    const concurrency = args.concurrencyPerGpu ?? 1;
    const port = args.port ?? 8080;
    requireInteger("modelServer.gpuCount", gpuCount, 1);
    requireInteger("concurrencyPerGpu", concurrency, 1);
    requireInteger("port", port, 1, 65535);
    if (workerName === appName)
      throw new InputPropertyError(
        "workerName",
        `must differ from 'appName' (${quote(appName)}), got ${quote(workerName)}`,
      );
    const api = args.api ?? {};
    if (!api.autoscaled) requireInteger("api.replicas", api.replicas ?? 1, 1);
    if (!args.autoscaled) requireInteger("replicas", args.replicas ?? 1, 0);
    this.slotsPerPod = gpuCount * concurrency;

    this.selectorLabels = { app: appName };
    this.apiSelectorLabels = { ...this.selectorLabels, [TIER_LABEL]: "api" };
    this.workerSelectorLabels = { ...this.selectorLabels, [TIER_LABEL]: "worker" };
    const dependsOn: pulumi.Resource[] = [];
    if (args.createNamespace ?? true) {
      this.namespaceResource = restrictedNamespace(name, ns, args.labels, childOptions(this, opts));
      dependsOn.push(this.namespaceResource);
    }
    const childOpts = childOptions(this, opts, ...dependsOn);
    const version = args.settings?.version;

    const apiTier = apiTierObjects(
      name,
      {
        namespace: ns,
        name: appName,
        image: args.image,
        port,
        tier: api,
        selector: this.apiSelectorLabels,
        labels: { ...args.labels, ...this.apiSelectorLabels },
        env: {
          ...apiEnv({
            ...args.settings,
            port,
            terminationGracePeriodSeconds: api.terminationGracePeriodSeconds ?? API_TERMINATION_GRACE_SECONDS,
          }),
          ...args.env,
        },
      },
      childOpts,
    );
    const workerTier = workerTierObjects(
      `${name}-worker`,
      {
        namespace: ns,
        name: workerName,
        image: args.image,
        port,
        gpuCount,
        slotsPerPod: this.slotsPerPod,
        modelServer: model,
        gpuResourceName: args.gpuResourceName ?? "nvidia.com/gpu",
        resources: args.resources,
        nodeSelector: args.nodeSelector,
        tolerations: args.tolerations,
        replicas: args.autoscaled ? undefined : (args.replicas ?? 1),
        maxUnavailable: args.maxUnavailable,
        terminationGracePeriodSeconds: args.terminationGracePeriodSeconds,
        rolloutTimeout: args.rolloutTimeout,
        selector: this.workerSelectorLabels,
        labels: { ...args.labels, ...this.workerSelectorLabels },
        env: (modelServerPort, grace) => ({
          ...workerEnv({
            port,
            modelServerPort,
            gpuCount,
            concurrencyPerGpu: concurrency,
            terminationGracePeriodSeconds: grace,
            jobHistory: args.settings?.jobHistory,
            version,
          }),
          ...args.env,
        }),
      },
      childOpts,
    );
    this.deployment = apiTier.deployment;
    this.service = apiTier.service;
    this.workerDeployment = workerTier.deployment;
    this.workerService = workerTier.service;

    this.namespace = pulumi.output(ns);
    this.deploymentName = this.deployment.metadata.name;
    this.serviceName = this.service.metadata.name;
    this.workerDeploymentName = this.workerDeployment.metadata.name;
    this.workerServiceName = this.workerService.metadata.name;
    this.registerOutputs({
      namespace: this.namespace,
      deploymentName: this.deploymentName,
      serviceName: this.serviceName,
      workerDeploymentName: this.workerDeploymentName,
      workerServiceName: this.workerServiceName,
      slotsPerPod: this.slotsPerPod,
    });
  }
}
