import { parseDuration } from "../shared/durations";
import { InputPropertyError, quote } from "../shared/errors";
import { metricNames, METRIC_PREFIX_PATTERN } from "../../contract/metrics";
import type { RuleGroup } from "../rules/types";

/**
 * The remote-write contract between a cluster stack and the fleet's global store: the one place both
 * sides read. Cluster stacks build their Prometheus `remoteWrite` from it; the fleet stack builds the
 * store's tenant routing, replica deduplication and the fleet rules from it; the two-cluster sandbox
 * and the tests use the very same functions.
 */

/** Header naming the tenant of every write (Mimir and Cortex read it; the fleet's vmauth routes on it). */
export const TENANT_HEADER = "X-Scope-OrgID";
/** External label naming the cluster: what fleet queries group by. */
export const CLUSTER_LABEL = "cluster";
/**
 * External label naming the Prometheus replica of an HA pair (the operator sets it to the pod name).
 * The store drops it and keeps one sample per interval, so a pair counts once.
 */
export const REPLICA_LABEL = "__replica__";
/**
 * One series per cluster whose value is its own evaluation interval in seconds: its absence says the
 * cluster stopped sending, and its sample count against that interval says whether a pair doubled.
 */
export const HEARTBEAT_RECORD = "cluster:remote_write_heartbeat:interval_seconds";
/** How often the heartbeat is recorded (and so sent). */
export const HEARTBEAT_INTERVAL = "30s";

/** kube-state-metrics series of the services' HPAs the fleet dashboard's replica panel reads. */
const HPA_SERIES = [
  "kube_horizontalpodautoscaler_status_current_replicas",
  "kube_horizontalpodautoscaler_status_desired_replicas",
  "kube_horizontalpodautoscaler_spec_min_replicas",
  "kube_horizontalpodautoscaler_spec_max_replicas",
];

/** What a cluster sends: `fleet` = recordings + contract metrics (no histogram buckets); `all` = every series. */
export const REMOTE_WRITE_SERIES = ["fleet", "all"] as const;
/** One of `REMOTE_WRITE_SERIES`. */
export type RemoteWriteSeries = (typeof REMOTE_WRITE_SERIES)[number];

/**
 * Names of the series a cluster sends to the fleet for the given services: every recording of the
 * service (`<prefix>:...`), its contract metrics except histogram buckets (the fleet reads the
 * per-cluster quantiles the catalogue records; buckets are most of a service's series), the HPA
 * series the dashboard shows, and the heartbeat. As a regular expression for a `keep` relabeling.
 */
export function fleetSeriesRegex(metricPrefixes: string[]): string {
  if (metricPrefixes.length === 0)
    throw new InputPropertyError("metricPrefixes", "expected at least one service prefix, got []");
  for (const [i, prefix] of metricPrefixes.entries()) {
    if (!METRIC_PREFIX_PATTERN.test(prefix))
      throw new InputPropertyError(
        `metricPrefixes[${i}]`,
        `expected lower snake case like sonic, got ${quote(prefix)}`,
      );
  }
  const names = metricPrefixes.flatMap((prefix) => [
    `${prefix}:.+`,
    ...Object.values(metricNames(prefix)).flatMap((m) =>
      m.endsWith("_seconds") ? [`${m}_sum`, `${m}_count`] : [m],
    ),
  ]);
  return [...new Set([...names, ...HPA_SERIES, HEARTBEAT_RECORD])].join("|");
}

/**
 * Queue settings for the fleet's few thousand series per cluster. At a 15s scrape that is a few
 * hundred samples a second: one shard of 2,000-sample requests carries it; up to 10 shards drain the
 * WAL backlog after an outage of the link in minutes rather than hours. 429s are retried (a store's
 * per-tenant limit is back-pressure, not data to drop).
 */
export const FLEET_QUEUE_CONFIG = {
  /** Samples buffered per shard before reading the WAL blocks. */
  capacity: 10_000,
  /** Shards at start. */
  minShards: 1,
  /** Most shards Prometheus scales to when sending falls behind. */
  maxShards: 10,
  /** Samples per request. */
  maxSamplesPerSend: 2_000,
  /** Longest a sample waits in a shard before a short request is sent. */
  batchSendDeadline: "5s",
  /** First wait before retrying a failed request. */
  minBackoff: "30ms",
  /** Longest wait between retries. */
  maxBackoff: "5s",
  /** Retry on 429 (a store's rate limit) instead of dropping the samples. */
  retryOnRateLimit: true,
} as const;

/** Arguments of `fleetRemoteWriteSpec`: where a cluster's Prometheus writes, as whom, and which series. */
export interface FleetRemoteWriteOptions {
  /** Push URL of the fleet's store, e.g. `https://fleet.example.com/api/v1/push`. */
  url: string;
  /** Tenant sent as `X-Scope-OrgID`. @default no header (a single-tenant store) */
  tenant?: string;
  /** Which series to send (see {@link RemoteWriteSeries}). @default "fleet" */
  series?: RemoteWriteSeries;
  /** Metric prefixes of the services whose series go to the fleet. @default ["sonic"] */
  metricPrefixes?: string[];
  /** Secret (name and keys `username`, `password`) holding the basic-auth pair. @default no auth */
  basicAuthSecret?: string;
}

/** A prometheus-operator `RemoteWriteSpec` (the `remoteWrite[]` of a Prometheus), as this contract writes it. */
export interface RemoteWriteSpec {
  /** Push URL of the store. */
  url: string;
  /** Extra request headers: `X-Scope-OrgID` with the tenant. @default none */
  headers?: Record<string, string>;
  /** Basic-auth pair from one Secret. @default none */
  basicAuth?: {
    /** The user: key `username` of the Secret. */
    username: {
      /** Name of the Secret. */
      name: string;
      /** Key in the Secret. */
      key: string;
    };
    /** The password: key `password` of the Secret. */
    password: {
      /** Name of the Secret. */
      name: string;
      /** Key in the Secret. */
      key: string;
    };
  };
  /** The series filter (series `fleet`): one `keep` of the names `fleetSeriesRegex` gives. @default none (every series) */
  writeRelabelConfigs?: {
    /** Labels whose values are matched: `__name__`. */
    sourceLabels: string[];
    /** Regular expression the joined values must match in full. */
    regex: string;
    /** `keep`: series that do not match are not sent. */
    action: "keep";
  }[];
  /** Queue settings: `FLEET_QUEUE_CONFIG`. */
  queueConfig: typeof FLEET_QUEUE_CONFIG;
}

/** The `remoteWrite[]` entry of a cluster's Prometheus for the fleet: tenant header, series filter, queue. */
export function fleetRemoteWriteSpec(options: FleetRemoteWriteOptions): RemoteWriteSpec {
  if (options.tenant !== undefined && !/^[A-Za-z0-9_.-]{1,150}$/.test(options.tenant))
    throw new InputPropertyError(
      "tenant",
      `expected letters, digits, '_', '.' or '-' (at most 150), got ${quote(options.tenant)}`,
    );
  const series = options.series ?? "fleet";
  return {
    url: options.url,
    ...(options.tenant !== undefined ? { headers: { [TENANT_HEADER]: options.tenant } } : {}),
    ...(options.basicAuthSecret !== undefined
      ? {
          basicAuth: {
            username: { name: options.basicAuthSecret, key: "username" },
            password: { name: options.basicAuthSecret, key: "password" },
          },
        }
      : {}),
    ...(series === "fleet"
      ? {
          writeRelabelConfigs: [
            {
              sourceLabels: ["__name__"],
              regex: fleetSeriesRegex(options.metricPrefixes ?? ["sonic"]),
              action: "keep" as const,
            },
          ],
        }
      : {}),
    queueConfig: FLEET_QUEUE_CONFIG,
  };
}

/** Where the operator's camelCase names differ from prometheus.yml's beyond snake_case. */
const PROMETHEUS_YML_NAMES: Record<string, string> = { retryOnRateLimit: "retry_on_http_429" };

/**
 * The same entry in prometheus.yml's `remote_write` form, as the operator renders it: what the
 * sandbox's Prometheus instances run (basic auth left out: the local store has none).
 */
export function prometheusRemoteWriteYaml(spec: RemoteWriteSpec): Record<string, unknown> {
  const snake = (key: string) =>
    PROMETHEUS_YML_NAMES[key] ?? key.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
  const convert = (value: unknown, keepKeys = false): unknown =>
    Array.isArray(value)
      ? value.map((v) => convert(v))
      : value !== null && typeof value === "object"
        ? Object.fromEntries(
            Object.entries(value).map(([k, v]) => [keepKeys ? k : snake(k), convert(v, k === "headers")]),
          )
        : value;
  const { basicAuth: _auth, ...rest } = spec;
  return convert(rest) as Record<string, unknown>;
}

/**
 * The heartbeat recording group each cluster evaluates while it writes to the fleet. `vector(n)` has no
 * labels of its own: remote write adds `cluster`, `env` and `__replica__` from the external labels.
 */
export function heartbeatRuleGroup(interval = HEARTBEAT_INTERVAL): RuleGroup {
  const seconds = parseDuration("heartbeat interval", interval);
  return {
    name: "fleet-heartbeat",
    interval,
    rules: [{ record: HEARTBEAT_RECORD, expr: `vector(${seconds})` }],
  };
}

/** The relabeling the store applies on ingestion: the replica label goes, so an HA pair is one series. */
export const STORE_RELABEL_CONFIG = [{ action: "labeldrop", regex: REPLICA_LABEL }];
