import type * as dashboard from "@grafana/grafana-foundation-sdk/dashboard";
import { metricNames } from "../../contract/metrics";
import { overviewDashboard, OverviewDashboardOptions } from "../monitoring/overview-dashboard";
import {
  CatalogueContext,
  errorRatioRecord,
  gpuMemoryRatioRecord,
  jobBacklogRecord,
  latencyRecord,
} from "../rules";

/** A service's fleet dashboard: the overview's options, less those the fleet decides (the `cluster` variable, uid). */
export type FleetDashboardOptions = Omit<OverviewDashboardOptions, "clusterVariable" | "leadingRows" | "uid">;

/**
 * The fleet dashboard over the global store: a row comparing clusters side by side (jobs per second,
 * backlog, error ratio, p99, GPU busy and GPU memory, one line per cluster), then every panel of the
 * service's overview with a multi-select `cluster` variable. Reads only what the clusters send
 * (recordings and contract metrics, see fleet-remote-write.ts).
 */
export function fleetDashboard(options: FleetDashboardOptions): dashboard.Dashboard {
  const prefix = options.metricPrefix ?? "sonic";
  const n = metricNames(prefix);
  const c = { prefix } as CatalogueContext;
  const sel = `{namespace="${options.namespace}", cluster=~"$cluster"}`;
  const perCluster = "{{cluster}}";
  return overviewDashboard({
    ...options,
    title: options.title ?? `${prefix} fleet`,
    uid: `${prefix}-fleet`,
    clusterVariable: true,
    leadingRows: (builder, make) =>
      builder
        .withRow(make.row("Fleet: clusters side by side"))
        .withPanel(
          make
            .series(
              "Jobs per second",
              "reqps",
              [{ expr: `sum by (cluster) (rate(${n.jobSubmissions}${sel}[5m]))`, legend: perCluster }],
              "Submissions as they arrive, per cluster: the demand each cluster's HPA scales on.",
            )
            .span(8),
        )
        .withPanel(
          make
            .series(
              "Backlog (pods' worth of slots)",
              "short",
              [{ expr: `max by (cluster) (${jobBacklogRecord(c)}${sel})`, legend: perCluster }],
              "Jobs queued + running over one pod's slots, per cluster.",
            )
            .span(8),
        )
        .withPanel(
          make
            .series(
              "Error ratio",
              "percentunit",
              [{ expr: `max by (cluster) (${errorRatioRecord(c, "5m")}${sel})`, legend: perCluster }],
              "Server errors over non-client requests in 5m, per cluster (FleetErrorBudgetBurn weighs them by traffic).",
            )
            .span(8),
        )
        .withPanel(
          make
            .series(
              "p99 job latency",
              "s",
              [{ expr: `max by (cluster) (${latencyRecord(c, "p99")}${sel})`, legend: perCluster }],
              "Each cluster's own recorded p99 of successful jobs (buckets stay in the clusters).",
            )
            .span(8),
        )
        .withPanel(
          make
            .series(
              "GPU busy (model slots in use)",
              "percentunit",
              [
                {
                  expr: `sum by (cluster) (${n.jobsInProgress}${sel}) / sum by (cluster) (${n.jobSlots}${sel})`,
                  legend: perCluster,
                },
              ],
              "Running jobs over model slots, per cluster: FleetGpuHeadroomLow watches the whole fleet's.",
            )
            .max(1)
            .span(8),
        )
        .withPanel(
          make
            .series(
              "GPU memory used (highest GPU)",
              "percentunit",
              [{ expr: `max by (cluster) (${gpuMemoryRatioRecord(c)}${sel})`, legend: perCluster }],
              "The fullest GPU of each cluster; HighGPUMemoryUsage pages in-cluster above its threshold.",
            )
            .max(1)
            .span(8),
        ),
  });
}
