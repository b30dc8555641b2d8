import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import * as path from "node:path";
import { appBuild } from "../../sandbox/app-build";
import { ADDRESSES, TOOLS_BIN } from "../paths";
import { getIfExists } from "./api-client";
import { ImageRule } from "./images";
import { Container, Pod } from "./pod-types";
import { podDir, volumeDir } from "./volumes";

/** What to spawn for one container. */
export interface Spawn {
  command: string;
  args: string[];
  env: Record<string, string>;
}

async function keyOf(kind: "secrets" | "configmaps", ns: string, name: string, key: string): Promise<string> {
  const object = await getIfExists<{ data?: Record<string, string> }>(
    `/api/v1/namespaces/${ns}/${kind}/${name}`,
  );
  const value = object?.data?.[key];
  if (value === undefined) return "";
  return kind === "secrets" ? Buffer.from(value, "base64").toString("utf8") : value;
}

/** The container's environment as a kubelet resolves it: values, field and key references, $(VAR) expansion. */
export async function resolveEnv(pod: Pod, container: Container): Promise<Record<string, string>> {
  const env: Record<string, string> = {};
  const ns = pod.metadata.namespace;
  const fields: Record<string, string | undefined> = {
    "metadata.name": pod.metadata.name,
    "metadata.namespace": ns,
    "metadata.uid": pod.metadata.uid,
    "spec.nodeName": pod.spec.nodeName,
    "spec.serviceAccountName": pod.spec.serviceAccountName ?? "default",
    "status.podIP": pod.status.podIP,
    "status.podIPs": pod.status.podIP,
  };
  for (const variable of container.env ?? []) {
    const from = variable.valueFrom;
    if (variable.value !== undefined) env[variable.name] = expand(variable.value, env);
    else if (from?.fieldRef) env[variable.name] = fields[from.fieldRef.fieldPath] ?? "";
    else if (from?.secretKeyRef)
      env[variable.name] = await keyOf("secrets", ns, from.secretKeyRef.name, from.secretKeyRef.key);
    else if (from?.configMapKeyRef)
      env[variable.name] = await keyOf("configmaps", ns, from.configMapKeyRef.name, from.configMapKeyRef.key);
    else env[variable.name] = "";
  }
  return env;
}

/** Kubernetes' `$(VAR)` expansion; `$$(VAR)` stays literal. */
export function expand(value: string, env: Record<string, string>): string {
  return value.replace(/\$\$|\$\(([A-Za-z_][A-Za-z0-9_]*)\)/g, (match, name?: string) =>
    match === "$$" ? "$" : name !== undefined && name in env ? env[name] : match,
  );
}

/**
 * A pod's loopback and "every address" mean the pod's own network in a container; here they mean the pod IP:
 * `:9090`, `0.0.0.0:9090`, `127.0.0.1:9090`, `localhost:9090` and `[::]:9090` become `<pod IP>:9090`, in
 * arguments and environment values alike. An address without a port is left alone (the operator's
 * `--localhost=127.0.0.1` is a value it writes into other pods' configurations).
 */
export function toPodAddress(value: string, podIp: string): string {
  if (value === "0.0.0.0" || value === "::") return podIp;
  return value
    .replace(/(^|=):(\d+)$/, `$1${podIp}:$2`)
    .replace(/(^|[^\w.-])(?:0\.0\.0\.0|127\.0\.0\.1|localhost|\[::\])(?=:\d+)/g, `$1${podIp}`);
}

/** chroot(8) lives in sbin, which a container's PATH (/bin) does not name. */
const CHROOT = ["/usr/sbin/chroot", "/usr/bin/chroot", "/sbin/chroot"].find((p) => existsSync(p)) ?? "chroot";

/** Single-quotes a word for sh. */
function q(word: string): string {
  return `'${word.replace(/'/g, `'\\''`)}'`;
}

/** The directory or file that backs a volume mount on this machine. */
function mountSource(pod: Pod, mount: { name: string; subPath?: string }): string | undefined {
  const volume = (pod.spec.volumes ?? []).find((v) => v.name === mount.name);
  if (!volume) return undefined;
  return mount.subPath ? path.join(volumeDir(pod, volume), mount.subPath) : volumeDir(pod, volume);
}

/**
 * An upstream binary in a root of its own: `unshare --mount` gives it a private mount table, the pod's volumes
 * are bound at their mount paths under the root, and `chroot` starts it there. The binaries are static (built
 * with CGO off), so the root needs only /etc's resolver files, /proc and /dev. The API server is reached at the
 * address it listens on in the namespace, with the pod's own service-account token.
 */
export function binarySpawn(
  pod: Pod,
  container: Container,
  rule: ImageRule & { run: { binary: string } },
  env: Record<string, string>,
  optional: Set<string>,
): Spawn {
  const podIp = pod.status.podIP!;
  const root = path.join(podDir(pod), "roots", container.name);
  mkdirSync(path.join(root, "etc"), { recursive: true });
  writeFileSync(path.join(root, "etc", "resolv.conf"), readFileSync("/etc/resolv.conf"));
  writeFileSync(path.join(root, "etc", "hosts"), `127.0.0.1 localhost\n${podIp} ${pod.metadata.name}\n`);
  writeFileSync(
    path.join(root, "etc", "passwd"),
    "root:x:0:0:root:/:/bin/sh\nnobody:x:65534:65534::/:/bin/false\n",
  );
  writeFileSync(path.join(root, "etc", "group"), "root:x:0:\nnobody:x:65534:\n");
  const inRoot = container.command?.[0]?.startsWith("/") ? container.command[0] : `/bin/${rule.run.binary}`;
  const script: string[] = [
    "set -e",
    `cd ${q(root)}`,
    "mkdir -p proc dev tmp bin",
    "mount --rbind /proc proc",
    "mount --rbind /dev dev",
    `mkdir -p ${q(path.dirname(root + inRoot))} && touch ${q(root + inRoot)}`,
    `mount --bind ${q(path.join(TOOLS_BIN, rule.run.binary))} ${q(root + inRoot)}`,
  ];
  for (const mount of container.volumeMounts ?? []) {
    const source = mountSource(pod, mount);
    const volume = (pod.spec.volumes ?? []).find((v) => v.name === mount.name);
    // A kubelet makes a subPath of a writable volume (a claim, an emptyDir) on first use.
    if (source && !existsSync(source) && (volume?.persistentVolumeClaim || volume?.emptyDir))
      mkdirSync(source, { recursive: true });
    if (!source || !existsSync(source)) {
      if (optional.has(mount.name)) continue;
      throw new Error(`volume ${mount.name} of ${container.name} has nothing at ${source}`);
    }
    const target = root + mount.mountPath;
    script.push(
      statSync(source).isDirectory()
        ? `mkdir -p ${q(target)}`
        : `mkdir -p ${q(path.dirname(target))} && touch ${q(target)}`,
      `mount --bind ${q(source)} ${q(target)}`,
    );
  }
  // The binary's PATH is the root's /bin; chroot itself is found on this machine's.
  script.push(`exec ${q(CHROOT)} ${q(root)} ${q(inRoot)} "$@"`);
  const given = [...(container.command?.slice(1) ?? []), ...(container.args ?? [])].map((a) =>
    expand(a, env),
  );
  const args = [
    ...(rule.adjustArgs ? rule.adjustArgs(given, pod) : given),
    ...(rule.bindArgs?.(podIp) ?? []),
  ];
  return {
    command: "unshare",
    args: [
      "--mount",
      "--propagation",
      "private",
      "sh",
      "-c",
      script.join("\n"),
      "sh",
      ...args.map((a) => toPodAddress(a, podIp)),
    ],
    env: {
      PATH: "/bin",
      HOSTNAME: pod.metadata.name,
      KUBERNETES_SERVICE_HOST: "127.0.0.1",
      KUBERNETES_SERVICE_PORT: String(ADDRESSES.apiserverPort),
      ...Object.fromEntries(Object.entries(env).map(([k, v]) => [k, toPodAddress(v, podIp)])),
    },
  };
}

/** Rewrites the container's paths of its mounts to the directories that hold them here (longest first). */
function hostPaths(pod: Pod, container: Container): (value: string) => string {
  const mounts = [...(container.volumeMounts ?? [])]
    .map((m) => ({ from: m.mountPath, to: mountSource(pod, m) }))
    .filter((m): m is { from: string; to: string } => m.to !== undefined)
    .sort((a, b) => b.from.length - a.from.length);
  return (value) => {
    for (const { from, to } of mounts)
      if (value === from || value.startsWith(`${from}/`)) return to + value.slice(from.length);
    return value;
  };
}

/**
 * A program of this machine, in place: Sonic's programs as this checkout's compiled JavaScript (the image's
 * `node app/<x>.js`), Valkey as Debian's redis-server (the same protocol and configuration keys for what the
 * queue's valkey.conf sets).
 */
export function hostSpawn(
  pod: Pod,
  container: Container,
  kind: "sonic" | "valkey",
  env: Record<string, string>,
): Spawn {
  const podIp = pod.status.podIP!;
  const local = hostPaths(pod, container);
  const words = [...(container.command ?? []), ...(container.args ?? [])].map((a) => local(expand(a, env)));
  const ownEnv = Object.fromEntries(Object.entries(env).map(([k, v]) => [k, local(toPodAddress(v, podIp))]));
  const tmp = (container.volumeMounts ?? []).find((m) => m.mountPath === "/tmp");
  const base = { PATH: process.env.PATH ?? "/usr/bin:/bin", HOSTNAME: pod.metadata.name };
  if (kind === "sonic") {
    const entry = words.find((w) => /^app\/.*\.js$/.test(w));
    if (words[0] !== "node" || !entry)
      throw new Error(
        `container ${container.name}: expected the image's 'node app/<program>.js', got ${JSON.stringify(words)}`,
      );
    return {
      command: process.execPath,
      args: ["--enable-source-maps", path.join(appBuild(), entry)],
      env: {
        ...base,
        HOST: podIp,
        ...ownEnv,
        ...(tmp ? { TMPDIR: mountSource(pod, tmp)! } : {}),
      },
    };
  }
  // valkey-server <conf>: the configuration names the container's paths (dir /data, include
  // /etc/valkey/secret/...); a copy with them rewritten, and the pod IP to bind.
  const conf = words.find((w) => w.endsWith(".conf"));
  if (!conf)
    throw new Error(
      `container ${container.name}: expected 'valkey-server <file>.conf', got ${JSON.stringify(words)}`,
    );
  const copy = path.join(podDir(pod), `${container.name}.conf`);
  const text = readFileSync(conf, "utf8")
    .split("\n")
    .map((line) =>
      line.replace(
        /^(\s*(?:dir|include|aclfile)\s+)(\S+)/,
        (_m, key: string, value: string) => key + local(value),
      ),
    )
    .join("\n");
  writeFileSync(copy, text);
  const data = (container.volumeMounts ?? []).find((m) => m.mountPath === "/data");
  if (data) mkdirSync(mountSource(pod, data)!, { recursive: true });
  return { command: "redis-server", args: [copy, "--bind", podIp], env: { ...base, ...ownEnv } };
}
