import { HARDENED_CONTAINER } from "../shared/pod-hardening";

// The names the two tiers of a GpuInferenceService share with the app, the ServiceMonitors and the
// sandbox: the seam between components/, stacks/ and the image (see docs/operate.md#two-tiers-on-one-queue-and-the-autoscaling-engine).

/** Name of the container port, the Service port and the ServiceMonitor endpoint: scraping is by name. */
export const WEB_PORT_NAME = "web";

/** Pod label that tells the tiers apart; the ServiceMonitors copy it onto every series (`podTargetLabels`). */
export const TIER_LABEL = "app.kubernetes.io/component";

/** The tiers of a GpuInferenceService, as `TIER_LABEL` values. */
export type ServiceTier = "api" | "worker";

/**
 * The programs of the project's image each tier runs (Dockerfile: WORKDIR /srv holds the compiled
 * app/, and its CMD names the program the same way).
 */
export const TIER_COMMANDS: Record<ServiceTier, string[]> = {
  api: ["node", "app/api/main.js"],
  worker: ["node", "app/worker/main.js"],
};

/**
 * The project's own container of a tier (`api` or `worker`): one program of the image on port `web`,
 * the same probes (`/healthz` to start and live, `/readyz` for readiness: each program decides what
 * ready means), hardened, with a 2 GiB `/tmp` emptyDir (the root filesystem is read-only). Written as
 * kubernetesx's container shape (port and env maps, volume mounts), which the tier files assemble.
 */
export function appContainer<Env>(
  tier: ServiceTier,
  args: {
    image: string;
    port: number;
    env: Env;
    resources: { requests: Record<string, string>; limits?: Record<string, string> };
  },
) {
  return {
    name: tier,
    image: args.image,
    command: TIER_COMMANDS[tier],
    ports: { [WEB_PORT_NAME]: args.port },
    env: args.env,
    resources: {
      requests: { ...args.resources.requests, "ephemeral-storage": "2Gi" },
      limits: { ...args.resources.limits },
    },
    startupProbe: {
      httpGet: { path: "/healthz", port: WEB_PORT_NAME },
      periodSeconds: 2,
      failureThreshold: 30,
    },
    livenessProbe: {
      httpGet: { path: "/healthz", port: WEB_PORT_NAME },
      periodSeconds: 15,
      timeoutSeconds: 5,
      failureThreshold: 4,
    },
    readinessProbe: {
      httpGet: { path: "/readyz", port: WEB_PORT_NAME },
      periodSeconds: 5,
      timeoutSeconds: 3,
      failureThreshold: 2,
    },
    securityContext: HARDENED_CONTAINER,
    volumeMounts: [{ volume: { name: "tmp", emptyDir: { sizeLimit: "2Gi" } }, destPath: "/tmp" }],
  };
}

/** One node's loss takes one pod, not the tier: spread a tier's pods across nodes when the scheduler can. */
export function spreadAcrossNodes(selector: Record<string, string>) {
  return [
    {
      maxSkew: 1,
      topologyKey: "kubernetes.io/hostname",
      whenUnsatisfiable: "ScheduleAnyway",
      labelSelector: { matchLabels: selector },
    },
  ];
}
