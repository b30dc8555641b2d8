/** One series of an instant query: its labels and value. */
export interface Sample {
  labels: Record<string, string>;
  value: number;
}

/** One series of a range query: its labels and [unix seconds, value] points. */
export interface Series {
  labels: Record<string, string>;
  points: [number, number][];
}

/**
 * A read-only client of the Prometheus HTTP API (the analyst never writes or deletes). Every failure
 * is an Error whose message says what on-call needs in a report: refused, timed out, an HTTP status
 * with a non-JSON body (a proxy's 502 page), or Prometheus' own error for the query.
 */
export class PrometheusClient {
  constructor(
    private readonly baseUrl: string,
    private readonly timeoutMs = 10_000,
  ) {}

  async query(promql: string, at?: number, signal?: AbortSignal): Promise<Sample[]> {
    const data = await this.get(
      "/api/v1/query",
      { query: promql, ...(at ? { time: String(at) } : {}) },
      signal,
    );
    return (data.result as { metric: Record<string, string>; value: [number, string] }[]).map((r) => ({
      labels: r.metric,
      value: Number(r.value[1]),
    }));
  }

  async queryRange(
    promql: string,
    start: number,
    end: number,
    stepSeconds: number,
    signal?: AbortSignal,
  ): Promise<Series[]> {
    const data = await this.get(
      "/api/v1/query_range",
      { query: promql, start: String(start), end: String(end), step: String(stepSeconds) },
      signal,
    );
    return (data.result as { metric: Record<string, string>; values: [number, string][] }[]).map((r) => ({
      labels: r.metric,
      points: r.values.map(([t, v]) => [t, Number(v)] as [number, number]),
    }));
  }

  private async get(path: string, params: Record<string, string>, signal?: AbortSignal): Promise<any> {
    const url = new URL(path, this.baseUrl);
    for (const [k, v] of Object.entries(params)) url.searchParams.set(k, v);
    const timeout = AbortSignal.timeout(this.timeoutMs);
    let res: Response;
    let raw: string;
    try {
      res = await fetch(url, { signal: signal ? AbortSignal.any([signal, timeout]) : timeout });
      raw = await res.text();
    } catch (err) {
      throw new Error(describeFetchError(err, this.timeoutMs));
    }
    let body: { status?: string; data?: unknown; error?: string } | undefined;
    try {
      body = JSON.parse(raw);
    } catch {
      const type = res.headers.get("content-type")?.split(";")[0] ?? "no content type";
      throw new Error(`Prometheus answered ${res.status} with ${type}, not its API's JSON`);
    }
    if (body?.status !== "success")
      throw new Error(
        `Prometheus answered ${res.status}: ${String(body?.error ?? "no error text").slice(0, 200)}`,
      );
    return body.data;
  }
}

/** Why a request got no answer, in words: refused, timed out, reset, or the cause's own message. */
export function describeFetchError(err: unknown, timeoutMs: number): string {
  const e = err as Error & { cause?: { code?: string; message?: string } };
  if (e.name === "TimeoutError") return `no answer within ${timeoutMs / 1000} s`;
  if (e.name === "AbortError") return "no answer before the evidence deadline";
  const code = e.cause?.code;
  if (code === "ECONNREFUSED") return "connection refused";
  if (code === "ECONNRESET" || code === "UND_ERR_SOCKET") return "connection reset";
  if (code === "ENOTFOUND" || code === "EAI_AGAIN") return "host not found";
  return e.cause?.message ?? e.message;
}
