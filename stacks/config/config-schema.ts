import { z } from "zod";
import { CLUSTER_FLAVORS, CLUSTER_STACK_CHARTS } from "../../components";
import { analystSchema } from "./analyst";
import { autoscalingSchema } from "./autoscaling";
import { chartsSchema } from "./charts";
import { stackChecks } from "./cross-field-checks";
import {
  alertmanagerSchema,
  alertsSchema,
  costSchema,
  monitoringSchema,
  onboardedServicesSchema,
  prometheusSchema,
} from "./monitoring";
import { queueSchema } from "./queue";
import { sonicSchema } from "./sonic";
import { labelValue } from "./value-types";

// The label convention on every object, the fleet stack's too (stacks/fleet-config.ts).
export const envSchema = z
  .enum(["dev", "staging", "prod"])
  .describe("The environment: a label on every object.");
export const labelsSchema = z
  .object({
    team: labelValue.describe("The owning team: a label on every object."),
    service: labelValue.describe("The service: a label on every object."),
  })
  .strict()
  .describe("Labels of the label convention on every object (with `env`).");

/** Every key of the stack files, with its type and default. Unknown keys are errors (typos fail loudly). */
export const configSchema = z
  .object({
    env: envSchema,
    cluster: labelValue.describe(
      "The cluster's name: the external label `cluster` of every series and alert, and its user at the fleet's store.",
    ),
    clusterFlavor: z
      .enum(CLUSTER_FLAVORS)
      .default("generic")
      .describe(
        "Which control-plane targets exist to be monitored (docs/operate.md#cluster-flavour-what-the-control-plane-exposes): no rule alerts on a target the cluster does not have.",
      ),
    nodeLocalDns: z.boolean().optional().meta({
      description: "Egress policies also admit DNS to NodeLocal DNSCache (169.254.20.10).",
      defaultText: "by flavour: `gke` on, others off",
    }),
    labels: labelsSchema,
    monitoring: monitoringSchema,
    prometheus: prometheusSchema,
    alertmanager: alertmanagerSchema,
    sonic: sonicSchema,
    queue: queueSchema,
    autoscaling: autoscalingSchema,
    analyst: analystSchema,
    onboardedServices: onboardedServicesSchema,
    charts: chartsSchema(CLUSTER_STACK_CHARTS),
    cost: costSchema,
    alerts: alertsSchema,
  })
  .strict()
  .superRefine(stackChecks);

/** A stack's config as parsed: every default filled in. */
export type Parsed = z.infer<typeof configSchema>;
