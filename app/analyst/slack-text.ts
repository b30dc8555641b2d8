/**
 * Untrusted text (alert labels and annotations, Prometheus label values, model answers) made safe for
 * a Slack mrkdwn message. Anyone who can write a PrometheusRule or push a label writes these strings,
 * so nothing in them may become a mention, a link, a forged line or text that reads differently
 * from what it is. Slack's rules (api.slack.com, "Formatting text for app surfaces"): escape `&`, `<`
 * and `>` as HTML entities; `<!channel>`, `<@U…>` and `<url|text>` are live syntax only when unescaped;
 * bare URLs are linked unless inside code.
 */

/**
 * Control characters (C0, DEL, C1) become spaces; invisible format characters (Unicode category Cf:
 * bidi overrides such as U+202E, zero-width spaces and joiners, the BOM, soft hyphens) and the line and
 * paragraph separators are removed: what on-call reads is what the text is.
 */
export function visibleText(text: string): string {
  return String(text)
    .replace(/[\p{Cc}]/gu, " ")
    .replace(/[\p{Cf}\u2028\u2029]/gu, "");
}

/** Slack's escaping (mrkdwn): &, < and > only; everything else stays literal text. */
export function slackEscape(text: string): string {
  return text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}

/**
 * Untrusted text as one inert line: invisible characters removed, whitespace collapsed (it cannot
 * forge lines of the report), capped at `max` characters, then escaped (it can neither mention nor
 * forge a link).
 */
export function inert(text: string, max = 200): string {
  const flat = visibleText(text).replace(/\s+/g, " ").trim();
  return slackEscape(flat.length > max ? `${flat.slice(0, max - 1)}…` : flat);
}

/**
 * A label value as an inline code span, for sentences that are escaped as a whole later (`inert`):
 * Slack links no URL inside code, and a backtick in the value (which would end the span) is shown as
 * the look-alike U+02CB. Capped at `max` characters.
 */
export function codeSpan(value: string | undefined, max = 120): string {
  const flat = visibleText(value ?? "")
    .replace(/\s+/g, " ")
    .trim()
    .replace(/`/g, "\u02cb");
  if (!flat) return "`(empty)`";
  return `\`${flat.length > max ? `${flat.slice(0, max - 1)}…` : flat}\``;
}

/**
 * A URL fit for a Slack link, or undefined: parsed by the WHATWG URL parser, http or https with a host
 * and no credentials (`https://runbooks.example@phish.example` is refused), serialised (which
 * percent-encodes spaces, `<`, `>` and quotes) with `|` percent-encoded too (it would end the link's
 * URL and start its label), and `&` escaped as Slack asks.
 */
export function safeLinkUrl(raw: string | undefined): string | undefined {
  if (!raw) return undefined;
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return undefined;
  }
  if ((url.protocol !== "https:" && url.protocol !== "http:") || !url.hostname) return undefined;
  if (url.username || url.password) return undefined;
  const href = url.href.replace(/\|/g, "%7C").replace(/[<>\s]/g, encodeURIComponent);
  return slackEscape(href);
}

/** A Slack link `<url|label>` when the URL is safe; undefined otherwise. */
export function slackLink(raw: string | undefined, label: string): string | undefined {
  const url = safeLinkUrl(raw);
  return url && `<${url}|${inert(label, 60).replace(/\|/g, "¦")}>`;
}
