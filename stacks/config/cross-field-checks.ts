import type { z } from "zod";
import { type ClusterFlavor, foreignStorageClass, tryParseDuration } from "../../components";
import { API_SETTINGS } from "../../contract";
import { type autoscalingSchema, MOVED_AUTOSCALING_KEYS } from "./autoscaling";
import type { monitoringSchema, prometheusSchema } from "./monitoring";
import type { queueSchema } from "./queue";

/** The `sonic` block's checks among its `modelServer` keys. */
export function modelServerChecks(
  s: { modelServer: { simulated: boolean; image?: string; port: number } },
  ctx: z.RefinementCtx,
): void {
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
}

/** The blocks the stack-wide checks read: each check names the other key it compares with. */
interface CheckedKeys {
  clusterFlavor: ClusterFlavor;
  monitoring: z.output<typeof monitoringSchema>;
  prometheus: z.output<typeof prometheusSchema>;
  queue: z.output<typeof queueSchema>;
  autoscaling: z.output<typeof autoscalingSchema>;
}

/** The checks across blocks of the stack config (autoscaling against monitoring, storage against flavour, ...). */
export function stackChecks(c: CheckedKeys, ctx: z.RefinementCtx): void {
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
}
