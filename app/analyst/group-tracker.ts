import type { WebhookAlert, WebhookPayload } from "./evidence";

/** What one notification of a group asks of the analyst. */
export interface GroupChange {
  /** The group has a firing alert not reported before: analyse the whole firing set. */
  analyse: boolean;
  firing: WebhookAlert[];
  /** Alerts reported before that have now resolved: a short resolution line, not an analysis. */
  resolved: WebhookAlert[];
}

/**
 * Which alerts of each group were reported, so Alertmanager's repeats (every group_interval and
 * repeat_interval) are not analysed again, a newly firing alert is, and an alert that resolves gets a
 * resolution line keyed to its report instead of a fresh analysis of the rest. An alert is its
 * fingerprint (or labels) and start: one that resolves and fires again is new. Bounded: the oldest
 * groups are forgotten first.
 */
export class GroupTracker {
  private readonly groups = new Map<string, Set<string>>();

  constructor(private readonly maxGroups = 5000) {}

  observe(payload: WebhookPayload): GroupChange {
    const firing = payload.alerts.filter((a) => a.status === "firing");
    const reported = this.groups.get(payload.groupKey) ?? new Set<string>();
    const analyse = firing.some((a) => !reported.has(alertId(a)));
    const resolved = payload.alerts.filter((a) => a.status === "resolved" && reported.has(alertId(a)));
    for (const a of resolved) reported.delete(alertId(a));
    if (analyse) for (const a of firing) reported.add(alertId(a));
    this.groups.delete(payload.groupKey); // re-inserted last: most recently seen
    if (reported.size > 0) this.groups.set(payload.groupKey, reported);
    while (this.groups.size > this.maxGroups) this.groups.delete(this.groups.keys().next().value!);
    return { analyse, firing, resolved };
  }

  /** Forgets what `observe` recorded for these alerts (their report could not be queued). */
  forget(groupKey: string, alerts: WebhookAlert[]): void {
    const reported = this.groups.get(groupKey);
    for (const a of alerts) reported?.delete(alertId(a));
  }
}

function alertId(a: WebhookAlert): string {
  return `${a.fingerprint ?? JSON.stringify(a.labels)}@${a.startsAt}`;
}
