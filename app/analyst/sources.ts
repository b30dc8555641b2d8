import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import type { AnalystSettings } from "../../contract";
import { AnalystServiceProfile, parseServiceProfiles } from "../../contract/analyst-service-profile";
import { DeliverySettings } from "./delivery";
import { ModelSettings } from "./model";
import { PrometheusClient } from "./prometheus";
import { parseRunbooks, RunbookEntry } from "./report";
import { AnalysedService, parseServices } from "./services";

/** What the analyst reads and calls, set up once at start: a missing file or a short token stops the start, not a report. */
export interface AnalystSources {
  /** SHA-256 of the webhook's bearer token (compared in constant time). */
  tokenDigest: Buffer;
  /** A group's evidence is cut off after this. */
  evidenceMs: number;
  prometheus: PrometheusClient;
  /** The analyst's runbook file, by alert name. */
  runbooks: Map<string, RunbookEntry>;
  services: AnalysedService[];
  profiles: AnalystServiceProfile[];
  /** A service's own runbooks, read once at start. */
  ownRunbooks: Map<AnalystServiceProfile, Map<string, RunbookEntry>>;
  delivery: DeliverySettings;
  /** The model to ask, when one is configured. */
  model?: ModelSettings;
}

export function analystSources(config: AnalystSettings): AnalystSources {
  const token = readFileSync(config.ANALYST_WEBHOOK_TOKEN_FILE, "utf8").trim();
  if (token.length < 16)
    throw new Error(
      `ANALYST_WEBHOOK_TOKEN_FILE: the token in ${config.ANALYST_WEBHOOK_TOKEN_FILE} must be at least 16 characters, got ${token.length}`,
    );
  const tokenDigest = createHash("sha256").update(token).digest();
  const evidenceMs = config.ANALYST_EVIDENCE_TIMEOUT_SECONDS * 1000;
  const prometheus = new PrometheusClient(config.ANALYST_PROMETHEUS_URL, evidenceMs);
  const runbooks = parseRunbooks(readFileSync(config.ANALYST_RUNBOOKS, "utf8"));
  const services = parseServices(config.ANALYST_SERVICES);
  const profiles = parseServiceProfiles(config.ANALYST_SERVICE_PROFILES);
  // A service's own runbooks, read once at start: a missing file stops the start, not a report.
  const ownRunbooks = new Map(
    profiles.flatMap((p) =>
      p.runbooks ? [[p, parseRunbooks(readFileSync(p.runbooks, "utf8"))] as const] : [],
    ),
  );
  const delivery: DeliverySettings = {
    slackWebhookUrl: config.ANALYST_SLACK_WEBHOOK_URL,
    slackChannel: config.ANALYST_SLACK_CHANNEL,
    webhookUrl: config.ANALYST_WEBHOOK_URL,
    timeoutMs: config.ANALYST_DELIVERY_TIMEOUT_SECONDS * 1000,
  };
  const model: ModelSettings | undefined = config.ANALYST_MODEL_URL
    ? {
        url: config.ANALYST_MODEL_URL,
        model: config.ANALYST_MODEL_NAME,
        apiKey: config.ANALYST_MODEL_API_KEY,
        timeoutMs: config.ANALYST_MODEL_TIMEOUT_SECONDS * 1000,
      }
    : undefined;
  return { tokenDigest, evidenceMs, prometheus, runbooks, services, profiles, ownRunbooks, delivery, model };
}
