/**
 * The corpus of `npm run bench:review`: changes to the stack files and the program, each written as a pull
 * request would write it (a title and the one-line why of its description), with the verdict a reviewer
 * should reach and the class of mistake it belongs to. Each change is a list of exact text edits applied to a
 * fresh git worktree of HEAD; `from` must occur exactly once in its file (bench/review.ts checks it).
 *
 * A bad change fails a real `pulumi up`, fresh or as an upgrade from main: the API server, an admission
 * plugin or a webhook refuses an object, or Helm's upgrade does. A good one passes every check.
 */

/** What kind of mistake a bad change is; `good` for the changes that must pass. */
export type ChangeClass =
  /** The API server's own validation of a built-in kind (not expressible in its OpenAPI schema). */
  | "api-validation"
  /** The PodSecurity admission plugin refuses the pods (a controller's FailedCreate, not the apply). */
  | "pod-security"
  /** A custom resource its CRD's schema refuses: a mistyped field, a pattern. */
  | "crd-schema"
  /** A field the API server refuses to change on an existing object (upgrades only). */
  | "immutable"
  /** A validating webhook refuses it (KEDA's; it answers only with the controllers running). */
  | "webhook"
  /** A Helm value the chart's templates accept and render into an object the API server refuses. */
  | "helm-values"
  /** An admission plugin that looks up other objects of the cluster (a PriorityClass, a ServiceAccount). */
  | "cluster-state"
  | "good";

export interface Edit {
  /** Path from the repository root. */
  file: string;
  from: string;
  to: string;
}

export interface CorpusChange {
  id: string;
  /** The pull request's title. */
  title: string;
  /** Its one-line why. */
  description: string;
  /** The stacks it changes: where preview and rehearsal run it. */
  stacks: ("dev" | "prod" | "fleet")[];
  verdict: "bad" | "good";
  class: ChangeClass;
  edits: Edit[];
}

/** Classes whose refusal comes only from a webhook that the real controllers serve. */
export const NEEDS_CONTROLLERS: ReadonlySet<ChangeClass> = new Set(["webhook"]);

export const CORPUS: CorpusChange[] = [
  // ---- API validation ----
  {
    id: "pdb-both-budgets",
    title: "API tier: keep at least one pod through node drains",
    description: "A drain could take the only API pod; minAvailable: 1 says what we need.",
    stacks: ["dev"],
    verdict: "bad",
    class: "api-validation",
    edits: [
      {
        file: "components/service/api-tier.ts",
        from: "        maxUnavailable,\n        selector: { matchLabels: args.selector },",
        to: "        maxUnavailable,\n        minAvailable: 1,\n        selector: { matchLabels: args.selector },",
      },
    ],
  },
  {
    id: "scratch-limit-below-request",
    title: "Tiers: cap the scratch space at 1Gi",
    description:
      "An upload spool that grows without bound can evict its neighbours; limit ephemeral storage.",
    stacks: ["dev"],
    verdict: "bad",
    class: "api-validation",
    edits: [
      {
        file: "components/service/service-tiers.ts",
        from: "      limits: { ...args.resources.limits },",
        to: '      limits: { ...args.resources.limits, "ephemeral-storage": "1Gi" },',
      },
    ],
  },
  {
    id: "port-name-too-long",
    title: "Name the tiers' port for what it serves",
    description:
      '"web" says nothing in `kubectl get endpoints`; "http-web-metrics" says HTTP, the app and metrics.',
    stacks: ["dev"],
    verdict: "bad",
    class: "api-validation",
    edits: [
      {
        file: "components/service/service-tiers.ts",
        from: 'export const WEB_PORT_NAME = "web";',
        to: 'export const WEB_PORT_NAME = "http-web-metrics";',
      },
    ],
  },
  {
    id: "pod-label-value-space",
    title: "API pods: label them with the owning team's display name",
    description: "The cost report groups pods by sonic.io/owner; it wants the name people know.",
    stacks: ["dev"],
    verdict: "bad",
    class: "api-validation",
    edits: [
      {
        file: "components/service/api-tier.ts",
        from: "        template: { metadata: { labels: args.labels }, spec: podSpec },",
        to: '        template: { metadata: { labels: { ...args.labels, "sonic.io/owner": "AI Platform" } }, spec: podSpec },',
      },
    ],
  },
  {
    id: "duplicate-port-name",
    title: "Analyst: expose the debug endpoint on its own port",
    description: "The debug handlers should not share the webhook's port; 9091 serves them.",
    stacks: ["dev"],
    verdict: "bad",
    class: "api-validation",
    edits: [
      {
        file: "components/analyst/alert-analyst.ts",
        from: '              ports: [{ name: "http", containerPort: PORT }],',
        to: '              ports: [\n                { name: "http", containerPort: PORT },\n                { name: "http", containerPort: 9091 },\n              ],',
      },
    ],
  },
  {
    id: "config-label-value-space",
    title: "dev: spell the team as the org chart does",
    description: "Dashboards show the team label; 'ai platform' reads better than the slug.",
    stacks: ["dev"],
    verdict: "bad",
    class: "api-validation",
    edits: [{ file: "Pulumi.dev.yaml", from: "    team: ai-platform\n", to: "    team: ai platform\n" }],
  },
  {
    id: "config-request-above-limit",
    title: "dev: give the API tier 1Gi",
    description: "Uploads of long videos buffer in memory; the API tier needs more headroom in dev.",
    stacks: ["dev"],
    verdict: "bad",
    class: "api-validation",
    edits: [
      {
        file: "Pulumi.dev.yaml",
        from: "      replicas: 1\n      resources:\n        requests:\n          cpu: 250m\n          memory: 256Mi",
        to: "      replicas: 1\n      resources:\n        requests:\n          cpu: 250m\n          memory: 1Gi",
      },
    ],
  },
  // ---- PodSecurity ----
  {
    id: "pss-analyst-no-seccomp",
    title: "Analyst: drop the seccomp pin",
    description: "The runtime's default profile applies anyway; one line less to maintain.",
    stacks: ["dev"],
    verdict: "bad",
    class: "pod-security",
    edits: [
      {
        file: "components/analyst/alert-analyst.ts",
        from: '            runAsGroup: 10001,\n            seccompProfile: { type: "RuntimeDefault" },',
        to: "            runAsGroup: 10001,",
      },
    ],
  },
  {
    id: "pss-node-exporter-restricted",
    title: "Monitoring: run node-exporter's namespace at restricted like the others",
    description: "One privileged namespace is one too many; restricted everywhere is the policy.",
    stacks: ["dev"],
    verdict: "bad",
    class: "pod-security",
    edits: [
      {
        file: "components/monitoring/monitoring-stack.ts",
        from: '        labels: { ...labels, ...podSecurityLabels("privileged") },',
        to: '        labels: { ...labels, ...podSecurityLabels("restricted") },',
      },
    ],
  },
  {
    id: "pss-privilege-escalation",
    title: "Pods: allow privilege escalation for the model server's setuid helpers",
    description: "The real model server's image drops to its user through a setuid helper.",
    stacks: ["dev"],
    verdict: "bad",
    class: "pod-security",
    edits: [
      {
        file: "components/shared/pod-hardening.ts",
        from: "  allowPrivilegeEscalation: false,",
        to: "  allowPrivilegeEscalation: true,",
      },
    ],
  },
  // ---- a CRD's schema ----
  {
    id: "servicemonitor-target-labels-string",
    title: "ServiceMonitor: pass the target labels as one comma list",
    description: "Simpler to read in the rendered YAML than a list of one.",
    stacks: ["dev"],
    verdict: "bad",
    class: "crd-schema",
    edits: [
      {
        file: "components/monitoring/service-monitor.ts",
        from: '    targetLabels: args.targetLabels ?? ["team"],',
        to: '    targetLabels: (args.targetLabels ?? ["team"]).join(",") as unknown as string[],',
      },
    ],
  },
  {
    id: "prometheusrule-for-words",
    title: "TargetDown: page after two minutes",
    description: "Five minutes of a dead pod is too long to wait for the page.",
    stacks: ["dev"],
    verdict: "bad",
    class: "crd-schema",
    edits: [
      {
        file: "components/rules/availability.ts",
        from: "        for: t.targetDownFor,",
        to: '        for: "2 minutes",',
      },
    ],
  },
  {
    id: "scaledobject-polling-string",
    title: "ScaledObject: write the polling interval as a string, as in KEDA's examples",
    description: "Matches the YAML people copy from keda.sh.",
    stacks: ["dev"],
    verdict: "bad",
    class: "crd-schema",
    edits: [
      {
        file: "components/autoscaling/scaled-object.ts",
        from: "    pollingInterval: polling,",
        to: "    pollingInterval: String(polling),",
      },
    ],
  },
  {
    id: "scaledobject-unknown-field",
    title: "ScaledObject: name the cooldown in seconds",
    description: "cooldownPeriodSeconds says its unit, like our own argument.",
    stacks: ["dev"],
    verdict: "bad",
    class: "crd-schema",
    edits: [
      {
        file: "components/autoscaling/scaled-object.ts",
        from: "    cooldownPeriod: cooldown,",
        to: "    cooldownPeriodSeconds: cooldown,",
      },
    ],
  },
  // ---- immutable fields on update ----
  {
    id: "fleet-store-bigger-volumes",
    title: "fleet: grow vmstorage's volumes to 300Gi",
    description: "Two years of the fleet's series at today's churn need about 250Gi.",
    stacks: ["fleet"],
    verdict: "bad",
    class: "immutable",
    edits: [{ file: "Pulumi.fleet.yaml", from: "      size: 200Gi", to: "      size: 300Gi" }],
  },
  {
    id: "ksm-selector-by-name",
    title: "kube-state-metrics: select its pods by name alone",
    description: "The instance label repeats the release name; our NetworkPolicies match the name only.",
    stacks: ["dev"],
    verdict: "bad",
    class: "immutable",
    edits: [
      {
        file: "components/monitoring/monitoring-stack.ts",
        from: "      resources: addon.kubeStateMetrics,\n",
        to: '      resources: addon.kubeStateMetrics,\n      selectorOverride: { "app.kubernetes.io/name": "kube-state-metrics" },\n',
      },
    ],
  },
  {
    id: "prometheus-service-headless",
    title: "Prometheus: make its Service headless",
    description: "Grafana and the adapter should reach each replica directly, not through kube-proxy.",
    stacks: ["dev"],
    verdict: "bad",
    class: "immutable",
    edits: [
      {
        file: "components/monitoring/monitoring-stack.ts",
        from: "      podDisruptionBudget: pdb(prometheusReplicas),\n      prometheusSpec: {",
        to: '      podDisruptionBudget: pdb(prometheusReplicas),\n      service: { clusterIP: "None" },\n      prometheusSpec: {',
      },
    ],
  },
  // ---- webhooks ----
  {
    id: "keda-two-scaledobjects",
    title: "Autoscaling: scale the workers on the API's demand as well",
    description: "Submissions lead the backlog by a poll; scaling the workers on them too wakes GPUs sooner.",
    stacks: ["dev"],
    verdict: "bad",
    class: "webhook",
    edits: [
      {
        file: "stacks/autoscaling.ts",
        from: '    new ScaledObject(\n      "sonic",\n      {\n        name: args.names.api,\n        namespace: ns,\n        deploymentName: args.names.api,',
        to: '    new ScaledObject(\n      "sonic",\n      {\n        name: args.names.api,\n        namespace: ns,\n        deploymentName: args.names.worker,',
      },
    ],
  },
  // ---- Helm values the chart's templates accept ----
  {
    id: "keda-webhooks-limit-below-request",
    title: "KEDA: reserve what the webhooks use, cap them tighter",
    description: "The webhooks sit at 180Mi; reserve 256Mi and cap at 128Mi to catch a leak early.",
    stacks: ["dev"],
    verdict: "bad",
    class: "helm-values",
    edits: [
      {
        file: "components/autoscaling/keda.ts",
        from: '  webhooks: { requests: { cpu: "100m", memory: "100Mi" }, limits: { cpu: "1", memory: "1000Mi" } },',
        to: '  webhooks: { requests: { cpu: "100m", memory: "256Mi" }, limits: { cpu: "1", memory: "128Mi" } },',
      },
    ],
  },
  {
    id: "kps-rule-selector-string",
    title: "Prometheus: select rules with a label-selector string",
    description: "One string is easier to compare with kubectl -l than a matchLabels map.",
    stacks: ["dev"],
    verdict: "bad",
    class: "helm-values",
    edits: [
      {
        file: "components/monitoring/monitoring-stack.ts",
        from: "        ruleSelector: selector,",
        to: '        ruleSelector: "release=prometheus-stack",',
      },
    ],
  },
  // ---- admission plugins that read the cluster ----
  {
    id: "worker-priority-class",
    title: "GPU workers: run at a higher priority",
    description: "A GPU worker must preempt batch pods on the GPU nodes instead of waiting for them.",
    stacks: ["dev"],
    verdict: "bad",
    class: "cluster-state",
    edits: [
      {
        file: "components/service/worker-tier.ts",
        from: "    // The runner and the model need no Kubernetes API: no token in the pod.\n    automountServiceAccountToken: false,",
        to: '    // The runner and the model need no Kubernetes API: no token in the pod.\n    automountServiceAccountToken: false,\n    priorityClassName: "gpu-inference",',
      },
    ],
  },
  {
    id: "api-service-account",
    title: "API tier: run under its own ServiceAccount",
    description: "Audit logs should tell the API's requests from the default account's.",
    stacks: ["dev"],
    verdict: "bad",
    class: "cluster-state",
    edits: [
      {
        file: "components/service/api-tier.ts",
        from: "    automountServiceAccountToken: false,\n    topologySpreadConstraints: spreadAcrossNodes(args.selector),\n    securityContext: hardenedPod(10001),\n    containers: [api],",
        to: '    automountServiceAccountToken: false,\n    serviceAccountName: "sonic-api",\n    topologySpreadConstraints: spreadAcrossNodes(args.selector),\n    securityContext: hardenedPod(10001),\n    containers: [api],',
      },
    ],
  },
  // ---- good changes ----
  {
    id: "dev-retention-7d",
    title: "dev: keep a week of metrics",
    description: "Three days loses last week's incident before its review.",
    stacks: ["dev"],
    verdict: "good",
    class: "good",
    edits: [{ file: "Pulumi.dev.yaml", from: "    retention: 3d", to: "    retention: 7d" }],
  },
  {
    id: "dev-api-max-3",
    title: "dev: let the API tier scale to three",
    description: "Load tests in dev hit the two-pod ceiling before the workers do.",
    stacks: ["dev"],
    verdict: "good",
    class: "good",
    edits: [
      {
        file: "Pulumi.dev.yaml",
        from: "      minReplicas: 1\n      maxReplicas: 2\n      targetQpsPerPod",
        to: "      minReplicas: 1\n      maxReplicas: 3\n      targetQpsPerPod",
      },
    ],
  },
  {
    id: "dev-error-ratio",
    title: "dev: alert on 5% errors",
    description: "10% hides the regressions we want dev to show first.",
    stacks: ["dev"],
    verdict: "good",
    class: "good",
    edits: [{ file: "Pulumi.dev.yaml", from: "    errorRatio: 0.1", to: "    errorRatio: 0.05" }],
  },
  {
    id: "new-alert-flapping",
    title: "Alerts: warn when a target flaps",
    description: "A pod that restarts every few minutes never stays down long enough for TargetDown.",
    stacks: ["dev"],
    verdict: "good",
    class: "good",
    edits: [
      {
        file: "components/rules/availability.ts",
        from: "    ],\n  };\n}",
        to: [
          "      {",
          "        alert: `${c.alertPrefix}TargetFlapping`,",
          "        expr: `changes(${up}[15m]) > 4`,",
          '        for: "5m",',
          '        labels: { severity: "warning" },',
          "        annotations: {",
          "          summary: `A ${c.alertPrefix} target flaps`,",
          "          description: `{{ $labels.namespace }}/{{ $labels.pod }} went up and down more than 4 times in 15 minutes.`,",
          "          runbook_url: c.runbookUrl(`${c.alertPrefix}TargetDown`),",
          "        },",
          "      },",
          "    ],",
          "  };",
          "}",
        ].join("\n"),
      },
    ],
  },
  {
    id: "dev-latency-p99-900",
    title: "dev: alert when p99 latency passes 15 minutes",
    description: "Twenty minutes hides the slow-down the new model brought; dev should page on it first.",
    stacks: ["dev"],
    verdict: "good",
    class: "good",
    edits: [
      { file: "Pulumi.dev.yaml", from: "    latencyP99Seconds: 1200", to: "    latencyP99Seconds: 900" },
    ],
  },
  {
    id: "dev-scrape-30s",
    title: "dev: scrape every 30 s",
    description: "dev's Prometheus is the busiest pod on a small node; half the samples are plenty.",
    stacks: ["dev"],
    verdict: "good",
    class: "good",
    edits: [{ file: "Pulumi.dev.yaml", from: "    scrapeInterval: 15s", to: "    scrapeInterval: 30s" }],
  },
  {
    id: "dev-repeat-2h",
    title: "dev: repeat critical alerts every 2 hours",
    description: "A critical alert forgotten for four hours in dev is a missed rehearsal of on-call.",
    stacks: ["dev"],
    verdict: "good",
    class: "good",
    edits: [{ file: "Pulumi.dev.yaml", from: "      critical: 4h", to: "      critical: 2h" }],
  },
  {
    id: "dev-slack-channel",
    title: "dev: send alerts to the on-call channel",
    description: "#sonic-dev-alerts was archived; the team reads #sonic-dev-oncall.",
    stacks: ["dev"],
    verdict: "good",
    class: "good",
    edits: [
      {
        file: "Pulumi.dev.yaml",
        from: '    slackChannel: "#sonic-dev-alerts"',
        to: '    slackChannel: "#sonic-dev-oncall"',
      },
    ],
  },
  {
    id: "dev-backlog-32",
    title: "dev: accept a backlog of 32 jobs",
    description: "Batch tests submit 20 jobs at once and get 429s at 16.",
    stacks: ["dev"],
    verdict: "good",
    class: "good",
    edits: [{ file: "Pulumi.dev.yaml", from: "    backlogLimit: 16", to: "    backlogLimit: 32" }],
  },
  {
    id: "dev-worker-cooldown-600",
    title: "dev: keep an idle GPU worker for 10 minutes",
    description: "Model loads take 5 minutes; scaling to zero after 5 idle ones pays the load twice.",
    stacks: ["dev"],
    verdict: "good",
    class: "good",
    edits: [
      { file: "Pulumi.dev.yaml", from: "      cooldownSeconds: 300", to: "      cooldownSeconds: 600" },
    ],
  },
  {
    id: "dev-gpu-price",
    title: "dev: price GPU-hours at the committed-use rate",
    description: "We signed the 1-year commitment: 0.9 per L4 hour.",
    stacks: ["dev"],
    verdict: "good",
    class: "good",
    edits: [{ file: "Pulumi.dev.yaml", from: "    gpuHourly: 1.2", to: "    gpuHourly: 0.9" }],
  },
  {
    id: "dev-api-cpu-300m",
    title: "dev: reserve 300m CPU for the API tier",
    description: "Upload validation throttles at 250m during load tests.",
    stacks: ["dev"],
    verdict: "good",
    class: "good",
    edits: [
      {
        file: "Pulumi.dev.yaml",
        from: "      replicas: 1\n      resources:\n        requests:\n          cpu: 250m",
        to: "      replicas: 1\n      resources:\n        requests:\n          cpu: 300m",
      },
    ],
  },
  {
    id: "fleet-retention-180d",
    title: "fleet: keep half a year of fleet series",
    description: "Capacity planning compares this quarter with the last one.",
    stacks: ["fleet"],
    verdict: "good",
    class: "good",
    edits: [{ file: "Pulumi.fleet.yaml", from: "    retention: 90d", to: "    retention: 180d" }],
  },
];
