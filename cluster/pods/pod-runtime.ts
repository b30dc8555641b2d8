import { ChildProcess, spawn } from "node:child_process";
import { closeSync, mkdirSync, openSync, renameSync, rmSync, writeFileSync } from "node:fs";
import * as path from "node:path";
import { LOG_DIR } from "../paths";
import { api } from "./api-client";
import { binarySpawn, hostSpawn, resolveEnv, Spawn } from "./container-command";
import { ruleFor } from "./images";
import { Container, Pod } from "./pod-types";
import { materializeVolumes, podDir, POD_DIR, VolumeNotReady } from "./volumes";

/**
 * The pod runtime: a kubelet stand-in for the kwok nodes. kwok keeps every pod's status (Running, Ready, an IP
 * from the namespace's pod range); this runs, for each such pod whose image it knows (images.ts), one process
 * per container, bound to the pod's IP: init containers first, each to its end, then the containers, restarted
 * with a back-off when they exit. It follows the API server: a pod that a controller adds gets its processes, a
 * pod that is deleted loses them. What it does not do, it says in .cluster/pods/status.json (`cluster status`).
 *
 * Simulated here, and named so in the docs: the nodes (kwok), and a process with a root of its own instead of a
 * container. Real: every process, the API server's objects they act on, and the addresses they serve.
 */
const POLL_MS = 1_000;
const VOLUME_REFRESH_MS = 5_000;
const RESTART_BACKOFF_MS = [1_000, 2_000, 5_000, 10_000, 20_000];
export const STATUS_FILE = path.join(POD_DIR, "status.json");

interface RunningContainer {
  name: string;
  process?: ChildProcess;
  restarts: number;
  startedAt?: number;
  exitedWith?: string;
  nextStart?: number;
  spawn?: Spawn;
}

interface PodState {
  pod: Pod;
  phase: "volumes" | "init" | "running" | "stopping";
  waitingFor?: string;
  containers: Map<string, RunningContainer>;
  notRun: string[];
  lastRefresh: number;
  /** An advance is under way (an init container may run for a while): the loop does not wait for it. */
  busy: boolean;
}

const pods = new Map<string, PodState>();
const tokens = new Map<string, Buffer>();

function log(line: string): void {
  process.stdout.write(`${new Date().toISOString()} ${line}\n`);
}

function key(pod: Pod): string {
  return `${pod.metadata.namespace}/${pod.metadata.name}`;
}

/** Whether this runtime should hold processes for the pod (scheduled, addressed, not going away). */
function runnable(pod: Pod): boolean {
  return (
    pod.status.phase === "Running" &&
    !!pod.status.podIP &&
    !pod.spec.hostNetwork &&
    !pod.metadata.deletionTimestamp &&
    [...(pod.spec.initContainers ?? []), ...pod.spec.containers].some((c) => ruleFor(c) !== undefined)
  );
}

/** The volumes that the pod's images may start without (images.ts). */
function optionalVolumes(pod: Pod): Set<string> {
  return new Set(
    [...(pod.spec.initContainers ?? []), ...pod.spec.containers].flatMap(
      (c) => ruleFor(c)?.optionalVolumes ?? [],
    ),
  );
}

async function spawnFor(pod: Pod, container: Container): Promise<Spawn> {
  const rule = ruleFor(container)!;
  const env = await resolveEnv(pod, container);
  if ("binary" in rule.run)
    return binarySpawn(pod, container, { ...rule, run: rule.run }, env, new Set(rule.optionalVolumes ?? []));
  return hostSpawn(pod, container, rule.run.host, env);
}

function start(state: PodState, running: RunningContainer, spawned: Spawn): ChildProcess {
  const logDir = path.join(LOG_DIR, "pods");
  mkdirSync(logDir, { recursive: true });
  const file = path.join(
    logDir,
    `${state.pod.metadata.namespace}_${state.pod.metadata.name}_${running.name}.log`,
  );
  const out = openSync(file, "a");
  const child = spawn(spawned.command, spawned.args, { stdio: ["ignore", out, out], env: spawned.env });
  closeSync(out);
  running.process = child;
  running.startedAt = Date.now();
  running.spawn = spawned;
  child.on("exit", (code, signal) => {
    running.process = undefined;
    running.exitedWith = signal ?? String(code);
    if (state.phase === "running") {
      running.restarts += 1;
      running.nextStart =
        Date.now() + RESTART_BACKOFF_MS[Math.min(running.restarts - 1, RESTART_BACKOFF_MS.length - 1)];
      log(
        `${key(state.pod)} ${running.name} exited (${running.exitedWith}); restart ${running.restarts} soon`,
      );
    }
  });
  child.on("error", (error) => log(`${key(state.pod)} ${running.name}: ${error.message}`));
  return child;
}

/** Runs one init container to its end; true when it exited 0. */
function runToEnd(state: PodState, container: Container, spawned: Spawn): Promise<boolean> {
  const running: RunningContainer = { name: container.name, restarts: 0 };
  state.containers.set(container.name, running);
  const child = start(state, running, spawned);
  return new Promise((resolve) => child.on("exit", (code) => resolve(code === 0)));
}

async function advance(state: PodState): Promise<void> {
  const pod = state.pod;
  if (state.phase === "volumes") {
    try {
      await materializeVolumes(pod, tokens, optionalVolumes(pod));
    } catch (error) {
      if (!(error instanceof VolumeNotReady)) throw error;
      if (state.waitingFor !== error.message) log(`${key(pod)} waits: ${error.message}`);
      state.waitingFor = error.message;
      return;
    }
    state.waitingFor = undefined;
    state.lastRefresh = Date.now();
    state.phase = "init";
  }
  if (state.phase === "init") {
    for (const container of pod.spec.initContainers ?? []) {
      if (!ruleFor(container)) continue;
      const ok = await runToEnd(state, container, await spawnFor(pod, container));
      if (!ok) {
        state.waitingFor = `init container ${container.name} failed (see its log in .cluster/logs/pods)`;
        log(`${key(pod)} ${state.waitingFor}`);
        state.phase = "volumes";
        return;
      }
    }
    state.phase = "running";
    for (const container of pod.spec.containers)
      if (ruleFor(container))
        state.containers.set(container.name, { name: container.name, restarts: 0, nextStart: 0 });
    log(`${key(pod)} starts ${[...state.containers.keys()].join(", ")} on ${pod.status.podIP}`);
  }
  if (state.phase !== "running") return;
  if (Date.now() - state.lastRefresh > VOLUME_REFRESH_MS) {
    state.lastRefresh = Date.now();
    await materializeVolumes(pod, tokens, optionalVolumes(pod)).catch((error: Error) =>
      log(`${key(pod)} volume refresh: ${error.message}`),
    );
  }
  for (const container of pod.spec.containers) {
    const running = state.containers.get(container.name);
    if (!running || running.process || (running.nextStart ?? 0) > Date.now()) continue;
    start(state, running, await spawnFor(pod, container));
  }
}

/**
 * SIGTERM, then SIGKILL after the pod's own terminationGracePeriodSeconds, as a kubelet does: a worker
 * draining its job gets the time its pod asks for. `cluster down` passes a cap instead.
 */
async function stop(state: PodState, capMs = Infinity): Promise<void> {
  state.phase = "stopping";
  const children = [...state.containers.values()].map((c) => c.process).filter((p): p is ChildProcess => !!p);
  for (const child of children) child.kill("SIGTERM");
  const graceMs = Math.min((state.pod.spec.terminationGracePeriodSeconds ?? 30) * 1000, capMs);
  const deadline = Date.now() + graceMs;
  while (children.some((c) => c.exitCode === null && c.signalCode === null) && Date.now() < deadline)
    await new Promise((r) => setTimeout(r, 100));
  for (const child of children)
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
  rmSync(path.join(podDir(state.pod), "roots"), { recursive: true, force: true });
  tokens.delete(state.pod.metadata.uid);
  log(`${key(state.pod)} stopped`);
}

function writeStatus(): void {
  const report = [...pods.values()].map((s) => ({
    pod: key(s.pod),
    ip: s.pod.status.podIP,
    phase: s.phase,
    waitingFor: s.waitingFor,
    containers: [...s.containers.values()].map((c) => ({
      name: c.name,
      pid: c.process?.pid,
      restarts: c.restarts,
      lastExit: c.exitedWith,
    })),
    notRun: s.notRun,
  }));
  mkdirSync(POD_DIR, { recursive: true });
  writeFileSync(`${STATUS_FILE}.tmp`, JSON.stringify(report, null, 2));
  renameSync(`${STATUS_FILE}.tmp`, STATUS_FILE);
}

async function reconcile(): Promise<void> {
  const list = await api<{ items: Pod[] }>("GET", "/api/v1/pods");
  const seen = new Set<string>();
  for (const pod of list.items) {
    if (!runnable(pod)) continue;
    const id = pod.metadata.uid;
    seen.add(id);
    let state = pods.get(id);
    if (!state) {
      state = {
        pod,
        phase: "volumes",
        containers: new Map(),
        lastRefresh: 0,
        busy: false,
        notRun: [...(pod.spec.initContainers ?? []), ...pod.spec.containers]
          .filter((c) => !ruleFor(c))
          .map((c) => `${c.name} (${c.image}: no local runtime)`),
      };
      pods.set(id, state);
    }
    state.pod = pod;
    if (state.phase === "stopping" || state.busy) continue;
    const current = state;
    current.busy = true;
    void advance(current)
      .catch((error: Error) => {
        current.waitingFor = error.message;
        log(`${key(pod)}: ${error.message}`);
      })
      .finally(() => (current.busy = false));
  }
  // A pod that went away stops in the background: its grace may be minutes (a worker draining its job).
  for (const [id, state] of pods)
    if (!seen.has(id) && state.phase !== "stopping") void stop(state).finally(() => pods.delete(id));
  writeStatus();
}

async function main(): Promise<void> {
  log("pod runtime: following the API server's pods");
  let stopping = false;
  const shutdown = async () => {
    if (stopping) return;
    stopping = true;
    // cluster down: at most 10 s each, everything at once.
    await Promise.all([...pods.values()].map((state) => stop(state, 10_000)));
    process.exit(0);
  };
  process.on("SIGTERM", () => void shutdown());
  process.on("SIGINT", () => void shutdown());
  while (!stopping) {
    await reconcile().catch((error: Error) => log(`reconcile: ${error.message}`));
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
}

if (require.main === module) void main();
