import type { SandboxOptions } from "./sandbox";

/**
 * Sandbox settings for the end-to-end test and the alert benchmark: 1 s scrapes and evaluations and
 * short `for:` windows, set through the same threshold config the stacks use (never by editing rules).
 */
export function fastSandboxOptions(stateDir: string): SandboxOptions {
  return {
    stateDir,
    instances: 2,
    scrapeInterval: "1s",
    evaluationInterval: "1s",
    rateWindow: "20s",
    thresholds: {
      gpuMemoryFor: "5s",
      errorRatioFor: "5s",
      errorRatioWindow: "10s",
      burnRatePageFor: "5s",
      targetDownFor: "5s",
      // Not 5 s: a fresh Prometheus applies discovered targets at most every 5 s, so `up` can be absent for
      // 5 s plus a scrape after start, and SonicMetricsAbsent paged on a loaded machine with no fault at all.
      metricsAbsentFor: "15s",
    },
    alertmanager: { groupWait: "1s", groupInterval: "2s" },
    modelServerEnv: { SONIC_SIM_RTF: "0.05" },
    // The analyst looks at the same short horizon as these alerts: 20 s rates, a 3 m look-back.
    analystEnv: { ANALYST_WINDOW: "20s", ANALYST_LOOKBACK: "3m", ANALYST_RELEASE_WINDOW_SECONDS: "90" },
    loadPerSecond: 4,
  };
}
