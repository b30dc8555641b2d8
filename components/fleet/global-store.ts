import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { stringify } from "yaml";
import { CHART_PINS, chartSource } from "../shared/chart-pins";
import { childOptions } from "../shared/child-options";
import { restrictedNamespace } from "../shared/restricted-namespace";
import { parseDuration } from "../shared/durations";
import { InputPropertyError, quote, requireInteger } from "../shared/errors";
import type { ContainerResources } from "../service/tier-args";
import { STORE_RELABEL_CONFIG, TENANT_HEADER } from "./fleet-remote-write";

/** Paths where cluster stacks push (Prometheus remote write); the contract URL ends in the first. */
export const FLEET_WRITE_PATH = "/api/v1/write";
const INSERT_PORT = 8480;
const SELECT_PORT = 8481;

/**
 * Pod and container security of every VictoriaMetrics component (the charts' `enabled` switch plus the
 * fields): non-root with a read-only root file system; data lives on the volumes, which fsGroup opens.
 */
export const VM_SECURITY = {
  podSecurityContext: {
    enabled: true,
    runAsNonRoot: true,
    runAsUser: 65534,
    runAsGroup: 65534,
    fsGroup: 65534,
    seccompProfile: { type: "RuntimeDefault" },
  },
  securityContext: {
    enabled: true,
    runAsNonRoot: true,
    readOnlyRootFilesystem: true,
    allowPrivilegeEscalation: false,
    capabilities: { drop: ["ALL"] },
  },
};

/** Where the fleet's replicas spread: always across nodes, and across zones where the cluster has them. */
export interface FleetSpread {
  /** Also spread across `topology.kubernetes.io/zone` (a cluster whose nodes carry the label). @default false */
  zones?: boolean;
}

/**
 * Topology spread of a workload of `replicas` pods from a VictoriaMetrics chart (which fills in the
 * pods' own selector): none for one pod; across nodes, a hard rule where a node's loss must not take
 * two copies of the data (`hard`, vmstorage), a preference elsewhere; across zones as a preference.
 */
export function vmSpread(
  replicas: number,
  spread: FleetSpread = {},
  hard = false,
): Record<string, unknown>[] {
  if (replicas <= 1) return [];
  return [
    {
      maxSkew: 1,
      topologyKey: "kubernetes.io/hostname",
      whenUnsatisfiable: hard ? "DoNotSchedule" : "ScheduleAnyway",
    },
    ...(spread.zones
      ? [{ maxSkew: 1, topologyKey: "topology.kubernetes.io/zone", whenUnsatisfiable: "ScheduleAnyway" }]
      : []),
  ];
}

/** A cluster that writes to the fleet: its `cluster` external label, its basic-auth user and its tenant. */
export interface FleetCluster {
  /** The cluster stack's `cluster` (also the basic-auth username it writes as). */
  name: string;
  /** The tenant it sends as `X-Scope-OrgID`; must be a key of `tenants`. */
  tenant: string;
}

/** Arguments of `GlobalStore`: tenants, the clusters that write, retention, volumes and replicas. */
export interface GlobalStoreArgs {
  /** Namespace of the store, created by this component. @default "fleet" */
  namespace?: string;
  /** Helm release name; object names derive from it (`<name>-vminsert`, ...). @default "fleet-store" */
  releaseName?: string;
  /** victoria-metrics-cluster chart version. @default `CHART_PINS.victoriaMetricsCluster.version` (the pinned version) */
  chartVersion?: string;
  /**
   * Where the chart is fetched from: a mirror for air-gapped networks, either a Helm repository
   * (`https://charts.example.com`: ChartMuseum, Artifactory, Harbor) or an OCI registry
   * (`oci://registry.example.com/charts`, holding the chart at `<that>/<chart>`). See `chartSource`.
   * @default `CHART_PINS.victoriaMetricsCluster.repository` (the chart's public repository)
   */
  chartRepository?: string;
  /** Tenants: `X-Scope-OrgID` value -> VictoriaMetrics account id (a number). */
  tenants: Record<string, number>;
  /** Clusters allowed to write, each as its own user into its own tenant. */
  clusters: FleetCluster[];
  /** Each cluster's write password (Pulumi secrets), by cluster name. */
  writePasswords: Record<string, pulumi.Input<string>>;
  /** How long samples are kept. @default "90d" */
  retention?: string;
  /**
   * The clusters' scrape interval: the store keeps one sample per series per interval, which is what
   * merges an HA pair's two streams once the replica label is dropped.
   * @default "15s"
   */
  dedupInterval?: string;
  /** vmstorage volume per replica. @default { size: "200Gi" } on the default class */
  storage?: {
    /** Volume size (`200Gi`). */
    size: string;
    /** StorageClass of the volumes. @default the cluster's default class */
    storageClassName?: string;
  };
  /** Replicas: vmstorage (data), vminsert, vmselect and vmauth (stateless). @default { storage: 3, insert: 2, select: 2, auth: 2 } */
  replicas?: {
    /** vmstorage replicas (they hold the data). @default 3 */
    storage?: number;
    /** vminsert replicas. @default 2 */
    insert?: number;
    /** vmselect replicas. @default 2 */
    select?: number;
    /** vmauth replicas. @default 2 */
    auth?: number;
  };
  /** Copies of every sample across vmstorage nodes (survives losing replicationFactor-1 nodes). @default 2 */
  replicationFactor?: number;
  /** Public host of the write endpoint (an Ingress to vmauth). @default no Ingress (port-forward or a LoadBalancer of your own) */
  ingress?: {
    /** Host name the clusters write to. */
    host: string;
    /** IngressClass. @default the cluster's default class */
    className?: string;
    /** Secret with the host's TLS certificate. @default no TLS on the Ingress */
    tlsSecretName?: string;
  };
  /**
   * Requests and limits of each part. @default none (BestEffort: set them; the fleet stack requires them)
   */
  resources?: {
    /** vmstorage's container. */
    storage?: ContainerResources;
    /** vminsert's container. */
    insert?: ContainerResources;
    /** vmselect's container. */
    select?: ContainerResources;
    /** vmauth's container. */
    auth?: ContainerResources;
  };
  /** Spread of the replicas (nodes always, zones on request). @default { zones: false } */
  spread?: FleetSpread;
  /** Labels on every object. @default {} */
  labels?: Record<string, string>;
}

/** The in-cluster URLs of a store: where vmauth sends writes, where readers query one tenant. */
export function storeUrls(releaseName: string, namespace: string) {
  const svc = (component: string) => `http://${releaseName}-${component}.${namespace}.svc`;
  return {
    /** vminsert's Prometheus write endpoint of one tenant (where vmauth routes its writes). */
    insert: (accountId: number) => `${svc("vminsert")}:${INSERT_PORT}/insert/${accountId}/prometheus`,
    /** PromQL endpoint of one tenant (Prometheus-compatible: `<url>/api/v1/query`). */
    select: (accountId: number) => `${svc("vmselect")}:${SELECT_PORT}/select/${accountId}/prometheus`,
    /** vmauth: the write endpoint the cluster stacks push to (behind the Ingress). */
    auth: `${svc("vmauth")}:8427`,
  };
}

/**
 * vmauth's config: one user per cluster (basic auth), admitted only to the write path and only with
 * its own tenant header, routed to that tenant's vminsert path. A cluster cannot write as another
 * tenant, and a wrong header is refused rather than stored in the wrong place.
 */
export function vmauthConfig(
  clusters: FleetCluster[],
  tenants: Record<string, number>,
  insertUrl: (accountId: number) => string,
  password: (cluster: string) => string,
): { users: unknown[] } {
  return {
    users: clusters.map((c) => ({
      username: c.name,
      password: password(c.name),
      url_map: [
        {
          src_paths: [FLEET_WRITE_PATH],
          src_headers: [`${TENANT_HEADER}: ${c.tenant}`],
          url_prefix: insertUrl(tenants[c.tenant]),
        },
      ],
    })),
  };
}

/** Helm values of victoria-metrics-cluster for the store (no secrets: vmauth reads its config from a Secret). */
export function globalStoreValues(args: GlobalStoreArgs, authSecretName: string): Record<string, unknown> {
  const releaseName = args.releaseName ?? "fleet-store";
  const replicas = { storage: 3, insert: 2, select: 2, auth: 2, ...args.replicas };
  const dedup = args.dedupInterval ?? "15s";
  const storage = args.storage ?? { size: "200Gi" };
  const labels = args.labels ?? {};
  const dedupArgs = { "dedup.minScrapeInterval": dedup };
  const resources = args.resources ?? {};
  const spread = args.spread ?? {};
  const sized = (r?: ContainerResources) => (r ? { resources: r } : {});
  return {
    fullnameOverride: releaseName,
    global: { extraLabels: labels },
    vmstorage: {
      ...VM_SECURITY,
      replicaCount: replicas.storage,
      ...sized(resources.storage),
      // Hard: two copies of a sample on one node would not survive that node (replicationFactor).
      topologySpreadConstraints: vmSpread(replicas.storage, spread, true),
      retentionPeriod: args.retention ?? "90d",
      // Deduplication happens where samples are merged (storage) and where they are read (select).
      extraArgs: dedupArgs,
      persistentVolume: {
        enabled: true,
        size: storage.size,
        ...(storage.storageClassName ? { storageClassName: storage.storageClassName } : {}),
      },
      podDisruptionBudget: { enabled: true, maxUnavailable: 1 },
    },
    vminsert: {
      ...VM_SECURITY,
      replicaCount: replicas.insert,
      ...sized(resources.insert),
      topologySpreadConstraints: vmSpread(replicas.insert, spread),
      extraArgs: { replicationFactor: args.replicationFactor ?? 2 },
      // The HA pair's replica label goes before storage: the pair becomes one series, deduplicated above.
      relabel: { enabled: true, config: STORE_RELABEL_CONFIG },
      podDisruptionBudget: { enabled: replicas.insert > 1, minAvailable: 1 },
    },
    vmselect: {
      ...VM_SECURITY,
      replicaCount: replicas.select,
      ...sized(resources.select),
      topologySpreadConstraints: vmSpread(replicas.select, spread),
      // With replication, a query asks every copy and must merge them back into one series.
      extraArgs: { ...dedupArgs, replicationFactor: args.replicationFactor ?? 2 },
      podDisruptionBudget: { enabled: replicas.select > 1, minAvailable: 1 },
    },
    vmauth: {
      ...VM_SECURITY,
      enabled: true,
      replicaCount: replicas.auth,
      ...sized(resources.auth),
      topologySpreadConstraints: vmSpread(replicas.auth, spread),
      configSecretName: authSecretName,
      podDisruptionBudget: { enabled: replicas.auth > 1, minAvailable: 1 },
      ...(args.ingress
        ? {
            ingress: {
              enabled: true,
              ...(args.ingress.className ? { ingressClassName: args.ingress.className } : {}),
              hosts: [{ name: args.ingress.host, path: [FLEET_WRITE_PATH], port: "http" }],
              pathType: "Prefix",
              ...(args.ingress.tlsSecretName
                ? { tls: [{ secretName: args.ingress.tlsSecretName, hosts: [args.ingress.host] }] }
                : {}),
            },
          }
        : {}),
    },
  };
}

function validate(args: GlobalStoreArgs): void {
  const tenants = Object.entries(args.tenants);
  if (tenants.length === 0) throw new InputPropertyError("tenants", "expected at least one tenant, got {}");
  const ids = new Map<number, string>();
  for (const [name, id] of tenants) {
    requireInteger(`tenants.${name}`, id, 0, 2 ** 32 - 1);
    if (ids.has(id))
      throw new InputPropertyError(
        `tenants.${name}`,
        `account id ${id} is already tenant ${quote(ids.get(id))}`,
      );
    ids.set(id, name);
  }
  const seen = new Set<string>();
  for (const [i, c] of args.clusters.entries()) {
    if (!(c.tenant in args.tenants))
      throw new InputPropertyError(
        `clusters[${i}].tenant`,
        `${quote(c.tenant)} is not one of 'tenants' (${Object.keys(args.tenants).map(quote).join(", ")})`,
      );
    if (seen.has(c.name))
      throw new InputPropertyError(`clusters[${i}].name`, `${quote(c.name)} is listed twice`);
    seen.add(c.name);
    if (args.writePasswords[c.name] === undefined)
      throw new InputPropertyError(`writePasswords.${c.name}`, "required for every cluster");
  }
  parseDuration("dedupInterval", args.dedupInterval ?? "15s");
  parseDuration("retention", args.retention ?? "90d");
  const rf = args.replicationFactor ?? 2;
  const storageReplicas = args.replicas?.storage ?? 3;
  requireInteger("replicationFactor", rf, 1);
  if (rf > storageReplicas)
    throw new InputPropertyError(
      "replicationFactor",
      `must be <= 'replicas.storage' (${storageReplicas}), got ${rf}`,
    );
}

/**
 * The fleet's global store: a VictoriaMetrics cluster (vminsert, vmselect, vmstorage) from its upstream
 * chart, behind vmauth, which admits each cluster by its own password and tenant header. Clusters'
 * HA pairs are deduplicated on `cluster` + `__replica__` the way the cluster stacks send them.
 */
export class GlobalStore extends pulumi.ComponentResource {
  /** Namespace of the store. */
  public readonly namespace: pulumi.Output<string>;
  /** The Helm release (the store's objects). */
  public readonly release: k8s.helm.v3.Release;
  /** In-cluster URL cluster stacks' writes reach (vmauth); behind the Ingress when one is set. */
  public readonly writeUrl: pulumi.Output<string>;
  /** PromQL endpoint of each tenant, by tenant name: what Grafana and the ruler read. */
  public readonly queryUrls: Record<string, string>;
  /** The namespace this component creates: what objects in it must wait for. */
  public readonly namespaceResource: k8s.core.v1.Namespace;

  constructor(name: string, args: GlobalStoreArgs, opts?: pulumi.ComponentResourceOptions) {
    super("sonic-observability:index:GlobalStore", name, {}, opts);
    validate(args);
    const pin = CHART_PINS.victoriaMetricsCluster;
    const source = chartSource(pin.chart, pin.repository, args.chartRepository);
    const namespaceName = args.namespace ?? "fleet";
    const releaseName = args.releaseName ?? "fleet-store";
    const labels = args.labels ?? {};
    const urls = storeUrls(releaseName, namespaceName);

    // Nothing here needs host access: every pod of the three charts passes `restricted` (a charts test checks).
    this.namespaceResource = restrictedNamespace(name, namespaceName, labels, childOptions(this, opts));
    const inNamespace = childOptions(this, opts, this.namespaceResource);

    // vmauth's whole config holds the passwords: a Secret the chart mounts, never Helm values.
    const authSecretName = `${releaseName}-vmauth`;
    const passwords = pulumi.all(args.writePasswords);
    const authSecret = new k8s.core.v1.Secret(
      `${name}-vmauth`,
      {
        metadata: { name: authSecretName, namespace: namespaceName, labels },
        stringData: {
          "auth.yml": pulumi.secret(
            passwords.apply((p) =>
              stringify(vmauthConfig(args.clusters, args.tenants, urls.insert, (c) => p[c])),
            ),
          ),
        },
      },
      inNamespace,
    );

    this.release = new k8s.helm.v3.Release(
      name,
      {
        name: releaseName,
        namespace: namespaceName,
        ...source,
        version: args.chartVersion ?? pin.version,
        values: globalStoreValues(args, authSecretName),
        timeout: 900,
        cleanupOnFail: true,
      },
      childOptions(this, opts, this.namespaceResource, authSecret),
    );

    this.namespace = this.namespaceResource.metadata.name;
    this.writeUrl = pulumi.output(
      args.ingress ? `https://${args.ingress.host}${FLEET_WRITE_PATH}` : `${urls.auth}${FLEET_WRITE_PATH}`,
    );
    this.queryUrls = Object.fromEntries(Object.entries(args.tenants).map(([t, id]) => [t, urls.select(id)]));
    this.registerOutputs({ namespace: this.namespace, writeUrl: this.writeUrl, queryUrls: this.queryUrls });
  }
}
