import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { childOptions } from "../shared/child-options";
import { parseDuration } from "../shared/durations";
import { InputPropertyError, quote } from "../shared/errors";
import { WEB_PORT_NAME } from "../service/service-tiers";

/** A key in a Secret in the ServiceMonitor's namespace. */
export interface SecretKeyRef {
  /** Name of the Secret. */
  name: string;
  /** Key in the Secret's data. */
  key: string;
}

/** How Prometheus scrapes a service: port, path, interval, TLS, credentials, the labels it keeps. */
export interface ScrapeSettings {
  /** Name of the Service port to scrape: the *name*, never the number. @default "web" */
  port?: string;
  /** HTTP path of the exposition. @default "/metrics" */
  path?: string;
  /** Scrape interval; 15s is the article's advice (1s overloads Prometheus for no insight). @default "15s" */
  interval?: string;
  /** Scrape timeout; must not exceed `interval`. @default "10s", or `interval` when shorter */
  scrapeTimeout?: string;
  /** Keep the target's own labels when they clash with the ones Prometheus attaches. @default false */
  honorLabels?: boolean;
  /** `http` or `https`. @default "http" */
  scheme?: "http" | "https";
  /** TLS settings for `https` targets (CA from a Secret, server name). @default none */
  tlsConfig?: {
    /** CA bundle that signed the target's certificate. @default the system's */
    ca?: SecretKeyRef;
    /** Name the certificate must carry. @default the target's address */
    serverName?: string;
    /** Skip verifying the certificate (tests only). @default false */
    insecureSkipVerify?: boolean;
  };
  /** Bearer credentials from a Secret, for protected `/metrics` endpoints. @default none */
  authorization?: {
    /** The token, from a Secret. */
    credentials: SecretKeyRef;
    /** Authorization scheme. @default "Bearer" */
    type?: string;
  };
  /** Labels of the Service copied onto every series (label convention). @default ["team"] */
  targetLabels?: string[];
  /**
   * Label of the Service whose value becomes the `job` of its series (Prometheus' default is the
   * Service name): tiers of one service, each behind its own Service, set it to a label they share
   * (`app`) so all their series keep one `job`.
   * @default none (the Service name)
   */
  jobLabel?: string;
  /** Labels of the pods copied onto every series, e.g. the tier label `app.kubernetes.io/component`. @default [] */
  podTargetLabels?: string[];
}

/** Arguments of `ServiceMonitor`: which Service to scrape, how, and the labels Prometheus selects it by. */
export interface ServiceMonitorArgs extends ScrapeSettings {
  /** Namespace of the ServiceMonitor and of the Service it watches. */
  namespace: string;
  /** Labels of the Service to scrape. */
  selector: Record<string, string>;
  /**
   * Namespaces to look for the Service in. Always written out: an empty namespaceSelector means
   * *every* namespace, which lets another team's Service with the same labels into our data.
   * @default [namespace]
   */
  targetNamespaces?: string[];
  /** Labels of the ServiceMonitor itself; must match the Prometheus `serviceMonitorSelector`. */
  labels: Record<string, string>;
  /** `metadata.name`. @default the resource name */
  name?: string;
}

/**
 * The ServiceMonitor `spec` for a Service: the single definition of how a service is scraped, used by
 * the component below and by anything that needs the same scrape settings outside Kubernetes.
 */
export function serviceMonitorSpec(args: Omit<ServiceMonitorArgs, "labels" | "name">) {
  const interval = args.interval ?? "15s";
  // Prometheus' own default: 10s, or the interval when that is shorter.
  const scrapeTimeout = args.scrapeTimeout ?? (parseDuration("interval", interval) < 10 ? interval : "10s");
  if (parseDuration("scrapeTimeout", scrapeTimeout) > parseDuration("interval", interval)) {
    throw new InputPropertyError(
      "scrapeTimeout",
      `${quote(scrapeTimeout)} must be <= 'interval' (${quote(interval)})`,
    );
  }
  const port = args.port ?? WEB_PORT_NAME;
  if (/^\d+$/.test(port)) {
    throw new InputPropertyError(
      "port",
      `must be the Service port's name, not its number, got ${quote(port)}`,
    );
  }
  const targetNamespaces = args.targetNamespaces ?? [args.namespace];
  if (targetNamespaces.length === 0) {
    throw new InputPropertyError("targetNamespaces", "must name at least one namespace, got []");
  }
  return {
    selector: { matchLabels: args.selector },
    namespaceSelector: { matchNames: targetNamespaces },
    targetLabels: args.targetLabels ?? ["team"],
    ...(args.jobLabel ? { jobLabel: args.jobLabel } : {}),
    ...(args.podTargetLabels?.length ? { podTargetLabels: args.podTargetLabels } : {}),
    endpoints: [
      {
        port,
        path: args.path ?? "/metrics",
        interval,
        scrapeTimeout,
        scheme: args.scheme ?? "http",
        honorLabels: args.honorLabels ?? false,
        ...(args.tlsConfig
          ? {
              tlsConfig: {
                ...(args.tlsConfig.ca ? { ca: { secret: args.tlsConfig.ca } } : {}),
                ...(args.tlsConfig.serverName ? { serverName: args.tlsConfig.serverName } : {}),
                insecureSkipVerify: args.tlsConfig.insecureSkipVerify ?? false,
              },
            }
          : {}),
        ...(args.authorization
          ? {
              authorization: {
                type: args.authorization.type ?? "Bearer",
                credentials: args.authorization.credentials,
              },
            }
          : {}),
      },
    ],
  };
}

/** A prometheus-operator ServiceMonitor for one Service's named port. Depend it on the monitoring release (CRDs). */
export class ServiceMonitor extends pulumi.ComponentResource {
  /** `metadata.name` of the ServiceMonitor. */
  public readonly name: pulumi.Output<string>;
  /** The ServiceMonitor object. */
  public readonly resource: k8s.apiextensions.CustomResource;

  constructor(name: string, args: ServiceMonitorArgs, opts?: pulumi.ComponentResourceOptions) {
    super("sonic-observability:index:ServiceMonitor", name, {}, opts);
    const spec = serviceMonitorSpec(args);
    this.resource = new k8s.apiextensions.CustomResource(
      name,
      {
        apiVersion: "monitoring.coreos.com/v1",
        kind: "ServiceMonitor",
        metadata: { name: args.name ?? name, namespace: args.namespace, labels: args.labels },
        spec,
      },
      childOptions(this, opts),
    );
    this.name = this.resource.metadata.name;
    this.registerOutputs({ name: this.name });
  }
}
