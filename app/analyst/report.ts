import type { Hypothesis } from "./attribution";
import { clock, Evidence, WebhookAlert } from "./evidence";
import { codeSpan, inert, slackEscape, slackLink, visibleText } from "./slack-text";

export { inert, slackEscape } from "./slack-text";

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
      // `**Resolve:**`, or with a qualifier: `**Resolve, cheapest first:**`.
      (section.match(new RegExp(`\\*\\*${label}(?:[,;(][^*\\n]*)?:\\*\\*([^]*?)(?:\\n\\n|$)`))?.[1] ?? "")
        .replace(/\s+/g, " ")
        .trim();
    entries.set(name, { means: paragraph("Means"), resolve: paragraph("Resolve") });
  }
  return entries;
}

/**
 * The runbook entry of an alert, by its exact name. Another service's alert (`TtsHighErrorRate`) never
 * reads Sonic's entry: its steps name Sonic's settings; its own runbook link still comes with the alert.
 */
export function runbookFor(
  runbooks: Map<string, RunbookEntry> | undefined,
  alertname: string,
): RunbookEntry | undefined {
  return runbooks?.get(alertname);
}

/** A finished analysis, before it is written for a receiver. */
export interface Analysis {
  groupKey: string;
  /** The headline alert: of the group's firing alerts, the one with the strongest evidence. */
  alert: WebhookAlert;
  evidence: Evidence;
  hypotheses: Hypothesis[];
  runbook?: RunbookEntry;
  runbookUrl?: string;
  links: { grafana?: string; prometheus?: string };
  /** The group beyond its headline: how many alerts fire, which alert names and pods. @default the headline alone */
  group?: { firing: number; analysed: number; alertnames: string[]; pods: string[] };
  /** Why no evidence was gathered at all (the analyst was busy), when so. */
  degraded?: string;
  /** What the model said, when one was asked and at least one sentence cited only existing evidence. */
  model?: { text: string; dropped?: number };
  /** Why the deterministic report stands alone, when a model was configured but not used. */
  fallback?: string;
}

/** Slack caps a message's text; the report stays well below and says when it was cut. */
export const MAX_REPORT_CHARS = 3500;

/** Fills the `<namespace>` and `<pod>` of a rule's advice with the alert's own, as code; escapes the rest. */
export function nextStep(advice: string, f: { namespace: string; pod?: string }): string {
  return advice
    .split(/(<namespace>|<pod>)/)
    .map((part) =>
      part === "<namespace>"
        ? slackEscape(codeSpan(f.namespace))
        : part === "<pod>"
          ? f.pod
            ? slackEscape(codeSpan(f.pod))
            : "&lt;pod&gt;"
          : slackEscape(visibleText(part)),
    )
    .join("");
}

/** What could not be fetched, by reason: "a, b, c: connection refused". */
function unavailableLines(e: Evidence): string[] {
  const byReason = new Map<string, string[]>();
  for (const u of e.unavailable) byReason.set(u.reason, [...(byReason.get(u.reason) ?? []), u.name]);
  // A reason may quote Prometheus' error, which may quote a label value: a code span too.
  return [...byReason].map(
    ([reason, names]) => `• ${inert(names.join(", "), 300)}: ${inert(codeSpan(reason, 200), 220)}`,
  );
}

/** The report as Slack mrkdwn: summary, hypotheses with numbers, evidence, runbook steps, links. */
export function formatReport(a: Analysis): string {
  const f = a.evidence.facts;
  const where = `${f.namespace}${f.pod ? `/${f.pod}` : ""}`;
  const since = f.conditionSince ?? f.startsAt;
  const lines: string[] = [
    `*Analysis:* ${inert(codeSpan(f.alertname))} in ${inert(codeSpan(where, 200), 220)} firing since ${clock(since)}` +
      (f.valueNow !== undefined ? `, value now ${Number(f.valueNow.toPrecision(3))}` : ""),
  ];
  const own = [a.alert.annotations?.summary, a.alert.annotations?.description].filter(Boolean).join(" ");
  // A code span: Slack links no URL inside code, and the alert's text may carry any.
  if (own) lines.push(`Alert: ${inert(codeSpan(own, 400), 420)}`);
  if (a.group && a.group.firing > 1)
    lines.push(
      `Group: ${a.group.firing} alerts firing (${inert(a.group.alertnames.map((n) => codeSpan(n)).join(", "), 300)})` +
        (a.group.pods.length > 0
          ? ` on pods ${inert(a.group.pods.map((p) => codeSpan(p)).join(", "), 400)}`
          : "") +
        (a.group.analysed < a.group.firing ? `; ${a.group.analysed} analysed` : "") +
        "; the headline has the strongest evidence.",
    );
  const asked = a.evidence.items.length + a.evidence.unavailable.length;
  if (a.degraded) lines.push(`_No evidence gathered: ${inert(a.degraded, 300)}._`);
  else if (a.evidence.unavailable.length > 0)
    lines.push(
      a.evidence.items.length === 0
        ? "_No evidence: every query to Prometheus failed (see below); the alert's own facts and the runbook follow._"
        : `_Partial evidence: ${a.evidence.unavailable.length} of ${asked} queries failed (see below); causes are ranked on what came back._`,
    );
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
  if (top) lines.push(`Next: ${nextStep(top.next, f)}`);
  if (a.model)
    lines.push(
      `Model analysis (every sentence cites the evidence below${
        a.model.dropped ? `; ${a.model.dropped} sentences citing no or unknown evidence dropped` : ""
      }): ${inert(a.model.text, 1200)}`,
    );
  if (a.fallback) lines.push(`_(${inert(a.fallback, 300)}: deterministic analysis only)_`);
  if (a.evidence.items.length > 0) {
    lines.push("Evidence:");
    for (const e of a.evidence.items) lines.push(`• ${e.id} ${e.name}: ${inert(e.summary)}`);
  }
  if (a.evidence.unavailable.length > 0) {
    lines.push("Not fetched:");
    lines.push(...unavailableLines(a.evidence));
  }
  if (a.runbook?.resolve) lines.push(`Runbook: ${inert(a.runbook.resolve, 600)}`);
  const links = [
    slackLink(a.runbookUrl, "runbook"),
    slackLink(a.links.grafana, "Grafana"),
    slackLink(a.links.prometheus, "Prometheus graph"),
  ].filter(Boolean);
  if (links.length) lines.push(links.join(" · "));
  // Slack incoming webhooks cannot thread: the group key ties the report to its alert's notification.
  lines.push(groupLine(a.groupKey));
  return capReport(lines);
}

/** The last line of every message: the Alertmanager group key, so a resolution finds its report. */
function groupLine(groupKey: string): string {
  // The group key holds alert names and label values: a code span, so a URL in them is not linked.
  return `_alert group ${inert(codeSpan(groupKey, 300), 320)}_`;
}

function capReport(lines: string[]): string {
  const text = lines.join("\n");
  if (text.length <= MAX_REPORT_CHARS) return text;
  // Keep the group key line: it is what ties the report to its alert.
  const last = lines[lines.length - 1];
  return `${text.slice(0, MAX_REPORT_CHARS - last.length - 20)}\n_(report cut)_\n${last}`;
}

/**
 * A short line when alerts of an analysed group resolve: which alerts, how many still fire, keyed to the
 * original report by the group key. Not a new analysis.
 */
export function formatResolution(r: {
  groupKey: string;
  resolved: WebhookAlert[];
  stillFiring: number;
}): string {
  const names = r.resolved
    .slice(0, 5)
    .map((a) => `${codeSpan(a.labels.alertname)}${a.labels.pod ? ` on ${codeSpan(a.labels.pod)}` : ""}`)
    .join(", ");
  const more = r.resolved.length > 5 ? ` and ${r.resolved.length - 5} more` : "";
  const rest =
    r.stillFiring > 0 ? `${r.stillFiring} of the group still firing` : "the whole group has resolved";
  return capReport([`*Resolved:* ${inert(names, 800)}${more}; ${rest}.`, groupLine(r.groupKey)]);
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
