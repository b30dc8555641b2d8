import { z } from "zod";
import { DURATION_PATTERN } from "../../components";
import { chartRepositoryProblem, httpUrlProblem, redactUrl } from "../../contract";

// The value types of both stack schemas (the fleet's, stacks/fleet-config.ts, too). Those a reader meets in
// many keys carry a title: the configuration reference (npm run docs) names them in its type column and
// explains each once.
export const duration = z
  .string()
  .refine((s) => s !== "" && DURATION_PATTERN.test(s), { message: "expected a duration like 30d" })
  .meta({
    title: "duration",
    accepts:
      "Prometheus' duration syntax: numbers with units y, w, d, h, m, s, ms, in that order, each at most once",
    examples: ["15s", "1h30m", "30d"],
  });
export const quantity = z
  .string()
  .regex(/^\d+(\.\d+)?(m|Ki|Mi|Gi|Ti)?$/, { message: "expected a Kubernetes quantity like 4Gi or 500m" })
  .meta({ title: "quantity", accepts: "a Kubernetes quantity", examples: ["500m", "4Gi"] });
export const volumeSize = z
  .string()
  .regex(/^\d+(Gi|Ti)$/, { message: "expected a size in Gi or Ti like 50Gi" })
  .meta({ title: "volume size", accepts: "a volume size in Gi or Ti", examples: ["50Gi"] });
export const labelValue = z
  .string()
  .regex(/^[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/, {
    message: "expected a Kubernetes label value (alphanumerics, '-', '_', '.', at most 63)",
  })
  .meta({
    title: "label value",
    accepts: "a Kubernetes label value: alphanumerics, '-', '_', '.', at most 63",
    examples: ["gpu-prod-1"],
  });
export const dnsName = z
  .string()
  .regex(/^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/, { message: "expected a DNS-1123 name like ai-inference" })
  .meta({
    title: "DNS name",
    accepts: "a DNS-1123 label (a namespace, a release)",
    examples: ["ai-inference"],
  });
export const positiveInt = z.number().int().min(1);
export const imageRef = z
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
export const containerLimits = z
  .object({
    cpu: quantity.optional().describe("CPU ceiling (throttled above it)."),
    memory: quantity.optional().describe("Memory ceiling (OOM-killed above it)."),
  })
  .strict()
  .optional();
/** What the scheduler reserves for a container: both CPU and memory, always. */
const containerRequests = z
  .object({
    cpu: quantity.describe("CPU the scheduler reserves."),
    memory: quantity.describe("Memory the scheduler reserves."),
  })
  .strict()
  .describe("What the scheduler reserves for the container.");
export const containerResources = z
  .object({
    requests: containerRequests,
    limits: containerLimits.describe("Ceilings of the container."),
  })
  .strict()
  // The API server refuses a container whose limit is below its request (the Deployment, at apply).
  .superRefine((r, ctx) => {
    for (const resource of ["cpu", "memory"] as const) {
      const limit = r.limits?.[resource];
      if (limit !== undefined && quantityValue(limit) < quantityValue(r.requests[resource]))
        ctx.addIssue({
          code: "custom",
          path: ["limits", resource],
          message: `must be >= 'requests.${resource}' (${r.requests[resource]})`,
          input: limit,
        });
    }
  });
export const percent = z.number().int().min(0).max(100);
/** An http(s) URL with a host: zod's own url() takes "host:port" too (as a URL of scheme "host:"). */
export const httpUrl = (example?: string) =>
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
export const chartRepository = z
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
export const ratio = z.number().gt(0).lt(1);

const QUANTITY_UNITS: Record<string, number> = {
  "": 1,
  m: 1e-3,
  Ki: 2 ** 10,
  Mi: 2 ** 20,
  Gi: 2 ** 30,
  Ti: 2 ** 40,
};
/** A `quantity` as a number: cores for CPU (`500m` -> 0.5), bytes for memory (`1Gi` -> 2^30). */
export function quantityValue(q: string): number {
  const m = /^(\d+(?:\.\d+)?)(m|Ki|Mi|Gi|Ti)?$/.exec(q);
  if (!m) throw new Error(`expected a Kubernetes quantity like 4Gi or 500m, got "${q}"`);
  return Number(m[1]) * QUANTITY_UNITS[m[2] ?? ""];
}

/** The smallest and largest CPU and memory a container's requests and limits may name. */
export interface ResourceBounds {
  /** At least this much of each (a request below it starves the process). */
  min: { cpu: string; memory: string };
  /** At most this much of each (more is a typo, or a node the fleet does not have). */
  max: { cpu: string; memory: string };
}

/**
 * Requests (CPU and memory) and limits (memory required, CPU optional) of one container, each within
 * `bounds`, and every limit at least its request: the error names the key and the value.
 */
export const boundedResources = (bounds: ResourceBounds) =>
  z
    .object({
      requests: containerRequests,
      limits: z
        .object({
          cpu: quantity.optional().describe("CPU ceiling (throttled above it)."),
          memory: quantity.describe("Memory ceiling (OOM-killed above it)."),
        })
        .strict()
        .describe("Ceilings of the container: `memory` required, `cpu` optional."),
    })
    .strict()
    .superRefine((r, ctx) => {
      for (const kind of ["requests", "limits"] as const)
        for (const resource of ["cpu", "memory"] as const) {
          const value = r[kind][resource];
          if (value === undefined) continue;
          const v = quantityValue(value);
          if (v < quantityValue(bounds.min[resource]))
            ctx.addIssue({
              code: "custom",
              path: [kind, resource],
              message: `must be >= ${bounds.min[resource]}`,
              input: value,
            });
          else if (v > quantityValue(bounds.max[resource]))
            ctx.addIssue({
              code: "custom",
              path: [kind, resource],
              message: `must be <= ${bounds.max[resource]}`,
              input: value,
            });
        }
      for (const resource of ["cpu", "memory"] as const) {
        const limit = r.limits[resource];
        if (limit !== undefined && quantityValue(limit) < quantityValue(r.requests[resource]))
          ctx.addIssue({
            code: "custom",
            path: ["limits", resource],
            message: `must be >= 'requests.${resource}' (${r.requests[resource]})`,
            input: limit,
          });
      }
    })
    .meta({
      description: `Bounds: CPU ${bounds.min.cpu} to ${bounds.max.cpu}, memory ${bounds.min.memory} to ${bounds.max.memory}.`,
    });
