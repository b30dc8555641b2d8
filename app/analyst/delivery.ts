import type { Analysis } from "./report";

/** Where reports go: the Slack channel's incoming webhook and/or a generic webhook. */
export interface DeliverySettings {
  slackWebhookUrl?: string;
  slackChannel?: string;
  webhookUrl?: string;
  /** Seconds one post may take. */
  timeoutMs: number;
}

/** The generic webhook's body stays below this many bytes, whatever the alert carries. */
export const MAX_WEBHOOK_BYTES = 64 * 1024;

/** What the generic webhook receives: the Slack text and the analysis as data, or a resolution. */
export type WebhookMessage =
  | { kind: "alert-analysis"; analysis: Analysis; text: string }
  | { kind: "alert-resolution"; groupKey: string; alertnames: string[]; text: string };

/**
 * The generic webhook's JSON, fitted under `MAX_WEBHOOK_BYTES`: untrusted strings (labels, evidence,
 * facts) are cut shorter and shorter and lists shortened until it fits; `truncated` says so.
 */
export function webhookBody(message: WebhookMessage): string {
  for (const limit of [2000, 500, 100, 20]) {
    const body = JSON.stringify(bodyOf(message, limit));
    if (Buffer.byteLength(body) <= MAX_WEBHOOK_BYTES) return body;
  }
  return JSON.stringify(bodyOf(message, 0));
}

function bodyOf(m: WebhookMessage, limit: number): Record<string, unknown> {
  const cut = (text: string | undefined) =>
    text === undefined ? undefined : text.length > limit ? `${text.slice(0, limit)}…` : text;
  const truncated = limit < 2000;
  if (m.kind === "alert-resolution")
    return {
      kind: m.kind,
      groupKey: cut(m.groupKey),
      alertnames: m.alertnames.slice(0, limit === 0 ? 5 : 50).map(cut),
      text: m.text,
      ...(truncated ? { truncated } : {}),
    };
  const a = m.analysis;
  const list = <T>(items: T[]) => items.slice(0, limit === 0 ? 5 : limit < 100 ? 20 : 60);
  return {
    kind: m.kind,
    groupKey: cut(a.groupKey),
    alertname: cut(a.alert.labels.alertname),
    labels: Object.fromEntries(
      Object.entries(a.alert.labels)
        .slice(0, 40)
        .map(([k, v]) => [cut(k), cut(v)]),
    ),
    text: m.text,
    hypotheses: a.hypotheses.map((h) => ({ ...h, facts: h.facts.map((f) => cut(f)), next: cut(h.next) })),
    evidence: list(a.evidence.items).map((e) => ({ ...e, query: cut(e.query), summary: cut(e.summary) })),
    unavailable: list(a.evidence.unavailable).map((u) => ({ name: u.name, reason: cut(u.reason) })),
    group: a.group
      ? { ...a.group, alertnames: list(a.group.alertnames).map(cut), pods: list(a.group.pods).map(cut) }
      : null,
    degraded: a.degraded ?? null,
    model: a.model ?? null,
    fallback: a.fallback ?? null,
    ...(truncated ? { truncated } : {}),
  };
}

/** Posts a message where the alert went: the Slack channel's webhook and/or the generic webhook. */
export async function deliver(settings: DeliverySettings, message: WebhookMessage): Promise<void> {
  const post = (url: string, body: string) =>
    fetch(url, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body,
      signal: AbortSignal.timeout(settings.timeoutMs),
    });
  const posts: Promise<Response>[] = [];
  if (settings.slackWebhookUrl)
    posts.push(
      post(
        settings.slackWebhookUrl,
        JSON.stringify({
          channel: settings.slackChannel,
          username: "alert-analyst",
          text: message.text,
          mrkdwn: true,
        }),
      ),
    );
  if (settings.webhookUrl) posts.push(post(settings.webhookUrl, webhookBody(message)));
  const results = await Promise.allSettled(posts);
  const problems = results.flatMap((r) =>
    r.status === "rejected"
      ? [(r.reason as Error).name === "TimeoutError" ? "no answer in time" : (r.reason as Error).message]
      : r.value.ok
        ? []
        : [`answered ${r.value.status}`],
  );
  // Drain bodies: an unread body keeps its socket.
  await Promise.all(
    results.map((r) => (r.status === "fulfilled" ? r.value.arrayBuffer().catch(() => undefined) : undefined)),
  );
  if (problems.length > 0) throw new Error(`delivery failed: ${problems.join("; ")}`);
}
