import { envText, LOG_LEVEL_SETTING, SettingsOf } from "./setting";

const duration = { pattern: /^\d+[smhd]$/, example: "a duration like 15m" } as const;

/** `sonic@ai-inference,tts@speech` (the namespace is optional: `sonic,tts`). */
export const SERVICES_PATTERN =
  /^[a-z][a-z0-9_]*(@[a-z0-9]([-a-z0-9]*[a-z0-9])?)?(,[a-z][a-z0-9_]*(@[a-z0-9]([-a-z0-9]*[a-z0-9])?)?)*$/;

/** The alert analyst's environment (`app/alert-analyst-main.ts`). */
export const ANALYST_SETTINGS = {
  PORT: { kind: "int", min: 1, max: 65535, default: 8090, doc: "Port of the webhook receiver." },
  HOST: { kind: "text", default: "0.0.0.0", doc: "Address it listens on." },
  ANALYST_PROMETHEUS_URL: { kind: "text", url: true, required: true, doc: "Prometheus it queries." },
  ANALYST_SERVICES: {
    kind: "text",
    pattern: SERVICES_PATTERN,
    example: "prefix[@namespace] entries like sonic@ai-inference,tts",
    default: "sonic",
    doc: "The services it analyses: metric prefix and optional namespace. An alert's own labels pick its service, never a default.",
  },
  ANALYST_SERVICE_PROFILES: {
    kind: "text",
    pattern: /^\[[^]*\]$/,
    example: 'a JSON array of profiles like [{"prefix":"sonic","coldStartSeconds":600}]',
    doc: "Per service (JSON, contract/analyst-service-profile.ts): its tiers' Deployments, cold start, autoscaler, own setting names and runbooks, so advice fits the service.",
  },
  ANALYST_WEBHOOK_TOKEN_FILE: {
    kind: "text",
    required: true,
    doc: "File holding the bearer token Alertmanager sends (mounted from a Secret); other requests get 401.",
  },
  ANALYST_CONCURRENCY: {
    kind: "int",
    min: 1,
    max: 64,
    default: 4,
    doc: "Alert groups analysed at once (Prometheus queries, sockets and memory scale with it).",
  },
  ANALYST_QUEUE_LIMIT: {
    kind: "int",
    min: 1,
    max: 100_000,
    default: 1000,
    doc: "Alert groups waiting at most; beyond it the webhook answers 503 and Alertmanager retries.",
  },
  ANALYST_MAX_WAIT_SECONDS: {
    kind: "number",
    min: 0,
    max: 600,
    default: 10,
    doc: "A group that waited longer than this is reported at once without evidence (a busy analyst).",
  },
  ANALYST_EVIDENCE_TIMEOUT_SECONDS: {
    kind: "number",
    min: 0.1,
    max: 120,
    default: 8,
    doc: "All evidence of one group is gathered within this; what is not back by then is reported missing.",
  },
  ANALYST_DELIVERY_TIMEOUT_SECONDS: {
    kind: "number",
    min: 1,
    max: 60,
    default: 10,
    doc: "Seconds one post to Slack or the webhook may take.",
  },
  ANALYST_GROUP_ALERTS: {
    kind: "int",
    min: 1,
    max: 100,
    default: 10,
    doc: "Firing alerts of one group analysed (the rest are counted and listed).",
  },
  ANALYST_WINDOW: {
    kind: "text",
    ...duration,
    default: "15m",
    doc: "Rate and increase window of the signals.",
  },
  ANALYST_LOOKBACK: {
    kind: "text",
    ...duration,
    default: "1h",
    doc: "How far back it reads an alert's history.",
  },
  ANALYST_STEP_SECONDS: { kind: "number", min: 1, max: 3600, default: 30, doc: "Step of range queries." },
  ANALYST_RELEASE_WINDOW_SECONDS: {
    kind: "number",
    min: 1,
    max: 86400,
    default: 900,
    doc: "A new version this long before the alert counts as a likely cause.",
  },
  ANALYST_RUNBOOKS: { kind: "text", default: "docs/runbooks.md", doc: "Runbooks file quoted in reports." },
  ANALYST_RUNBOOK_BASE_URL: { kind: "text", url: true, doc: "Base of runbook links." },
  ANALYST_GRAFANA_URL: { kind: "text", url: true, doc: "Grafana linked from reports." },
  ANALYST_PROMETHEUS_EXTERNAL_URL: { kind: "text", url: true, doc: "Prometheus as people reach it." },
  ANALYST_SLACK_WEBHOOK_URL: { kind: "text", url: true, secret: true, doc: "Slack incoming webhook." },
  ANALYST_SLACK_CHANNEL: {
    kind: "text",
    pattern: /^#/,
    example: "a channel like #alerts",
    doc: "Slack channel of the reports.",
  },
  ANALYST_WEBHOOK_URL: { kind: "text", url: true, secret: true, doc: "Webhook that receives reports." },
  ANALYST_MODEL_URL: {
    kind: "text",
    pattern: /^https?:\/\/.+\/v1\/?$/,
    example: "an OpenAI-compatible base URL ending in /v1",
    doc: "Optional OpenAI-compatible model.",
  },
  ANALYST_MODEL_NAME: { kind: "text", default: "default", doc: "Model name." },
  ANALYST_MODEL_API_KEY: { kind: "text", secret: true, doc: "Model API key." },
  ANALYST_MODEL_TIMEOUT_SECONDS: {
    kind: "int",
    min: 1,
    max: 300,
    default: 20,
    doc: "Seconds the model may take before the report goes without it.",
  },
  ANALYST_LOG_LEVEL: LOG_LEVEL_SETTING,
} as const;

export type AnalystSettings = SettingsOf<typeof ANALYST_SETTINGS>;

/** The model step's environment (the API key comes from a Secret, written by the component). */
export function analystModelEnv(model: {
  url: string;
  name: string;
  timeoutSeconds?: number;
}): Record<string, string> {
  return {
    ANALYST_MODEL_URL: model.url,
    ANALYST_MODEL_NAME: model.name,
    ANALYST_MODEL_TIMEOUT_SECONDS: envText(
      model.timeoutSeconds ?? ANALYST_SETTINGS.ANALYST_MODEL_TIMEOUT_SECONDS.default,
    ),
  };
}
