import * as pulumi from "@pulumi/pulumi";
import { z } from "zod";
import {
  AlertThresholds,
  CHART_PINS,
  CLUSTER_FLAVORS,
  CLUSTER_STACK_CHARTS,
  METRIC_PREFIX_PATTERN,
  DEFAULT_THRESHOLDS,
  DURATION_PATTERN,
  foreignStorageClass,
  RECEIVER_KINDS,
  REMOTE_WRITE_SERIES,
  ReceiverKind,
  SEVERITIES,
  tryParseDuration,
} from "../components";
import {
  ANALYST_SETTINGS,
  API_SETTINGS,
  chartRepositoryProblem,
  DRAIN_MARGIN_SECONDS,
  httpUrlProblem,
  redactUrl,
  REDIS_DATABASE_PATH,
  redisUrlProblem,
  SIMULATED_MODEL_SERVER_SETTINGS,
  stackField,
  WORKER_SETTINGS,
} from "../contract";

/** The autoscaling engines a stack chooses between (docs/operate.md#the-engine-autoscalingengine-adapter--keda). */
export const AUTOSCALING_ENGINES = ["adapter", "keda"] as const;
export type AutoscalingEngine = (typeof AUTOSCALING_ENGINES)[number];

/** Steps of the move from engine adapter to keda, in order (docs/operate.md#migrating-from-adapter-to-keda-with-no-window-in-which-nothing-scales). */
export const HANDOVER_STEPS = ["standby", "takeover"] as const;

/** Keys of the one-tier `autoscaling` block, and where each went when the service split into two tiers. */
export const MOVED_AUTOSCALING_KEYS: Record<string, string> = {
  minReplicas:
    "'autoscaling.worker.minReplicas' (GPU tier) and 'autoscaling.api.minReplicas' (API tier, >= 1)",
  maxReplicas: "'autoscaling.worker.maxReplicas' (GPU tier) and 'autoscaling.api.maxReplicas' (API tier)",
  targetQpsPerPod: "'autoscaling.api.targetQpsPerPod' (the API tier scales on submissions)",
  targetBacklogPerPod: "'autoscaling.worker.targetBacklogPerPod' (the worker tier scales on the backlog)",
  cpuUtilization: "'autoscaling.api.cpuUtilization' (the API tier; a GPU pod's CPU says little)",
};

/** Config namespace of every key: `sonic-observability:<key>`. */
export const PROJECT = "sonic-observability";

// The value types a reader meets in many keys carry a title: the configuration reference (npm run docs)
// names them in its type column and explains each once.
const duration = z
  .string()
  .refine((s) => s !== "" && DURATION_PATTERN.test(s), { message: "expected a duration like 30d" })
  .meta({
    title: "duration",
    accepts:
      "Prometheus' duration syntax: numbers with units y, w, d, h, m, s, ms, in that order, each at most once",
    examples: ["15s", "1h30m", "30d"],
  });
const quantity = z
  .string()
  .regex(/^\d+(\.\d+)?(m|Ki|Mi|Gi|Ti)?$/, { message: "expected a Kubernetes quantity like 4Gi or 500m" })
  .meta({ title: "quantity", accepts: "a Kubernetes quantity", examples: ["500m", "4Gi"] });
const volumeSize = z
  .string()
  .regex(/^\d+(Gi|Ti)$/, { message: "expected a size in Gi or Ti like 50Gi" })
  .meta({ title: "volume size", accepts: "a volume size in Gi or Ti", examples: ["50Gi"] });
const labelValue = z
  .string()
  .regex(/^[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/, {
    message: "expected a Kubernetes label value (alphanumerics, '-', '_', '.', at most 63)",
  })
  .meta({
    title: "label value",
    accepts: "a Kubernetes label value: alphanumerics, '-', '_', '.', at most 63",
    examples: ["gpu-prod-1"],
  });
const dnsName = z
  .string()
  .regex(/^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/, { message: "expected a DNS-1123 name like ai-inference" })
  .meta({
    title: "DNS name",
    accepts: "a DNS-1123 label (a namespace, a release)",
    examples: ["ai-inference"],
  });
const positiveInt = z.number().int().min(1);
const imageRef = z
  .string()
  .regex(/^[^\s:@]+(:[\w][\w.-]{0,127})?(@sha256:[a-f0-9]{64})?$/, {
    message: "expected an image reference like registry/sonic:1.2.3",
  })
  .meta({
    title: "image",
    accepts: "an image reference, with a tag and/or a digest",
    examples: ["registry.example.com/sonic:1.2.3"],
  });
/** A container's ceilings, shared by every resources block (each describes whose they are). */
const containerLimits = z
  .object({
    cpu: quantity.optional().describe("CPU ceiling (throttled above it)."),
    memory: quantity.optional().describe("Memory ceiling (OOM-killed above it)."),
  })
  .strict()
  .optional();
const containerResources = z
  .object({
    requests: z
      .object({
        cpu: quantity.describe("CPU the scheduler reserves."),
        memory: quantity.describe("Memory the scheduler reserves."),
      })
      .strict()
      .describe("What the scheduler reserves for the container."),
    limits: containerLimits.describe("Ceilings of the container."),
  })
  .strict();
const percent = z.number().int().min(0).max(100);
/** An http(s) URL with a host: zod's own url() takes "host:port" too (as a URL of scheme "host:"). */
const httpUrl = (example?: string) =>
  z
    .string()
    .superRefine((s, ctx) => {
      const problem = httpUrlProblem(s, example);
      if (problem) ctx.addIssue({ code: "custom", message: problem, input: s });
    })
    .meta({
      title: "http(s) URL",
      accepts: "an `http://` or `https://` URL with a host (`host:port` alone is refused)",
    });
/** A chart repository or OCI registry (`chartSource`); quoted without credentials. */
const chartRepository = z
  .string()
  .superRefine((s, ctx) => {
    const problem = chartRepositoryProblem(s);
    if (problem) ctx.addIssue({ code: "custom", message: problem, input: redactUrl(s, true) });
  })
  .meta({
    title: "chart repository",
    accepts:
      "a Helm repository, `https://…` (it serves an index.yaml), or an OCI registry, `oci://host/path` (the chart is pulled as `oci://host/path/<chart>`); credentials are refused in the URL (log in with `helm registry login`)",
    examples: ["https://charts.example.com", "oci://harbor.example.com/charts"],
  });

/**
 * The `charts` key of a stack: where its Helm charts come from (docs/operate.md#charts-from-a-mirror).
 * `repository` serves every chart of the stack; `overrides.<chart>.repository` one chart, first.
 */
export function chartsSchema<const C extends readonly string[]>(charts: C) {
  return z
    .object({
      /** One mirror for every chart. @default none: each chart's public repository */
      repository: chartRepository.optional().meta({
        description:
          "Where every Helm chart of the stack comes from: a mirror, as air-gapped and corporate networks need. It serves the pinned versions under the upstream chart names (`npm run charts` fetches the pinned archives into `.charts/`, checked against their digests, ready to push there).",
        defaultText: "each chart's public repository",
      }),
      overrides: z
        .object(
          Object.fromEntries(
            charts.map((c) => [
              c,
              z
                .object({ repository: chartRepository.describe(`Where the ${c} chart comes from.`) })
                .strict()
                .optional()
                .describe(`The ${c} chart.`),
            ]),
          ) as { [K in C[number]]: z.ZodOptional<z.ZodObject<{ repository: typeof chartRepository }>> },
        )
        .strict()
        .default({} as never)
        .describe(
          `One chart's repository, before \`charts.repository\`; a chart the stack does not install (${charts.join(", ")} only) is an error.`,
        ),
    })
    .strict()
    .default({ overrides: {} } as never);
}

/** The repository a stack's `charts` setting names for `chart`: its override, else the mirror, else none. */
export function chartRepositoryOf(
  charts: { repository?: string; overrides: Partial<Record<string, { repository: string } | undefined>> },
  chart: string,
): string | undefined {
  return charts.overrides[chart]?.repository ?? charts.repository;
}
const ratio = z.number().gt(0).lt(1);

const thresholdShape = Object.fromEntries(
  Object.entries(DEFAULT_THRESHOLDS).map(([key, value]) => [
    key,
    (typeof value === "string"
      ? duration
      : key === "sloTarget" || key.endsWith("Ratio")
        ? ratio
        : z.number().min(0)
    )
      .optional()
      .meta({ defaultText: `\`${value}\`` }),
  ]),
) as unknown as { [K in keyof AlertThresholds]: z.ZodOptional<z.ZodType<AlertThresholds[K]>> };

/** Every key of the stack files, with its type and default. Unknown keys are errors (typos fail loudly). */
export const configSchema = z
  .object({
    env: z.enum(["dev", "staging", "prod"]).describe("The environment: a label on every object."),
    cluster: labelValue.describe(
      "The cluster's name: the external label `cluster` of every series and alert, and its user at the fleet's store.",
    ),
    /** eks | gke | aks | kubeadm | generic: which control-plane targets exist to be monitored. */
    clusterFlavor: z
      .enum(CLUSTER_FLAVORS)
      .default("generic")
      .describe(
        "Which control-plane targets exist to be monitored (docs/operate.md#cluster-flavour-what-the-control-plane-exposes): no rule alerts on a target the cluster does not have.",
      ),
    /** Egress policies admit DNS to NodeLocal DNSCache (169.254.20.10) too. @default by flavour (gke: on) */
    nodeLocalDns: z.boolean().optional().meta({
      description: "Egress policies also admit DNS to NodeLocal DNSCache (169.254.20.10).",
      defaultText: "by flavour: `gke` on, others off",
    }),
    labels: z
      .object({
        team: labelValue.describe("The owning team: a label on every object."),
        service: labelValue.describe("The service: a label on every object."),
      })
      .strict()
      .describe("Labels of the label convention on every object (with `env`)."),
    monitoring: z
      .object({
        namespace: dnsName.default("monitoring").describe("Namespace of the monitoring stack."),
        releaseName: dnsName
          .default("prometheus-stack")
          .describe("Helm release name of kube-prometheus-stack: Prometheus selects `release: <name>`."),
        chartVersion: z
          .string()
          .default(CHART_PINS.kubePrometheusStack.version)
          .describe("kube-prometheus-stack chart version."),
        /** prometheus-adapter serves the HPA's metrics API: 2 keeps scaling alive through a node drain. */
        adapterReplicas: positiveInt
          .default(1)
          .describe(
            "prometheus-adapter replicas: it serves the HPAs' metrics API, so 2 keeps scaling alive through a node drain.",
          ),
        /** Serve external.metrics.k8s.io; false where KEDA or Datadog already owns it. @default engine adapter: true; keda: false */
        adapterExternalMetrics: z.boolean().optional().meta({
          description:
            "Serve `external.metrics.k8s.io` (the worker tier's backlog with engine adapter); false where KEDA or Datadog already owns it. Must not be `true` with engine keda (an APIService has one owner), nor `false` while an HPA of engine adapter reads the backlog.",
          defaultText: "engine adapter: `true`; keda: `false`",
        }),
      })
      .strict()
      .default({
        namespace: "monitoring",
        releaseName: "prometheus-stack",
        chartVersion: CHART_PINS.kubePrometheusStack.version,
        adapterReplicas: 1,
      })
      .describe("kube-prometheus-stack and prometheus-adapter."),
    prometheus: z
      .object({
        retention: duration.describe("How long samples are kept."),
        retentionSize: z
          .string()
          .regex(/^\d+GiB$/, { message: "expected a size in GiB like 40GiB" })
          .optional()
          .meta({
            description:
              "Size cap on the TSDB, below the volume, so Prometheus deletes old blocks before the volume fills.",
            defaultText: "85% of `storage.size`, in GiB",
          }),
        replicas: positiveInt
          .default(1)
          .describe("Prometheus replicas (2 for HA: both scrape everything, Alertmanager deduplicates)."),
        scrapeInterval: duration.default("15s").describe("Default scrape interval."),
        /** Timeout of the Sonic scrape; at most the interval. */
        scrapeTimeout: duration
          .default("10s")
          .describe("Timeout of the Sonic scrape; at most `scrapeInterval`."),
        evaluationInterval: duration.default("15s").describe("Rule evaluation interval."),
        resources: z
          .object({
            requests: z
              .object({
                cpu: quantity.optional().describe("CPU the scheduler reserves."),
                memory: quantity.describe("Memory the scheduler reserves."),
              })
              .strict()
              .describe("What the scheduler reserves for Prometheus: `memory` required, `cpu` optional."),
            limits: containerLimits.describe("Ceilings of the Prometheus container."),
          })
          .strict()
          .describe("CPU and memory of Prometheus."),
        storage: z
          .object({
            size: volumeSize.describe("The TSDB volume (ReadWriteOnce, one per replica)."),
            storageClassName: z.string().min(1).optional().meta({
              description:
                "StorageClass of the volume; another provider's class than `clusterFlavor`'s is an error.",
              defaultText: "the cluster's default class",
            }),
          })
          .strict()
          .describe("The TSDB's PersistentVolumeClaim."),
        /** Remote write to the fleet's global store (docs/fleet.md, 'Adding a cluster to the fleet'). */
        remoteWrite: z
          .object({
            url: httpUrl().describe("The fleet's write URL (the fleet stack's output `writeUrl`)."),
            username: z
              .string()
              .min(1)
              .optional()
              .describe(
                "This cluster's user at the fleet's store; its password is the secret `remoteWritePassword`.",
              ),
            /** Sent as X-Scope-OrgID: the fleet routes the cluster's series to this tenant. */
            tenant: labelValue
              .optional()
              .describe("Sent as `X-Scope-OrgID`: the fleet routes the cluster's series to this tenant."),
            /** fleet: recordings + contract metrics (a few thousand series); all: every series. */
            series: z
              .enum(REMOTE_WRITE_SERIES)
              .default("fleet")
              .describe(
                "`fleet`: recordings + contract metrics without histogram buckets (a few thousand series); `all`: every series.",
              ),
          })
          .strict()
          .optional()
          .describe(
            'Remote write to the fleet\'s global store (docs/fleet.md, "Adding a cluster to the fleet").',
          ),
      })
      .strict()
      .describe("The cluster's Prometheus."),
    alertmanager: z
      .object({
        replicas: positiveInt
          .default(1)
          .describe("Alertmanager replicas (3 for HA; they gossip to deduplicate)."),
        receivers: z
          .object(
            Object.fromEntries(
              SEVERITIES.map((s) => [
                s,
                z
                  .enum(RECEIVER_KINDS as [ReceiverKind, ...ReceiverKind[]])
                  .default("none")
                  .describe(
                    `Where ${s} alerts go; a kind's secret (\`slackWebhookUrl\`, \`pagerdutyRoutingKey\`, \`alertWebhookUrl\`) is then required.`,
                  ),
              ]),
            ),
          )
          .strict()
          .describe("The receiver of each severity: critical pages, warning is work-queue, info is context."),
        slackChannel: stackField({ ...ANALYST_SETTINGS.ANALYST_SLACK_CHANNEL, default: "#alerts" })
          .meta({ env: "ANALYST_SLACK_CHANNEL", program: "analyst" })
          .describe("Slack channel of the `slack` receivers, and of the analyst's reports."),
        repeatInterval: z
          .object(
            Object.fromEntries(
              SEVERITIES.map((s) => [
                s,
                duration.optional().describe(`How often a still-firing ${s} alert is re-sent.`),
              ]),
            ),
          )
          .strict()
          .default({})
          .meta({
            description: "How often a still-firing alert is re-sent, per severity.",
            defaultText: "critical `1h`, warning `4h`, info `24h`",
          }),
      })
      .strict()
      .describe("Alertmanager: where each severity goes."),
    sonic: z
      .object({
        namespace: dnsName.default("ai-inference").describe("Namespace of the service."),
        /** The project's image: the `api` container, and the simulated model server when asked. */
        image: imageRef.describe(
          "The project's image: the `api` and `worker` containers, and the simulated model server when asked.",
        ),
        // Keys that become a program's environment take their bounds and defaults from its table
        // (contract/), so the stack refuses at preview what the pod would refuse at start.
        gpuCount: stackField(WORKER_SETTINGS.SONIC_GPU_COUNT)
          .meta({ env: "SONIC_GPU_COUNT", program: "worker" })
          .describe(
            "GPUs per worker pod (the `nvidia.com/gpu` limit, on the `model-server` container only).",
          ),
        concurrencyPerGpu: stackField(WORKER_SETTINGS.SONIC_CONCURRENCY_PER_GPU)
          .meta({ env: "SONIC_CONCURRENCY_PER_GPU", program: "worker" })
          .describe(
            "Jobs per GPU at once; slots per worker pod = GPUs × this (the backlog signal divides by it).",
          ),
        /** Fixed worker (GPU) replicas while autoscaling is off; 0 parks the GPUs. */
        replicas: z
          .number()
          .int()
          .min(0)
          .default(1)
          .describe("Fixed worker (GPU) replicas while autoscaling is off; 0 parks the GPUs."),
        /** CPU and memory of the `worker` container (the job runner beside the model server; no GPU). */
        resources: containerResources
          .default({
            requests: { cpu: "500m", memory: "1Gi" },
            limits: { memory: "2Gi" },
          })
          .meta({
            description:
              "CPU and memory of the `worker` container (the job runner beside the model server; no GPU).",
            defaultText: "requests `500m`, `1Gi`; limit memory `2Gi`",
          }),
        /** Node + image pull + model load: what a job waits with no worker up (Retry-After, estimates). */
        coldStartSeconds: stackField(API_SETTINGS.SONIC_COLD_START_SECONDS)
          .meta({ env: "SONIC_COLD_START_SECONDS", program: "api" })
          .describe(
            "Node + image pull + model load: what a job waits with no worker up (its `Retry-After`, the estimates).",
          ),
        /** The API tier: CPU pods that accept and store jobs, never run them, at least one always. */
        api: z
          .object({
            /** Fixed API replicas while autoscaling is off. */
            replicas: z
              .number()
              .int()
              .min(1, { message: "must be >= 1: the API tier always runs" })
              .default(1)
              .describe("Fixed API replicas while autoscaling is off."),
            /** CPU and memory of the `api` container. */
            resources: containerResources
              .default({
                requests: { cpu: "250m", memory: "256Mi" },
                limits: { memory: "512Mi" },
              })
              .meta({
                description: "CPU and memory of the `api` container.",
                defaultText: "requests `250m`, `256Mi`; limit memory `512Mi`",
              }),
          })
          .strict()
          .default({
            replicas: 1,
            resources: { requests: { cpu: "250m", memory: "256Mi" }, limits: { memory: "512Mi" } },
          })
          .describe(
            "The API tier: CPU pods that accept and store jobs, never run them, at least one always.",
          ),
        modelServer: z
          .object({
            image: imageRef.optional().meta({
              description:
                "The Sonic worker image: it implements the model-server protocol (docs/develop.md#the-model-server-protocol-what-a-real-sonic-worker-image-implements).",
              defaultText: "**required** unless `simulated`",
            }),
            simulated: z
              .boolean()
              .default(false)
              .describe(
                "Run the project's SIMULATED model server (no GPU, no model) from `sonic.image` instead; `image` must then be unset.",
              ),
            port: stackField(SIMULATED_MODEL_SERVER_SETTINGS.PORT)
              .meta({ env: "PORT", program: "simulated-model-server" })
              .describe(
                `Its port inside the pod; must differ from the \`api\` container's (${API_SETTINGS.PORT.default}).`,
              ),
            resources: containerResources.describe(
              "CPU and memory of the `model-server` container (the GPU is `gpuCount`).",
            ),
            startupTimeoutSeconds: positiveInt
              .default(900)
              .describe("Model load time the startup probe allows."),
            /**
             * Where the model server may connect beyond the queue store and DNS (the worker tier's
             * NetworkPolicy admits nothing else): a model that downloads its weights at start needs its
             * hub here, e.g. `[{ cidr: 0.0.0.0/0, ports: [443] }]`, or the weights baked into its image.
             */
            egress: z
              .array(
                z
                  .object({
                    cidr: z
                      .union([z.cidrv4(), z.cidrv6()], { message: "expected a CIDR like 10.0.0.0/8" })
                      .meta({ title: "CIDR", accepts: "an IPv4 or IPv6 CIDR", examples: ["10.0.0.0/8"] })
                      .describe("Where the model server may connect."),
                    ports: z
                      .array(z.number().int().min(1).max(65535))
                      .min(1)
                      .describe("TCP ports it may connect to there."),
                  })
                  .strict(),
              )
              .default([])
              .describe(
                "Where the model server may connect beyond the queue store and DNS (the worker tier's NetworkPolicy admits nothing else): a model that downloads its weights at start needs its hub here, e.g. `[{ cidr: 0.0.0.0/0, ports: [443] }]`, or the weights baked into its image.",
              ),
          })
          .strict()
          .describe(
            "The `model-server` container of each worker pod: the GPU model, on the pod's localhost.",
          ),
        nodeSelector: z
          .record(z.string(), z.string())
          .optional()
          .describe(
            'Node labels the worker pods need (e.g. `nvidia.com/gpu.present: "true"` with GPU feature discovery); the `nvidia.com/gpu` limit alone already places them on GPU nodes.',
          ),
        tolerations: z
          .array(
            z
              .object({
                key: z
                  .string()
                  .min(1)
                  .optional()
                  .describe("Taint key; unset with `Exists` tolerates every taint."),
                operator: z.enum(["Exists", "Equal"]).default("Equal").describe("How `value` is compared."),
                value: z.string().optional().describe("Taint value, with `Equal`."),
                effect: z
                  .enum(["NoSchedule", "PreferNoSchedule", "NoExecute"])
                  .optional()
                  .describe("Taint effect; unset tolerates every effect."),
              })
              .strict(),
          )
          .optional()
          .meta({
            description: "Tolerations of the worker pods (GPU nodes are usually tainted).",
            defaultText: "`nvidia.com/gpu` `Exists` `NoSchedule` (none when simulated)",
          }),
        apiClientNamespaces: z
          .array(dnsName)
          .min(1, { message: "expected at least one namespace" })
          .describe("Namespaces admitted to call the API by its NetworkPolicy (the ingress controller's)."),
        teamGroup: z
          .string()
          .min(1)
          .describe("RBAC group allowed to manage monitors and rules in the service's namespace."),
        /** The app drains for 15 s less (SONIC_SHUTDOWN_GRACE_SECONDS), at most its maximum. */
        terminationGracePeriodSeconds: positiveInt
          .max(API_SETTINGS.SONIC_SHUTDOWN_GRACE_SECONDS.max + DRAIN_MARGIN_SECONDS)
          .default(600)
          .meta({ env: "SONIC_SHUTDOWN_GRACE_SECONDS", program: "api" })
          .describe(
            `Seconds a pod has to drain on shutdown; the app drains for ${DRAIN_MARGIN_SECONDS} s less (\`SONIC_SHUTDOWN_GRACE_SECONDS\`), at most its maximum.`,
          ),
        /** Pulumi's wait for a rollout of GPU pods (drain + model load, one pod at a time). */
        rolloutTimeout: duration
          .default("60m")
          .describe("How long `pulumi up` waits for a rollout of GPU pods (drain + model load, pod by pod)."),
        /** Jobs queued + running across the service before submissions get 429. */
        backlogLimit: stackField(API_SETTINGS.SONIC_BACKLOG_LIMIT).meta({
          env: "SONIC_BACKLOG_LIMIT",
          program: "api",
        }),
        /** Bytes of one uploaded file. */
        maxUploadBytes: stackField(API_SETTINGS.SONIC_MAX_UPLOAD_BYTES).meta({
          env: "SONIC_MAX_UPLOAD_BYTES",
          program: "api",
        }),
        /** Finished jobs kept for polling, by count. */
        jobHistory: stackField(API_SETTINGS.SONIC_JOB_HISTORY)
          .meta({ env: "SONIC_JOB_HISTORY", program: "api" })
          .describe(
            "Finished jobs kept for polling, by count (and none older than `SONIC_JOB_HISTORY_SECONDS`, 24 h).",
          ),
      })
      .strict()
      .describe("The service: its API and GPU worker tiers, their images, resources and settings.")
      .superRefine((s, ctx) => {
        if (!s.modelServer.simulated && !s.modelServer.image)
          ctx.addIssue({
            code: "custom",
            path: ["modelServer", "image"],
            message:
              "required: the Sonic model-server image, or 'modelServer.simulated: true' for the simulated one (no GPU)",
            input: undefined,
          });
        if (s.modelServer.port === API_SETTINGS.PORT.default)
          ctx.addIssue({
            code: "custom",
            path: ["modelServer", "port"],
            message: `must differ from the api container's port (${API_SETTINGS.PORT.default})`,
            input: s.modelServer.port,
          });
        if (s.modelServer.simulated && s.modelServer.image)
          ctx.addIssue({
            code: "custom",
            path: ["modelServer", "image"],
            message: "must be unset when 'modelServer.simulated' is true",
            input: s.modelServer.image,
          });
      }),
    /** The shared job queue: Valkey in the cluster, or a managed Redis (URL in the secret `queueRedisUrl`). */
    queue: z
      .object({
        mode: z
          .enum(["in-cluster", "external"])
          .default("in-cluster")
          .describe(
            "`in-cluster`: a Valkey StatefulSet with its AOF on a volume; `external`: a managed Redis, its URL in the secret `queueRedisUrl`.",
          ),
        storage: z
          .object({
            size: volumeSize.describe("The AOF volume of the in-cluster store."),
            storageClassName: z.string().min(1).optional().meta({
              description:
                "StorageClass of the volume; another provider's class than `clusterFlavor`'s is an error.",
              defaultText: "the cluster's default class",
            }),
          })
          .strict()
          .default({ size: "10Gi" })
          .describe("The in-cluster store's volume."),
      })
      .strict()
      .default({ mode: "in-cluster", storage: { size: "10Gi" } })
      .describe(
        "The shared job queue: Valkey in the cluster, or a managed Redis (URL in the secret `queueRedisUrl`).",
      ),
    autoscaling: z
      .object({
        enabled: z
          .boolean()
          .default(true)
          .describe("Autoscalers on; the Deployments then have no `replicas` (the autoscaler owns them)."),
        /** adapter: HPAs on prometheus-adapter's metrics; keda: KEDA ScaledObjects (scale to zero). */
        engine: z
          .enum(AUTOSCALING_ENGINES)
          .default("adapter")
          .describe(
            "`adapter`: prometheus-adapter + an HPA per tier; `keda`: KEDA ScaledObjects (the workers scale to zero) (docs/operate.md#the-engine-autoscalingengine-adapter--keda).",
          ),
        rateWindow: duration
          .default("2m")
          .describe("Rate window of the request-rate signal; at least 4 × `prometheus.scrapeInterval`."),
        /** Seconds between KEDA's polls of its triggers (engine keda). */
        pollingSeconds: z
          .number()
          .int()
          .min(1)
          .max(3600)
          .default(15)
          .describe("Seconds between KEDA's polls of its triggers (engine keda)."),
        /**
         * The move from adapter to keda (docs/operate.md#migrating-from-adapter-to-keda-with-no-window-in-which-nothing-scales): `standby` installs
         * KEDA beside the adapter's HPAs with paused ScaledObjects; `takeover` hands the HPAs to KEDA.
         */
        handover: z
          .enum(HANDOVER_STEPS)
          .optional()
          .describe(
            "The move from adapter to keda (docs/operate.md#migrating-from-adapter-to-keda-with-no-window-in-which-nothing-scales), with engine keda only: `standby` installs KEDA beside the adapter's HPAs with paused ScaledObjects; `takeover` hands the HPAs to KEDA.",
          ),
        /** The GPU worker tier: scales on the backlog (jobs queued + running / slots per pod). */
        worker: z
          .object({
            /** 0 scales to zero (engine keda only). */
            minReplicas: z
              .number()
              .int()
              .min(0)
              .default(1)
              .describe(
                "Fewest GPU pods; 0 (scale to zero) only with engine keda, and not during the `standby` handover. At most `maxReplicas`.",
              ),
            maxReplicas: positiveInt.default(2).describe("Most GPU pods."),
            targetBacklogPerPod: z
              .number()
              .min(0.1, { message: "expected a number >= 0.1" })
              .default(1)
              .describe("Target of (jobs queued + running) / slots per pod, per pod."),
            /** Seconds without work before KEDA takes the tier to zero. */
            cooldownSeconds: z
              .number()
              .int()
              .min(0)
              .max(86400)
              .default(300)
              .describe("Seconds without work before KEDA takes the tier to zero."),
          })
          .strict()
          .default({ minReplicas: 1, maxReplicas: 2, targetBacklogPerPod: 1, cooldownSeconds: 300 })
          .describe("The GPU worker tier: scales on the backlog (jobs queued + running / slots per pod)."),
        /** The API tier: scales on submissions per pod (sonic_request_qps), never below one. */
        api: z
          .object({
            minReplicas: z
              .number()
              .int()
              .min(1, { message: "must be >= 1: the API tier always runs" })
              .default(1)
              .describe("Fewest API pods, at least 1; at most `maxReplicas`."),
            maxReplicas: positiveInt.default(3).describe("Most API pods."),
            targetQpsPerPod: z
              .number()
              .min(0.001)
              .default(0.5)
              .describe("Submissions per second per API pod."),
            cpuUtilization: percent
              .default(0)
              .describe(
                "Percent of the API pod's CPU requests, a second target (needs metrics-server; engine adapter only); 0 leaves it out.",
              ),
          })
          .strict()
          .default({ minReplicas: 1, maxReplicas: 3, targetQpsPerPod: 0.5, cpuUtilization: 0 })
          .describe("The API tier: scales on submissions per pod (`sonic_request_qps`), never below one."),
        // Keys of the one-tier layout: accepted only to say where they went (superRefine below).
        ...Object.fromEntries(
          Object.entries(MOVED_AUTOSCALING_KEYS).map(([k, moved]) => [
            k,
            z
              .unknown()
              .optional()
              .meta({ deprecated: true, description: `Moved with the split into two tiers: set ${moved}.` }),
          ]),
        ),
      })
      .strict()
      .describe("Autoscaling of both tiers, by either engine."),
    /** The alert analyst: evidence and likely causes attached to each page; an optional model step. */
    analyst: z
      .object({
        enabled: z
          .boolean()
          .default(true)
          .describe(
            "Run the analyst; it posts where alerts go, so a `slack` or `webhook` receiver is then required.",
          ),
        model: z
          .object({
            url: stackField({ ...ANALYST_SETTINGS.ANALYST_MODEL_URL, required: true })
              .meta({ env: "ANALYST_MODEL_URL", program: "analyst" })
              .describe("The model's OpenAI-compatible base URL (`…/v1`)."),
            name: stackField({ ...ANALYST_SETTINGS.ANALYST_MODEL_NAME, default: undefined })
              .meta({ env: "ANALYST_MODEL_NAME", program: "analyst" })
              .describe("The model's name, sent with each request."),
            namespace: dnsName
              .optional()
              .describe(
                "The model's namespace when it runs in the cluster: the analyst's egress policy admits it.",
              ),
            timeoutSeconds: stackField(ANALYST_SETTINGS.ANALYST_MODEL_TIMEOUT_SECONDS).meta({
              env: "ANALYST_MODEL_TIMEOUT_SECONDS",
              program: "analyst",
            }),
          })
          .strict()
          .optional()
          .meta({
            description:
              "An optional OpenAI-compatible model step (an in-cluster vLLM/Ollama, or a hosted API; its key: the secret `analystModelApiKey`).",
            defaultText: "none: deterministic analysis only",
          }),
      })
      .strict()
      .default({ enabled: true })
      .describe(
        "The alert analyst: evidence and likely causes attached to each page; an optional model step.",
      ),
    /**
     * Other teams' services on this platform (their own stacks create their InferenceObservability):
     * the one prometheus-adapter serves their metrics, and their critical alerts page.
     */
    onboardedServices: z
      .array(
        z
          .object({
            metricPrefix: z
              .string()
              .regex(METRIC_PREFIX_PATTERN, { message: "expected a metric prefix like tts" })
              .describe("The service's metric prefix (metric contract)."),
            namespace: dnsName.describe("The namespace it runs in."),
          })
          .strict(),
      )
      .default([])
      .describe(
        "Other teams' services on this platform (their own stacks create their InferenceObservability): the one prometheus-adapter serves their metrics, and their critical alerts page.",
      ),
    /** Where the Helm charts come from: a mirror for air-gapped networks (docs/operate.md#charts-from-a-mirror). */
    charts: chartsSchema(CLUSTER_STACK_CHARTS).describe(
      "Where the Helm charts come from: a mirror for air-gapped networks (docs/operate.md#charts-from-a-mirror).",
    ),
    /** What a GPU costs, to price every video and the idle GPU-hours (recording rules, dashboard). */
    cost: z
      .object({
        /** Price of one GPU for one hour as billed (node price / GPUs per node). */
        gpuHourly: z
          .number()
          .positive()
          .describe("Price of one GPU for one hour as billed (node price / GPUs per node)."),
        /** ISO 4217 code, recorded as the `currency` label. */
        currency: z
          .string()
          .regex(/^[A-Z]{3}$/, { message: "expected an ISO 4217 code like USD or EUR" })
          .default("USD")
          .describe("ISO 4217 code, recorded as the `currency` label."),
      })
      .strict()
      .optional()
      .meta({
        description:
          "What a GPU costs: prices every video-minute and the idle GPU-hours (recording rules, dashboard).",
        defaultText: "none: GPU-hours only",
      }),
    alerts: z
      .object({
        ...thresholdShape,
        /** Where on-call finds the runbooks: required, so no page ever links to a placeholder. */
        runbookBaseUrl: httpUrl("the https URL of your runbooks.md").describe(
          "Base of every alert's `runbook_url` (`<base>#<alertname>`): where your on-call reads the runbooks. Required, so no page ever links to a placeholder.",
        ),
      })
      .strict()
      .describe(
        "Thresholds and `for:` durations of the rule catalogue (each overrides the catalogue's default), and where the runbooks are.",
      ),
  })
  .strict()
  .superRefine((c, ctx) => {
    const a = c.autoscaling as typeof c.autoscaling & Record<string, unknown>;
    for (const [key, moved] of Object.entries(MOVED_AUTOSCALING_KEYS))
      if (a[key] !== undefined)
        ctx.addIssue({
          code: "custom",
          path: ["autoscaling", key],
          message: `moved with the split into an API and a worker tier: set ${moved}`,
          input: a[key],
        });
    for (const tier of ["worker", "api"] as const)
      if (a[tier].minReplicas > a[tier].maxReplicas)
        ctx.addIssue({
          code: "custom",
          path: ["autoscaling", tier, "minReplicas"],
          message: `must be <= 'autoscaling.${tier}.maxReplicas' (${a[tier].maxReplicas})`,
          input: a[tier].minReplicas,
        });
    if (a.enabled && a.engine === "adapter" && a.worker.minReplicas === 0)
      ctx.addIssue({
        code: "custom",
        path: ["autoscaling", "worker", "minReplicas"],
        message:
          "0 (scale to zero) needs 'autoscaling.engine: keda': an HPA never scales below one pod; set 1 or more, or engine keda",
        input: 0,
      });
    if (a.handover !== undefined && a.engine !== "keda")
      ctx.addIssue({
        code: "custom",
        path: ["autoscaling", "handover"],
        message: "is a step of the move to 'autoscaling.engine: keda'; set engine keda, or remove it",
        input: a.handover,
      });
    if (a.enabled && a.engine === "keda" && a.handover === "standby" && a.worker.minReplicas === 0)
      ctx.addIssue({
        code: "custom",
        path: ["autoscaling", "worker", "minReplicas"],
        message:
          "0 (scale to zero) waits for the end of the handover: in 'standby' the adapter's HPA still scales the workers, and an HPA never goes below one pod",
        input: 0,
      });
    if (a.enabled && a.engine === "keda" && a.api.cpuUtilization > 0)
      ctx.addIssue({
        code: "custom",
        path: ["autoscaling", "api", "cpuUtilization"],
        message:
          "is read by an HPA on metrics.k8s.io, which engine keda's Prometheus triggers do not use; set 0, or use 'autoscaling.engine: adapter'",
        input: a.api.cpuUtilization,
      });
    if (
      a.enabled &&
      a.engine === "keda" &&
      a.handover !== "standby" &&
      c.monitoring.adapterExternalMetrics === true
    )
      ctx.addIssue({
        code: "custom",
        path: ["monitoring", "adapterExternalMetrics"],
        message:
          "must be false (or unset) with 'autoscaling.engine: keda': KEDA's metrics server owns v1beta1.external.metrics.k8s.io, and an APIService has one owner",
        input: true,
      });
    const volumes: [string[], string | undefined][] = [
      [["prometheus", "storage", "storageClassName"], c.prometheus.storage.storageClassName],
      [["queue", "storage", "storageClassName"], c.queue.storage.storageClassName],
    ];
    for (const [path, storageClass] of volumes) {
      const provider = storageClass && foreignStorageClass(c.clusterFlavor, storageClass);
      if (provider)
        ctx.addIssue({
          code: "custom",
          path,
          message: `is a ${provider} storage class, but 'clusterFlavor' is ${c.clusterFlavor}; leave it unset for the cluster's default class`,
          input: storageClass,
        });
    }
    if (
      c.monitoring.adapterExternalMetrics === false &&
      a.enabled &&
      (a.engine === "adapter" || a.handover === "standby")
    )
      ctx.addIssue({
        code: "custom",
        path: ["monitoring", "adapterExternalMetrics"],
        message:
          "is false, but the worker tier's HPA reads the external metric sonic_job_backlog from the adapter (engine adapter); leave it unset, or use 'autoscaling.engine: keda'",
        input: false,
      });
    const scrape = tryParseDuration(c.prometheus.scrapeInterval) ?? 0;
    if ((tryParseDuration(c.prometheus.scrapeTimeout) ?? 0) > scrape) {
      ctx.addIssue({
        code: "custom",
        path: ["prometheus", "scrapeTimeout"],
        message: `must be <= 'prometheus.scrapeInterval' (${c.prometheus.scrapeInterval})`,
        input: c.prometheus.scrapeTimeout,
      });
    }
    if ((tryParseDuration(c.autoscaling.rateWindow) ?? 0) < 4 * scrape) {
      ctx.addIssue({
        code: "custom",
        path: ["autoscaling", "rateWindow"],
        message: `must be at least 4x 'prometheus.scrapeInterval' (${c.prometheus.scrapeInterval})`,
        input: c.autoscaling.rateWindow,
      });
    }
  });

type Parsed = z.infer<typeof configSchema>;

/** Secret config keys. They are read with getSecret, so they stay secrets in state and outputs. */
export const SECRET_KEYS = [
  "grafanaAdminPassword",
  "slackWebhookUrl",
  "pagerdutyRoutingKey",
  "alertWebhookUrl",
  "remoteWritePassword",
  "queueRedisUrl",
  "analystModelApiKey",
] as const;
export type SecretKey = (typeof SECRET_KEYS)[number];

/** What each secret is, for the configuration reference (`npm run docs`). */
export const SECRET_DOCS: Record<SecretKey, string> = {
  grafanaAdminPassword:
    "Grafana's admin password. Optional: generated with `@pulumi/random` when absent (so is the in-cluster Redis password, kept in the Secret `sonic-queue` and read by the pods through `secretKeyRef`).",
  slackWebhookUrl:
    "Slack incoming-webhook URL of the `slack` receivers and the analyst's reports: an `http(s)://` URL with a host.",
  pagerdutyRoutingKey: "PagerDuty Events API v2 routing key of the `pagerduty` receivers.",
  alertWebhookUrl:
    "URL of the `webhook` receivers (Alertmanager's webhook protocol): an `http(s)://` URL with a host.",
  remoteWritePassword:
    "Password of `prometheus.remoteWrite.username` at the fleet's store: the fleet stack's output `writePasswords.<cluster>`.",
  queueRedisUrl:
    "The managed Redis of `queue.mode: external`: `redis://` or `rediss://` with a host, a port in 1..65535 (6379 when absent: the workers' egress policy opens it), at most a database number as its path, and any `#` of the password percent-encoded (`%23`).",
  analystModelApiKey: "API key of the analyst's model (`analyst.model.url`), when the endpoint needs one.",
};

/** The secrets a parsed config needs, each with the setting that needs it. */
export function requiredSecrets(c: Parsed): { key: SecretKey; why: string }[] {
  const receivers = Object.values(c.alertmanager.receivers);
  const needs: [boolean, SecretKey, string][] = [
    [receivers.includes("slack"), "slackWebhookUrl", "a receiver is slack"],
    [receivers.includes("pagerduty"), "pagerdutyRoutingKey", "a receiver is pagerduty"],
    [receivers.includes("webhook"), "alertWebhookUrl", "a receiver is webhook"],
    [
      c.prometheus.remoteWrite?.username !== undefined,
      "remoteWritePassword",
      "prometheus.remoteWrite.username is set",
    ],
    [c.queue.mode === "external", "queueRedisUrl", "queue.mode is external"],
  ];
  return needs.filter(([needed]) => needed).map(([, key, why]) => ({ key, why }));
}

/**
 * The secrets whose plaintext is a URL, with the check each must pass (contract/urls.ts) and whether
 * its path may be quoted (a Redis URL's path is a database number; a webhook's path is its token).
 * They are checked at the door like every other key: a malformed one fails the preview with its key
 * named, before any resource, its value quoted without credentials (`redactUrl`).
 */
export const SECRET_URLS: Partial<
  Record<SecretKey, { problem: (url: string) => string | undefined; keepPath: boolean | RegExp }>
> = {
  queueRedisUrl: { problem: redisUrlProblem, keepPath: REDIS_DATABASE_PATH },
  slackWebhookUrl: {
    problem: (url) =>
      httpUrlProblem(url, "a Slack incoming-webhook URL like https://hooks.slack.com/services/T0/B0/X"),
    keepPath: false,
  },
  alertWebhookUrl: {
    problem: (url) => httpUrlProblem(url, "an http(s) URL that takes Alertmanager's webhook"),
    keepPath: false,
  },
};

export type StackConfig = Parsed & {
  /** Secrets that are set; absent keys are absent here. */
  secrets: Partial<Record<SecretKey, pulumi.Output<string>>>;
};

/** The error every bad config value produces: `sonic-observability:<path>: <problem>, got <value>`. */
export class StackConfigError extends Error {
  constructor(public readonly problems: string[]) {
    super(`invalid stack configuration:\n  ${problems.join("\n  ")}`);
    this.name = "StackConfigError";
  }
}

function describe(value: unknown): string {
  return value === undefined ? "nothing" : typeof value === "string" ? `"${value}"` : JSON.stringify(value);
}

/**
 * Parses and validates raw config (key -> value as stored by Pulumi: strings, objects as JSON text) and
 * the set of secret keys present. A secret whose plaintext is in `raw` (as the engine hands it to the
 * program) counts as present and, when it is a URL (`SECRET_URLS`), is checked too; `presentSecrets`
 * names those known only to exist (a stack file's `secure:` values, which tests cannot decrypt).
 * Pure, so tests feed it directly; throws StackConfigError listing every problem.
 */
export function parseStackConfig(raw: Record<string, string>, presentSecrets: ReadonlySet<string>): Parsed {
  const problems: string[] = [];
  const input: Record<string, unknown> = {};
  const secretValues = new Map<SecretKey, string>();
  for (const [key, text] of Object.entries(raw)) {
    if ((SECRET_KEYS as readonly string[]).includes(key)) {
      secretValues.set(key as SecretKey, text);
      continue;
    }
    try {
      input[key] = /^\s*[[{]/.test(text) ? JSON.parse(text) : text;
    } catch {
      problems.push(`${PROJECT}:${key}: expected YAML/JSON object, got ${describe(text)}`);
    }
  }
  const result = configSchema.safeParse(input, { reportInput: true });
  if (!result.success) {
    for (const issue of result.error.issues) {
      const path = [PROJECT + ":" + String(issue.path[0] ?? ""), ...issue.path.slice(1).map(String)].join(
        ".",
      );
      if (issue.code === "unrecognized_keys") {
        problems.push(
          `${path}: unknown key${issue.keys.length > 1 ? "s" : ""} ${issue.keys.map((k) => `"${k}"`).join(", ")}`,
        );
      } else {
        problems.push(`${path}: ${issue.message}, got ${describe(issue.input)}`);
      }
    }
  }
  for (const [key, url] of secretValues) {
    const rule = SECRET_URLS[key];
    const problem = rule?.problem(url);
    if (rule && problem)
      problems.push(`${PROJECT}:${key}: ${problem}, got ${describe(redactUrl(url, rule.keepPath))}`);
  }
  if (problems.length > 0) throw new StackConfigError(problems);
  const c = result.data!;
  for (const { key, why } of requiredSecrets(c)) {
    if (!presentSecrets.has(key) && !secretValues.has(key)) {
      problems.push(
        `${PROJECT}:${key}: required because ${why}; set it with 'pulumi config set --secret ${key} <value>'`,
      );
    }
  }
  const receivers = Object.values(c.alertmanager.receivers);
  if (c.analyst.enabled && !receivers.includes("slack") && !receivers.includes("webhook"))
    problems.push(
      `${PROJECT}:analyst.enabled: the analyst posts where alerts go, but no receiver is slack or webhook; set a slack or webhook receiver, or 'analyst.enabled: false'`,
    );
  if (problems.length > 0) throw new StackConfigError(problems);
  return c;
}

/**
 * Reads the current stack's config once: call it before creating any resource. The engine hands the
 * program every value decrypted, so the secrets' plaintext is checked here too (SECRET_URLS); the
 * program itself reads them as secret Outputs only.
 */
export function loadStackConfig(): StackConfig {
  const raw: Record<string, string> = {};
  const secrets = new Set<string>();
  for (const [fullKey, value] of Object.entries(pulumi.runtime.allConfig())) {
    if (!fullKey.startsWith(`${PROJECT}:`)) continue;
    const key = fullKey.slice(PROJECT.length + 1);
    if ((SECRET_KEYS as readonly string[]).includes(key)) secrets.add(key);
    raw[key] = value;
  }
  const parsed = parseStackConfig(raw, secrets);
  const config = new pulumi.Config(PROJECT);
  const present: StackConfig["secrets"] = {};
  for (const key of SECRET_KEYS) {
    if (secrets.has(key)) present[key] = config.requireSecret(key);
  }
  return { ...parsed, secrets: present };
}
