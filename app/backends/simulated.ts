import { setTimeout as sleep } from "node:timers/promises";
import type { GpuMemorySample } from "../metrics";
import { GenerateRequest, GenerateResult, InferenceBackend, JobFailure } from "./types";

/** Fault switches of the simulation, so every alert can be exercised end to end without a GPU. */
export interface SimulationFaults {
  /** Share of jobs that fail with `inference_error`. */
  errorRate: number;
  /** Extra share of each GPU's memory reported as used (0.95 trips HighGPUMemoryUsage). */
  gpuMemoryPressure: number;
  /** Seconds added to |audio - video| of every video (0.4 trips the desync alert). */
  avOffsetSeconds: number;
  /** Bytes of real memory retained per finished job: a genuine leak the RSS metric shows. */
  memoryGrowthBytesPerJob: number;
}

export interface SimulatedBackendOptions {
  /** Generation seconds per second of audio. */
  realTimeFactor: number;
  gpuCount: number;
  gpuMemoryBytes: number;
  faults: SimulationFaults;
  /** Random source, replaceable for deterministic tests. @default Math.random */
  random?: () => number;
}

const GIB = 1024 ** 3;

/**
 * SIMULATED inference backend: no GPU, no model. Job time is modelled from the audio length and a
 * real-time factor, and GPU memory from the jobs running. It is the default for local runs and tests
 * and is never used in the cluster (the Deployment sets SONIC_BACKEND=http).
 */
export class SimulatedBackend implements InferenceBackend {
  readonly kind = "simulated";
  private running: number[];
  private readonly leaked: Buffer[] = [];
  private readonly random: () => number;

  constructor(private readonly options: SimulatedBackendOptions) {
    this.running = new Array(options.gpuCount).fill(0);
    this.random = options.random ?? Math.random;
  }

  get faults(): SimulationFaults {
    return this.options.faults;
  }

  setFaults(faults: Partial<SimulationFaults>): SimulationFaults {
    Object.assign(this.options.faults, faults);
    if (this.options.faults.memoryGrowthBytesPerJob === 0) this.leaked.length = 0;
    return this.options.faults;
  }

  async ready(): Promise<boolean> {
    return true;
  }

  gpuMemory(): GpuMemorySample[] {
    const { gpuMemoryBytes, faults } = this.options;
    return this.running.map((jobs, index) => ({
      index,
      totalBytes: gpuMemoryBytes,
      // 2 GiB for the loaded model, 4 GiB per running job, plus the injected pressure.
      usedBytes: Math.min(
        gpuMemoryBytes,
        2 * GIB + jobs * 4 * GIB + faults.gpuMemoryPressure * gpuMemoryBytes,
      ),
    }));
  }

  async generate(request: GenerateRequest): Promise<GenerateResult> {
    const gpu = this.running.indexOf(Math.min(...this.running));
    this.running[gpu]++;
    try {
      const seconds = request.audioSeconds * this.options.realTimeFactor;
      await sleep(seconds * 1000, undefined, { signal: request.signal });
      const { faults } = this.options;
      if (this.random() < faults.errorRate)
        throw new JobFailure("inference_error", "simulated inference error");
      if (faults.memoryGrowthBytesPerJob > 0)
        this.leaked.push(Buffer.alloc(faults.memoryGrowthBytesPerJob, 1));
      const drift = this.random() * 0.02 + faults.avOffsetSeconds;
      return {
        location: `simulated://videos/${request.jobId}.mp4`,
        videoSeconds: request.audioSeconds + drift,
        audioDecodeSeconds: seconds * 0.05,
        videoRenderSeconds: seconds * 0.95,
      };
    } finally {
      this.running[gpu]--;
    }
  }
}
