import type { Hypothesis } from "./attribution";
import { clock, Evidence, WebhookAlert } from "./evidence";

/** One runbook entry of docs/runbooks.md: what the alert means and what resolves it. */
export interface RunbookEntry {
  means: string;
  resolve: string;
}

/** Parses docs/runbooks.md: `## <AlertName>` sections with `**Means:**` and `**Resolve:**` paragraphs. */
export function parseRunbooks(markdown: string): Map<string, RunbookEntry> {
  const entries = new Map<string, RunbookEntry>();
  for (const section of markdown.split(/^## /m).slice(1)) {
    const name = section.slice(0, section.indexOf("\n")).trim();
    const paragraph = (label: string) =>
      (section.match(new RegExp(`\\*\\*${label}:\\*\\*([^]*?)(?:\\n\\n|$)`))?.[1] ?? "")
        .replace(/\s+/g, " ")
        .trim();
    entries.set(name, { means: paragraph("Means"), resolve: paragraph("Resolve") });
  }
  return entries;
}

/** The runbook of an alert; another service's alerts (`TtsHighErrorRate`) read Sonic's entry. */
export function runbookFor(
  runbooks: Map<string, RunbookEntry>,
  alertname: string,
  alertPrefix: string,
): RunbookEntry | undefined {
  return runbooks.get(alertname) ?? runbooks.get(alertname.replace(new RegExp(`^${alertPrefix}`), "Sonic"));
}

/** A finished analysis, before it is written for a receiver. */
export interface Analysis {
  groupKey: string;
  alert: WebhookAlert;
  evidence: Evidence;
  hypotheses: Hypothesis[];
  runbook?: RunbookEntry;
  runbookUrl?: string;
  links: { grafana?: string; prometheus?: string };
  /** What the model said, when one was asked and its answer cited the evidence. */
  model?: { text: string };
  /** Why the deterministic report stands alone, when a model was configured but not used. */
  fallback?: string;
}

/** Slack's escaping (mrkdwn): &, < and > only; everything else stays literal text. */
export function slackEscape(text: string): string {
  return text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}

/**
 * Untrusted text (labels, annotations, model output) as one inert line: `&`, `<` and `>` escaped, so
 * it can neither mention (`<!channel>`) nor forge a link (`<url|text>`); newlines collapsed, so it
 * cannot forge lines of the report; capped.
 */
export function inert(text: string, max = 200): string {
  const flat = slackEscape(String(text)).replace(/\s+/g, " ").trim();
  return flat.length > max ? `${flat.slice(0, max - 1)}…` : flat;
}

/** Slack caps a message's text; the report stays well below and says when it was cut. */
export const MAX_REPORT_CHARS = 3500;

/** The report as Slack mrkdwn: summary, hypotheses with numbers, evidence, runbook steps, links. */
export function formatReport(a: Analysis): string {
  const f = a.evidence.facts;
  const where = inert(`${f.namespace}${f.pod ? `/${f.pod}` : ""}`);
  const since = f.conditionSince ?? f.startsAt;
  const lines: string[] = [
    `*Analysis: ${inert(f.alertname)} in ${where}* firing since ${clock(since)}` +
      (f.valueNow !== undefined ? `, value now ${Number(f.valueNow.toPrecision(3))}` : ""),
  ];
  const top = a.hypotheses[0];
  lines.push(
    top
      ? `Most likely: *${top.title}* (${Math.round(top.confidence * 100)}%): ${top.facts.map((x) => inert(x)).join("; ")}.`
      : "No known cause matched the evidence; see the evidence and runbook below.",
  );
  if (a.hypotheses.length > 1) {
    lines.push("Other candidates:");
    for (const h of a.hypotheses.slice(1, 4))
      lines.push(
        `• ${h.title} (${Math.round(h.confidence * 100)}%): ${h.facts.map((x) => inert(x)).join("; ")}`,
      );
  }
  if (top) lines.push(`Next: ${top.next}`);
  if (a.model) lines.push(`Model analysis (cites the evidence below): ${inert(a.model.text, 1200)}`);
  if (a.fallback) lines.push(`_(${a.fallback}: deterministic analysis only)_`);
  lines.push("Evidence:");
  for (const e of a.evidence.items) lines.push(`• ${e.id} ${e.name}: ${inert(e.summary)}`);
  if (a.runbook?.resolve) lines.push(`Runbook: ${inert(a.runbook.resolve, 600)}`);
  const links = [
    a.runbookUrl && `<${a.runbookUrl}|runbook>`,
    a.links.grafana && `<${a.links.grafana}|Grafana>`,
    a.links.prometheus && `<${a.links.prometheus}|Prometheus graph>`,
  ].filter(Boolean);
  if (links.length) lines.push(links.join(" · "));
  // Slack incoming webhooks cannot thread: the group key ties the report to its alert's notification.
  lines.push(`_alert group ${inert(a.groupKey, 300)}_`);
  const text = lines.join("\n");
  return text.length > MAX_REPORT_CHARS ? `${text.slice(0, MAX_REPORT_CHARS - 20)}\n_(report cut)_` : text;
}

/** Grafana's dashboard and a Prometheus graph of the alert's expression over the look-back. */
export function reportLinks(options: {
  grafanaUrl?: string;
  dashboardUid?: string;
  prometheusUrl?: string;
  expr?: string;
  from: number;
  to: number;
  namespace: string;
}): Analysis["links"] {
  const links: Analysis["links"] = {};
  if (options.grafanaUrl && options.dashboardUid) {
    const url = new URL(`/d/${options.dashboardUid}`, options.grafanaUrl);
    url.searchParams.set("from", String(Math.round(options.from * 1000)));
    url.searchParams.set("to", String(Math.round(options.to * 1000)));
    links.grafana = url.toString();
  }
  if (options.prometheusUrl && options.expr) {
    const url = new URL("/graph", options.prometheusUrl);
    url.searchParams.set("g0.expr", options.expr);
    url.searchParams.set("g0.tab", "0");
    url.searchParams.set("g0.range_input", `${Math.max(1, Math.round((options.to - options.from) / 60))}m`);
    url.searchParams.set("g0.end_input", new Date(options.to * 1000).toISOString());
    links.prometheus = url.toString();
  }
  return links;
}
