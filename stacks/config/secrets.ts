import { httpUrlProblem, REDIS_DATABASE_PATH, redisUrlProblem } from "../../contract";
import type { Parsed } from "./config-schema";

/** Secret config keys. They are read with getSecret, so they stay secrets in state and outputs. */
export const SECRET_KEYS = [
  "grafanaAdminPassword",
  "slackWebhookUrl",
  "pagerdutyRoutingKey",
  "alertWebhookUrl",
  "remoteWritePassword",
  "queueRedisUrl",
  "analystModelApiKey",
] as const;
export type SecretKey = (typeof SECRET_KEYS)[number];

/** What each secret is, for the configuration reference (`npm run docs`). */
export const SECRET_DOCS: Record<SecretKey, string> = {
  grafanaAdminPassword:
    "Grafana's admin password. Optional: generated with `@pulumi/random` when absent (so is the in-cluster Redis password, kept in the Secret `sonic-queue` and read by the pods through `secretKeyRef`).",
  slackWebhookUrl:
    "Slack incoming-webhook URL of the `slack` receivers and the analyst's reports: an `http(s)://` URL with a host.",
  pagerdutyRoutingKey: "PagerDuty Events API v2 routing key of the `pagerduty` receivers.",
  alertWebhookUrl:
    "URL of the `webhook` receivers (Alertmanager's webhook protocol): an `http(s)://` URL with a host.",
  remoteWritePassword:
    "Password of `prometheus.remoteWrite.username` at the fleet's store: the fleet stack's output `writePasswords.<cluster>`.",
  queueRedisUrl:
    "The managed Redis of `queue.mode: external`: `redis://` or `rediss://` with a host, a port in 1..65535 (6379 when absent: the workers' egress policy opens it), at most a database number as its path, and any `#` of the password percent-encoded (`%23`).",
  analystModelApiKey: "API key of the analyst's model (`analyst.model.url`), when the endpoint needs one.",
};

/** The secrets a parsed config needs, each with the setting that needs it. */
export function requiredSecrets(c: Parsed): { key: SecretKey; why: string }[] {
  const receivers = Object.values(c.alertmanager.receivers);
  const needs: [boolean, SecretKey, string][] = [
    [receivers.includes("slack"), "slackWebhookUrl", "a receiver is slack"],
    [receivers.includes("pagerduty"), "pagerdutyRoutingKey", "a receiver is pagerduty"],
    [receivers.includes("webhook"), "alertWebhookUrl", "a receiver is webhook"],
    [
      c.prometheus.remoteWrite?.username !== undefined,
      "remoteWritePassword",
      "prometheus.remoteWrite.username is set",
    ],
    [c.queue.mode === "external", "queueRedisUrl", "queue.mode is external"],
  ];
  return needs.filter(([needed]) => needed).map(([, key, why]) => ({ key, why }));
}

/**
 * The secrets whose plaintext is a URL, with the check each must pass (contract/urls.ts) and whether
 * its path may be quoted (a Redis URL's path is a database number; a webhook's path is its token).
 * They are checked at the door like every other key: a malformed one fails the preview with its key
 * named, before any resource, its value quoted without credentials (`redactUrl`).
 */
export const SECRET_URLS: Partial<
  Record<SecretKey, { problem: (url: string) => string | undefined; keepPath: boolean | RegExp }>
> = {
  queueRedisUrl: { problem: redisUrlProblem, keepPath: REDIS_DATABASE_PATH },
  slackWebhookUrl: {
    problem: (url) =>
      httpUrlProblem(url, "a Slack incoming-webhook URL like https://hooks.slack.com/services/T0/B0/X"),
    keepPath: false,
  },
  alertWebhookUrl: {
    problem: (url) => httpUrlProblem(url, "an http(s) URL that takes Alertmanager's webhook"),
    keepPath: false,
  },
};
