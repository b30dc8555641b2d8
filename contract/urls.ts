// The URL-shaped settings and secrets, checked the same way by the stack (stacks/config/, at the door,
// with the stack key named), by the components (with the argument named) and by the programs. Each
// check returns the problem as a phrase ("expected ..."), or undefined when the value is fine; the
// caller names the key and quotes the value, redacted with `redactUrl` when it is a secret.

/** `scheme://` at the start of a value, when it has one. */
const SCHEME = /^[A-Za-z][A-Za-z0-9+.-]*:\/\//;

/** What a redacted value may still show of its host: a dotted name, `name:port`, or an IP literal. */
const SHOWABLE_HOST =
  /^(?:[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+(?::\d*)?|[A-Za-z0-9.-]+:\d+|\[[0-9A-Fa-f:.]+\](?::\d*)?)$/;

/**
 * A URL-shaped secret as an error may quote it: the scheme, the host and the port stay (they are what
 * a user needs to find the mistake); user, password, query and fragment become `***`, and so does the
 * path unless `keepPath` is true or a pattern the path matches (a Redis URL's path is a database
 * number, `/^\/\d*$/`; a webhook's path is its token). Works on malformed values too: everything
 * before the last `@` is treated as credentials, and without a scheme a host part that does not look
 * like a host name is hidden, so a password pasted in place of a URL is never printed.
 */
export function redactUrl(text: string, keepPath: boolean | RegExp = false): string {
  const scheme = SCHEME.exec(text)?.[0] ?? "";
  let rest = text.slice(scheme.length);
  const at = rest.lastIndexOf("@");
  const credentials = at >= 0;
  if (credentials) rest = rest.slice(at + 1);
  const end = rest.search(/[/?#]/);
  const host = end < 0 ? rest : rest.slice(0, end);
  const tail = end < 0 ? "" : rest.slice(end);
  const queryAt = tail.search(/[?#]/);
  const path = queryAt < 0 ? tail : tail.slice(0, queryAt);
  const shownPath =
    path === "" || path === "/" || keepPath === true || (keepPath instanceof RegExp && keepPath.test(path))
      ? path
      : `${path[0]}***`;
  const shownQuery = queryAt < 0 ? "" : `${tail[queryAt]}***`;
  const shownHost =
    host === "" || SHOWABLE_HOST.test(host) || (scheme !== "" && !/\s/.test(host)) ? host : "***";
  return `${scheme}${credentials ? "***@" : ""}${shownHost}${shownPath}${shownQuery}`;
}

function parse(text: string): URL | undefined {
  try {
    return new URL(text);
  } catch {
    return undefined;
  }
}

/** The problem of a value that must be an absolute URL with one of `schemes` and a host, or undefined. */
function absoluteUrlProblem(text: string, schemes: readonly string[], example: string): string | undefined {
  const expected = `expected ${example}`;
  if (/\s/.test(text)) return `${expected}, without spaces or line breaks`;
  const scheme = SCHEME.exec(text)?.[0];
  if (!scheme)
    return `${expected} (the scheme ${schemes
      .map((s) => `${s}://`)
      .join(", ")
      .replace(/, (?=[^,]*$)/, " or ")} is missing)`;
  if (!schemes.includes(scheme.slice(0, -3).toLowerCase())) return expected;
  const url = parse(text);
  if (!url)
    return `${expected} (not a valid URL: is the port in 1..65535, is every '@', '#', '/' of a password percent-encoded?)`;
  if (url.hostname === "") return `${expected} (no host)`;
  if (url.port === "0") return `${expected} (port 0)`;
  return undefined;
}

/** An `http://` or `https://` URL with a host: webhooks, remote write, runbooks, Alertmanager. */
export function httpUrlProblem(text: string, example = "an http(s) URL"): string | undefined {
  return absoluteUrlProblem(text, ["http", "https"], example);
}

/** The path of a Redis URL: at most a database number (ioredis reads `/2` as `db: 2`). */
export const REDIS_DATABASE_PATH = /^\/?\d*$/;

/**
 * A `redis://` or `rediss://` URL as the app's client (ioredis) reads it and the components rely on: a
 * host (a missing one silently means localhost), a port in 1..65535 (6379 when absent; the workers'
 * egress policy opens it), a path that is at most a database number, no fragment (an unencoded `#` in
 * the password cuts the URL short).
 */
export function redisUrlProblem(text: string): string | undefined {
  const example = "a URL like redis://host:6379 or rediss://host:6380";
  const problem = absoluteUrlProblem(text, ["redis", "rediss"], example);
  if (problem) return problem;
  const url = new URL(text);
  if (url.hash !== "") return `expected ${example} (a '#' in the password must be percent-encoded as %23)`;
  if (!REDIS_DATABASE_PATH.test(url.pathname))
    return `expected ${example}, with at most a database number as its path, like /0`;
  return undefined;
}

/** The schemes of a chart repository: a classic Helm repository (index.yaml) or an OCI registry. */
export const CHART_REPOSITORY_SCHEMES = ["https", "http", "oci"] as const;

/**
 * A chart repository or registry: `https://` (or `http://`) for a classic Helm repository (ChartMuseum,
 * Artifactory, Harbor's chartrepo, GitHub Pages), `oci://host/path` for an OCI registry. Credentials
 * are refused: the URL is stored in the state in plaintext; log in with `helm registry login` or the
 * repository's own configuration instead.
 */
export function chartRepositoryProblem(text: string): string | undefined {
  const example =
    "a chart repository URL like https://charts.example.com or oci://registry.example.com/charts";
  const problem = absoluteUrlProblem(text, CHART_REPOSITORY_SCHEMES, example);
  if (problem) return problem;
  const url = new URL(text);
  if (url.username !== "" || url.password !== "")
    return `expected ${example}, without credentials (they would be stored in the state in plaintext: use 'helm registry login' or the repository's config)`;
  if (url.search !== "" || url.hash !== "") return `expected ${example}, without a query or fragment`;
  return undefined;
}
