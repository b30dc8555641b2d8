import { appendFileSync, writeFileSync } from "node:fs";
import * as path from "node:path";
import { scaledObjectSpec } from "../../components/autoscaling/scaled-object";
import type { WorkerPod } from "../pod";
import type { Sandbox } from "../sandbox";
import {
  controlledAutoscalers,
  renderStackObjects,
  type ControlledAutoscaler,
  type RenderedObject,
} from "./autoscaler-objects";
import { ScalingLoop, type ScalingDecision } from "./loop";
import { prometheusQuery } from "./prometheus-query";
import { ProcessWorkerPool } from "./worker-pool";

export type AutoscaleEngine = "adapter" | "keda";

/** The worker tier's Deployment: the one the controllers scale (the API tier's autoscaler has no pool here). */
export const WORKER_DEPLOYMENT = "sonic-generate-worker";

/** The file, under the sandbox's state folder, every decision is appended to (one JSON a line). */
export const DECISIONS_FILE = "scaling-decisions.jsonl";

export interface SandboxAutoscalingOptions {
  engine: AutoscaleEngine;
  /** Controller seconds per wall second (see ScalingLoopOptions.speedUp). @default 1 */
  speedUp?: number;
  /** Stack whose objects are rendered. @default "dev" */
  stack?: string;
  /** Rendered resources' inputs to use instead of rendering the stack (tests, the bench). */
  objects?: RenderedObject[];
  /** Overrides of the worker autoscaler's bounds (the bench compares engines at one maximum). */
  bounds?: { min?: number; max?: number };
  /** Replicas the pool starts at. @default the autoscaler's minimum */
  initial?: number;
  /** Also called with each decision (after it is logged). */
  onDecision?: (d: ScalingDecision) => void;
}

export interface SandboxAutoscaling {
  loop: ScalingLoop;
  pool: ProcessWorkerPool;
  autoscaler: ControlledAutoscaler;
  /** Where the autoscaler came from: the rendered stack, or built here because the stack has none yet. */
  source: string;
  decisionsFile: string;
  stop(): Promise<void>;
}

/**
 * The ScaledObject the keda engine would render, built with the component's own `scaledObjectSpec`
 * from the rendered adapter HPA (its bounds, behaviour, backlog target and the adapter's backlog query),
 * for stacks that do not render ScaledObjects yet. `minReplicaCount: 0`, KEDA's polling of 15 s.
 */
export function provisionalScaledObject(hpa: ControlledAutoscaler): RenderedObject {
  const backlog = hpa.metrics.find((m) => m.kind === "external-average");
  if (!backlog) throw new Error(`${hpa.object} has no External AverageValue metric to build a trigger on`);
  return {
    apiVersion: "keda.sh/v1alpha1",
    kind: "ScaledObject",
    metadata: { name: hpa.deployment, namespace: hpa.namespace },
    spec: scaledObjectSpec(
      {
        minReplicas: 0,
        maxReplicas: hpa.hpa.maxReplicas,
        pollingIntervalSeconds: 15,
        cooldownPeriodSeconds: 300,
        behavior: hpa.hpa.behavior as any,
        triggers: [
          {
            name: "backlog",
            serverAddress: "http://prometheus.invalid:9090",
            query: backlog.query([]),
            threshold: backlog.target,
            activationThreshold: 0,
          },
        ],
      },
      hpa.deployment,
    ),
  };
}

/** Picks the worker tier's autoscaler of the engine among the rendered objects (see WORKER_DEPLOYMENT). */
export function workerAutoscaler(
  objects: RenderedObject[],
  engine: AutoscaleEngine,
): { autoscaler: ControlledAutoscaler; source: string } {
  const all = controlledAutoscalers(objects);
  const pick = (list: ControlledAutoscaler[]) => list.find((a) => a.deployment === WORKER_DEPLOYMENT);
  const wanted = pick(all.filter((a) => a.engine === (engine === "keda" ? "keda" : "hpa")));
  if (wanted) return { autoscaler: wanted, source: `rendered ${wanted.object}` };
  const hpa = pick(all.filter((a) => a.engine === "hpa"));
  if (engine === "keda" && hpa) {
    const [so] = controlledAutoscalers([provisionalScaledObject(hpa)]);
    return {
      autoscaler: so,
      source: `ScaledObject built by scaledObjectSpec from rendered ${hpa.object} (the stack renders no ScaledObject yet)`,
    };
  }
  throw new Error(
    `the rendered objects have no ${engine} autoscaler on ${WORKER_DEPLOYMENT} (each stack names its engine: try the other stack with --stack)`,
  );
}

/**
 * The rendered objects of the first of `stacks` that holds a worker autoscaler of `engine` (each stack
 * names its engine: dev keda, prod adapter), with that autoscaler. `cache` keeps renders across calls.
 */
export function stackObjectsFor(
  engine: AutoscaleEngine,
  stacks: string[] = ["dev", "prod"],
  cache: Record<string, RenderedObject[]> = {},
): { stack: string; objects: RenderedObject[]; autoscaler: ControlledAutoscaler; source: string } {
  const misses: string[] = [];
  for (const stack of stacks) {
    const objects = (cache[stack] ??= renderStackObjects(stack));
    try {
      return { stack, objects, ...workerAutoscaler(objects, engine) };
    } catch (err) {
      misses.push(`${stack}: ${(err as Error).message}`);
    }
  }
  throw new Error(`no stack renders a ${engine} worker autoscaler:\n${misses.join("\n")}`);
}

/**
 * Runs the simulated controllers in a started sandbox of API pods only (`apiOnly`): the worker tier is
 * a pool of worker pods (job runner + simulated model server) the controllers add and remove at
 * runtime, up to the autoscaler's maximum, and every decision is appended to
 * `<stateDir>/scaling-decisions.jsonl`. Start the sandbox with `loadPaused` (the steady load generator
 * would keep the workers busy for good).
 */
export async function startSandboxAutoscaling(
  sandbox: Sandbox,
  stateDir: string,
  o: SandboxAutoscalingOptions,
): Promise<SandboxAutoscaling> {
  const objects = o.objects ?? renderStackObjects(o.stack ?? "dev");
  const { autoscaler, source } = workerAutoscaler(objects, o.engine);
  applyBounds(autoscaler, o.bounds);
  const pool = sandboxWorkerPool(sandbox, autoscaler.hpa.maxReplicas);
  const decisionsFile = path.join(stateDir, DECISIONS_FILE);
  writeFileSync(decisionsFile, "");
  await pool.scaleTo(
    o.initial ?? (autoscaler.keda ? autoscaler.keda.minReplicaCount : autoscaler.hpa.minReplicas),
  );
  await pool.settled();
  const loop = new ScalingLoop({
    autoscalers: [autoscaler],
    pools: { [autoscaler.deployment]: pool },
    query: prometheusQuery(sandbox.endpoints.prometheus),
    speedUp: o.speedUp,
    onDecision: (d) => {
      appendFileSync(decisionsFile, JSON.stringify(d) + "\n");
      o.onDecision?.(d);
    },
  });
  loop.start();
  return {
    loop,
    pool,
    autoscaler,
    source,
    decisionsFile,
    async stop() {
      await loop.stop();
      await pool.settled();
    },
  };
}

/**
 * The worker tier of a started sandbox as a pool of `capacity` slots: a scale-up starts a new worker
 * pod (`Sandbox.addWorker`: a new pod name, its model loading for the sandbox's
 * `SONIC_SIM_LOAD_SECONDS`), a scale-down sends it SIGTERM (`removeWorker`: it drains, unfinished jobs
 * go back to the queue). Prometheus scrapes each from the moment it starts, as a ServiceMonitor would.
 */
export function sandboxWorkerPool(sandbox: Sandbox, capacity: number): ProcessWorkerPool {
  const slots = Array.from({ length: capacity }, (_, i) => {
    let pod: WorkerPod | undefined;
    return {
      get name() {
        return pod?.options.name ?? `worker-slot-${i}`;
      },
      start: async () => (pod = await sandbox.addWorker()),
      terminate: async () => {
        if (pod) await sandbox.removeWorker(pod);
        pod = undefined;
      },
    };
  });
  return new ProcessWorkerPool(slots);
}

/** Bounds of the bench: the HPA's and KEDA's min/max both. */
function applyBounds(a: ControlledAutoscaler, bounds: SandboxAutoscalingOptions["bounds"]): void {
  if (bounds?.max !== undefined) {
    a.hpa.maxReplicas = bounds.max;
    if (a.keda) a.keda.maxReplicaCount = bounds.max;
  }
  if (bounds?.min !== undefined) {
    if (a.keda) a.keda.minReplicaCount = bounds.min;
    a.hpa.minReplicas = Math.max(bounds.min, a.keda ? 1 : bounds.min);
  }
}

/** What `npm start -- --autoscale <engine>` needs before the sandbox starts. */
export interface AutoscaledSandboxPlan {
  /** The simulated model server's load time: the cold start in controller seconds, on the wall clock. */
  modelServerEnv: Record<string, string>;
  options: SandboxAutoscalingOptions & { objects: RenderedObject[] };
  autoscaler: ControlledAutoscaler;
  source: string;
}

/** Renders the stack and sizes the sandbox for its worker autoscaler. */
export function planAutoscaledSandbox(
  engine: AutoscaleEngine,
  stack: string,
  speedUp: number,
  coldStartSeconds = 60,
): AutoscaledSandboxPlan {
  const objects = renderStackObjects(stack);
  const { autoscaler, source } = workerAutoscaler(objects, engine);
  return {
    modelServerEnv: { SONIC_SIM_LOAD_SECONDS: String(Math.max(1, Math.round(coldStartSeconds / speedUp))) },
    options: { engine, speedUp, stack, objects },
    autoscaler,
    source,
  };
}
