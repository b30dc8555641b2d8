import { z } from "zod";
import {
  API_SETTINGS,
  DRAIN_MARGIN_SECONDS,
  SIMULATED_MODEL_SERVER_SETTINGS,
  stackField,
  WORKER_SETTINGS,
} from "../../contract";
import { modelServerChecks } from "./cross-field-checks";
import { containerResources, dnsName, duration, imageRef, positiveInt } from "./value-types";

export const sonicSchema = z
  .object({
    namespace: dnsName.default("ai-inference").describe("Namespace of the service."),
    image: imageRef.describe(
      "The project's image: the `api` and `worker` containers, the alert analyst, and the simulated model server when asked.",
    ),
    // Keys that become a program's environment take their bounds and defaults from its table
    // (contract/), so the stack refuses at preview what the pod would refuse at start.
    gpuCount: stackField(WORKER_SETTINGS.SONIC_GPU_COUNT)
      .meta({ env: "SONIC_GPU_COUNT", program: "worker" })
      .describe("GPUs per worker pod (the `nvidia.com/gpu` limit, on the `model-server` container only)."),
    concurrencyPerGpu: stackField(WORKER_SETTINGS.SONIC_CONCURRENCY_PER_GPU)
      .meta({ env: "SONIC_CONCURRENCY_PER_GPU", program: "worker" })
      .describe(
        "Jobs per GPU at once; slots per worker pod = GPUs × this (the backlog signal divides by it).",
      ),
    replicas: z
      .number()
      .int()
      .min(0)
      .default(1)
      .describe("Fixed worker (GPU) replicas while autoscaling is off; 0 parks the GPUs."),
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
    coldStartSeconds: stackField(API_SETTINGS.SONIC_COLD_START_SECONDS)
      .meta({ env: "SONIC_COLD_START_SECONDS", program: "api" })
      .describe(
        "Node + image pull + model load: what a job waits with no worker up (its `Retry-After`, the estimates).",
      ),
    api: z
      .object({
        replicas: z
          .number()
          .int()
          .min(1, { message: "must be >= 1: the API tier always runs" })
          .default(1)
          .describe("Fixed API replicas while autoscaling is off."),
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
      .describe("The API tier: CPU pods that accept and store jobs, never run them, at least one always."),
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
        startupTimeoutSeconds: positiveInt.default(900).describe("Model load time the startup probe allows."),
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
      .describe("The `model-server` container of each worker pod: the GPU model, on the pod's localhost."),
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
    terminationGracePeriodSeconds: positiveInt
      .max(API_SETTINGS.SONIC_SHUTDOWN_GRACE_SECONDS.max + DRAIN_MARGIN_SECONDS)
      .default(600)
      .meta({ env: "SONIC_SHUTDOWN_GRACE_SECONDS", program: "api" })
      .describe(
        `Seconds a pod has to drain on shutdown; the app drains for ${DRAIN_MARGIN_SECONDS} s less (\`SONIC_SHUTDOWN_GRACE_SECONDS\`), at most its maximum.`,
      ),
    rolloutTimeout: duration
      .default("60m")
      .describe("How long `pulumi up` waits for a rollout of GPU pods (drain + model load, pod by pod)."),
    backlogLimit: stackField(API_SETTINGS.SONIC_BACKLOG_LIMIT).meta({
      env: "SONIC_BACKLOG_LIMIT",
      program: "api",
    }),
    maxUploadBytes: stackField(API_SETTINGS.SONIC_MAX_UPLOAD_BYTES).meta({
      env: "SONIC_MAX_UPLOAD_BYTES",
      program: "api",
    }),
    jobHistory: stackField(API_SETTINGS.SONIC_JOB_HISTORY)
      .meta({ env: "SONIC_JOB_HISTORY", program: "api" })
      .describe(
        "Finished jobs kept for polling, by count (and none older than `SONIC_JOB_HISTORY_SECONDS`, 24 h).",
      ),
  })
  .strict()
  .describe("The service: its API and GPU worker tiers, their images, resources and settings.")
  .superRefine(modelServerChecks);
