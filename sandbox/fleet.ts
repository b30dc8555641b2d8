import { ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { mkdirSync, writeFileSync } from "node:fs";
import * as path from "node:path";
import { stringify } from "yaml";
import {
  CLUSTER_LABEL,
  fleetRemoteWriteSpec,
  fleetRules,
  FleetThresholds,
  heartbeatRuleGroup,
  prometheusRemoteWriteYaml,
  REPLICA_LABEL,
  ruleFileYaml,
  STORE_RELABEL_CONFIG,
} from "../components";
import { fastSandboxOptions } from "./fast";
import { freePort } from "./ports";
import { binary, Sandbox, stopChildren, waitFor } from "./sandbox";

/** The sandbox fleet's clusters: an HA pair and a single Prometheus. */
export const FLEET_CLUSTERS = { pair: "sandbox-ha", single: "sandbox-single" } as const;
/** Tenant the sandbox clusters send as `X-Scope-OrgID` (a single-node store ignores it). */
export const FLEET_TENANT = "sandbox";

export interface FleetSandboxOptions {
  /** Folder for configs, data and logs of everything started. */
  stateDir: string;
  /** Scrape and rule interval of the clusters' Prometheus, and the store's deduplication interval. @default "1s" */
  interval?: string;
  /** How often each cluster records the heartbeat. @default "2s" */
  heartbeatInterval?: string;
  /** Evaluation interval of the fleet ruler (vmalert). @default "2s" */
  ruleInterval?: string;
  /** Fleet rule thresholds (short windows for a test; the expressions stay the catalogue's). @default silence 10s, for 5s */
  fleetThresholds?: Partial<FleetThresholds>;
}

interface Member {
  cluster: string;
  replica?: string;
  url: string;
  args: string[];
  child?: ChildProcess;
}

/**
 * Two "clusters" writing to one global store, on 127.0.0.1: the sandbox's real app pods are scraped by
 * an HA pair of Prometheus (cluster `sandbox-ha`, `__replica__` 0 and 1) and by a single Prometheus
 * (`sandbox-single`), each with the stack's rule catalogue plus the heartbeat, remote-writing with the
 * cluster stacks' exact remote-write entry (tenant header, series filter, queue). The store is a real
 * VictoriaMetrics (single node: the same remote-write ingestion, replica relabeling, deduplication
 * and PromQL as the fleet's cluster chart); the fleet ruler is a real vmalert loading the fleet rule
 * catalogue and notifying the sandbox's Alertmanager.
 */
export class FleetSandbox {
  readonly sandbox: Sandbox;
  readonly members: Member[] = [];
  store = "";
  ruler = "";
  private children: ChildProcess[] = [];
  private readonly interval: string;

  constructor(private readonly options: FleetSandboxOptions) {
    this.interval = options.interval ?? "1s";
    this.sandbox = new Sandbox(fastSandboxOptions(path.join(options.stateDir, "cluster")));
  }

  /** The fleet rules the ruler loads: the catalogue for the two sandbox clusters, with the option thresholds. */
  fleetRuleGroups() {
    return fleetRules({
      clusters: Object.values(FLEET_CLUSTERS),
      runbookBaseUrl: "https://example.invalid/runbooks.md",
      thresholds: { clusterSilenceWindow: "10s", clusterSilentFor: "5s", ...this.options.fleetThresholds },
    });
  }

  async start(): Promise<void> {
    const dir = this.options.stateDir;
    mkdirSync(dir, { recursive: true });
    const prometheusBin = binary("prometheus");
    const storeBin = binary("victoria-metrics");
    const rulerBin = binary("vmalert");
    await this.sandbox.start();

    const storePort = await freePort(0);
    this.store = `http://127.0.0.1:${storePort}`;
    writeFileSync(path.join(dir, "store-relabel.yml"), stringify(STORE_RELABEL_CONFIG));
    this.spawn("store", storeBin, [
      `-storageDataPath=${path.join(dir, "store-data")}`,
      `-httpListenAddr=127.0.0.1:${storePort}`,
      // Fresh samples are answered at once (the default hides the last 30 s).
      "-search.latencyOffset=0s",
      `-relabelConfig=${path.join(dir, "store-relabel.yml")}`,
      `-dedup.minScrapeInterval=${this.interval}`,
    ]);
    await waitFor(`${this.store}/health`, "VictoriaMetrics");

    const sinkPort = Number(new URL(this.sandbox.endpoints.sink).port);
    const base = this.sandbox.prometheusConfig(0, sinkPort);
    writeFileSync(
      path.join(dir, "cluster.rules.yaml"),
      ruleFileYaml([
        ...this.sandbox.ruleGroups(),
        heartbeatRuleGroup(this.options.heartbeatInterval ?? "2s"),
      ]),
    );
    const remoteWrite = prometheusRemoteWriteYaml(
      fleetRemoteWriteSpec({
        url: `${this.store}/api/v1/write`,
        tenant: FLEET_TENANT,
        metricPrefixes: ["sonic"],
      }),
    );
    for (const [cluster, replica] of [
      [FLEET_CLUSTERS.pair, "prometheus-0"],
      [FLEET_CLUSTERS.pair, "prometheus-1"],
      [FLEET_CLUSTERS.single, undefined],
    ] as const) {
      const name = replica ? `${cluster}-${replica}` : cluster;
      const port = await freePort(0);
      const config = {
        global: {
          scrape_interval: this.interval,
          evaluation_interval: this.interval,
          external_labels: {
            [CLUSTER_LABEL]: cluster,
            env: "dev",
            ...(replica ? { [REPLICA_LABEL]: replica } : {}),
          },
        },
        rule_files: [path.join(dir, "cluster.rules.yaml")],
        scrape_configs: base.scrape_configs,
        remote_write: [remoteWrite],
      };
      writeFileSync(path.join(dir, `${name}.yml`), stringify(config));
      const member: Member = {
        cluster,
        replica,
        url: `http://127.0.0.1:${port}`,
        args: [
          `--config.file=${path.join(dir, `${name}.yml`)}`,
          `--storage.tsdb.path=${path.join(dir, `${name}-data`)}`,
          `--web.listen-address=127.0.0.1:${port}`,
        ],
      };
      member.child = this.spawn(name, prometheusBin, member.args);
      this.members.push(member);
    }
    await Promise.all(this.members.map((m) => waitFor(`${m.url}/-/ready`, `Prometheus ${m.cluster}`)));

    const rulerPort = await freePort(0);
    this.ruler = `http://127.0.0.1:${rulerPort}`;
    writeFileSync(path.join(dir, "fleet.rules.yaml"), ruleFileYaml(this.fleetRuleGroups()));
    this.spawn("ruler", rulerBin, [
      `-rule=${path.join(dir, "fleet.rules.yaml")}`,
      `-datasource.url=${this.store}`,
      `-notifier.url=${this.sandbox.endpoints.alertmanager}`,
      `-evaluationInterval=${this.options.ruleInterval ?? "2s"}`,
      `-httpListenAddr=127.0.0.1:${rulerPort}`,
    ]);
    await waitFor(`${this.ruler}/health`, "vmalert");
  }

  /** `kill -9` of every Prometheus of one cluster: the cluster goes dark with no goodbye. */
  darken(cluster: string): void {
    for (const m of this.members.filter((m) => m.cluster === cluster)) m.child?.kill("SIGKILL");
  }

  /** Starts the cluster's Prometheus again on its own data (WAL and all), as a pod restart would. */
  async restore(cluster: string): Promise<void> {
    const members = this.members.filter((m) => m.cluster === cluster);
    for (const m of members) {
      const child = m.child;
      if (child && child.exitCode === null && child.signalCode === null) await once(child, "exit");
      m.child = this.spawn(m.replica ? `${m.cluster}-${m.replica}` : m.cluster, binary("prometheus"), m.args);
    }
    await Promise.all(members.map((m) => waitFor(`${m.url}/-/ready`, `Prometheus ${m.cluster}`)));
  }

  async stop(): Promise<void> {
    await stopChildren(this.children);
    await this.sandbox.stop();
  }

  private spawn(name: string, command: string, args: string[]): ChildProcess {
    const child = spawn(command, args, { stdio: ["ignore", "pipe", "pipe"] });
    const log = path.join(this.options.stateDir, `${name}.log`);
    child.stdout!.on("data", (d) => writeFileSync(log, d, { flag: "a" }));
    child.stderr!.on("data", (d) => writeFileSync(log, d, { flag: "a" }));
    this.children.push(child);
    return child;
  }
}
