import { z } from "zod";

/** How a service's worker tier is scaled (the stack's `autoscaling.engine`). */
export type AutoscalerEngine = "keda" | "adapter";

/**
 * What the analyst knows of one service beyond its metric prefix: its tiers' Deployments, how long a
 * worker may take to start, what scales it, and the names of its own settings and runbook. The stack
 * writes Sonic's from its own config; an onboarded service without one gets advice that names no
 * setting (never Sonic's) and no runbook steps but its own.
 */
export interface AnalystServiceProfile {
  /** Metric prefix (`sonic`), as in `ANALYST_SERVICES`. */
  prefix: string;
  /** Namespace, as in `ANALYST_SERVICES`. @default none: the profile of the prefix wherever it runs */
  namespace?: string;
  /**
   * Deployment names of the tiers: a pod `<deployment>-<hash>-<suffix>` belongs to that tier, and the
   * worker tier's HPA (the adapter's, or the one KEDA creates) carries its Deployment's name.
   * @default none: pods are not told apart by tier
   */
  tiers?: { api?: string; worker?: string };
  /** A worker's expected cold start (node, image pull, model load), `sonic.coldStartSeconds`. @default none */
  coldStartSeconds?: number;
  /** What scales the worker tier; its ScaledObject carries the worker Deployment's name. @default none */
  autoscaler?: AutoscalerEngine;
  /**
   * The service's own setting names, quoted in advice (`image: "sonic.image"`).
   * @default none: advice names no setting
   */
  settings?: {
    image?: string;
    coldStart?: string;
    concurrency?: string;
    inputLimits?: string;
    resources?: string;
    workerMaxReplicas?: string;
  };
  /** A runbooks file of the service's own (`## <AlertName>` sections), quoted in reports. @default none */
  runbooks?: string;
}

const name = z.string().regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/, { message: "expected a Kubernetes name" });
const settingName = z.string().min(1).max(200);

/** The schema of `ANALYST_SERVICE_PROFILES` (a JSON array of profiles). */
export const serviceProfilesSchema = z.array(
  z
    .object({
      prefix: z.string().regex(/^[a-z][a-z0-9_]*$/, { message: "expected a metric prefix like sonic" }),
      namespace: name.optional(),
      tiers: z.object({ api: name.optional(), worker: name.optional() }).strict().optional(),
      coldStartSeconds: z.number().int().min(0).max(7200).optional(),
      autoscaler: z.enum(["keda", "adapter"]).optional(),
      settings: z
        .object({
          image: settingName.optional(),
          coldStart: settingName.optional(),
          concurrency: settingName.optional(),
          inputLimits: settingName.optional(),
          resources: settingName.optional(),
          workerMaxReplicas: settingName.optional(),
        })
        .strict()
        .optional(),
      runbooks: z.string().min(1).optional(),
    })
    .strict(),
);

/** Parses `ANALYST_SERVICE_PROFILES`; the error names the variable and the path of the bad value. */
export function parseServiceProfiles(text: string | undefined): AnalystServiceProfile[] {
  if (!text) return [];
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new Error(`ANALYST_SERVICE_PROFILES: expected JSON, ${(err as Error).message}`);
  }
  const parsed = serviceProfilesSchema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new Error(`ANALYST_SERVICE_PROFILES[${issue.path.join(".")}]: ${issue.message}`);
  }
  return parsed.data;
}

/** Sonic's own setting names (stack keys and the app's environment), quoted in the analyst's advice. */
export const SONIC_SETTING_NAMES: NonNullable<AnalystServiceProfile["settings"]> = {
  image: "sonic.image",
  coldStart: "sonic.coldStartSeconds",
  concurrency: "sonic.concurrencyPerGpu",
  inputLimits: "SONIC_MAX_AUDIO_SECONDS / SONIC_MAX_IMAGE_SIDE",
  resources: "sonic.resources / sonic.modelServer.resources",
  workerMaxReplicas: "autoscaling.worker.maxReplicas",
};
