import type { GpuMemorySample } from "../../shared/metrics";

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

/** Why a job failed: the metric contract's closed set, shown to clients, logged and counted. */
export { JOB_FAILURE_REASONS as FAILURE_REASONS } from "../../../contract/metrics";
export type { JobFailureReason as FailureReason } from "../../../contract/metrics";
import type { JobFailureReason as FailureReason } from "../../../contract/metrics";

export class JobFailure extends Error {
  constructor(
    public readonly reason: FailureReason,
    message: string,
  ) {
    super(message);
    this.name = "JobFailure";
  }
}

/** The GPU side of Sonic: the model server, always over HTTP (the real worker or the simulated one). */
export interface InferenceBackend {
  generate(request: GenerateRequest): Promise<GenerateResult>;
  /** Whether the backend can take jobs (model loaded, worker reachable). */
  ready(): Promise<boolean>;
  /** GPU memory as the backend last reported it; used only when nvidia-smi is not available. */
  gpuMemory(): GpuMemorySample[] | undefined;
}
