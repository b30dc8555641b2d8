// The names the two tiers of a GpuInferenceService share with the app, the ServiceMonitors and the
// sandbox: the seam between components/, stacks/ and the image (see README, "Two tiers").

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
