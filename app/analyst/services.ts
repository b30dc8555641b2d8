import type { AnalystServiceProfile } from "../../contract/analyst-service-profile";
import { alertPrefixOf } from "../../contract/metrics";
import type { WebhookAlert } from "./evidence";

/** A service the analyst knows: its metric prefix and, when given, the namespace it runs in. */
export interface AnalysedService {
  prefix: string;
  namespace?: string;
}

/** Alert names of the contract that carry no service prefix, and whose they are (docs/runbooks.md). */
export const UNPREFIXED_ALERTS: Record<string, string> = { HighGPUMemoryUsage: "sonic" };

export { SERVICES_PATTERN } from "../../contract/analyst-settings";

export function parseServices(text: string): AnalysedService[] {
  return text.split(",").map((entry) => {
    const [prefix, namespace] = entry.split("@");
    return namespace ? { prefix, namespace } : { prefix };
  });
}

/**
 * The service an alert belongs to, from the alert's own data, never by default: its `namespace` label
 * (a service's namespace), then the metric names in its expression (`tts_gpu_memory_used_bytes`), then
 * its name's prefix (`TtsHighErrorRate`). Undefined when nothing matches or the match is ambiguous:
 * the alert then gets the generic evidence only, not another service's queries.
 */
export function serviceFor(
  alert: WebhookAlert,
  services: AnalysedService[],
  expr?: string,
): AnalysedService | undefined {
  const namespace = alert.labels.namespace;
  const alertname = alert.labels.alertname ?? "";
  const byNamespace = services.filter((s) => s.namespace !== undefined && s.namespace === namespace);
  const pool = byNamespace.length > 0 ? byNamespace : services.filter((s) => s.namespace === undefined);
  if (pool.length === 0) return undefined;
  const byExpr = expr ? pool.filter((s) => new RegExp(`(^|[^a-zA-Z0-9_:])${s.prefix}[_:]`).test(expr)) : [];
  if (byExpr.length === 1) return byExpr[0];
  const byName = pool.filter(
    (s) => alertname.startsWith(alertPrefixOf(s.prefix)) || UNPREFIXED_ALERTS[alertname] === s.prefix,
  );
  if (byName.length === 1) return byName[0];
  // One service in its own namespace: the namespace alone is the alert's own evidence.
  return byNamespace.length === 1 ? byNamespace[0] : undefined;
}

/** A service's profile: the one of its prefix and namespace, else the one of its prefix alone. */
export function profileFor(
  service: AnalysedService | undefined,
  profiles: AnalystServiceProfile[],
): AnalystServiceProfile | undefined {
  if (!service) return undefined;
  const mine = profiles.filter((p) => p.prefix === service.prefix);
  return (
    mine.find((p) => p.namespace !== undefined && p.namespace === service.namespace) ??
    mine.find((p) => p.namespace === undefined)
  );
}
