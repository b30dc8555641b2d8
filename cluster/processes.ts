import { spawn } from "node:child_process";
import {
  closeSync,
  existsSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import * as path from "node:path";
import { LOG_DIR, PID_DIR, toolsPath } from "./paths";

/**
 * The long-running parts of the local cluster, each a detached process with its log in .cluster/logs and its
 * PID in .cluster/pids: `cluster down` stops exactly what `cluster up` started, by PID, and nothing else.
 */
export function startProcess(
  name: string,
  command: string,
  args: string[],
  env: Record<string, string> = {},
): number {
  mkdirSync(LOG_DIR, { recursive: true });
  mkdirSync(PID_DIR, { recursive: true });
  const log = openSync(path.join(LOG_DIR, `${name}.log`), "a");
  const child = spawn(command, args, {
    detached: true,
    stdio: ["ignore", log, log],
    env: { ...process.env, PATH: toolsPath(), ...env },
  });
  closeSync(log);
  if (child.pid === undefined) throw new Error(`could not start ${name} (${command})`);
  child.unref();
  writeFileSync(path.join(PID_DIR, `${name}.pid`), `${child.pid}\n`);
  return child.pid;
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** name -> PID of every process this checkout's cluster started (alive or not). */
export function recordedProcesses(): Map<string, number> {
  const found = new Map<string, number>();
  if (!existsSync(PID_DIR)) return found;
  for (const file of readdirSync(PID_DIR)) {
    if (!file.endsWith(".pid")) continue;
    found.set(file.slice(0, -4), Number(readFileSync(path.join(PID_DIR, file), "utf8").trim()));
  }
  return found;
}

/** The last lines of a part's log, for an error that says why it stopped. */
export function logTail(name: string, lines = 15): string {
  const file = path.join(LOG_DIR, `${name}.log`);
  if (!existsSync(file)) return "(no log)";
  return readFileSync(file, "utf8").trimEnd().split("\n").slice(-lines).join("\n");
}

/**
 * Stops the recorded processes in the given order (clients before the API server, etcd last): SIGTERM to each
 * process group, then SIGKILL to what is left after the grace period.
 */
export async function stopProcesses(order: string[], graceMs = 10_000): Promise<string[]> {
  const recorded = recordedProcesses();
  const names = [
    ...order.filter((n) => recorded.has(n)),
    ...[...recorded.keys()].filter((n) => !order.includes(n)),
  ];
  const stopped: string[] = [];
  for (const name of names) {
    const pid = recorded.get(name)!;
    if (isAlive(pid)) {
      signalGroup(pid, "SIGTERM");
      const deadline = Date.now() + graceMs;
      while (isAlive(pid) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
      if (isAlive(pid)) signalGroup(pid, "SIGKILL");
      stopped.push(name);
    }
    rmSync(path.join(PID_DIR, `${name}.pid`), { force: true });
  }
  return stopped;
}

function signalGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    // Detached children lead their own process group: the group takes the part's own children with it.
    process.kill(-pid, signal);
  } catch {
    try {
      process.kill(pid, signal);
    } catch {
      /* already gone */
    }
  }
}
