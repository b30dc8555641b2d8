import type { ControlledAutoscaler, ControlledMetric } from "./autoscaler-objects";
import { HPA_SYNC_SECONDS, hpaSync, newHpaState, type HpaState, type MetricReading } from "./hpa-algorithm";
import {
  kedaPoll,
  metricWithFallback,
  prometheusScalerValue,
  type FallbackHealth,
  type KedaState,
  type TriggerReading,
} from "./keda-semantics";
import type { InstantQuery } from "./prometheus-query";
import type { WorkerPool } from "./worker-pool";

/** One decision of a simulated controller: what it read, what it recommended, what it wrote, and why. */
export interface ScalingDecision {
  /** Wall-clock time of the decision (ISO 8601). */
  time: string;
  /** Seconds on the controllers' clock since the loop started (wall seconds x speed-up). */
  t: number;
  /** `hpa`: the simulated HPA controller's sync; `keda`: the simulated KEDA operator's poll. */
  controller: "hpa" | "keda";
  object: string;
  deployment: string;
  /** Each metric's value, or the error reading it. */
  values: Record<string, number | string>;
  current: number;
  /** The metrics' recommendation before stabilisation and policies (HPA syncs only). */
  recommendation?: number;
  desired: number;
  /** Whether the replica count was changed. */
  scaled: boolean;
  reason: string;
  /** A KEDA fallback value stood in for a failing trigger. */
  fallback?: boolean;
}

export interface ScalingLoopOptions {
  autoscalers: ControlledAutoscaler[];
  /** The pool behind each Deployment name; autoscalers whose target has none are skipped. */
  pools: Record<string, WorkerPool>;
  /** Instant queries against Prometheus (a real one, or a fake in tests). */
  query: InstantQuery;
  /**
   * Controller seconds per wall second: 20 runs a 15 s HPA sync every 0.75 s and a 600 s stabilisation
   * window in 30 s. The algorithm and the objects' own numbers are unchanged; only the clock runs faster.
   * @default 1
   */
  speedUp?: number;
  /** The HPA controller's sync period in controller seconds. @default 15 */
  hpaSyncSeconds?: number;
  /** Every decision, as it is made. */
  onDecision?: (decision: ScalingDecision) => void;
  /** Wall clock in ms (tests drive it by hand). @default Date.now */
  now?: () => number;
}

interface Controlled {
  spec: ControlledAutoscaler;
  pool: WorkerPool;
  hpa: HpaState;
  keda: KedaState;
  health: FallbackHealth;
  /** One controller step at a time per target, as the real controllers serialise on the scale. */
  lock: Promise<unknown>;
}

/**
 * The scaling decision loop of the sandbox: SIMULATED Kubernetes HPA and KEDA controllers (not KEDA
 * itself) over the autoscaler objects the program renders. Every HPA sync period it reads each
 * object's metrics from Prometheus and applies the HPA algorithm; every KEDA `pollingInterval` it
 * applies KEDA's activation and cooldown; a changed count goes to the target's pool.
 */
export class ScalingLoop {
  private readonly controlled: Controlled[];
  private readonly speedUp: number;
  private readonly now: () => number;
  private readonly startedAt: number;
  private readonly timers = new Set<NodeJS.Timeout>();
  private stopped = false;
  /** Autoscalers left out because no pool stands behind their Deployment. */
  readonly skipped: string[] = [];

  constructor(private readonly options: ScalingLoopOptions) {
    this.speedUp = options.speedUp ?? 1;
    this.now = options.now ?? Date.now;
    this.startedAt = this.now();
    this.controlled = options.autoscalers.flatMap((spec) => {
      const pool = options.pools[spec.deployment];
      if (!pool) {
        this.skipped.push(`${spec.object} (Deployment ${spec.deployment} has no pool in the sandbox)`);
        return [];
      }
      return [
        { spec, pool, hpa: newHpaState(), keda: { createdAt: 0 }, health: {}, lock: Promise.resolve() },
      ];
    });
  }

  /** Seconds on the controllers' clock. */
  get t(): number {
    return ((this.now() - this.startedAt) / 1000) * this.speedUp;
  }

  /** Starts every controller's timer: the HPA syncs, and KEDA's polls for ScaledObjects. */
  start(): void {
    const sync = this.options.hpaSyncSeconds ?? HPA_SYNC_SECONDS;
    this.controlled.forEach((c, i) => {
      if (c.spec.keda) this.every(c.spec.keda.pollingInterval, () => this.pollKeda(i));
      this.every(sync, () => this.syncHpa(i));
    });
  }

  async stop(): Promise<void> {
    this.stopped = true;
    for (const t of this.timers) clearTimeout(t);
    await Promise.all(this.controlled.map((c) => c.lock.catch(() => undefined)));
  }

  /** One sync of the simulated HPA controller for autoscaler `index` (KEDA's HPA for a ScaledObject). */
  syncHpa(index: number): Promise<ScalingDecision> {
    return this.locked(index, async (c) => {
      const t = this.t;
      const current = c.pool.count;
      const pods = c.pool.pods?.() ?? [];
      const values: Record<string, number | string> = {};
      let fallback = false;
      const readings: MetricReading[] = [];
      // At zero the HPA does not run (KEDA's step), so it asks for no metric and counts no failure.
      const disabled = current === 0 && c.spec.hpa.minReplicas > 0;
      for (const m of disabled ? [] : c.spec.metrics) {
        const r = c.spec.keda ? await this.kedaMetric(c, m, current) : await this.adapterMetric(m, pods);
        if (r.kind === "error") values[m.name] = r.error;
        else values[m.name] = r.kind === "pods" ? sum(Object.values(r.values)) : r.value;
        if ((r as { fallback?: boolean }).fallback) fallback = true;
        readings.push(r);
      }
      for (const u of c.spec.unsupported) readings.push({ kind: "error", name: u, error: "not served" });
      const d = hpaSync(c.spec.hpa, c.hpa, current, readings, pods, t);
      const scaled = d.desired !== current;
      if (scaled) await c.pool.scaleTo(d.desired);
      return this.emit({
        time: new Date(this.now()).toISOString(),
        t: round(t),
        controller: "hpa",
        object: c.spec.object,
        deployment: c.spec.deployment,
        values,
        current,
        recommendation: d.recommendation,
        desired: d.desired,
        scaled,
        reason: d.reason,
        ...(fallback ? { fallback } : {}),
      });
    });
  }

  /** One poll of the simulated KEDA operator for ScaledObject `index`: activation and scale to zero. */
  pollKeda(index: number): Promise<ScalingDecision> {
    return this.locked(index, async (c) => {
      const keda = c.spec.keda!;
      const t = this.t;
      const current = c.pool.count;
      const values: Record<string, number | string> = {};
      const readings: TriggerReading[] = [];
      for (const m of c.spec.metrics) {
        const r = await this.triggerReading(m);
        values[m.name] = "error" in r ? r.error : r.value;
        readings.push(r);
      }
      const thresholds = c.spec.metrics.map((m) => m.activationThreshold ?? 0);
      const d = kedaPoll(keda, c.keda, current, readings, thresholds, t);
      const desired = d.scaleTo ?? current;
      const scaled = desired !== current;
      if (scaled) await c.pool.scaleTo(desired);
      return this.emit({
        time: new Date(this.now()).toISOString(),
        t: round(t),
        controller: "keda",
        object: c.spec.object,
        deployment: c.spec.deployment,
        values,
        current,
        desired,
        scaled,
        reason: d.reason,
      });
    });
  }

  /** The value prometheus-adapter would serve the HPA for one metric. */
  private async adapterMetric(m: ControlledMetric, pods: readonly string[]): Promise<MetricReading> {
    let samples;
    try {
      samples = await this.options.query(m.query(pods));
    } catch (err) {
      return { kind: "error", name: m.name, error: (err as Error).message };
    }
    if (m.kind === "pods") {
      if (samples.length === 0)
        return { kind: "error", name: m.name, error: "no metrics returned for the pods" };
      const values = Object.fromEntries(samples.map((s) => [s.labels.pod, s.value]));
      return { kind: "pods", name: m.name, values, target: m.target };
    }
    // The adapter answers one value per series; the HPA adds them up. None is an error, not zero.
    if (samples.length === 0)
      return { kind: "error", name: m.name, error: "no metrics returned from external metrics API" };
    return { kind: m.kind, name: m.name, value: sum(samples.map((s) => s.value)), target: m.target };
  }

  /** The value KEDA's metrics server hands its HPA for one trigger: the reading, or the fallback's. */
  private async kedaMetric(c: Controlled, m: ControlledMetric, current: number) {
    const reading = await this.triggerReading(m);
    const r = metricWithFallback(c.spec.keda!, c.health, m.name, reading, m.target, current);
    if ("error" in r) return { kind: "error" as const, name: m.name, error: r.error };
    const kind = m.kind === "external-value" ? ("external-value" as const) : ("external-average" as const);
    return { kind, name: m.name, value: r.value, target: m.target, fallback: r.fallback };
  }

  private async triggerReading(m: ControlledMetric): Promise<TriggerReading> {
    try {
      const samples = await this.options.query(m.query([]));
      return prometheusScalerValue(
        samples.map((s) => s.value),
        m.ignoreNullValues ?? true,
      );
    } catch (err) {
      return { error: (err as Error).message };
    }
  }

  private emit(d: ScalingDecision): ScalingDecision {
    this.options.onDecision?.(d);
    return d;
  }

  private locked<T>(index: number, step: (c: Controlled) => Promise<T>): Promise<T> {
    const c = this.controlled[index];
    const run = c.lock.then(() => step(c));
    c.lock = run.catch(() => undefined);
    return run;
  }

  /** Runs `step` every `seconds` of controller time, the first time at once. */
  private every(seconds: number, step: () => Promise<unknown>): void {
    const periodMs = (seconds * 1000) / this.speedUp;
    const tick = async () => {
      if (this.stopped) return;
      const started = Date.now();
      await step().catch(() => undefined);
      if (this.stopped) return;
      const timer = setTimeout(
        () => {
          this.timers.delete(timer);
          void tick();
        },
        Math.max(0, periodMs - (Date.now() - started)),
      );
      this.timers.add(timer);
    };
    void tick();
  }
}

const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);
const round = (x: number) => Math.round(x * 100) / 100;
