import type { GpuMemorySample } from "../metrics";

/** One generation job handed to the inference backend. */
export interface GenerateRequest {
  jobId: string;
  audio: Buffer;
  image: Buffer;
  imageType: "png" | "jpg";
  audioSeconds: number;
  /** Aborted when the service gives up on the job (shutdown grace exhausted). */
  signal: AbortSignal;
}

/** A generated video and the timings the worker measured. */
export interface GenerateResult {
  /** Where the video is stored (object-store URL from the worker; `simulated://` for the simulation). */
  location: string;
  videoSeconds: number;
  audioDecodeSeconds: number;
  videoRenderSeconds: number;
}

/** Why a job failed: a closed set, shown to clients and logged. */
export const FAILURE_REASONS = [
  "inference_error",
  "gpu_out_of_memory",
  "worker_unavailable",
  "worker_timeout",
  "worker_rejected",
  "shutdown",
] as const;
export type FailureReason = (typeof FAILURE_REASONS)[number];

export class JobFailure extends Error {
  constructor(
    public readonly reason: FailureReason,
    message: string,
  ) {
    super(message);
    this.name = "JobFailure";
  }
}

/** The GPU side of Sonic: the real worker over HTTP, or the in-process simulation. */
export interface InferenceBackend {
  readonly kind: "simulated" | "http";
  generate(request: GenerateRequest): Promise<GenerateResult>;
  /** Whether the backend can take jobs (model loaded, worker reachable). */
  ready(): Promise<boolean>;
  /** GPU memory as the backend last reported it; used only when nvidia-smi is not available. */
  gpuMemory(): GpuMemorySample[] | undefined;
}
