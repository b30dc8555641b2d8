import { execFile, execFileSync } from "node:child_process";
import { promisify } from "node:util";
import { KUBECONFIG, toolsPath } from "./paths";

const execFileAsync = promisify(execFile);

function env(): NodeJS.ProcessEnv {
  return { ...process.env, PATH: toolsPath(), KUBECONFIG };
}

/** kubectl (the one setup:cluster built) against the local cluster; for use inside its network namespace. */
export function kubectl(args: string[], input?: string): string {
  return execFileSync("kubectl", args, {
    env: env(),
    input,
    encoding: "utf8",
    maxBuffer: 256 * 1024 * 1024,
    stdio: ["pipe", "pipe", "pipe"],
  });
}

export async function kubectlAsync(args: string[], input?: string): Promise<string> {
  const pending = execFileAsync("kubectl", args, { env: env(), maxBuffer: 256 * 1024 * 1024 });
  if (input !== undefined) pending.child.stdin?.end(input);
  const { stdout } = await pending;
  return stdout;
}

/** `kubectl get -o json` of a list, its items. */
export function getItems<T = Record<string, unknown>>(args: string[]): T[] {
  return (JSON.parse(kubectl(["get", ...args, "-o", "json"])) as { items: T[] }).items;
}

/** Applies objects given as JSON (server-side, so a second apply of the same objects is a no-op). */
export function applyObjects(objects: object[]): void {
  kubectl(
    ["apply", "--server-side", "--field-manager=sonic-cluster", "-f", "-"],
    JSON.stringify({ apiVersion: "v1", kind: "List", items: objects }),
  );
}
