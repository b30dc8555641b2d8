import * as k8s from "@pulumi/kubernetes";
import * as kx from "@pulumi/kubernetesx";
import * as pulumi from "@pulumi/pulumi";
import type { ApiTierArgs } from "./tier-args";
import { requireInteger } from "../shared/errors";
import { hardenedPod } from "../shared/pod-hardening";
import { appContainer, spreadAcrossNodes, WEB_PORT_NAME } from "./service-tiers";

// @pulumi/kubernetesx is used only here and in worker-tier.ts: it is archived upstream and peer-pins
// @pulumi/kubernetes ^3 (package.json overrides it to 4.x), so keeping it to two files keeps it replaceable.

/** What {@link apiTierObjects} builds the API tier from (GpuInferenceService resolves the defaults). */
export interface ApiTierObjectsArgs {
  namespace: string;
  /** Deployment and Service name: what clients call. */
  name: string;
  image: string;
  port: number;
  tier: ApiTierArgs;
  /** Labels selecting this tier's pods (and Service). */
  selector: Record<string, string>;
  /** Labels on every object and pod of the tier. */
  labels: Record<string, string>;
  env: Record<string, pulumi.Input<string | k8s.types.input.core.v1.EnvVarSource>>;
}

/** The API pod's grace: its requests are uploads and polls, seconds long (the worker's jobs take minutes). */
export const API_TERMINATION_GRACE_SECONDS = 150;

/**
 * The API tier: a CPU Deployment (container `api`, port `web`) that accepts, validates and stores jobs
 * and answers polls, a ClusterIP Service, and a PodDisruptionBudget. It holds no GPU, so rollouts surge
 * a new pod before taking one away, and Pulumi's default wait suffices.
 */
export function apiTierObjects(
  name: string,
  args: ApiTierObjectsArgs,
  opts: pulumi.CustomResourceOptions,
): { deployment: k8s.apps.v1.Deployment; service: k8s.core.v1.Service } {
  const tier = args.tier;
  const grace = tier.terminationGracePeriodSeconds ?? API_TERMINATION_GRACE_SECONDS;
  requireInteger("api.terminationGracePeriodSeconds", grace, 1);
  const maxUnavailable = tier.maxUnavailable ?? 1;
  requireInteger("api.maxUnavailable", maxUnavailable, 1);
  const resources = tier.resources ?? {
    requests: { cpu: "250m", memory: "256Mi" },
    limits: { memory: "512Mi" },
  };
  // Ready = can accept and store jobs (the queue is reachable, not draining). A full backlog is a 429,
  // and no worker up is a job waiting for capacity: never unreadiness. Uploads are spooled in /tmp.
  const api: kx.types.Container = appContainer("api", {
    image: args.image,
    port: args.port,
    env: args.env,
    resources,
  });
  const podSpec: kx.types.PodSpec = {
    terminationGracePeriodSeconds: grace,
    // The API needs no Kubernetes API: no token in the pod.
    automountServiceAccountToken: false,
    topologySpreadConstraints: spreadAcrossNodes(args.selector),
    securityContext: hardenedPod(10001),
    containers: [api],
  };
  const deployment = new kx.Deployment(
    name,
    {
      metadata: {
        name: args.name,
        namespace: args.namespace,
        labels: args.labels,
        // Pulumi deletes in the foreground by default, waiting for every old pod's grace before it
        // creates the replacement (deleteBeforeReplace below): in the background the new pods start
        // while the old ones finish their requests, out of the Service already.
        annotations: { "pulumi.com/deletionPropagationPolicy": "background" },
      },
      spec: {
        ...(tier.autoscaled ? {} : { replicas: tier.replicas ?? 1 }),
        selector: { matchLabels: args.selector },
        // CPU pods are cheap and quick: a new one is Ready before an old one goes, so clients never
        // find the tier empty during a rollout.
        strategy: { type: "RollingUpdate", rollingUpdate: { maxSurge: 1, maxUnavailable: 0 } },
        template: { metadata: { labels: args.labels }, spec: podSpec },
      },
    },
    // A Deployment's selector is immutable: the one-pod-per-service Deployment of earlier versions
    // selected `app` alone, so it is replaced once, and its fixed name must be freed first.
    {
      ...opts,
      deleteBeforeReplace: true,
      customTimeouts: { create: tier.rolloutTimeout ?? "15m", update: tier.rolloutTimeout ?? "15m" },
    },
  );
  const service = new kx.Service(
    name,
    {
      metadata: { name: args.name, namespace: args.namespace, labels: args.labels },
      spec: {
        type: "ClusterIP",
        selector: args.selector,
        ports: [{ name: WEB_PORT_NAME, port: args.port, targetPort: WEB_PORT_NAME, protocol: "TCP" }],
      },
    },
    opts,
  );
  new k8s.policy.v1.PodDisruptionBudget(
    name,
    {
      metadata: { name: args.name, namespace: args.namespace, labels: args.labels },
      spec: {
        maxUnavailable,
        selector: { matchLabels: args.selector },
        // An unready pod (a queue it cannot reach) must never block a node drain.
        unhealthyPodEvictionPolicy: "AlwaysAllow",
      },
    },
    opts,
  );
  return { deployment, service };
}
