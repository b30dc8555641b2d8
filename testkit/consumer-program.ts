// Another team's Pulumi program: a TTS service onboarded with a few lines (the example of docs/onboard.md).
// test/integration/package.test.ts compiles it against the packed package (the import rewritten to
// "@sonic-observability/components"); the await-model test runs it from source.
import { InferenceObservability } from "../components";

export const tts = new InferenceObservability("tts", {
  namespace: "speech",
  serviceName: "tts-service",
  selector: { app: "tts-service" },
  metricPrefix: "tts",
  autoscaling: { minReplicas: 1, maxReplicas: 6, targetQpsPerPod: 0.5 },
  thresholds: { latencyP99Seconds: 30 },
});
export const customMetric = tts.customMetricName;
// The platform team adds { metricPrefix: "tts", namespace: "speech" } to onboardedServices; its one
// prometheus-adapter then serves exactly these rules.
export const adapterMetrics = [...tts.adapterRules.custom, ...tts.adapterRules.external].map(
  (r) => r.name.as,
);
