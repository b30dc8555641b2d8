import { createHash } from "node:crypto";
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import * as random from "@pulumi/random";
import { DEFAULT_PROMETHEUS_SELECTOR, namespaceIs } from "../shared/selectors";
import { HARDENED_CONTAINER, hardenedPod } from "../shared/pod-hardening";
import { childOptions } from "../shared/child-options";
import { redactUrl, REDIS_DATABASE_PATH, redisUrlProblem } from "../../contract/urls";
import { InputPropertyError, quote, requireInteger } from "../shared/errors";
import { ServiceMonitor } from "../monitoring/service-monitor";

/** Bytes in a mebibyte. */
export const MIB = 1024 * 1024;

/**
 * `auto-aof-rewrite-percentage` of the in-cluster store: Valkey rewrites its AOF once it has grown by this
 * much since the last rewrite, so the AOF holds at most (1 + this / 100) x the dataset, and the dataset
 * at most `maxmemory` (`auto-aof-rewrite-min-size`, 64 MB, stays below that: `maxmemory` is >= 64 MiB).
 * Valkey's default, written out because the startup probe's budget is sized on it.
 */
export const AOF_REWRITE_PERCENTAGE = 100;

/**
 * AOF bytes a store replays per CPU-second, at the least, for the startup probe's budget. Replay is
 * single-threaded and costs per command, so the worst AOF is one of tiny keys: Debian's redis-server
 * 7.0.15 replayed `SET`s of 10-byte values (no RDB preamble) at 24.1 MB per CPU-second (543 k keys),
 * and at 18.5 MB on a machine busy with the whole test suite; 100-byte values at 61.8 MB, 1 MB values
 * at 1.67 GB (docs/develop.md, "Valkey's probes"). 12 MiB (12.6 MB) stays a third below the worst.
 */
export const AOF_REPLAY_BYTES_PER_CPU_SECOND = 12 * MIB;

/** The `valkey` container's CPU request: all the CPU its replay is sure of on a busy node. */
export const VALKEY_CPU_REQUEST_MILLICORES = 100;

/** Seconds the startup budget allows beyond the replay itself: the process starts, the probe's first run. */
const STORE_START_SECONDS = 30;

/**
 * Seconds a store with `maxmemoryBytes` takes at most to replay its AOF at start: the largest AOF
 * (`maxmemoryBytes` x (1 + AOF_REWRITE_PERCENTAGE / 100), 2 x `maxmemory`), all of it as commands (an
 * RDB preamble, Valkey's default for a rewritten base, only loads faster), at `bytesPerCpuSecond` on
 * the container's CPU request alone (VALKEY_CPU_REQUEST_MILLICORES: what a busy node still gives it).
 * Throws an {@link InputPropertyError} naming `maxmemoryBytes` or `aofReplayBytesPerCpuSecond`.
 */
export function aofReplaySeconds(
  maxmemoryBytes: number,
  bytesPerCpuSecond: number = AOF_REPLAY_BYTES_PER_CPU_SECOND,
): number {
  requireInteger("maxmemoryBytes", maxmemoryBytes, 64 * MIB);
  requireInteger("aofReplayBytesPerCpuSecond", bytesPerCpuSecond, MIB);
  const largestAof = maxmemoryBytes * (1 + AOF_REWRITE_PERCENTAGE / 100);
  return Math.ceil(largestAof / ((bytesPerCpuSecond * VALKEY_CPU_REQUEST_MILLICORES) / 1000));
}

/**
 * Seconds Valkey's startup probe allows before the kubelet restarts it: the replay of the largest AOF
 * (`aofReplaySeconds`) plus 30 s to start. A restart mid-replay starts the replay over, so a budget
 * below the replay is a crash loop that never serves.
 */
export function valkeyStartupSeconds(
  maxmemoryBytes: number,
  bytesPerCpuSecond: number = AOF_REPLAY_BYTES_PER_CPU_SECOND,
): number {
  return aofReplaySeconds(maxmemoryBytes, bytesPerCpuSecond) + STORE_START_SECONDS;
}

/** Arguments of the queue store's memory bound: how much the service may hold at once. */
export interface QueueMemoryArgs {
  /** Jobs queued + running the service accepts (`SONIC_BACKLOG_LIMIT`). */
  backlogLimit: number;
  /** Bytes of one uploaded file (`SONIC_MAX_UPLOAD_BYTES`); a job stores two. */
  maxUploadBytes: number;
  /** Replicas at most: each may finish a few uploads beyond the limit while the check races. */
  maxReplicas: number;
  /** Uploads one replica reads at once (its upload budget). @default 4 */
  uploadsInFlightPerReplica?: number;
  /** Finished jobs kept for polling (`SONIC_JOB_HISTORY`). @default 1000 */
  jobHistory?: number;
}

/**
 * Redis memory the job queue needs so that an accepted job is never refused or evicted: the inputs of
 * every job the backlog admits (plus the uploads that race the backlog check on each replica), two
 * kilobytes of BullMQ bookkeeping per kept job, and a 64 MiB base. `maxmemory` is set to this with
 * `noeviction`, so Redis refuses a write (503 `queue_unavailable`) before it would drop a job.
 */
export function queueMemoryBytes(args: QueueMemoryArgs): number {
  requireInteger("backlogLimit", args.backlogLimit, 1);
  requireInteger("maxUploadBytes", args.maxUploadBytes, 1024);
  requireInteger("maxReplicas", args.maxReplicas, 1);
  const jobs = args.backlogLimit + args.maxReplicas * (args.uploadsInFlightPerReplica ?? 4);
  const inputs = jobs * 2 * args.maxUploadBytes;
  const bookkeeping = (args.jobHistory ?? 1000) * 2048 + jobs * 16 * 1024;
  return Math.ceil((inputs + bookkeeping) / MIB) * MIB + 64 * MIB;
}

type EnvValue = pulumi.Input<string | k8s.types.input.core.v1.EnvVarSource>;

/**
 * The environment a client of the queue needs (SONIC_REDIS_URL, and SONIC_REDIS_PASSWORD for the
 * in-cluster store), read from the JobQueue's Secret `secretName`: never a plaintext value.
 */
export function jobQueueClientEnv(secretName: string, external: boolean): Record<string, EnvValue> {
  const ref = (key: string) => ({ secretKeyRef: { name: secretName, key } });
  return external
    ? { SONIC_REDIS_URL: ref("url") }
    : { SONIC_REDIS_URL: ref("url"), SONIC_REDIS_PASSWORD: ref("password") };
}

/** Arguments of `JobQueue`: the in-cluster Valkey or a managed Redis, its volume and its clients. */
export interface JobQueueArgs {
  /** Namespace of the queue (the service's namespace). */
  namespace: string;
  /** Name of the StatefulSet, Service and Secrets. @default "sonic-queue" */
  name?: string;
  /**
   * A managed Redis (ElastiCache, Memorystore, Azure Cache) instead of the in-cluster one: its URL,
   * password included, as a Pulumi secret. Nothing else is deployed then. `redis://` or `rediss://`
   * with a host (`requireRedisUrl`): a plain string is checked before anything is registered.
   * @default none (deploy Valkey in the cluster)
   */
  externalUrl?: pulumi.Input<string>;
  /**
   * Image of the in-cluster store. Valkey: BSD-3-licensed and wire-compatible with Redis 7.2 (Redis
   * 7.4+ is not open source under the OSI definition; 8.x is AGPL).
   * @default "valkey/valkey:8.1.1"
   */
  image?: string;
  /** redis_exporter sidecar image. @default "oliver006/redis_exporter:v1.74.0" */
  exporterImage?: string;
  /** `maxmemory` in bytes (see `queueMemoryBytes`); the container's memory is sized from it. */
  maxmemoryBytes: number;
  /**
   * AOF bytes the store replays per CPU-second at start, at the least: the startup probe allows the
   * replay of the largest AOF at this rate on the container's CPU request (`valkeyStartupSeconds`).
   * Lower it for a slower CPU or volume; at least 1048576 (1 MiB).
   * @default AOF_REPLAY_BYTES_PER_CPU_SECOND (12 MiB)
   */
  aofReplayBytesPerCpuSecond?: number;
  /** Volume holding the AOF. @default { size: "10Gi" } */
  storage?: {
    /** Volume size (`10Gi`). */
    size: string;
    /** StorageClass of the volume. @default the cluster's default class */
    storageClassName?: string;
  };
  /** Raise to rotate the generated password (pods restart with the new one). @default 0 */
  passwordVersion?: number;
  /** Labels of the pods allowed to connect (the service's pods). */
  clientSelector: Record<string, string>;
  /** Namespace of Prometheus, admitted to the exporter port. @default "monitoring" */
  monitoringNamespace?: string;
  /** Labels the platform's Prometheus selects ServiceMonitors by. @default { release: "prometheus-stack" } */
  prometheusSelectorLabels?: Record<string, string>;
  /** Labels of the label convention on every object. @default {} */
  labels?: Record<string, string>;
  /**
   * What the ServiceMonitor alone waits for (the monitoring release, for its CRD): Redis itself must
   * not wait minutes for kube-prometheus-stack.
   * @default []
   */
  serviceMonitorDependsOn?: pulumi.Resource[];
}

/**
 * Throws an {@link InputPropertyError} naming `property` unless `url` is a `redis://` or `rediss://` URL
 * with a host, a port in 1..65535 and at most a database number as its path (see `redisUrlProblem`).
 * The value is quoted redacted (`redactUrl`): user and password never appear in the message.
 */
export function requireRedisUrl(property: string, url: string): void {
  const problem = redisUrlProblem(url);
  if (problem)
    throw new InputPropertyError(property, `${problem}, got ${quote(redactUrl(url, REDIS_DATABASE_PATH))}`);
}

/**
 * The TCP port a `redis://` or `rediss://` URL names, 6379 when it names none (the default of the
 * app's client, ioredis, for both schemes). Throws like `requireRedisUrl` for anything else.
 */
export function redisUrlPort(url: string, property = "externalUrl"): number {
  requireRedisUrl(property, url);
  const port = new URL(url).port;
  return port === "" ? 6379 : Number(port);
}

/**
 * The shared job store of a service: Valkey as a one-replica StatefulSet with its AOF on a
 * PersistentVolumeClaim, a generated password in a Secret, `maxmemory` with `noeviction`, a
 * redis_exporter sidecar scraped by a ServiceMonitor, and a NetworkPolicy that admits only the
 * service's pods (and Prometheus to the exporter). Or, with `externalUrl`, just a Secret holding a
 * managed Redis' URL. Either way `env` is what the service's `api` container needs.
 */
export class JobQueue extends pulumi.ComponentResource {
  /** Environment of the clients (see `jobQueueClientEnv`). */
  public readonly env: Record<string, EnvValue>;
  /** Name of the Secret the clients read. */
  public readonly secretName: string;
  /** `maxmemory` of the in-cluster store; undefined for an external one. */
  public readonly maxmemoryBytes?: number;
  /** The in-cluster store's pods and port, for clients' egress policies; undefined for an external one. */
  public readonly storePods?: {
    /** Labels of the store's pods. */
    podSelector: Record<string, string>;
    /** Name of the port clients connect to. */
    port: string;
  };
  /**
   * The managed Redis' port, read from its URL (not a secret, unlike the URL), for clients' egress
   * policies: managed offerings do not all listen on 6379/6380 (Memorystore with TLS on 6378, Azure
   * Managed Redis on 10000, Redis Cloud on a port per database). Undefined for the in-cluster store.
   */
  public readonly externalPorts?: pulumi.Output<number[]>;

  constructor(name: string, args: JobQueueArgs, opts?: pulumi.ComponentResourceOptions) {
    // A URL known now is checked before anything is registered, the component included. A secret
    // Output can only be checked once it resolves (below): the stack checks its `queueRedisUrl` at
    // the door, and other callers can call `requireRedisUrl` on the plaintext first.
    if (typeof args.externalUrl === "string") requireRedisUrl("externalUrl", args.externalUrl);
    super("sonic-observability:index:JobQueue", name, {}, opts);
    const queueName = args.name ?? "sonic-queue";
    const ns = args.namespace;
    const labels = {
      ...args.labels,
      "app.kubernetes.io/name": queueName,
      "app.kubernetes.io/component": "job-queue",
    };
    const selector = { "app.kubernetes.io/name": queueName };
    const child = childOptions(this, opts);
    this.secretName = queueName;

    if (args.externalUrl !== undefined) {
      // Checked where it is first used, so a bad secret fails on the queue's own Secret.
      const url = pulumi.output(args.externalUrl).apply((u) => {
        requireRedisUrl("externalUrl", u);
        return u;
      });
      new k8s.core.v1.Secret(
        name,
        {
          metadata: { name: queueName, namespace: ns, labels },
          stringData: { url: pulumi.secret(url) },
        },
        child,
      );
      this.env = jobQueueClientEnv(queueName, true);
      this.externalPorts = pulumi.unsecret(url.apply((u) => [redisUrlPort(u)]));
      this.registerOutputs({ secretName: this.secretName });
      return;
    }

    requireInteger("maxmemoryBytes", args.maxmemoryBytes, 64 * MIB);
    if (args.aofReplayBytesPerCpuSecond !== undefined)
      requireInteger("aofReplayBytesPerCpuSecond", args.aofReplayBytesPerCpuSecond, MIB);
    const size = args.storage?.size ?? "10Gi";
    if (!/^\d+(Gi|Ti)$/.test(size))
      throw new InputPropertyError("storage.size", `expected a size like 10Gi, got ${quote(size)}`);
    this.maxmemoryBytes = args.maxmemoryBytes;
    const port = 6379;
    const store: StoreScope = { queueName, ns, labels, selector, port };
    const password = new random.RandomPassword(
      `${name}-password`,
      { length: 32, special: false, keepers: { version: String(args.passwordVersion ?? 0) } },
      { parent: this },
    );
    new k8s.core.v1.Secret(
      name,
      {
        metadata: { name: queueName, namespace: ns, labels },
        stringData: {
          password: password.result,
          url: pulumi.interpolate`redis://${queueName}.${ns}.svc:${port}`,
          // Included by the server's config, so the password is never a command-line argument.
          "auth.conf": pulumi.interpolate`requirepass ${password.result}\n`,
        },
      },
      child,
    );
    const valkeyConf = [
      `port ${port}`,
      "dir /data",
      // Every accepted job survives a restart: append-only file, fsync every second.
      "appendonly yes",
      "appendfsync everysec",
      // The startup probe's budget assumes the AOF stays below (1 + this / 100) x maxmemory.
      `auto-aof-rewrite-percentage ${AOF_REWRITE_PERCENTAGE}`,
      "auto-aof-rewrite-min-size 64mb",
      'save ""',
      `maxmemory ${args.maxmemoryBytes}`,
      // Refuse writes when full rather than evict: an evicted key is a lost job.
      "maxmemory-policy noeviction",
      "include /etc/valkey/secret/auth.conf",
      "",
    ].join("\n");
    // The whole config and the password's generation (its keepers), never the password itself.
    const configHash = createHash("sha256")
      .update(valkeyConf)
      .update(JSON.stringify(args.passwordVersion ?? 0))
      .digest("hex")
      .slice(0, 16);
    const config = new k8s.core.v1.ConfigMap(
      name,
      {
        metadata: { name: `${queueName}-config`, namespace: ns, labels },
        data: {
          "valkey.conf": valkeyConf,
        },
      },
      child,
    );
    // The clients' Service. Awaited (ready endpoints = the store answers), and nothing waits on it.
    new k8s.core.v1.Service(
      name,
      {
        metadata: { name: queueName, namespace: ns, labels },
        spec: {
          selector,
          ports: [
            { name: "redis", port, targetPort: "redis" },
            { name: "metrics", port: 9121, targetPort: "metrics" },
          ],
        },
      },
      child,
    );
    // The StatefulSet's governing Service: headless, so the provider does not await its endpoints.
    // The StatefulSet names it as a plain string: taking the name from an awaited Service's output
    // would create the StatefulSet only after endpoints that only its own pods can provide.
    const governing = new k8s.core.v1.Service(
      `${name}-headless`,
      {
        metadata: { name: `${queueName}-headless`, namespace: ns, labels },
        spec: { clusterIP: "None", selector, ports: [{ name: "redis", port, targetPort: "redis" }] },
      },
      child,
    );
    new k8s.apps.v1.StatefulSet(
      name,
      valkeyStatefulSetArgs(store, args, size, { configMapName: config.metadata.name, configHash }),
      { ...childOptions(this, opts, governing), customTimeouts: valkeyRolloutTimeouts(args) },
    );
    new k8s.networking.v1.NetworkPolicy(name, storeNetworkPolicyArgs(store, args), child);
    new ServiceMonitor(
      name,
      {
        name: queueName,
        namespace: ns,
        selector,
        port: "metrics",
        labels: { ...args.labels, ...(args.prometheusSelectorLabels ?? DEFAULT_PROMETHEUS_SELECTOR) },
      },
      childOptions(this, opts, ...(args.serviceMonitorDependsOn ?? [])),
    );
    this.env = jobQueueClientEnv(queueName, false);
    this.storePods = { podSelector: selector, port: "redis" };
    this.registerOutputs({ secretName: this.secretName, maxmemoryBytes: this.maxmemoryBytes });
  }
}

/** What the store's objects are named and labelled with. */
interface StoreScope {
  /** Name of the StatefulSet, Services, Secret and ConfigMap. */
  queueName: string;
  ns: string;
  labels: Record<string, string>;
  selector: Record<string, string>;
  port: number;
}

/** Period of Valkey's startup probe: its failureThreshold is the budget over this. */
const STARTUP_PERIOD_SECONDS = 5;

/**
 * The store's probe commands. `valkey-cli ping` prints PONG once the AOF is loaded and `LOADING Valkey is
 * loading the dataset in memory` while it replays (exit status 0 both ways, hence the comparison); the
 * password is in REDISCLI_AUTH. The port is the script's `$1` (the last argument), so the rendered
 * command says it once. What fails is printed: the kubelet puts it in the probe's event.
 */
function valkeyProbeCommand(probe: "serving" | "alive", port: number): string[] {
  const script =
    probe === "serving"
      ? // Startup and readiness: serving means loaded.
        'r="$(valkey-cli -p "$1" ping 2>&1)"; test "$r" = PONG || { echo "$r"; exit 1; }'
      : // Liveness: a store that answers LOADING is alive; restarting it would start the load over.
        'r="$(valkey-cli -p "$1" ping 2>&1)"; case "$r" in PONG|LOADING*) ;; *) echo "$r"; exit 1;; esac';
  return ["sh", "-c", script, `valkey-${probe}`, String(port)];
}

/**
 * Valkey's probes: startup until the AOF is loaded, within `valkeyStartupSeconds` (the kubelet runs
 * neither of the others before it passes); readiness fails while loading (no traffic to a store that
 * answers every command LOADING); liveness passes on PONG or LOADING, so only a store that does not
 * answer is restarted.
 */
function valkeyProbes(port: number, maxmemoryBytes: number, bytesPerCpuSecond?: number) {
  const serving = { exec: { command: valkeyProbeCommand("serving", port) } };
  return {
    startupProbe: {
      ...serving,
      periodSeconds: STARTUP_PERIOD_SECONDS,
      timeoutSeconds: 3,
      failureThreshold: Math.ceil(
        valkeyStartupSeconds(maxmemoryBytes, bytesPerCpuSecond) / STARTUP_PERIOD_SECONDS,
      ),
    },
    readinessProbe: { ...serving, periodSeconds: 5, timeoutSeconds: 3 },
    livenessProbe: {
      exec: { command: valkeyProbeCommand("alive", port) },
      periodSeconds: 15,
      timeoutSeconds: 5,
      failureThreshold: 4,
    },
  };
}

/**
 * How long Pulumi awaits the StatefulSet: its default 10 minutes (scheduling, the volume, the image
 * pull) plus the startup probe's budget, or a replay of the largest AOF fails the update it belongs to.
 */
function valkeyRolloutTimeouts(args: JobQueueArgs): pulumi.CustomTimeouts {
  const probe = valkeyProbes(6379, args.maxmemoryBytes, args.aofReplayBytesPerCpuSecond).startupProbe;
  const seconds = 600 + probe.failureThreshold * probe.periodSeconds;
  const timeout = `${Math.ceil(seconds / 60)}m`;
  return { create: timeout, update: timeout };
}

/** The Valkey StatefulSet: one replica, the store and its exporter sidecar, hardened, the AOF on a claim. */
function valkeyStatefulSetArgs(
  { queueName, ns, labels, selector, port }: StoreScope,
  args: JobQueueArgs,
  size: string,
  { configMapName, configHash }: { configMapName: pulumi.Output<string>; configHash: string },
): k8s.apps.v1.StatefulSetArgs {
  const memory = Math.ceil(args.maxmemoryBytes / MIB);
  return {
    metadata: { name: queueName, namespace: ns, labels },
    spec: {
      serviceName: `${queueName}-headless`,
      replicas: 1,
      selector: { matchLabels: selector },
      template: {
        metadata: {
          labels,
          // A subPath mount never sees updates: a changed config or password restarts the pod.
          annotations: { "sonic-observability/config": configHash },
        },
        spec: {
          // Redis needs no Kubernetes API: no token in the pod.
          automountServiceAccountToken: false,
          // 999, not the 10001 of our own image (Dockerfile): the Valkey image's own user. Its Dockerfile
          // creates `valkey` as uid and gid 999 and owns /data by it, and its entrypoint chowns the data
          // directory to it, so every other use of the image (`docker run`, a debug container running
          // valkey-check-aof, a restore) writes the AOF as 999, and so has this pod since it first ran.
          // 10001 would find the AOF on existing volumes owned by 999 and rely on the kubelet's
          // recursive fsGroup change to write it, which volumes whose CSI driver declares
          // `fsGroupPolicy: None` never get. Not root either way: `restricted` holds.
          securityContext: hardenedPod(999),
          containers: [
            {
              name: "valkey",
              image: args.image ?? "valkey/valkey:8.1.1",
              command: ["valkey-server", "/etc/valkey/valkey.conf"],
              ports: [{ name: "redis", containerPort: port }],
              // maxmemory plus room for the AOF rewrite's copy-on-write fork.
              resources: {
                requests: { cpu: `${VALKEY_CPU_REQUEST_MILLICORES}m`, memory: `${memory + 64}Mi` },
                limits: { memory: `${memory * 2 + 128}Mi` },
              },
              // A TCP probe passes while Valkey loads its AOF (-LOADING) or hangs: ask it. The
              // password comes from the Secret as REDISCLI_AUTH, never on a command line.
              env: [
                {
                  name: "REDISCLI_AUTH",
                  valueFrom: { secretKeyRef: { name: queueName, key: "password" } },
                },
              ],
              ...valkeyProbes(port, args.maxmemoryBytes, args.aofReplayBytesPerCpuSecond),
              securityContext: HARDENED_CONTAINER,
              volumeMounts: [
                { name: "data", mountPath: "/data" },
                { name: "config", mountPath: "/etc/valkey/valkey.conf", subPath: "valkey.conf" },
                { name: "secret", mountPath: "/etc/valkey/secret" },
              ],
            },
            {
              name: "exporter",
              image: args.exporterImage ?? "oliver006/redis_exporter:v1.74.0",
              env: [
                { name: "REDIS_ADDR", value: `redis://127.0.0.1:${port}` },
                {
                  name: "REDIS_PASSWORD",
                  valueFrom: { secretKeyRef: { name: queueName, key: "password" } },
                },
              ],
              ports: [{ name: "metrics", containerPort: 9121 }],
              resources: { requests: { cpu: "10m", memory: "32Mi" }, limits: { memory: "64Mi" } },
              securityContext: HARDENED_CONTAINER,
            },
          ],
          volumes: [
            { name: "config", configMap: { name: configMapName } },
            {
              name: "secret",
              secret: { secretName: queueName, items: [{ key: "auth.conf", path: "auth.conf" }] },
            },
          ],
        },
      },
      volumeClaimTemplates: [
        {
          metadata: { name: "data" },
          spec: {
            accessModes: ["ReadWriteOnce"],
            storageClassName: args.storage?.storageClassName,
            resources: { requests: { storage: size } },
          },
        },
      ],
    },
  };
}

/**
 * Only the service's pods reach the store, and only Prometheus the exporter. Out: nothing. One replica
 * dials no peer (no `replicaof`, no cluster bus) and resolves no name, and the exporter reaches Valkey on
 * the pod's localhost, which no policy governs. A replicated store would need its peers on `redis` here.
 */
function storeNetworkPolicyArgs(
  { queueName, ns, labels, selector }: StoreScope,
  args: JobQueueArgs,
): k8s.networking.v1.NetworkPolicyArgs {
  const monitoringNamespace = args.monitoringNamespace ?? "monitoring";
  return {
    metadata: { name: queueName, namespace: ns, labels },
    spec: {
      podSelector: { matchLabels: selector },
      policyTypes: ["Ingress", "Egress"],
      egress: [],
      ingress: [
        {
          from: [{ ...namespaceIs([ns]), podSelector: { matchLabels: args.clientSelector } }],
          ports: [{ protocol: "TCP", port: "redis" }],
        },
        {
          from: [
            {
              ...namespaceIs([monitoringNamespace]),
              podSelector: { matchLabels: { "app.kubernetes.io/name": "prometheus" } },
            },
          ],
          ports: [{ protocol: "TCP", port: "metrics" }],
        },
      ],
    },
  };
}
