import { z } from "zod";
import {
  AlertThresholds,
  CHART_PINS,
  DEFAULT_THRESHOLDS,
  METRIC_PREFIX_PATTERN,
  RECEIVER_KINDS,
  REMOTE_WRITE_SERIES,
  ReceiverKind,
  SEVERITIES,
} from "../../components";
import { ANALYST_SETTINGS, stackField } from "../../contract";
import {
  boundedResources,
  containerLimits,
  dnsName,
  duration,
  httpUrl,
  labelValue,
  positiveInt,
  quantity,
  ratio,
  volumeSize,
} from "./value-types";

/** Bounds of the cluster add-ons' containers (prometheus-adapter, Alertmanager). */
const CLUSTER_ADDON_BOUNDS = { min: { cpu: "10m", memory: "32Mi" }, max: { cpu: "8", memory: "16Gi" } };

// The keys of the monitoring path: kube-prometheus-stack and prometheus-adapter, Prometheus, Alertmanager,
// the rule catalogue's thresholds (`alerts`), the GPU price (`cost`) and the other teams' services.

export const monitoringSchema = z
  .object({
    namespace: dnsName.default("monitoring").describe("Namespace of the monitoring stack."),
    releaseName: dnsName
      .default("prometheus-stack")
      .describe("Helm release name of kube-prometheus-stack: Prometheus selects `release: <name>`."),
    chartVersion: z
      .string()
      .default(CHART_PINS.kubePrometheusStack.version)
      .describe("kube-prometheus-stack chart version."),
    adapterReplicas: positiveInt
      .default(1)
      .describe(
        "prometheus-adapter replicas: it serves the HPAs' metrics API, so 2 keeps scaling alive through a node drain.",
      ),
    adapterResources: boundedResources(CLUSTER_ADDON_BOUNDS).optional().meta({
      description:
        "Requests and limits of prometheus-adapter's container (CPU 10m to 8, memory 32Mi to 16Gi).",
      defaultText: "none (BestEffort)",
    }),
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
  .describe("kube-prometheus-stack and prometheus-adapter.");

export const prometheusSchema = z
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
    scrapeTimeout: duration.default("10s").describe("Timeout of the Sonic scrape; at most `scrapeInterval`."),
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
        tenant: labelValue
          .optional()
          .describe("Sent as `X-Scope-OrgID`: the fleet routes the cluster's series to this tenant."),
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
  .describe("The cluster's Prometheus.");

export const alertmanagerSchema = z
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
    resources: boundedResources(CLUSTER_ADDON_BOUNDS).optional().meta({
      description: "Requests and limits of each Alertmanager container (CPU 10m to 8, memory 32Mi to 16Gi).",
      defaultText: "none (BestEffort)",
    }),
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
  .describe("Alertmanager: where each severity goes.");

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

export const alertsSchema = z
  .object({
    ...thresholdShape,
    runbookBaseUrl: httpUrl("the https URL of your runbooks.md").describe(
      "Base of every alert's `runbook_url` (`<base>#<alertname>`): where your on-call reads the runbooks. Required, so no page ever links to a placeholder.",
    ),
  })
  .strict()
  .describe(
    "Thresholds and `for:` durations of the rule catalogue (each overrides the catalogue's default), and where the runbooks are.",
  );

export const costSchema = z
  .object({
    gpuHourly: z
      .number()
      .positive()
      .describe("Price of one GPU for one hour as billed (node price / GPUs per node)."),
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
  });

export const onboardedServicesSchema = z
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
  );
