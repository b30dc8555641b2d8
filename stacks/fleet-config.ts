import * as pulumi from "@pulumi/pulumi";
import { z } from "zod";
import {
  DEFAULT_FLEET_THRESHOLDS,
  FLEET_STACK_CHARTS,
  FleetThresholds,
  METRIC_PREFIX_PATTERN,
} from "../components";
import { chartsSchema, PROJECT, SECRET_KEYS, StackConfigError } from "./config";
import { envSchema, labelsSchema } from "./config/config-schema";
import {
  boundedResources,
  dnsName,
  duration,
  httpUrl,
  labelValue,
  ResourceBounds,
  volumeSize,
} from "./config/value-types";

/** Bounds of every fleet container but vmstorage: a small process, at most a large node's share. */
const FLEET_BOUNDS: ResourceBounds = {
  min: { cpu: "10m", memory: "32Mi" },
  max: { cpu: "16", memory: "64Gi" },
};
/** vmstorage holds the index and caches of every series: below 256Mi it thrashes even on a few thousand. */
const STORAGE_BOUNDS: ResourceBounds = {
  min: { cpu: "100m", memory: "256Mi" },
  max: { cpu: "32", memory: "256Gi" },
};
const sized = (who: string, bounds: ResourceBounds = FLEET_BOUNDS) =>
  boundedResources(bounds).describe(
    `Requests and limits of ${who} (CPU ${bounds.min.cpu} to ${bounds.max.cpu}, memory ${bounds.min.memory} to ${bounds.max.memory}).`,
  );

const fleetThresholdShape = Object.fromEntries(
  Object.entries(DEFAULT_FLEET_THRESHOLDS).map(([key, value]) => [
    key,
    (typeof value === "string" ? duration : z.number().gt(0))
      .optional()
      .meta({ defaultText: `\`${value}\`` }),
  ]),
) as unknown as { [K in keyof FleetThresholds]: z.ZodOptional<z.ZodType<FleetThresholds[K]>> };

/**
 * The fleet stack's config (`Pulumi.fleet.yaml`): the global store, who may write to it, its ruler and
 * Grafana. A stack file with a `fleet` key runs the fleet program (stacks/main.ts); nothing of a
 * cluster stack is read.
 */
export const fleetConfigSchema = z
  .object({
    env: envSchema,
    labels: labelsSchema,
    fleet: z
      .object({
        namespace: dnsName
          .default("fleet")
          .describe("Namespace of the store, its ruler and Grafana, created by the stack."),
        tenants: z
          .record(labelValue, z.number().int().min(0))
          .describe(
            "`X-Scope-OrgID` value -> VictoriaMetrics account id. A tenant's series are visible only to its own ruler and data source.",
          ),
        clusters: z
          .array(
            z
              .object({
                name: labelValue.describe("The cluster stack's `cluster` (also its user at the store)."),
                tenant: labelValue.describe("Its `prometheus.remoteWrite.tenant`: a key of `fleet.tenants`."),
              })
              .strict(),
          )
          .min(1, { message: "expected a cluster" })
          .describe(
            "Every cluster stack that writes here; a password is generated for each (output `writePasswords`). A listed cluster that stops sending pages (`FleetClusterNotSending`), even one that never sent.",
          ),
        services: z
          .array(
            z
              .object({
                metricPrefix: z
                  .string()
                  .regex(METRIC_PREFIX_PATTERN)
                  .describe("The service's metric prefix (metric contract)."),
                namespace: z.string().min(1).describe("The namespace it runs in, in every cluster."),
                hpaName: z
                  .string()
                  .min(1)
                  .describe(
                    "The GPU worker tier's HPA (the one that scales on the backlog; KEDA's keeps the name).",
                  ),
              })
              .strict(),
          )
          .default([{ metricPrefix: "sonic", namespace: "ai-inference", hpaName: "sonic-generate-worker" }])
          .describe("The services with fleet dashboards and rules."),
        retention: duration.default("90d").describe("How long the store keeps samples."),
        dedupInterval: duration
          .default("15s")
          .describe(
            "The clusters' scrape interval: the store keeps one sample per series per interval (an HA pair's two streams merge).",
          ),
        storage: z
          .object({
            size: volumeSize.describe("vmstorage volume per replica."),
            storageClassName: z.string().min(1).optional().meta({
              description: "StorageClass of the volumes.",
              defaultText: "the cluster's default class",
            }),
          })
          .strict()
          .default({ size: "200Gi" })
          .describe("vmstorage's volumes."),
        replicas: z
          .object({
            storage: z
              .number()
              .int()
              .min(1)
              .optional()
              .meta({ description: "vmstorage replicas.", defaultText: "`3`" }),
            insert: z
              .number()
              .int()
              .min(1)
              .optional()
              .meta({ description: "vminsert replicas.", defaultText: "`2`" }),
            select: z
              .number()
              .int()
              .min(1)
              .optional()
              .meta({ description: "vmselect replicas.", defaultText: "`2`" }),
            auth: z
              .number()
              .int()
              .min(1)
              .optional()
              .meta({ description: "vmauth replicas.", defaultText: "`2`" }),
          })
          .strict()
          .default({})
          .describe("Replicas of the store's parts: vmstorage holds the data, the others are stateless."),
        replicationFactor: z
          .number()
          .int()
          .min(1)
          .default(2)
          .describe(
            "Copies of every sample across vmstorage nodes (survives losing replicationFactor - 1 nodes).",
          ),
        resources: z
          .object({
            storage: sized("vmstorage", STORAGE_BOUNDS),
            insert: sized("vminsert"),
            select: sized("vmselect"),
            auth: sized("vmauth"),
            ruler: sized("vmalert (each ruler)"),
            grafana: sized("Grafana"),
            grafanaSidecar: sized("Grafana's dashboard sidecar"),
          })
          .strict()
          .describe(
            "Requests and limits of every fleet container (docs/fleet.md: sized from VictoriaMetrics' capacity planning for the fleet's series).",
          ),
        spreadAcrossZones: z
          .boolean()
          .default(false)
          .describe(
            "Also spread every multi-replica workload across `topology.kubernetes.io/zone` (nodes are always spread); for a fleet cluster whose nodes are in zones.",
          ),
        ingress: z
          .object({
            host: z.string().min(1).describe("Host name the clusters write to."),
            className: z.string().optional().describe("IngressClass."),
            tlsSecretName: z.string().optional().describe("Secret with the host's TLS certificate."),
          })
          .strict()
          .optional()
          .meta({
            description: "Public host of the write endpoint: an Ingress to vmauth.",
            defaultText: "no Ingress",
          }),
        alertmanagerUrl: httpUrl().describe(
          "Where the fleet ruler sends alerts: an Alertmanager with the platform's routing (the fleet cluster's own).",
        ),
        evaluationInterval: duration.default("30s").describe("The fleet ruler's evaluation interval."),
        runbookBaseUrl: httpUrl().describe("Base of the fleet alerts' `runbook_url`."),
        thresholds: z
          .object(fleetThresholdShape)
          .strict()
          .default({})
          .describe("Thresholds and `for:` durations of the fleet rules."),
      })
      .strict()
      .describe(
        "The global store (VictoriaMetrics cluster) every cluster stack remote-writes to, its ruler (vmalert) and the fleet Grafana.",
      ),
    charts: chartsSchema(FLEET_STACK_CHARTS),
  })
  .strict();

export type FleetConfig = z.infer<typeof fleetConfigSchema> & {
  secrets: { grafanaAdminPassword?: pulumi.Output<string> };
};

/** Whether raw stack config (key -> value, without the project prefix) belongs to a fleet stack. */
export function isFleetConfig(raw: Record<string, string>): boolean {
  return "fleet" in raw;
}

/** Parses and validates a fleet stack's raw config; throws StackConfigError naming every bad key. */
export function parseFleetConfig(raw: Record<string, string>): z.infer<typeof fleetConfigSchema> {
  const input: Record<string, unknown> = {};
  for (const [key, text] of Object.entries(raw)) {
    if ((SECRET_KEYS as readonly string[]).includes(key)) continue;
    input[key] = /^\s*[[{]/.test(text) ? JSON.parse(text) : text;
  }
  const result = fleetConfigSchema.safeParse(input, { reportInput: true });
  if (!result.success) {
    throw new StackConfigError(
      result.error.issues.map((issue) => {
        const path = [`${PROJECT}:${String(issue.path[0] ?? "")}`, ...issue.path.slice(1).map(String)].join(
          ".",
        );
        return issue.code === "unrecognized_keys"
          ? `${path}: unknown key${issue.keys.length > 1 ? "s" : ""} ${issue.keys.map((k) => `"${k}"`).join(", ")}`
          : `${path}: ${issue.message}, got ${JSON.stringify(issue.input) ?? "nothing"}`;
      }),
    );
  }
  const c = result.data;
  const problems = c.fleet.clusters.flatMap((cluster, i) =>
    cluster.tenant in c.fleet.tenants
      ? []
      : [
          `${PROJECT}:fleet.clusters.${i}.tenant: "${cluster.tenant}" is not one of fleet.tenants (${Object.keys(c.fleet.tenants).join(", ")})`,
        ],
  );
  if (problems.length > 0) throw new StackConfigError(problems);
  return c;
}

/** The running fleet stack's config, validated before the first resource. */
export function loadFleetConfig(): FleetConfig {
  const raw: Record<string, string> = {};
  for (const [fullKey, value] of Object.entries(pulumi.runtime.allConfig())) {
    if (fullKey.startsWith(`${PROJECT}:`)) raw[fullKey.slice(PROJECT.length + 1)] = value;
  }
  const parsed = parseFleetConfig(raw);
  const password = new pulumi.Config(PROJECT).getSecret("grafanaAdminPassword");
  return { ...parsed, secrets: password ? { grafanaAdminPassword: password } : {} };
}
