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

/** A read-only client of the Prometheus HTTP API (the analyst never writes or deletes). */
export class PrometheusClient {
  constructor(
    private readonly baseUrl: string,
    private readonly timeoutMs = 10_000,
  ) {}

  async query(promql: string, at?: number): Promise<Sample[]> {
    const data = await this.get("/api/v1/query", { query: promql, ...(at ? { time: String(at) } : {}) });
    return (data.result as { metric: Record<string, string>; value: [number, string] }[]).map((r) => ({
      labels: r.metric,
      value: Number(r.value[1]),
    }));
  }

  async queryRange(promql: string, start: number, end: number, stepSeconds: number): Promise<Series[]> {
    const data = await this.get("/api/v1/query_range", {
      query: promql,
      start: String(start),
      end: String(end),
      step: String(stepSeconds),
    });
    return (data.result as { metric: Record<string, string>; values: [number, string][] }[]).map((r) => ({
      labels: r.metric,
      points: r.values.map(([t, v]) => [t, Number(v)] as [number, number]),
    }));
  }

  private async get(path: string, params: Record<string, string>): Promise<any> {
    const url = new URL(path, this.baseUrl);
    for (const [k, v] of Object.entries(params)) url.searchParams.set(k, v);
    const res = await fetch(url, { signal: AbortSignal.timeout(this.timeoutMs) });
    const body = (await res.json()) as { status: string; data: unknown; error?: string };
    if (body.status !== "success") throw new Error(`Prometheus ${path}: ${body.error ?? res.status}`);
    return body.data;
  }
}
