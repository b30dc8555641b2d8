import * as pulumi from "@pulumi/pulumi";
import { stringify } from "yaml";

/** Alert severities of the rule contract: critical pages, warning is work-queue, info is context. */
export const SEVERITIES = ["critical", "warning", "info"] as const;
/** One of `SEVERITIES`: the `severity` label of every alert. */
export type Severity = (typeof SEVERITIES)[number];

/** Where one severity's notifications go. `none` drops them (info alerts are usually only context). */
export type ReceiverKind = "slack" | "pagerduty" | "webhook" | "none";
/** Every receiver kind, in the order the stack schema lists them. */
export const RECEIVER_KINDS: readonly ReceiverKind[] = ["slack", "pagerduty", "webhook", "none"];

/** Arguments of `renderAlertmanagerConfig`: where each severity goes and how often it repeats. */
export interface AlertRoutingArgs {
  /** Receiver kind per severity. @default { critical: "none", warning: "none", info: "none" } */
  receivers?: Partial<Record<Severity, ReceiverKind>>;
  /** Slack channel for `slack` receivers. @default "#alerts" */
  slackChannel?: string;
  /** Slack incoming-webhook URL; required when a receiver is `slack`. Keep it a secret. */
  slackWebhookUrl?: pulumi.Input<string>;
  /** PagerDuty Events API v2 routing key; required when a receiver is `pagerduty`. Keep it a secret. */
  pagerdutyRoutingKey?: pulumi.Input<string>;
  /** Generic webhook URL (Alertmanager webhook protocol); required when a receiver is `webhook`. */
  webhookUrl?: pulumi.Input<string>;
  /** How often a still-firing alert is re-sent, per severity. @default { critical: "1h", warning: "4h", info: "24h" } */
  repeatInterval?: Partial<Record<Severity, string>>;
  /** Wait before the first notification of a group, to batch alerts that fire together. @default "30s" */
  groupWait?: string;
  /** Wait before notifying about new alerts added to a group already notified. @default "5m" */
  groupInterval?: string;
  /**
   * Namespaces this platform owns (the monitoring stack's, the onboarded services'): only their
   * critical alerts go to the critical receiver (page). Critical alerts from anywhere else (another
   * team's workloads, kube-system) go to the warning receiver.
   * @default every namespace pages
   */
  pageNamespaces?: string[];
  /**
   * Webhook URL of the alert analyst (`AlertAnalyst`): every alert of `pageNamespaces` (all, when
   * unset) also goes there, with `continue: true`, so normal delivery is unchanged.
   * @default none
   */
  analystUrl?: string;
  /**
   * Bearer token Alertmanager sends to the analyst (`http_config.authorization`), the same one the
   * analyst reads from its Secret; required with `analystUrl`. Keep it a secret.
   */
  analystToken?: pulumi.Input<string>;
}

const DEFAULT_REPEAT: Record<Severity, string> = { critical: "1h", warning: "4h", info: "24h" };

/** Receiver credentials, resolved. */
export interface ReceiverCredentials {
  /** Plaintext of `AlertRoutingArgs.slackWebhookUrl`. @default none */
  slackWebhookUrl?: string;
  /** Plaintext of `AlertRoutingArgs.pagerdutyRoutingKey`. @default none */
  pagerdutyRoutingKey?: string;
  /** Plaintext of `AlertRoutingArgs.webhookUrl`. @default none */
  webhookUrl?: string;
  /** Plaintext of `AlertRoutingArgs.analystToken`. @default none */
  analystToken?: string;
}

/**
 * The Alertmanager configuration (alertmanager.yaml) routing by `severity`, as text. Critical alerts
 * inhibit warning/info alerts with the same alertname, namespace and service so one incident pages
 * once. Plain values in, plain text out: the local sandbox runs a real Alertmanager on exactly this.
 */
export function alertmanagerConfigYaml(
  args: Omit<AlertRoutingArgs, keyof ReceiverCredentials> & ReceiverCredentials,
): string {
  const kinds = receiverKinds(args);
  const receiver = (severity: Severity): Record<string, unknown> => {
    const name = `${severity}-${kinds[severity]}`;
    const kind = kinds[severity];
    switch (kind) {
      case "slack":
        return {
          name,
          slack_configs: [
            {
              api_url: args.slackWebhookUrl,
              channel: args.slackChannel ?? "#alerts",
              send_resolved: true,
              title: "[{{ .Status | toUpper }}] {{ .CommonLabels.alertname }}",
              text: "{{ range .Alerts }}{{ .Annotations.summary }}\n{{ .Annotations.description }}\n{{ .Annotations.runbook_url }}\n{{ end }}",
            },
          ],
        };
      case "pagerduty":
        return { name, pagerduty_configs: [{ routing_key: args.pagerdutyRoutingKey, send_resolved: true }] };
      case "webhook":
        return { name, webhook_configs: [{ url: args.webhookUrl, send_resolved: true }] };
      case "none":
        return { name };
      default: {
        const unreachable: never = kind;
        throw new Error(`unknown receiver kind ${String(unreachable)}`);
      }
    }
  };
  const config = {
    route: {
      receiver: "default-none",
      group_by: ["alertname", "namespace", "service"],
      group_wait: args.groupWait ?? "30s",
      group_interval: args.groupInterval ?? "5m",
      repeat_interval: DEFAULT_REPEAT.warning,
      routes: [
        ...(args.analystUrl
          ? [
              {
                receiver: "alert-analyst",
                ...(args.pageNamespaces
                  ? { matchers: [`namespace=~"${args.pageNamespaces.map(escapeRegex).join("|")}"`] }
                  : {}),
                continue: true,
              },
            ]
          : []),
        ...(args.pageNamespaces
          ? [
              {
                receiver: `critical-${kinds.critical}`,
                matchers: [
                  'severity="critical"',
                  `namespace=~"${args.pageNamespaces.map(escapeRegex).join("|")}"`,
                ],
                repeat_interval: args.repeatInterval?.critical ?? DEFAULT_REPEAT.critical,
              },
              {
                // Not ours to be woken for: a ticket for the platform team, not a page.
                receiver: `warning-${kinds.warning}`,
                matchers: ['severity="critical"'],
                repeat_interval: args.repeatInterval?.warning ?? DEFAULT_REPEAT.warning,
              },
            ]
          : []),
        ...SEVERITIES.filter((severity) => !(args.pageNamespaces && severity === "critical")).map(
          (severity) => ({
            receiver: `${severity}-${kinds[severity]}`,
            matchers: [`severity="${severity}"`],
            repeat_interval: args.repeatInterval?.[severity] ?? DEFAULT_REPEAT[severity],
          }),
        ),
      ],
    },
    inhibit_rules: [
      {
        source_matchers: ['severity="critical"'],
        target_matchers: ['severity=~"warning|info"'],
        equal: ["alertname", "namespace", "service"],
      },
    ],
    receivers: [
      { name: "default-none" },
      ...SEVERITIES.map(receiver),
      ...(args.analystUrl
        ? // send_resolved: Alertmanager then logs the resolution, so an alert that fires again (same labels)
          // is notified again instead of waiting out repeat_interval; the analyst ignores resolved groups.
          // The analyst answers 401 without its bearer token: whoever reaches its port cannot post reports.
          [
            {
              name: "alert-analyst",
              webhook_configs: [
                {
                  url: args.analystUrl,
                  send_resolved: true,
                  http_config: { authorization: { type: "Bearer", credentials: args.analystToken } },
                },
              ],
            },
          ]
        : []),
    ],
  };
  return stringify(config);
}

function escapeRegex(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

/** Receiver kind per severity, after checking each kind's credential is given. */
function receiverKinds(
  args: AlertRoutingArgs | (ReceiverCredentials & Pick<AlertRoutingArgs, "receivers" | "analystUrl">),
): Record<Severity, ReceiverKind> {
  const kinds = { critical: "none", warning: "none", info: "none", ...args.receivers } as Record<
    Severity,
    ReceiverKind
  >;
  const required: Record<Exclude<ReceiverKind, "none">, [string, unknown]> = {
    slack: ["slackWebhookUrl", args.slackWebhookUrl],
    pagerduty: ["pagerdutyRoutingKey", args.pagerdutyRoutingKey],
    webhook: ["webhookUrl", args.webhookUrl],
  };
  if ("analystUrl" in args && args.analystUrl && args.analystToken === undefined)
    throw new Error("analystUrl: the analyst needs 'analystToken' (its bearer token), which is not set");
  for (const severity of SEVERITIES) {
    const kind = kinds[severity];
    if (kind !== "none" && required[kind][1] === undefined) {
      throw new Error(`receivers.${severity}: "${kind}" needs '${required[kind][0]}', which is not set`);
    }
  }
  return kinds;
}

/**
 * The Alertmanager configuration for a stack, as a secret Output because receivers carry
 * credentials; it is only ever stored in a Kubernetes Secret.
 */
export function renderAlertmanagerConfig(args: AlertRoutingArgs): pulumi.Output<string> {
  receiverKinds(args); // fail at once, before any Output, when a credential is missing
  const text = pulumi
    .all([args.slackWebhookUrl, args.pagerdutyRoutingKey, args.webhookUrl, args.analystToken])
    .apply(([slackWebhookUrl, pagerdutyRoutingKey, webhookUrl, analystToken]) =>
      alertmanagerConfigYaml({ ...args, slackWebhookUrl, pagerdutyRoutingKey, webhookUrl, analystToken }),
    );
  return pulumi.secret(text);
}
