import { z } from "zod";
import { duration, percent, positiveInt } from "./value-types";

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

export const autoscalingSchema = z
  .object({
    enabled: z
      .boolean()
      .default(true)
      .describe("Autoscalers on; the Deployments then have no `replicas` (the autoscaler owns them)."),
    engine: z
      .enum(AUTOSCALING_ENGINES)
      .default("adapter")
      .describe(
        "`adapter`: prometheus-adapter + an HPA per tier; `keda`: KEDA ScaledObjects (the workers scale to zero) (docs/operate.md#the-engine-autoscalingengine-adapter--keda).",
      ),
    rateWindow: duration
      .default("2m")
      .describe("Rate window of the request-rate signal; at least 4 × `prometheus.scrapeInterval`."),
    pollingSeconds: z
      .number()
      .int()
      .min(1)
      .max(3600)
      .default(15)
      .describe("Seconds between KEDA's polls of its triggers (engine keda)."),
    scaleDownStabilizationSeconds: z
      .number()
      .int()
      .min(0)
      .max(3600)
      .default(600)
      .describe(
        "Seconds of lower recommendations before either tier's HPA (the adapter's, or the one KEDA makes) removes a pod; a pause between bursts shorter than this keeps the GPUs.",
      ),
    handover: z
      .enum(HANDOVER_STEPS)
      .optional()
      .describe(
        "The move from adapter to keda (docs/operate.md#migrating-from-adapter-to-keda-with-no-window-in-which-nothing-scales), with engine keda only: `standby` installs KEDA beside the adapter's HPAs with paused ScaledObjects; `takeover` hands the HPAs to KEDA.",
      ),
    worker: z
      .object({
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
    api: z
      .object({
        minReplicas: z
          .number()
          .int()
          .min(1, { message: "must be >= 1: the API tier always runs" })
          .default(1)
          .describe("Fewest API pods, at least 1; at most `maxReplicas`."),
        maxReplicas: positiveInt.default(3).describe("Most API pods."),
        targetQpsPerPod: z.number().min(0.001).default(0.5).describe("Submissions per second per API pod."),
        cpuUtilization: percent
          .default(0)
          .describe(
            "Percent of the API pod's CPU requests, a second target (needs metrics-server; engine adapter only); 0 leaves it out.",
          ),
      })
      .strict()
      .default({ minReplicas: 1, maxReplicas: 3, targetQpsPerPod: 0.5, cpuUtilization: 0 })
      .describe("The API tier: scales on submissions per pod (`sonic_request_qps`), never below one."),
    // Keys of the one-tier layout: accepted only to say where they went (stackChecks, cross-field-checks.ts).
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
  .describe("Autoscaling of both tiers, by either engine.");
