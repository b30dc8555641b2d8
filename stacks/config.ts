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

const duration = z
  .string()
  .refine((s) => s !== "" && DURATION_PATTERN.test(s), { message: "expected a duration like 30d" });
const quantity = z
  .string()
  .regex(/^\d+(\.\d+)?(m|Ki|Mi|Gi|Ti)?$/, { message: "expected a Kubernetes quantity like 4Gi or 500m" });
const volumeSize = z.string().regex(/^\d+(Gi|Ti)$/, { message: "expected a size in Gi or Ti like 50Gi" });
const labelValue = z.string().regex(/^[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/, {
  message: "expected a Kubernetes label value (alphanumerics, '-', '_', '.', at most 63)",
});
const dnsName = z
  .string()
  .regex(/^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/, { message: "expected a DNS-1123 name like ai-inference" });
const positiveInt = z.number().int().min(1);
const imageRef = z.string().regex(/^[^\s:@]+(:[\w][\w.-]{0,127})?(@sha256:[a-f0-9]{64})?$/, {
  message: "expected an image reference like registry/sonic:1.2.3",
});
const containerResources = z
  .object({
    requests: z.object({ cpu: quantity, memory: quantity }).strict(),
    limits: z.object({ cpu: quantity.optional(), memory: quantity.optional() }).strict().optional(),
  })
  .strict();
const percent = z.number().int().min(0).max(100);
/** An http(s) URL with a host: zod's own url() takes "host:port" too (as a URL of scheme "host:"). */
const httpUrl = (example?: string) =>
  z.string().superRefine((s, ctx) => {
    const problem = httpUrlProblem(s, example);
    if (problem) ctx.addIssue({ code: "custom", message: problem, input: s });
  });
/** A chart repository or OCI registry (`chartSource`); quoted without credentials. */
const chartRepository = z.string().superRefine((s, ctx) => {
  const problem = chartRepositoryProblem(s);
  if (problem) ctx.addIssue({ code: "custom", message: problem, input: redactUrl(s, true) });
});

/**
 * The `charts` key of a stack: where its Helm charts come from (docs/operate.md#charts-from-a-mirror).
 * `repository` serves every chart of the stack; `overrides.<chart>.repository` one chart, first.
 */
export function chartsSchema<const C extends readonly string[]>(charts: C) {
  return z
    .object({
      /** One mirror for every chart. @default none: each chart's public repository */
      repository: chartRepository.optional(),
      overrides: z
        .object(
          Object.fromEntries(
            charts.map((c) => [c, z.object({ repository: chartRepository }).strict().optional()]),
          ) as { [K in C[number]]: z.ZodOptional<z.ZodObject<{ repository: typeof chartRepository }>> },
        )
        .strict()
        .default({} as never),
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
    ).optional(),
  ]),
) as unknown as { [K in keyof AlertThresholds]: z.ZodOptional<z.ZodType<AlertThresholds[K]>> };

/** Every key of the stack files, with its type and default. Unknown keys are errors (typos fail loudly). */
export const configSchema = z
  .object({
    env: z.enum(["dev", "staging", "prod"]),
    cluster: labelValue,
    /** eks | gke | aks | kubeadm | generic: which control-plane targets exist to be monitored. */
    clusterFlavor: z.enum(CLUSTER_FLAVORS).default("generic"),
    /** Egress policies admit DNS to NodeLocal DNSCache (169.254.20.10) too. @default by flavour (gke: on) */
    nodeLocalDns: z.boolean().optional(),
    labels: z.object({ team: labelValue, service: labelValue }).strict(),
    monitoring: z
      .object({
        namespace: dnsName.default("monitoring"),
        releaseName: dnsName.default("prometheus-stack"),
        chartVersion: z.string().default(CHART_PINS.kubePrometheusStack.version),
        /** prometheus-adapter serves the HPA's metrics API: 2 keeps scaling alive through a node drain. */
        adapterReplicas: positiveInt.default(1),
        /** Serve external.metrics.k8s.io; false where KEDA or Datadog already owns it. @default engine adapter: true; keda: false */
        adapterExternalMetrics: z.boolean().optional(),
      })
      .strict()
      .default({
        namespace: "monitoring",
        releaseName: "prometheus-stack",
        chartVersion: CHART_PINS.kubePrometheusStack.version,
        adapterReplicas: 1,
      }),
    prometheus: z
      .object({
        retention: duration,
        retentionSize: z
          .string()
          .regex(/^\d+GiB$/, { message: "expected a size in GiB like 40GiB" })
          .optional(),
        replicas: positiveInt.default(1),
        scrapeInterval: duration.default("15s"),
        /** Timeout of the Sonic scrape; at most the interval. */
        scrapeTimeout: duration.default("10s"),
        evaluationInterval: duration.default("15s"),
        resources: z
          .object({
            requests: z.object({ cpu: quantity.optional(), memory: quantity }).strict(),
            limits: z.object({ cpu: quantity.optional(), memory: quantity.optional() }).strict().optional(),
          })
          .strict(),
        storage: z.object({ size: volumeSize, storageClassName: z.string().min(1).optional() }).strict(),
        /** Remote write to the fleet's global store (docs/fleet.md, 'Adding a cluster to the fleet'). */
        remoteWrite: z
          .object({
            url: httpUrl(),
            username: z.string().min(1).optional(),
            /** Sent as X-Scope-OrgID: the fleet routes the cluster's series to this tenant. */
            tenant: labelValue.optional(),
            /** fleet: recordings + contract metrics (a few thousand series); all: every series. */
            series: z.enum(REMOTE_WRITE_SERIES).default("fleet"),
          })
          .strict()
          .optional(),
      })
      .strict(),
    alertmanager: z
      .object({
        replicas: positiveInt.default(1),
        receivers: z
          .object(
            Object.fromEntries(
              SEVERITIES.map((s) => [
                s,
                z.enum(RECEIVER_KINDS as [ReceiverKind, ...ReceiverKind[]]).default("none"),
              ]),
            ),
          )
          .strict(),
        slackChannel: stackField({ ...ANALYST_SETTINGS.ANALYST_SLACK_CHANNEL, default: "#alerts" }),
        repeatInterval: z
          .object(Object.fromEntries(SEVERITIES.map((s) => [s, duration.optional()])))
          .strict()
          .default({}),
      })
      .strict(),
    sonic: z
      .object({
        namespace: dnsName.default("ai-inference"),
        /** The project's image: the `api` container, and the simulated model server when asked. */
        image: imageRef,
        // Keys that become a program's environment take their bounds and defaults from its table
        // (contract/), so the stack refuses at preview what the pod would refuse at start.
        gpuCount: stackField(WORKER_SETTINGS.SONIC_GPU_COUNT),
        concurrencyPerGpu: stackField(WORKER_SETTINGS.SONIC_CONCURRENCY_PER_GPU),
        /** Fixed worker (GPU) replicas while autoscaling is off; 0 parks the GPUs. */
        replicas: z.number().int().min(0).default(1),
        /** CPU and memory of the `worker` container (the job runner beside the model server; no GPU). */
        resources: containerResources.default({
          requests: { cpu: "500m", memory: "1Gi" },
          limits: { memory: "2Gi" },
        }),
        /** Node + image pull + model load: what a job waits with no worker up (Retry-After, estimates). */
        coldStartSeconds: stackField(API_SETTINGS.SONIC_COLD_START_SECONDS),
        /** The API tier: CPU pods that accept and store jobs, never run them, at least one always. */
        api: z
          .object({
            /** Fixed API replicas while autoscaling is off. */
            replicas: z
              .number()
              .int()
              .min(1, { message: "must be >= 1: the API tier always runs" })
              .default(1),
            /** CPU and memory of the `api` container. */
            resources: containerResources.default({
              requests: { cpu: "250m", memory: "256Mi" },
              limits: { memory: "512Mi" },
            }),
          })
          .strict()
          .default({
            replicas: 1,
            resources: { requests: { cpu: "250m", memory: "256Mi" }, limits: { memory: "512Mi" } },
          }),
        modelServer: z
          .object({
            image: imageRef.optional(),
            simulated: z.boolean().default(false),
            port: stackField(SIMULATED_MODEL_SERVER_SETTINGS.PORT),
            resources: containerResources,
            startupTimeoutSeconds: positiveInt.default(900),
            /**
             * Where the model server may connect beyond the queue store and DNS (the worker tier's
             * NetworkPolicy admits nothing else): a model that downloads its weights at start needs its
             * hub here, e.g. `[{ cidr: 0.0.0.0/0, ports: [443] }]`, or the weights baked into its image.
             */
            egress: z
              .array(
                z
                  .object({
                    cidr: z.union([z.cidrv4(), z.cidrv6()], { message: "expected a CIDR like 10.0.0.0/8" }),
                    ports: z.array(z.number().int().min(1).max(65535)).min(1),
                  })
                  .strict(),
              )
              .default([]),
          })
          .strict(),
        nodeSelector: z.record(z.string(), z.string()).optional(),
        tolerations: z
          .array(
            z
              .object({
                key: z.string().min(1).optional(),
                operator: z.enum(["Exists", "Equal"]).default("Equal"),
                value: z.string().optional(),
                effect: z.enum(["NoSchedule", "PreferNoSchedule", "NoExecute"]).optional(),
              })
              .strict(),
          )
          .optional(),
        apiClientNamespaces: z.array(dnsName).min(1, { message: "expected at least one namespace" }),
        teamGroup: z.string().min(1),
        /** The app drains for 15 s less (SONIC_SHUTDOWN_GRACE_SECONDS), at most its maximum. */
        terminationGracePeriodSeconds: positiveInt
          .max(API_SETTINGS.SONIC_SHUTDOWN_GRACE_SECONDS.max + DRAIN_MARGIN_SECONDS)
          .default(600),
        /** Pulumi's wait for a rollout of GPU pods (drain + model load, one pod at a time). */
        rolloutTimeout: duration.default("60m"),
        /** Jobs queued + running across the service before submissions get 429. */
        backlogLimit: stackField(API_SETTINGS.SONIC_BACKLOG_LIMIT),
        /** Bytes of one uploaded file. */
        maxUploadBytes: stackField(API_SETTINGS.SONIC_MAX_UPLOAD_BYTES),
        /** Finished jobs kept for polling, by count. */
        jobHistory: stackField(API_SETTINGS.SONIC_JOB_HISTORY),
      })
      .strict()
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
        mode: z.enum(["in-cluster", "external"]).default("in-cluster"),
        storage: z
          .object({ size: volumeSize, storageClassName: z.string().min(1).optional() })
          .strict()
          .default({ size: "10Gi" }),
      })
      .strict()
      .default({ mode: "in-cluster", storage: { size: "10Gi" } }),
    autoscaling: z
      .object({
        enabled: z.boolean().default(true),
        /** adapter: HPAs on prometheus-adapter's metrics; keda: KEDA ScaledObjects (scale to zero). */
        engine: z.enum(AUTOSCALING_ENGINES).default("adapter"),
        rateWindow: duration.default("2m"),
        /** Seconds between KEDA's polls of its triggers (engine keda). */
        pollingSeconds: z.number().int().min(1).max(3600).default(15),
        /**
         * The move from adapter to keda (docs/operate.md#migrating-from-adapter-to-keda-with-no-window-in-which-nothing-scales): `standby` installs
         * KEDA beside the adapter's HPAs with paused ScaledObjects; `takeover` hands the HPAs to KEDA.
         */
        handover: z.enum(HANDOVER_STEPS).optional(),
        /** The GPU worker tier: scales on the backlog (jobs queued + running / slots per pod). */
        worker: z
          .object({
            /** 0 scales to zero (engine keda only). */
            minReplicas: z.number().int().min(0).default(1),
            maxReplicas: positiveInt.default(2),
            targetBacklogPerPod: z.number().min(0.1, { message: "expected a number >= 0.1" }).default(1),
            /** Seconds without work before KEDA takes the tier to zero. */
            cooldownSeconds: z.number().int().min(0).max(86400).default(300),
          })
          .strict()
          .default({ minReplicas: 1, maxReplicas: 2, targetBacklogPerPod: 1, cooldownSeconds: 300 }),
        /** The API tier: scales on submissions per pod (sonic_request_qps), never below one. */
        api: z
          .object({
            minReplicas: z
              .number()
              .int()
              .min(1, { message: "must be >= 1: the API tier always runs" })
              .default(1),
            maxReplicas: positiveInt.default(3),
            targetQpsPerPod: z.number().min(0.001).default(0.5),
            cpuUtilization: percent.default(0),
          })
          .strict()
          .default({ minReplicas: 1, maxReplicas: 3, targetQpsPerPod: 0.5, cpuUtilization: 0 }),
        // Keys of the one-tier layout: accepted only to say where they went (superRefine below).
        ...Object.fromEntries(Object.keys(MOVED_AUTOSCALING_KEYS).map((k) => [k, z.unknown().optional()])),
      })
      .strict(),
    /** The alert analyst: evidence and likely causes attached to each page; an optional model step. */
    analyst: z
      .object({
        enabled: z.boolean().default(true),
        model: z
          .object({
            url: stackField({ ...ANALYST_SETTINGS.ANALYST_MODEL_URL, required: true }),
            name: stackField({ ...ANALYST_SETTINGS.ANALYST_MODEL_NAME, default: undefined }),
            namespace: dnsName.optional(),
            timeoutSeconds: stackField(ANALYST_SETTINGS.ANALYST_MODEL_TIMEOUT_SECONDS),
          })
          .strict()
          .optional(),
      })
      .strict()
      .default({ enabled: true }),
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
              .regex(METRIC_PREFIX_PATTERN, { message: "expected a metric prefix like tts" }),
            namespace: dnsName,
          })
          .strict(),
      )
      .default([]),
    /** Where the Helm charts come from: a mirror for air-gapped networks (docs/operate.md#charts-from-a-mirror). */
    charts: chartsSchema(CLUSTER_STACK_CHARTS),
    /** What a GPU costs, to price every video and the idle GPU-hours (recording rules, dashboard). */
    cost: z
      .object({
        /** Price of one GPU for one hour as billed (node price / GPUs per node). */
        gpuHourly: z.number().positive(),
        /** ISO 4217 code, recorded as the `currency` label. */
        currency: z
          .string()
          .regex(/^[A-Z]{3}$/, { message: "expected an ISO 4217 code like USD or EUR" })
          .default("USD"),
      })
      .strict()
      .optional(),
    alerts: z
      .object({
        ...thresholdShape,
        /** Where on-call finds the runbooks: required, so no page ever links to a placeholder. */
        runbookBaseUrl: httpUrl("the https URL of your runbooks.md"),
      })
      .strict(),
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
  const needs: [boolean, SecretKey, string][] = [
    [Object.values(c.alertmanager.receivers).includes("slack"), "slackWebhookUrl", "a receiver is slack"],
    [
      Object.values(c.alertmanager.receivers).includes("pagerduty"),
      "pagerdutyRoutingKey",
      "a receiver is pagerduty",
    ],
    [Object.values(c.alertmanager.receivers).includes("webhook"), "alertWebhookUrl", "a receiver is webhook"],
    [
      c.prometheus.remoteWrite?.username !== undefined,
      "remoteWritePassword",
      "prometheus.remoteWrite.username is set",
    ],
    [c.queue.mode === "external", "queueRedisUrl", "queue.mode is external"],
  ];
  for (const [needed, key, why] of needs) {
    if (needed && !presentSecrets.has(key) && !secretValues.has(key)) {
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
