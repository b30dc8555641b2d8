import { setTimeout as sleep } from "node:timers/promises";
import type { GpuMemorySample } from "../../shared/metrics";
import { GenerateRequest, GenerateResult, InferenceBackend, JobFailure } from "./types";

export interface HttpBackendOptions {
  /** Base URL of the Sonic GPU worker, e.g. `http://sonic-worker:9000`. */
  url: string;
  /** Seconds one generate attempt may take before it is abandoned. */
  timeoutSeconds: number;
  /** Extra attempts after a connection failure or a 502/503/504. */
  retries: number;
}

/**
 * Client of the Sonic model server (the `model-server` container of the pod, or the simulated one). The protocol (also in docs/develop.md#the-model-server-protocol-what-a-real-sonic-worker-image-implements):
 *
 * - `POST /v1/generate`, multipart fields `job_id`, `audio` (WAV), `image` (PNG/JPEG) -> 200
 *   `{ video_url, video_duration_seconds, stages: { audio_decode_seconds, video_render_seconds } }`;
 *   errors as `{ error: { code } }` where `code: "gpu_out_of_memory"` is recognised.
 * - `GET /healthz` -> 200 `{ ready: boolean, gpus?: [{ index, memory_used_bytes, memory_total_bytes }] }`.
 *
 * `job_id` is the idempotency key: the worker returns the same result for a repeated id, which is what
 * makes retrying after a lost connection safe. 4xx answers are never retried.
 */
export class HttpBackend implements InferenceBackend {
  private lastGpus: GpuMemorySample[] | undefined;

  constructor(private readonly options: HttpBackendOptions) {}

  async ready(): Promise<boolean> {
    try {
      const res = await fetch(new URL("/healthz", this.options.url), { signal: AbortSignal.timeout(2000) });
      if (!res.ok) return false;
      const body = (await res.json()) as {
        ready?: boolean;
        gpus?: { index: number; memory_used_bytes: number; memory_total_bytes: number }[];
      };
      if (Array.isArray(body.gpus)) {
        this.lastGpus = body.gpus
          .filter(
            (g) =>
              Number.isFinite(g.index) && Number.isFinite(g.memory_used_bytes) && g.memory_total_bytes > 0,
          )
          .map((g) => ({ index: g.index, usedBytes: g.memory_used_bytes, totalBytes: g.memory_total_bytes }));
      }
      return body.ready === true;
    } catch {
      return false;
    }
  }

  gpuMemory(): GpuMemorySample[] | undefined {
    return this.lastGpus;
  }

  async generate(request: GenerateRequest): Promise<GenerateResult> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await this.attempt(request);
      } catch (err) {
        const retriable = err instanceof JobFailure && err.reason === "worker_unavailable";
        if (!retriable || attempt >= this.options.retries || request.signal.aborted) throw err;
        await sleep(500 * 2 ** attempt, undefined, { signal: request.signal });
      }
    }
  }

  private async attempt(request: GenerateRequest): Promise<GenerateResult> {
    const form = new FormData();
    form.set("job_id", request.jobId);
    form.set("audio", new Blob([request.audio], { type: "audio/wav" }), "audio.wav");
    form.set(
      "image",
      new Blob([request.image], { type: `image/${request.imageType === "png" ? "png" : "jpeg"}` }),
      `image.${request.imageType}`,
    );
    const timeout = AbortSignal.timeout(this.options.timeoutSeconds * 1000);
    let res: Response;
    try {
      res = await fetch(new URL("/v1/generate", this.options.url), {
        method: "POST",
        body: form,
        signal: AbortSignal.any([timeout, request.signal]),
      });
    } catch (err) {
      if (timeout.aborted)
        throw new JobFailure(
          "worker_timeout",
          `model server did not answer within ${this.options.timeoutSeconds}s`,
        );
      if (request.signal.aborted)
        throw new JobFailure("shutdown", "the service shut down before the model server answered");
      throw new JobFailure("worker_unavailable", `model server unreachable: ${(err as Error).message}`);
    }
    let text: string;
    try {
      text = await res.text();
    } catch (err) {
      // A reply that breaks off mid-body is a lost connection, not a model error: retry it (job_id
      // makes the retry idempotent).
      if (request.signal.aborted)
        throw new JobFailure("shutdown", "the service shut down before the model server answered");
      throw new JobFailure("worker_unavailable", `model server reply broke off: ${(err as Error).message}`);
    }
    let body: any;
    try {
      body = JSON.parse(text);
    } catch {
      body = undefined;
    }
    if (res.status === 502 || res.status === 503 || res.status === 504) {
      throw new JobFailure("worker_unavailable", `model server answered ${res.status}`);
    }
    if (!res.ok) {
      const code = body?.error?.code;
      if (code === "gpu_out_of_memory")
        throw new JobFailure("gpu_out_of_memory", "model server ran out of GPU memory");
      throw new JobFailure(
        res.status < 500 ? "worker_rejected" : "inference_error",
        `model server answered ${res.status}${code ? ` (${code})` : ""}`,
      );
    }
    const video = Number(body?.video_duration_seconds);
    const decode = Number(body?.stages?.audio_decode_seconds);
    const render = Number(body?.stages?.video_render_seconds);
    if (typeof body?.video_url !== "string" || ![video, decode, render].every(Number.isFinite)) {
      throw new JobFailure(
        "inference_error",
        "model server answered 200 without video_url, video_duration_seconds and stages",
      );
    }
    return {
      location: body.video_url,
      videoSeconds: video,
      audioDecodeSeconds: decode,
      videoRenderSeconds: render,
    };
  }
}
