import { createHash } from "node:crypto";
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import * as random from "@pulumi/random";
import { analystModelEnv } from "../../contract";
import type { AnalystServiceProfile } from "../../contract/analyst-service-profile";
import { AlertRules } from "../monitoring/alert-rules";
import { childOptions } from "../shared/child-options";
import { DEFAULT_PROMETHEUS_SELECTOR, dnsEgress } from "../shared/selectors";
import { InputPropertyError, quote } from "../shared/errors";
import { analystRules } from "../rules";
import { ServiceMonitor } from "../monitoring/service-monitor";

const PORT = 8090;

/**
 * Its one endpoint answers readiness and liveness alike, so liveness waits for the first answer: up to
 * 60 s, Node's start on a throttled node, is not restarted midway.
 */
const ANALYST_STARTUP_PROBE = {
  httpGet: { path: "/healthz", port: "http" },
  periodSeconds: 2,
  failureThreshold: 30,
};
/** The pod template annotation that rolls the analyst when its Secret's values change. */
const SECRET_DIGEST_ANNOTATION = "sonic-observability.dev/secret-digest";

/** Where the analyst reads its webhook bearer token (a Secret volume, never an env variable). */
const TOKEN_DIR = "/var/run/secrets/alert-analyst";

/** The in-cluster webhook URL of the analyst, for Alertmanager's route (known before it exists). */
export function alertAnalystUrl(namespace: string, name = "alert-analyst"): string {
  return `http://${name}.${namespace}.svc:${PORT}/v1/alertmanager`;
}

/** An OpenAI-compatible chat-completions endpoint (in-cluster vLLM/Ollama, or a hosted API). */
export interface AnalystModel {
  /** Base URL ending in `/v1`, e.g. `http://vllm.llm.svc:8000/v1` or `https://api.openai.com/v1`. */
  url: string;
  /** Model name the endpoint serves. */
  name: string;
  /** API key (a Pulumi secret), sent only as the Authorization header. @default none */
  apiKey?: pulumi.Input<string>;
  /** Namespace of an in-cluster endpoint, admitted by the egress policy on its port. @default none (an external HTTPS endpoint) */
  namespace?: string;
  /** Seconds to wait for an answer before the deterministic report goes out alone. @default 20 */
  timeoutSeconds?: number;
}

/** Arguments of `AlertAnalyst`: the services it reads, where its reports go, an optional model. */
export interface AlertAnalystArgs {
  /** Namespace (the monitoring namespace: Alertmanager and Prometheus are there). */
  namespace: string;
  /** The project's image (the analyst is another entrypoint of it). */
  image: string;
  /** In-cluster Prometheus URL with the port, e.g. `http://prometheus-stack-prometheus.monitoring.svc:9090`. */
  prometheusUrl: pulumi.Input<string>;
  /**
   * The services whose alerts it analyses: metric prefix, and the namespace it runs in (an alert's
   * `namespace` label then picks its service). A service may add its profile (tiers, cold start,
   * autoscaler, its own setting names and runbooks file), so that its pages get advice that fits it.
   * @default [{ prefix: "sonic" }]
   */
  services?: (string | AnalystServiceProfile)[];
  /** Base of runbook links, as in the rule catalogue. */
  runbookBaseUrl: string;
  /** Grafana's external URL, for dashboard links in reports. @default none (no Grafana link) */
  grafanaUrl?: string;
  /** Where reports go: the same Slack channel and/or webhook as the alerts (secrets). At least one. */
  delivery: {
    /** Slack incoming-webhook URL (a secret). @default none */
    slackWebhookUrl?: pulumi.Input<string>;
    /** Slack channel of the reports (`ANALYST_SLACK_CHANNEL`). @default the webhook's own channel */
    slackChannel?: string;
    /** Generic webhook URL the reports are posted to (a secret). @default none */
    webhookUrl?: pulumi.Input<string>;
  };
  /**
   * Bearer token Alertmanager must send (give the same to `AlertRouting`'s `analystToken`); kept in the
   * analyst's Secret and mounted as a file. @default a random 40-character token (`webhookToken` output)
   */
  webhookToken?: pulumi.Input<string>;
  /** The optional model step. @default none: deterministic analysis only */
  model?: AnalystModel;
  /** Admit DNS to NodeLocal DNSCache (169.254.20.10) too; GKE Autopilot runs it. @default false */
  nodeLocalDns?: boolean;
  /** Labels the platform's Prometheus selects ServiceMonitors and PrometheusRules by. @default { release: "prometheus-stack" } */
  prometheusSelectorLabels?: Record<string, string>;
  /** Labels of the label convention. @default {} */
  labels?: Record<string, string>;
  /** What its ServiceMonitor and PrometheusRule wait for (the monitoring release: CRDs). @default [] */
  crdDependsOn?: pulumi.Resource[];
}

/**
 * The alert analyst: an Alertmanager webhook receiver (route it with `alertAnalystUrl`, `continue:
 * true`) that attaches evidence from Prometheus, ranked likely causes and the runbook's steps to each
 * page, optionally with an OpenAI-compatible model's attribution that must cite the evidence. It is
 * read-only: it queries Prometheus and posts messages, and its NetworkPolicy lets it reach nothing
 * else (DNS, Prometheus, HTTPS for Slack/webhooks/a hosted model, an in-cluster model's namespace).
 */
export class AlertAnalyst extends pulumi.ComponentResource {
  /** Alertmanager webhook URL of the analyst. */
  public readonly url: string;
  /** The bearer token Alertmanager must send (secret). */
  public readonly webhookToken: pulumi.Output<string>;

  constructor(name: string, args: AlertAnalystArgs, opts?: pulumi.ComponentResourceOptions) {
    super("sonic-observability:index:AlertAnalyst", name, {}, opts);
    if (!args.delivery.slackWebhookUrl && !args.delivery.webhookUrl)
      throw new InputPropertyError(
        "delivery",
        "needs slackWebhookUrl or webhookUrl: a report must go where the alert went",
      );
    const timeout = args.model?.timeoutSeconds ?? 20;
    if (args.model && !/^https?:\/\/.+\/v1\/?$/.test(args.model.url))
      throw new InputPropertyError(
        "model.url",
        `expected an OpenAI-compatible base URL ending in /v1, got ${quote(args.model.url)}`,
      );
    const appName = "alert-analyst";
    const ns = args.namespace;
    const selector = { "app.kubernetes.io/name": appName };
    const labels = { ...args.labels, ...selector };
    const child = childOptions(this, opts);
    const scope: AnalystScope = { appName, ns, labels, selector };
    this.url = alertAnalystUrl(ns, appName);

    this.webhookToken = pulumi.secret(
      args.webhookToken ??
        new random.RandomPassword(`${name}-webhook-token`, { length: 40, special: false }, child).result,
    );
    const secretData: Record<string, pulumi.Input<string>> = { webhookToken: this.webhookToken };
    if (args.delivery.slackWebhookUrl) secretData.slackWebhookUrl = args.delivery.slackWebhookUrl;
    if (args.delivery.webhookUrl) secretData.webhookUrl = args.delivery.webhookUrl;
    if (args.model?.apiKey) secretData.modelApiKey = args.model.apiKey;
    new k8s.core.v1.Secret(
      name,
      { metadata: { name: appName, namespace: ns, labels }, stringData: pulumi.secret(secretData) },
      child,
    );
    // Pulumi's 10 minutes (the image pull) plus the start the probe allows.
    const rollout = `${600 + ANALYST_STARTUP_PROBE.periodSeconds * ANALYST_STARTUP_PROBE.failureThreshold}s`;
    new k8s.apps.v1.Deployment(
      name,
      analystDeploymentArgs(args, scope, analystEnv(args, appName, timeout), secretDigest(secretData)),
      { ...child, customTimeouts: { create: rollout, update: rollout } },
    );
    new k8s.core.v1.Service(
      name,
      {
        metadata: { name: appName, namespace: ns, labels },
        spec: { selector, ports: [{ name: "http", port: PORT, targetPort: "http" }] },
      },
      child,
    );
    new k8s.networking.v1.NetworkPolicy(name, analystNetworkPolicyArgs(args, scope), child);
    const crd = childOptions(this, opts, ...(args.crdDependsOn ?? []));
    const selectorLabels = args.prometheusSelectorLabels ?? DEFAULT_PROMETHEUS_SELECTOR;
    new ServiceMonitor(
      name,
      { name: appName, namespace: ns, selector, port: "http", labels: { ...args.labels, ...selectorLabels } },
      crd,
    );
    new AlertRules(
      name,
      {
        name: `${appName}-rules`,
        namespace: ns,
        groups: [analystRules({ namespace: ns, runbookBaseUrl: args.runbookBaseUrl, job: appName })],
        labels: { ...args.labels, ...selectorLabels },
      },
      crd,
    );
    this.registerOutputs({ url: this.url, webhookToken: this.webhookToken });
  }
}

/** The analyst's objects' name, namespace, labels and pod selector. */
interface AnalystScope {
  appName: string;
  ns: string;
  labels: Record<string, string>;
  selector: Record<string, string>;
}

/** The analyst's environment: its settings, and the credentials as references to its Secret. */
function analystEnv(args: AlertAnalystArgs, appName: string, timeout: number) {
  const fromSecret = (key: string) => ({ valueFrom: { secretKeyRef: { name: appName, key } } });
  return [
    { name: "PORT", value: String(PORT) },
    { name: "ANALYST_PROMETHEUS_URL", value: args.prometheusUrl },
    {
      name: "ANALYST_SERVICES",
      value: (args.services ?? ["sonic"])
        .map((s) => (typeof s === "string" ? s : s.namespace ? `${s.prefix}@${s.namespace}` : s.prefix))
        .join(","),
    },
    ...serviceProfilesEnv(args.services ?? []),
    { name: "ANALYST_RUNBOOKS", value: "docs/runbooks.md" },
    { name: "ANALYST_WEBHOOK_TOKEN_FILE", value: `${TOKEN_DIR}/webhook-token` },
    { name: "ANALYST_RUNBOOK_BASE_URL", value: args.runbookBaseUrl },
    ...(args.grafanaUrl ? [{ name: "ANALYST_GRAFANA_URL", value: args.grafanaUrl }] : []),
    ...(args.delivery.slackWebhookUrl
      ? [{ name: "ANALYST_SLACK_WEBHOOK_URL", ...fromSecret("slackWebhookUrl") }]
      : []),
    ...(args.delivery.slackChannel
      ? [{ name: "ANALYST_SLACK_CHANNEL", value: args.delivery.slackChannel }]
      : []),
    ...(args.delivery.webhookUrl ? [{ name: "ANALYST_WEBHOOK_URL", ...fromSecret("webhookUrl") }] : []),
    ...(args.model
      ? [
          ...Object.entries(analystModelEnv({ ...args.model, timeoutSeconds: timeout })).map(
            ([name, value]) => ({ name, value }),
          ),
          ...(args.model.apiKey ? [{ name: "ANALYST_MODEL_API_KEY", ...fromSecret("modelApiKey") }] : []),
        ]
      : []),
  ];
}

/**
 * A digest of the Secret's values, as a pod annotation: the Slack URL and the model key reach the process as
 * environment variables, which a pod reads once at start, so a changed secret must roll the pod. (The real
 * pod runtime found it: a new `slackWebhookUrl` went into the Secret, and the running analyst kept posting
 * to the old one.) 16 hex characters of SHA-256 over every value, the random 40-character webhook token
 * among them, so the annotation reveals nothing of a value.
 */
function secretDigest(data: Record<string, pulumi.Input<string>>): pulumi.Output<string> {
  return pulumi.unsecret(
    pulumi.all(data).apply((values) =>
      createHash("sha256")
        .update(JSON.stringify(Object.entries(values).sort(([a], [b]) => a.localeCompare(b))))
        .digest("hex")
        .slice(0, 16),
    ),
  );
}

/** One replica of the analyst: no API token, non-root, read-only, the webhook token mounted from its Secret. */
function analystDeploymentArgs(
  args: AlertAnalystArgs,
  { appName, ns, labels, selector }: AnalystScope,
  env: ReturnType<typeof analystEnv>,
  digest: pulumi.Output<string>,
): k8s.apps.v1.DeploymentArgs {
  return {
    metadata: { name: appName, namespace: ns, labels },
    spec: {
      replicas: 1,
      selector: { matchLabels: selector },
      template: {
        metadata: { labels, annotations: { [SECRET_DIGEST_ANNOTATION]: digest } },
        spec: {
          automountServiceAccountToken: false,
          volumes: [
            {
              name: "webhook-token",
              secret: { secretName: appName, items: [{ key: "webhookToken", path: "webhook-token" }] },
            },
          ],
          securityContext: {
            runAsNonRoot: true,
            runAsUser: 10001,
            runAsGroup: 10001,
            seccompProfile: { type: "RuntimeDefault" },
          },
          containers: [
            {
              name: appName,
              image: args.image,
              command: ["node", "app/alert-analyst-main.js"],
              env,
              ports: [{ name: "http", containerPort: PORT }],
              volumeMounts: [{ name: "webhook-token", mountPath: TOKEN_DIR, readOnly: true }],
              resources: { requests: { cpu: "50m", memory: "128Mi" }, limits: { memory: "256Mi" } },
              readinessProbe: { httpGet: { path: "/healthz", port: "http" }, periodSeconds: 10 },
              livenessProbe: { httpGet: { path: "/healthz", port: "http" }, periodSeconds: 20 },
              startupProbe: ANALYST_STARTUP_PROBE,
              securityContext: {
                allowPrivilegeEscalation: false,
                readOnlyRootFilesystem: true,
                capabilities: { drop: ["ALL"] },
              },
            },
          ],
        },
      },
    },
  };
}

/**
 * In from Alertmanager and Prometheus only; out to DNS, Prometheus, HTTPS outside the cluster, and an
 * in-cluster model's namespace: nothing else.
 */
function analystNetworkPolicyArgs(
  args: AlertAnalystArgs,
  { appName, ns, labels, selector }: AnalystScope,
): k8s.networking.v1.NetworkPolicyArgs {
  const namespaceIs = (names: string[]) => ({
    namespaceSelector: {
      matchExpressions: [{ key: "kubernetes.io/metadata.name", operator: "In", values: names }],
    },
  });
  const prometheusPods = {
    ...namespaceIs([ns]),
    podSelector: { matchLabels: { "app.kubernetes.io/name": "prometheus" } },
  };
  return {
    metadata: { name: appName, namespace: ns, labels },
    spec: {
      podSelector: { matchLabels: selector },
      policyTypes: ["Ingress", "Egress"],
      ingress: [
        {
          from: [
            {
              ...namespaceIs([ns]),
              podSelector: { matchLabels: { "app.kubernetes.io/name": "alertmanager" } },
            },
            prometheusPods,
          ],
          ports: [{ protocol: "TCP", port: "http" }],
        },
      ],
      egress: [
        // DNS, and NodeLocal DNSCache where the cluster runs it.
        ...dnsEgress(args.nodeLocalDns ?? false),
        // Prometheus, read-only HTTP API.
        { to: [prometheusPods], ports: [{ protocol: "TCP", port: 9090 }] },
        // Slack / webhook receivers and a hosted model: HTTPS outside the cluster only.
        {
          to: [{ ipBlock: { cidr: "0.0.0.0/0", except: ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"] } }],
          ports: [{ protocol: "TCP", port: 443 }],
        },
        ...(args.model?.namespace
          ? [
              {
                to: [namespaceIs([args.model.namespace])],
                ports: [{ protocol: "TCP", port: modelPort(args.model.url) }],
              },
            ]
          : []),
      ],
    },
  };
}

/** `ANALYST_SERVICE_PROFILES`: the services that bring more than a prefix and a namespace. */
function serviceProfilesEnv(services: (string | AnalystServiceProfile)[]): { name: string; value: string }[] {
  const profiles = services.filter(
    (s): s is AnalystServiceProfile =>
      typeof s !== "string" && Object.keys(s).some((k) => k !== "prefix" && k !== "namespace"),
  );
  return profiles.length > 0 ? [{ name: "ANALYST_SERVICE_PROFILES", value: JSON.stringify(profiles) }] : [];
}

function modelPort(url: string): number {
  const u = new URL(url);
  return u.port ? Number(u.port) : u.protocol === "https:" ? 443 : 80;
}
