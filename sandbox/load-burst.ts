import { png, wav } from "../testkit/media";

/** A job a burst submitted: its id, and when it was sent (ms). */
export interface SubmittedJob {
  id: string;
  sentAt: number;
}

export interface BurstResult {
  jobs: SubmittedJob[];
  /** Submissions answered other than 202 (a 429 from a full backlog, a refused connection). */
  refused: { status: number | string; body: string }[];
}

/**
 * Sends `jobs` submissions to one API at once (`audioSeconds` of audio each): the burst that wakes the
 * worker tier. Resolves once every submission is answered.
 */
export async function sendBurst(apiUrl: string, jobs: number, audioSeconds = 2): Promise<BurstResult> {
  const audio = wav(audioSeconds);
  const image = png(64, 64);
  const result: BurstResult = { jobs: [], refused: [] };
  await Promise.all(
    Array.from({ length: jobs }, async () => {
      const body = new FormData();
      body.set("audio", new Blob([audio], { type: "audio/wav" }), "a.wav");
      body.set("image", new Blob([image], { type: "image/png" }), "p.png");
      const sentAt = Date.now();
      try {
        const res = await fetch(`${apiUrl}/v1/videos`, { method: "POST", body });
        const text = await res.text();
        if (res.status !== 202)
          return void result.refused.push({ status: res.status, body: text.slice(0, 200) });
        result.jobs.push({ id: (JSON.parse(text) as { id: string }).id, sentAt });
      } catch (err) {
        // fetch says only "fetch failed": the socket's own error (ECONNRESET, a timeout...) says why.
        const cause = (err as Error & { cause?: { code?: string; message?: string } }).cause;
        const why = cause ? `: ${cause.code ?? ""} ${cause.message ?? ""}`.trimEnd() : "";
        result.refused.push({ status: "connection", body: `${(err as Error).message}${why}` });
      }
    }),
  );
  return result;
}

/** A job's end as its poller saw it. */
export interface JobEnd {
  id: string;
  status: "succeeded" | "failed" | "lost";
  /** Seconds from submission to start (queued, including any cold start). */
  waitSeconds?: number;
  failure?: string;
}

/**
 * Polls every job until it ends (succeeded or failed) or `deadlineMs` passes; a job that never ends,
 * or that vanished, counts as lost.
 */
export async function pollToEnd(apiUrl: string, jobs: SubmittedJob[], deadlineMs: number): Promise<JobEnd[]> {
  const ends = new Map<string, JobEnd>();
  while (ends.size < jobs.length && Date.now() < deadlineMs) {
    for (const job of jobs) {
      if (ends.has(job.id)) continue;
      try {
        const res = await fetch(`${apiUrl}/v1/videos/${job.id}`);
        if (res.status === 404) {
          ends.set(job.id, { id: job.id, status: "lost", failure: "404: the job is gone" });
          continue;
        }
        const v = (await res.json()) as any;
        if (v.status === "succeeded" || v.status === "failed") {
          ends.set(job.id, {
            id: job.id,
            status: v.status,
            waitSeconds: v.timings?.queued_seconds,
            failure: v.failure?.reason,
          });
        }
      } catch {
        /* the API is briefly unreachable: poll again */
      }
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  return jobs.map(
    (j) => ends.get(j.id) ?? { id: j.id, status: "lost", failure: "did not end before the deadline" },
  );
}
