import { existsSync, readFileSync } from "node:fs";
import * as path from "node:path";
import { parseDuration } from "../shared/durations";
import { InputPropertyError, quote, requireInteger } from "../shared/errors";
import { alertPrefixOf, metricNames, METRIC_PREFIX_PATTERN } from "../../contract/metrics";
import { autoscalingRules } from "./autoscaling";
import { availabilityRules } from "./availability";
import { costRules } from "./cost";
import { desyncRules } from "./desync";
import { errorRules } from "./errors";
import { gpuRules } from "./gpu";
import { inputRules } from "./inputs";
import { latencyRules } from "./latency";
import { memoryRules } from "./memory";
import { queueRules } from "./queue";
import { AlertThresholds, DEFAULT_THRESHOLDS } from "./thresholds";
import { CatalogueContext, GpuCost, isAlert, RuleGroup } from "./types";

export * from "./types";
export * from "./thresholds";
export { errorRatioRecord, requestRateRecord, SLO_WINDOWS } from "./errors";
export { latencyRecord } from "./latency";
export { gpuMemoryRatioRecord } from "./gpu";
export { avOffsetRecord } from "./desync";
export { memoryGrowthRecord } from "./memory";
export { decodeFailureRatioRecord } from "./inputs";
export { requestQpsRecord } from "./autoscaling";
export { jobBacklogRecord } from "./queue";
export * from "./cost";
export * from "../../contract/analyst-signals";
export { analystRules } from "./analyst";
export * from "./fleet";
export * from "./keda";

/** The concerns of the catalogue, one rule group each. */
export const RULE_CONCERNS = [
  "errors",
  "latency",
  "gpu",
  "av-sync",
  "memory",
  "inputs",
  "availability",
  "autoscaling",
  "queue",
  "cost",
] as const;
/** One of `RULE_CONCERNS`: a group of the catalogue, one file of rules/. */
export type RuleConcern = (typeof RULE_CONCERNS)[number];

/** Sonic's concerns: all of them (a GPU model turning audio and a portrait into video). */
export const SONIC_CONCERNS: readonly RuleConcern[] = RULE_CONCERNS;

/**
 * What any service on the contract gets unless it names its own: no GPU, audio/video sync or audio
 * decoding alerts, which only mean something for services that have those (a TTS service names
 * `gpu` and `inputs`, a CPU model none of them).
 */
export const BASE_CONCERNS: readonly RuleConcern[] = [
  "errors",
  "latency",
  "memory",
  "availability",
  "autoscaling",
  "queue",
];

/** Arguments of `ruleCatalogue`: the service, its concerns, thresholds and runbooks. */
export interface RuleCatalogueOptions {
  /** Metric prefix of the service (metric contract). @default "sonic" */
  metricPrefix?: string;
  /** `job` label of the service's targets: its Service name. */
  job: string;
  /** Namespace the service runs in. */
  namespace: string;
  /** Name of the HPA of the service's GPU tier (its idle GPUs are costed against it). @default the `job` */
  hpaName?: string;
  /**
   * Every HPA of the service, one per tier (KEDA's are `keda-hpa-<ScaledObject>`): each is watched
   * for running at its maximum.
   * @default [hpaName]
   */
  hpaNames?: string[];
  /**
   * Job slots of one GPU pod as deployed (GPUs x concurrency per GPU): the backlog divides by it, so
   * it still reads with no pod up to export `<prefix>_job_slots`.
   * @default none: the largest `<prefix>_job_slots`, or 1 while no pod exports it
   */
  slotsPerPod?: number;
  /** Overrides of the default thresholds and `for:` durations. @default {} */
  thresholds?: Partial<AlertThresholds>;
  /** Base of runbook links; each alert links to `<base>#<alertname lower-cased>`. @default this repo's docs/runbooks.md */
  runbookBaseUrl?: string;
  /** Rate window of the per-pod QPS recording (>= 4x the scrape interval). @default "2m" */
  rateWindow?: string;
  /** Price of one GPU-hour, to record the cost of a video-minute and of idle GPUs. @default none: GPU-hours only */
  cost?: GpuCost;
  /** The concerns that apply to the service. @default SONIC_CONCERNS for prefix sonic, else BASE_CONCERNS */
  concerns?: readonly RuleConcern[];
}

/**
 * The runbooks of the package that wrote the rules: its own repository's docs/runbooks.md, from the
 * `repository` of its package.json (this repository's, or the packed component package's).
 */
export const DEFAULT_RUNBOOK_BASE_URL = runbooksOf(ownPackageJson().repository);

/**
 * The nearest package.json above this file: the repository's from source or the precompiled program
 * (build/program/), the component package's once packed (dist/components/); depths differ.
 */
function ownPackageJson(): { repository?: { url?: string } | string } {
  for (let dir = __dirname; ; dir = path.dirname(dir)) {
    const file = path.join(dir, "package.json");
    if (existsSync(file)) return JSON.parse(readFileSync(file, "utf8"));
    if (path.dirname(dir) === dir) throw new Error(`no package.json above ${__dirname}`);
  }
}

function runbooksOf(repository: { url?: string } | string | undefined): string {
  const url = (typeof repository === "string" ? repository : repository?.url) ?? "";
  const web = url.replace(/^git\+/, "").replace(/\.git$/, "");
  if (!/^https:\/\/github\.com\/[^/]+\/[^/]+$/.test(web))
    throw new Error(
      `package.json 'repository' must be a GitHub https URL to derive runbook links, got "${url}"`,
    );
  return `${web}/blob/main/docs/runbooks.md`;
}

/**
 * The whole rule catalogue of one service, one group per concern, as data: the PrometheusRule the
 * stack deploys, the rule file promtool checks and the sandbox's Prometheus all load exactly this.
 */
export function ruleCatalogue(options: RuleCatalogueOptions): RuleGroup[] {
  const prefix = options.metricPrefix ?? "sonic";
  if (!METRIC_PREFIX_PATTERN.test(prefix)) {
    throw new InputPropertyError(
      "metricPrefix",
      `expected lower snake case like sonic, got ${quote(prefix)}`,
    );
  }
  const thresholds: AlertThresholds = { ...DEFAULT_THRESHOLDS, ...options.thresholds };
  for (const [key, value] of Object.entries(thresholds)) {
    if (typeof DEFAULT_THRESHOLDS[key as keyof AlertThresholds] === "string")
      parseDuration(`thresholds.${key}`, String(value));
    else if (typeof value !== "number" || !Number.isFinite(value) || value < 0) {
      throw new InputPropertyError(
        `thresholds.${key}`,
        `expected a non-negative number, got ${quote(value)}`,
      );
    }
  }
  if (thresholds.sloTarget <= 0 || thresholds.sloTarget >= 1) {
    throw new InputPropertyError(
      "thresholds.sloTarget",
      `must be between 0 and 1 exclusive, got ${quote(thresholds.sloTarget)}`,
    );
  }
  if (options.cost) validateCost(options.cost);
  if (options.slotsPerPod !== undefined) requireInteger("slotsPerPod", options.slotsPerPod, 1);
  if (options.hpaNames !== undefined && options.hpaNames.length === 0)
    throw new InputPropertyError("hpaNames", "must name at least one HPA, got []");
  const rateWindow = options.rateWindow ?? "2m";
  parseDuration("rateWindow", rateWindow);
  const base = options.runbookBaseUrl ?? DEFAULT_RUNBOOK_BASE_URL;
  const c: CatalogueContext = {
    prefix,
    alertPrefix: alertPrefixOf(prefix),
    names: metricNames(prefix),
    job: options.job,
    namespace: options.namespace,
    hpaName: options.hpaName ?? options.job,
    hpaNames: options.hpaNames ?? [options.hpaName ?? options.job],
    slotsPerPod: options.slotsPerPod,
    thresholds,
    cost: options.cost,
    runbookUrl: (alert) => `${base}#${alert.toLowerCase()}`,
  };
  const concerns = options.concerns ?? (prefix === "sonic" ? SONIC_CONCERNS : BASE_CONCERNS);
  for (const concern of concerns)
    if (!RULE_CONCERNS.includes(concern))
      throw new InputPropertyError(
        "concerns",
        `expected some of ${RULE_CONCERNS.join(", ")}, got ${quote(concern)}`,
      );
  return RULE_CONCERNS.filter((concern) => concerns.includes(concern)).map((concern) =>
    concernRules(concern, c, rateWindow),
  );
}

function concernRules(concern: RuleConcern, c: CatalogueContext, rateWindow: string): RuleGroup {
  switch (concern) {
    case "errors":
      return errorRules(c);
    case "latency":
      return latencyRules(c);
    case "gpu":
      return gpuRules(c);
    case "av-sync":
      return desyncRules(c);
    case "memory":
      return memoryRules(c);
    case "inputs":
      return inputRules(c);
    case "availability":
      return availabilityRules(c);
    case "autoscaling":
      return autoscalingRules(c, rateWindow);
    case "queue":
      return queueRules(c);
    case "cost":
      return costRules(c);
    default: {
      const never: never = concern;
      throw new Error(`unknown concern ${String(never)}`);
    }
  }
}

function validateCost(cost: GpuCost): void {
  if (typeof cost.gpuHourly !== "number" || !Number.isFinite(cost.gpuHourly) || cost.gpuHourly <= 0)
    throw new InputPropertyError(
      "cost.gpuHourly",
      `expected a positive price of one GPU-hour, got ${quote(cost.gpuHourly)}`,
    );
  if (cost.currency !== undefined && !/^[A-Z]{3}$/.test(cost.currency))
    throw new InputPropertyError(
      "cost.currency",
      `expected an ISO 4217 code like USD or EUR, got ${quote(cost.currency)}`,
    );
}

/** Every alert name in a catalogue, once each. */
export function alertNames(groups: RuleGroup[]): string[] {
  return [...new Set(groups.flatMap((g) => g.rules.filter(isAlert).map((r) => r.alert)))];
}
export { ruleFileYaml } from "./rule-file";
