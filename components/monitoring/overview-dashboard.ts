import * as dashboard from "@grafana/grafana-foundation-sdk/dashboard";
import { DataqueryBuilder } from "@grafana/grafana-foundation-sdk/prometheus";
import * as stat from "@grafana/grafana-foundation-sdk/stat";
import * as timeseries from "@grafana/grafana-foundation-sdk/timeseries";
import { HEARTBEAT_RECORD } from "../fleet/fleet-remote-write";
import { alertPrefixOf, metricNames } from "../../contract/metrics";
import { num } from "../rules/format";
import {
  avOffsetRecord,
  CatalogueContext,
  GpuCost,
  gpuBusyRatioRecord,
  gpuIdleCostRecord,
  gpuIdleHoursRecord,
  gpusAllocatedRecord,
  gpuSecondsPerVideoSecondRecord,
  gpusIdleRecord,
  videoMinuteCostRecord,
  DEFAULT_THRESHOLDS,
  errorRatioRecord,
  gpuMemoryRatioRecord,
  latencyRecord,
  memoryGrowthRecord,
  requestQpsRecord,
  jobBacklogRecord,
} from "../rules";

/** Arguments of `overviewDashboard`: the service, its namespace and HPA, and rows to add. */
export interface OverviewDashboardOptions {
  /** Metric prefix of the service. @default "sonic" */
  metricPrefix?: string;
  /** Namespace the service runs in; every query is scoped to it. */
  namespace: string;
  /** Name of the service's HPA (kube-state-metrics series). */
  hpaName: string;
  /** Dashboard title. @default "<Prefix> overview" */
  title?: string;
  /** Availability SLO target, for the error-budget panel. @default 0.99 */
  sloTarget?: number;
  /** GPU memory alert threshold, drawn on the GPU panel. @default 0.9 */
  gpuMemoryRatio?: number;
  /** Rate window of the QPS recording. @default "2m" */
  rateWindow?: string;
  /** Share of slots busy below which GPUs count as idle, drawn on the efficiency panel. @default 0.2 */
  gpuIdleRatio?: number;
  /** GPU price: adds the money panels (cost per video-minute, idle cost), in its currency. @default none: GPU-hours only */
  cost?: GpuCost;
  /**
   * Fleet mode: a multi-select `cluster` variable scopes every query, aggregations keep `cluster`, and
   * legends name it (the fleet dashboard over the global store). @default false
   */
  clusterVariable?: boolean;
  /** Rows placed above the overview's own (the fleet row), built with the overview's panel makers. @default none */
  leadingRows?: (builder: dashboard.DashboardBuilder, make: PanelMakers) => dashboard.DashboardBuilder;
  /** Dashboard uid. @default "<prefix>-overview" */
  uid?: string;
}

/** One panel query: PromQL and its legend. */
export interface Query {
  /** PromQL of the series. */
  expr: string;
  /** Legend template (`{{pod}}`). */
  legend: string;
}

/** The overview's panel makers (ids, datasource and targets done the one way), for rows added to it. */
export interface PanelMakers {
  /** A row titled `name`: the panels added after it go in it. */
  row(name: string): dashboard.RowBuilder;
  /** A time-series panel of `queries`, in Grafana's `unit`, with `description` as its tooltip. */
  series(name: string, unit: string, queries: Query[], description: string): timeseries.PanelBuilder;
}

const DATASOURCE = { type: "prometheus", uid: "${datasource}" };

/**
 * The service's overview dashboard, built with Grafana's typed foundation SDK: traffic, errors and
 * budget, latency, GPU memory, queue, A/V offset, decode failures, memory trend and replicas against
 * the HPA's bounds. Queries read the catalogue's recordings wherever one exists, so the dashboard and
 * the alerts agree on what "error ratio" or "p99" means. One function per row; panel ids follow the
 * order the rows are built in.
 */
export function overviewDashboard(options: OverviewDashboardOptions): dashboard.Dashboard {
  const scope = overviewScope(options);
  let builder = dashboardFrame(scope);
  if (options.leadingRows) builder = options.leadingRows(builder, { row: scope.row, series: scope.series });
  builder = trafficRow(builder, scope);
  builder = gpuRow(builder, scope);
  builder = qualityRow(builder, scope);
  builder = efficiencyRow(builder, scope);
  return builder.build();
}

/** What the overview's rows are built with: the service's selectors and the panel makers. */
interface OverviewScope {
  options: OverviewDashboardOptions;
  prefix: string;
  n: ReturnType<typeof metricNames>;
  /** The recording-name helpers only read the prefix from their context. */
  c: CatalogueContext;
  fleet: boolean;
  /** The label matchers of every query: the namespace, and the chosen clusters in fleet mode. */
  ns: string;
  /** Group-by labels, with `cluster` first in fleet mode. */
  by(labels: string): string;
  /** A legend, prefixed with the cluster in fleet mode. */
  lg(legend: string): string;
  /** The matchers of the service's HPA's kube-state-metrics series. */
  hpa: string;
  slo: number;
  row: PanelMakers["row"];
  series: PanelMakers["series"];
  single(name: string, unit: string, queries: Query[], description: string): stat.PanelBuilder;
}

function overviewScope(options: OverviewDashboardOptions): OverviewScope {
  const prefix = options.metricPrefix ?? "sonic";
  const fleet = options.clusterVariable ?? false;
  const ns = `namespace="${options.namespace}"` + (fleet ? `, cluster=~"$cluster"` : "");
  let nextId = 1;
  const targets = (queries: Query[]) =>
    queries.map((q, i) =>
      new DataqueryBuilder()
        .expr(q.expr)
        .legendFormat(q.legend)
        .refId(String.fromCharCode(65 + i))
        .datasource(DATASOURCE),
    );
  const panel =
    <B extends timeseries.PanelBuilder | stat.PanelBuilder>(make: () => B) =>
    (name: string, unit: string, queries: Query[], description: string): B =>
      make()
        .id(nextId++)
        .title(name)
        .description(description)
        .datasource(DATASOURCE)
        .unit(unit)
        .targets(targets(queries)) as B;
  return {
    options,
    prefix,
    n: metricNames(prefix),
    c: { prefix } as CatalogueContext,
    fleet,
    ns,
    by: (labels) => (fleet ? `cluster${labels ? `, ${labels}` : ""}` : labels),
    lg: (legend) => (fleet ? `{{cluster}} ${legend}` : legend),
    hpa: `{${ns}, horizontalpodautoscaler="${options.hpaName}"}`,
    slo: options.sloTarget ?? DEFAULT_THRESHOLDS.sloTarget,
    row: (name) => new dashboard.RowBuilder(name).id(nextId++),
    series: panel(() => new timeseries.PanelBuilder()),
    single: panel(() => new stat.PanelBuilder()),
  };
}

/** The dashboard itself: title, uid, refresh, time range, the data source and (fleet) cluster variables. */
function dashboardFrame({ options, prefix, fleet }: OverviewScope): dashboard.DashboardBuilder {
  const title = options.title ?? `${alertPrefixOf(prefix)} overview`;
  const datasourceVariable = new dashboard.DatasourceVariableBuilder("datasource")
    .label("Data source")
    .type("prometheus");
  let builder = new dashboard.DashboardBuilder(title)
    .uid(options.uid ?? `${prefix}-overview`)
    .tags([prefix, "inference", "gpu"])
    .refresh("30s")
    .time({ from: "now-6h", to: "now" })
    .withVariable(datasourceVariable);
  if (fleet)
    builder = builder.withVariable(
      new dashboard.QueryVariableBuilder("cluster")
        .label("Cluster")
        .datasource(DATASOURCE)
        .query(`label_values(${HEARTBEAT_RECORD}, cluster)`)
        .multi(true)
        .includeAll(true)
        .allValue(".*"),
    );
  return builder;
}

/** Traffic and errors: QPS per pod, outcomes, error ratio and budget, job latency. */
function trafficRow(builder: dashboard.DashboardBuilder, s: OverviewScope): dashboard.DashboardBuilder {
  const { options, n, c, ns, by, lg, slo, row, series, single } = s;
  return builder
    .withRow(row("Traffic and errors"))
    .withPanel(
      series(
        "Requests per second, per pod",
        "reqps",
        [{ expr: requestQpsRecord(c, options.rateWindow ?? "2m") + `{${ns}}`, legend: lg("{{pod}}") }],
        "The per-pod rate the HPA scales on (custom metric served by prometheus-adapter).",
      ).span(8),
    )
    .withPanel(
      series(
        "Requests by outcome",
        "reqps",
        [{ expr: `sum by (${by("status")}) (rate(${n.requestTotal}{${ns}}[5m]))`, legend: lg("{{status}}") }],
        "Finished requests by final status: success, client_error, server_error, rejected (backpressure).",
      ).span(8),
    )
    .withPanel(
      series(
        "Server-error ratio",
        "percentunit",
        [
          { expr: `${errorRatioRecord(c, "5m")}{${ns}}`, legend: lg("5m") },
          { expr: `${errorRatioRecord(c, "1h")}{${ns}}`, legend: lg("1h") },
        ],
        "Share of non-client requests that failed, over the burn-rate alert windows.",
      ).span(8),
    )
    .withPanel(
      single(
        "Error budget left (3d)",
        "percentunit",
        [
          {
            expr: `1 - ${errorRatioRecord(c, "3d")}{${ns}} / ${num(1 - slo)}`,
            legend: lg("budget"),
          },
        ],
        `Share of the ${slo * 100}% availability SLO's error budget not yet spent at the 3-day error ratio.`,
      ).span(6),
    )
    .withPanel(
      series(
        "Job latency (submit to video)",
        "s",
        [
          { expr: `${latencyRecord(c, "p50")}{${ns}}`, legend: lg("p50") },
          { expr: `${latencyRecord(c, "p95")}{${ns}}`, legend: lg("p95") },
          { expr: `${latencyRecord(c, "p99")}{${ns}}`, legend: lg("p99") },
        ],
        "Quantiles of successful jobs over 30 minutes.",
      ).span(18),
    );
}

/** GPU and capacity: GPU memory, the queue, replicas against the HPA's bounds. */
function gpuRow(builder: dashboard.DashboardBuilder, s: OverviewScope): dashboard.DashboardBuilder {
  const { options, n, c, ns, by, lg, hpa, fleet, row, series } = s;
  return builder
    .withRow(row("GPU and capacity"))
    .withPanel(
      series(
        "GPU memory used and total",
        "bytes",
        [
          { expr: `${n.gpuMemoryUsed}{${ns}}`, legend: lg("used {{pod}} gpu{{gpu}}") },
          { expr: `${n.gpuMemoryTotal}{${ns}}`, legend: lg("total {{pod}} gpu{{gpu}}") },
        ],
        "Per GPU, per pod: sampled from nvidia-smi or reported by the worker.",
      ).span(12),
    )
    .withPanel(
      series(
        "GPU memory used ratio",
        "percentunit",
        [{ expr: `${gpuMemoryRatioRecord(c)}{${ns}}`, legend: lg("{{pod}} gpu{{gpu}}") }],
        `HighGPUMemoryUsage fires above ${(options.gpuMemoryRatio ?? DEFAULT_THRESHOLDS.gpuMemoryRatio) * 100}% for 5 minutes.`,
      )
        .max(1)
        .span(12),
    )
    .withPanel(
      series(
        "Jobs queued and in progress",
        "short",
        [
          // The shared queue: every pod exports the same value, so max, never sum.
          {
            expr: `max${fleet ? " by (cluster) " : ""}(${n.jobsQueued}{${ns}})`,
            legend: lg("queued (service-wide)"),
          },
          { expr: `sum by (${by("pod")}) (${n.jobsInProgress}{${ns}})`, legend: lg("running {{pod}}") },
          { expr: `${jobBacklogRecord(c)}{${ns}}`, legend: lg("backlog, in pods' worth of slots") },
        ],
        "Backpressure: a backlog over the limit answers 429 with Retry-After. The HPA scales on the backlog line.",
      ).span(12),
    )
    .withPanel(
      series(
        "Replicas against the HPA's bounds",
        "short",
        [
          { expr: `kube_horizontalpodautoscaler_status_current_replicas${hpa}`, legend: lg("current") },
          { expr: `kube_horizontalpodautoscaler_status_desired_replicas${hpa}`, legend: lg("desired") },
          { expr: `kube_horizontalpodautoscaler_spec_min_replicas${hpa}`, legend: lg("min") },
          { expr: `kube_horizontalpodautoscaler_spec_max_replicas${hpa}`, legend: lg("max") },
        ],
        "kube-state-metrics series of the service's HorizontalPodAutoscaler.",
      ).span(12),
    );
}

/** Quality and health: A/V offset, decode failures, resident memory. */
function qualityRow(builder: dashboard.DashboardBuilder, s: OverviewScope): dashboard.DashboardBuilder {
  const { n, c, ns, by, lg, row, series } = s;
  return builder
    .withRow(row("Quality and health"))
    .withPanel(
      series(
        "Audio/video offset p95",
        "s",
        [{ expr: `${avOffsetRecord(c)}{${ns}}`, legend: lg("{{pod}}") }],
        "|audio length - video length| of finished videos; the desync alert fires above 300 ms.",
      ).span(8),
    )
    .withPanel(
      series(
        "Audio decode failures by reason",
        "reqps",
        [
          {
            expr: `sum by (${by("reason")}) (rate(${n.audioDecodeFailure}{${ns}}[5m]))`,
            legend: lg("{{reason}}"),
          },
        ],
        "Rejected inputs by closed-set reason.",
      ).span(8),
    )
    .withPanel(
      series(
        "Resident memory and its growth",
        "bytes",
        [
          { expr: `${n.residentMemory}{${ns}}`, legend: lg("rss {{pod}}") },
          { expr: `${memoryGrowthRecord(c)}{${ns}}`, legend: lg("growth per hour {{pod}}") },
        ],
        "A steady climb between restarts is a leak (the article saw ~50 MB/hour).",
      ).span(8),
    );
}

/**
 * Efficiency and cost: GPU busy ratio, GPUs held and idle, GPU-seconds per video-second, idle GPU-hours,
 * and the money panels where the stack names a price.
 */
function efficiencyRow(builder: dashboard.DashboardBuilder, s: OverviewScope): dashboard.DashboardBuilder {
  const { options, prefix, c, ns, lg, row, series, single } = s;
  const board = builder
    .withRow(row("Efficiency and cost"))
    .withPanel(
      series(
        "GPU busy ratio",
        "percentunit",
        [{ expr: `${gpuBusyRatioRecord(c)}{${ns}}`, legend: lg("busy") }],
        `Share of the service's slots generating (slot-busy seconds over slots). ${alertPrefixOf(prefix)}GpuIdle warns below ${num((options.gpuIdleRatio ?? DEFAULT_THRESHOLDS.gpuIdleRatio) * 100)}% for an hour at the minimum replica count.`,
      )
        .max(1)
        .span(8),
    )
    .withPanel(
      series(
        "GPUs held and idle",
        "short",
        [
          { expr: `${gpusAllocatedRecord(c)}{${ns}}`, legend: lg("held") },
          { expr: `${gpusIdleRecord(c)}{${ns}}`, legend: lg("idle") },
        ],
        "GPUs the pods hold, and the part of them not generating: idle GPUs are billed all the same.",
      ).span(8),
    )
    .withPanel(
      series(
        "GPU-seconds per video-second (1h)",
        "short",
        [{ expr: `${gpuSecondsPerVideoSecondRecord(c)}{${ns}}`, legend: lg("GPU-s per video-s") }],
        "GPU time held, idle time included, per second of video delivered: the service's efficiency.",
      ).span(8),
    )
    .withPanel(
      single(
        "Idle GPU-hours (1d)",
        "short",
        [{ expr: `${gpuIdleHoursRecord(c)}{${ns}}`, legend: lg("GPU-hours") }],
        "GPU-hours held and not generating over the last day.",
      ).span(8),
    );
  // Money panels only where the stack names a price: an empty "cost" panel would read as "free".
  if (options.cost) {
    const currency = `currency${options.cost.currency ?? "USD"}`;
    board
      .withPanel(
        single(
          "Cost per video-minute (1h)",
          currency,
          [{ expr: `${videoMinuteCostRecord(c)}{${ns}}`, legend: lg("per video-minute") }],
          "GPU-seconds per video-second x 60 x the stack's cost.gpuHourly: idle GPU time is in the price.",
        ).span(8),
      )
      .withPanel(
        single(
          "Idle GPU cost (1d)",
          currency,
          [{ expr: `${gpuIdleCostRecord(c)}{${ns}}`, legend: lg("idle, last day") }],
          "The last day's idle GPU-hours x the stack's cost.gpuHourly.",
        ).span(8),
      );
  }
  return board;
}
