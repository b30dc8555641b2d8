import multipart from "@fastify/multipart";
import Fastify, { FastifyInstance, LogController } from "fastify";
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import * as path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { z } from "zod";
import { AudioDecodeError, decodeAudio } from "./shared/audio";
import {
  envSchema as settingsSchema,
  SIMULATED_MODEL_SERVER_SETTINGS,
  SimulatedModelServerSettings,
} from "../contract";
import { parseEnv } from "./shared/config";

/**
 * SIMULATED model server: no GPU, no model. It implements the model-server protocol the API speaks
 * (docs/develop.md#the-model-server-protocol-what-a-real-sonic-worker-image-implements) so tests, the sandbox and GPU-less clusters run the real HTTP
 * path: job time is modelled from the audio length and a real-time factor, GPU memory from the jobs
 * running, and fault switches make every alert reachable. A real Sonic worker image replaces it.
 */

/** Fault switches, so every alert can be exercised end to end without a GPU. */
export interface SimulationFaults {
  /** Share of jobs that fail with 500 `inference_error`. */
  errorRate: number;
  /** Share of jobs that fail with 500 `gpu_out_of_memory`. */
  oomRate: number;
  /** Extra share of each GPU's memory reported as used (0.95 trips HighGPUMemoryUsage). */
  gpuMemoryPressure: number;
  /** Seconds added to |audio - video| of every video (0.4 trips the desync alert). */
  avOffsetSeconds: number;
  /** Report not ready (a model reloading): the API stops pulling jobs. */
  unready: boolean;
}

export const faultsSchema = z
  .object({
    errorRate: z.number().min(0).max(1),
    oomRate: z.number().min(0).max(1),
    gpuMemoryPressure: z.number().min(0).max(1),
    avOffsetSeconds: z.number().min(0).max(60),
    unready: z.boolean(),
  })
  .partial()
  .strict();

const envSchema = settingsSchema(SIMULATED_MODEL_SERVER_SETTINGS);
export type SimulatedModelServerConfig = SimulatedModelServerSettings;

export function loadSimulatedModelServerConfig(
  env: Record<string, string | undefined> = process.env,
): SimulatedModelServerConfig {
  return parseEnv(envSchema, "SONIC_SIM_", env) as SimulatedModelServerConfig;
}

interface Result {
  video_url: string;
  video_duration_seconds: number;
  stages: { audio_decode_seconds: number; video_render_seconds: number };
}

const GIB = 1024 ** 3;
const JOB_ID = /^[A-Za-z0-9-]{1,64}$/;

export interface SimulatedModelServer {
  app: FastifyInstance;
  faults: SimulationFaults;
  /** Generations really run (an idempotent replay is not one). */
  readonly generated: number;
  /** Takes no new generation, waits for the running ones, then closes (SIGTERM: the API is draining too). */
  drain(): Promise<void>;
}

/** Builds the simulated model server (not listening yet). */
export async function buildSimulatedModelServer(
  config: SimulatedModelServerConfig,
  random: () => number = Math.random,
): Promise<SimulatedModelServer> {
  const app = Fastify({
    logger: { level: config.SONIC_SIM_LOG_LEVEL },
    logController: new LogController({ disableRequestLogging: true }),
  });
  await app.register(multipart, { limits: { fileSize: 512 * 1024 * 1024, files: 2, fields: 1, parts: 3 } });
  const faults: SimulationFaults = {
    errorRate: 0,
    oomRate: 0,
    gpuMemoryPressure: 0,
    avOffsetSeconds: 0,
    unready: false,
  };
  const running = new Array<number>(config.SONIC_SIM_GPU_COUNT).fill(0);
  const inFlight = new Map<string, Promise<Result>>();
  const results = new Map<string, Result>();
  const loadedAt = Date.now() + config.SONIC_SIM_LOAD_SECONDS * 1000;
  let generated = 0;
  const outputDir = config.SONIC_SIM_OUTPUT_DIR;
  if (outputDir) mkdirSync(outputDir, { recursive: true });

  const stored = (jobId: string): Result | undefined => {
    if (results.has(jobId)) return results.get(jobId);
    const file = outputDir && path.join(outputDir, `${jobId}.json`);
    return file && existsSync(file) ? (JSON.parse(readFileSync(file, "utf8")) as Result) : undefined;
  };
  const store = (jobId: string, result: Result) => {
    results.set(jobId, result);
    if (results.size > 10_000) results.delete(results.keys().next().value!);
    if (outputDir) {
      const file = path.join(outputDir, `${jobId}.json`);
      writeFileSync(`${file}.tmp`, JSON.stringify(result));
      renameSync(`${file}.tmp`, file); // one object per job id, written whole
    }
  };
  let draining = false;
  const ready = () => Date.now() >= loadedAt && !faults.unready && !draining;
  const busy = () => running.reduce((a, b) => a + b, 0);

  const generate = async (jobId: string, audioSeconds: number): Promise<Result> => {
    const gpu = running.indexOf(Math.min(...running));
    running[gpu]++;
    try {
      const seconds = audioSeconds * config.SONIC_SIM_RTF;
      await sleep(seconds * 1000);
      if (random() < faults.oomRate) throw Object.assign(new Error("gpu_out_of_memory"), { code: 500 });
      if (random() < faults.errorRate) throw Object.assign(new Error("inference_error"), { code: 500 });
      generated++;
      const result: Result = {
        video_url: `simulated://videos/${jobId}.mp4`,
        video_duration_seconds: audioSeconds + random() * 0.02 + faults.avOffsetSeconds,
        stages: { audio_decode_seconds: seconds * 0.05, video_render_seconds: seconds * 0.95 },
      };
      store(jobId, result);
      return result;
    } finally {
      running[gpu]--;
    }
  };

  app.get("/healthz", async (_request, reply) =>
    reply.code(ready() ? 200 : 503).send({
      ready: ready(),
      gpus: running.map((jobs, index) => ({
        index,
        memory_total_bytes: config.SONIC_SIM_GPU_MEMORY_BYTES,
        // 2 GiB for the loaded model, 4 GiB per running job, plus the injected pressure.
        memory_used_bytes: Math.min(
          config.SONIC_SIM_GPU_MEMORY_BYTES,
          2 * GIB + jobs * 4 * GIB + faults.gpuMemoryPressure * config.SONIC_SIM_GPU_MEMORY_BYTES,
        ),
      })),
    }),
  );

  app.post("/v1/generate", async (request, reply) => {
    const fields: Record<string, Buffer | string> = {};
    for await (const part of request.parts()) {
      fields[part.fieldname] = part.type === "file" ? await part.toBuffer() : String(part.value);
    }
    const jobId = fields.job_id;
    if (typeof jobId !== "string" || !JOB_ID.test(jobId))
      return reply.code(400).send({ error: { code: "bad_job_id" } });
    if (!(fields.audio instanceof Buffer) || !(fields.image instanceof Buffer))
      return reply.code(400).send({ error: { code: "missing_input" } });
    const done = stored(jobId);
    if (done) return done; // idempotent: the same job id never produces a second video
    const pending = inFlight.get(jobId);
    if (pending) return pending;
    if (!ready()) return reply.code(503).send({ error: { code: "not_ready" } });
    if (busy() >= config.SONIC_SIM_SLOTS) return reply.code(503).send({ error: { code: "busy" } });
    let audioSeconds: number;
    try {
      audioSeconds = decodeAudio(fields.audio, 3600).durationSeconds;
    } catch (err) {
      if (err instanceof AudioDecodeError) return reply.code(422).send({ error: { code: "bad_audio" } });
      throw err;
    }
    const run = generate(jobId, audioSeconds).finally(() => inFlight.delete(jobId));
    inFlight.set(jobId, run);
    try {
      return await run;
    } catch (err) {
      return reply.code(500).send({ error: { code: (err as Error).message } });
    }
  });

  app.put("/v1/simulation/faults", async (request, reply) => {
    const parsed = faultsSchema.safeParse(request.body, { reportInput: true });
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      return reply.code(400).send({
        error: { code: "bad_request", message: `${issue.path.join(".") || "body"}: ${issue.message}` },
      });
    }
    return Object.assign(faults, parsed.data);
  });

  app.get("/v1/simulation/stats", async () => ({ generated, running: busy() }));

  return {
    app,
    faults,
    get generated() {
      return generated;
    },
    async drain() {
      draining = true;
      while (busy() > 0) await sleep(100);
      await app.close();
    },
  };
}
