/** One series of an instant query's answer: its labels and its value. */
export interface Sample {
  labels: Record<string, string>;
  value: number;
}

/** Runs an instant query; rejects when Prometheus cannot answer (the controllers count that as a failure). */
export type InstantQuery = (query: string) => Promise<Sample[]>;

/**
 * An instant query against a real Prometheus HTTP API (`/api/v1/query`), as KEDA's Prometheus scaler and
 * prometheus-adapter send it. A scalar answer is one sample without labels.
 */
export function prometheusQuery(baseUrl: string, timeoutMs = 3000): InstantQuery {
  return async (query) => {
    const res = await fetch(`${baseUrl}/api/v1/query?${new URLSearchParams({ query })}`, {
      signal: AbortSignal.timeout(timeoutMs),
    });
    const body = (await res.json()) as any;
    if (!res.ok || body.status !== "success") {
      throw new Error(`prometheus answered ${res.status}: ${body.error ?? "no error message"}`);
    }
    const { resultType, result } = body.data;
    if (resultType === "scalar") return [{ labels: {}, value: Number(result[1]) }];
    if (resultType !== "vector") throw new Error(`prometheus answered a ${resultType}, not a vector`);
    return (result as any[]).map((r) => ({ labels: r.metric, value: Number(r.value[1]) }));
  };
}
