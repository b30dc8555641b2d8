/**
 * Grafana's startupProbe, for both Grafanas (the cluster's and the fleet's). The grafana chart's
 * liveness and readiness probes both ask `/api/health`, so a first start that runs its database
 * migrations past the liveness budget (60 s delay + 10 failures of 10 s) would be restarted midway:
 * liveness waits for this probe, which allows 5 minutes.
 */
export const GRAFANA_STARTUP_PROBE = {
  httpGet: { path: "/api/health", port: 3000 },
  periodSeconds: 5,
  failureThreshold: 60,
};
