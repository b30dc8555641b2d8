import { execFile } from "node:child_process";
import type { FastifyBaseLogger } from "fastify";
import type { AppMetrics, GpuMemorySample } from "../shared/metrics";
import type { InferenceBackend } from "./backends/types";

const MIB = 1024 * 1024;

/**
 * Parses `nvidia-smi --query-gpu=index,memory.used,memory.total --format=csv,noheader,nounits`
 * (values in MiB, one GPU a line). Throws on any line it cannot read rather than invent a number.
 */
export function parseNvidiaSmiCsv(text: string): GpuMemorySample[] {
  return text
    .split(/\r?\n/)
    .map((line) => line.trim())
    .filter((line) => line !== "")
    .map((line) => {
      const fields = line.split(",").map((f) => f.trim());
      const [index, used, total] = fields.map(Number);
      if (fields.length !== 3 || ![index, used, total].every(Number.isFinite) || total <= 0) {
        throw new Error(`unreadable nvidia-smi line: "${line}"`);
      }
      return { index, usedBytes: used * MIB, totalBytes: total * MIB };
    });
}

export const NVIDIA_SMI_ARGS = [
  "--query-gpu=index,memory.used,memory.total",
  "--format=csv,noheader,nounits",
];

/** Runs nvidia-smi once. Resolves `undefined` when it is not installed (no GPU driver on this host). */
export function sampleNvidiaSmi(
  binary = "nvidia-smi",
  timeoutMs = 5000,
): Promise<GpuMemorySample[] | undefined> {
  return new Promise((resolve, reject) => {
    execFile(binary, NVIDIA_SMI_ARGS, { timeout: timeoutMs }, (err, stdout) => {
      if (err && (err as NodeJS.ErrnoException).code === "ENOENT") return resolve(undefined);
      if (err) return reject(err);
      try {
        resolve(parseNvidiaSmiCsv(stdout));
      } catch (parseError) {
        reject(parseError);
      }
    });
  });
}

/**
 * Samples GPU memory every `seconds`: from nvidia-smi where the driver is visible in this container,
 * else from the model server's own health reports. Nothing is set when neither knows: no number is
 * ever invented.
 */
export function startGpuSampler(
  nvidiaSmiBinary: string,
  seconds: number,
  backend: InferenceBackend,
  metrics: AppMetrics,
  log: FastifyBaseLogger,
): NodeJS.Timeout {
  let nvidiaSmi = true;
  const sample = async () => {
    try {
      const fromSmi = nvidiaSmi ? await sampleNvidiaSmi(nvidiaSmiBinary) : undefined;
      if (fromSmi === undefined) nvidiaSmi = false;
      const samples = fromSmi ?? backend.gpuMemory();
      if (samples) metrics.setGpus(samples);
    } catch (err) {
      log.warn({ err, event: "gpu_sample_failed" }, "GPU memory sampling failed");
    }
  };
  void sample();
  const timer = setInterval(sample, seconds * 1000);
  timer.unref();
  return timer;
}
