import * as assert from "node:assert/strict";
import {
  applyRateLimits,
  DEFAULT_BEHAVIOR,
  hpaSync,
  newHpaState,
  recordScale,
  replicasForMetric,
  replicasForMetrics,
  scaleDownLimit,
  scaleUpLimit,
  stabilize,
  type HpaBehavior,
} from "../../sandbox/controllers/hpa-algorithm";
import {
  activity,
  fallbackReplicas,
  kedaPoll,
  metricWithFallback,
  prometheusScalerValue,
  type KedaState,
  type ScaledObjectSemantics,
} from "../../sandbox/controllers/keda-semantics";

const pods = (n: number) => Array.from({ length: n }, (_, i) => `p${i}`);
const noWindows: HpaBehavior = {
  scaleUp: {
    stabilizationWindowSeconds: 0,
    selectPolicy: "Max",
    policies: [{ type: "Percent", value: 1000, periodSeconds: 15 }],
  },
  scaleDown: {
    stabilizationWindowSeconds: 0,
    selectPolicy: "Max",
    policies: [{ type: "Percent", value: 100, periodSeconds: 15 }],
  },
};

describe("simulated HPA controller (the Kubernetes algorithm, not a cluster)", () => {
  describe("replicas per metric", () => {
    it("doubles the replicas when a Pods metric averages 200m against a 100m target (the docs' example)", () => {
      const values = { p0: 0.2, p1: 0.2 };
      const p = replicasForMetric({ kind: "pods", name: "qps", values, target: 0.1 }, 2, pods(2));
      assert.equal(p.replicas, 4);
    });

    it("halves the replicas when a Pods metric averages 50m against a 100m target (the docs' example)", () => {
      const values = { p0: 0.05, p1: 0.05, p2: 0.05, p3: 0.05 };
      const p = replicasForMetric({ kind: "pods", name: "qps", values, target: 0.1 }, 4, pods(4));
      assert.equal(p.replicas, 2);
    });

    it("keeps the count when the ratio is within the 0.1 tolerance, and moves just outside it", () => {
      const at = (v: number) =>
        replicasForMetric(
          { kind: "pods", name: "m", values: { p0: v, p1: v, p2: v, p3: v }, target: 1 },
          4,
          pods(4),
        ).replicas;
      assert.equal(at(1.09), 4);
      assert.equal(at(0.91), 4);
      assert.equal(at(1.2), 5);
      assert.equal(at(0.7), 3);
    });

    it("asks for ceil(sum / target) on an External AverageValue metric whatever the current count", () => {
      const r = (v: number, current: number) =>
        replicasForMetric(
          { kind: "external-average", name: "backlog", value: v, target: 1 },
          current,
          pods(current),
        ).replicas;
      assert.equal(r(7, 1), 7);
      assert.equal(r(7.5, 2), 8);
      assert.equal(r(0.2, 3), 1);
      assert.equal(r(3.2, 3), 3, "3.2 / (1 x 3) is within tolerance: no change");
    });

    it("multiplies an External Value ratio by the ready pods", () => {
      const p = replicasForMetric({ kind: "external-value", name: "v", value: 30, target: 10 }, 2, pods(2));
      assert.equal(p.replicas, 6);
    });

    it("assumes pods without a reading at 0 when scaling up, so a missing pod never enlarges the move", () => {
      // p0 reads 4x the target, p1 has no reading: the average over both is 2x, not 4x.
      const p = replicasForMetric({ kind: "pods", name: "m", values: { p0: 4 }, target: 1 }, 2, pods(2));
      assert.equal(p.replicas, 4);
    });

    it("assumes pods without a reading at the target when scaling down, which damps the move", () => {
      // p0 reads 0.5x; p1 (missing) counts at 1x: 0.75 -> ceil(1.5) = 2 = no change.
      const p = replicasForMetric({ kind: "pods", name: "m", values: { p0: 0.5 }, target: 1 }, 2, pods(2));
      assert.equal(p.replicas, 2);
    });

    it("takes the largest proposal over all metrics", () => {
      const r = replicasForMetrics(
        [
          { kind: "pods", name: "qps", values: { p0: 0.01 }, target: 0.05 },
          { kind: "external-average", name: "backlog", value: 3, target: 1 },
        ],
        1,
        pods(1),
      );
      assert.equal(r.replicas, 3);
      assert.match(r.reason, /backlog/);
    });

    it("refuses to scale down when one metric could not be read, but still scales up on the others", () => {
      const down = replicasForMetrics(
        [
          { kind: "error", name: "qps", error: "no adapter" },
          { kind: "external-average", name: "backlog", value: 0, target: 1 },
        ],
        3,
        pods(3),
      );
      assert.equal(down.replicas, 3);
      const up = replicasForMetrics(
        [
          { kind: "error", name: "qps", error: "no adapter" },
          { kind: "external-average", name: "backlog", value: 5, target: 1 },
        ],
        3,
        pods(3),
      );
      assert.equal(up.replicas, 5);
    });

    it("changes nothing when no metric could be read", () => {
      const r = replicasForMetrics([{ kind: "error", name: "backlog", error: "down" }], 2, pods(2));
      assert.equal(r.replicas, 2);
    });
  });

  describe("stabilization windows", () => {
    it("scales down only to the highest recommendation of the scale-down window", () => {
      const behavior: HpaBehavior = {
        ...noWindows,
        scaleDown: { ...noWindows.scaleDown, stabilizationWindowSeconds: 300 },
      };
      const state = newHpaState();
      assert.equal(stabilize(state, behavior, 5, 5, 0).replicas, 5);
      assert.equal(stabilize(state, behavior, 5, 2, 100).replicas, 5, "5 was recommended 100 s ago");
      assert.equal(
        stabilize(state, behavior, 5, 1, 301).replicas,
        2,
        "the 5 left the window; 2 (at 100 s) is in it",
      );
      assert.equal(stabilize(state, behavior, 2, 1, 401).replicas, 1);
    });

    it("scales up only to the lowest recommendation of the scale-up window", () => {
      const behavior: HpaBehavior = {
        ...noWindows,
        scaleUp: { ...noWindows.scaleUp, stabilizationWindowSeconds: 60 },
      };
      const state = newHpaState();
      assert.equal(stabilize(state, behavior, 1, 1, 0).replicas, 1);
      assert.equal(stabilize(state, behavior, 1, 4, 30).replicas, 1, "1 was recommended 30 s ago");
      assert.equal(stabilize(state, behavior, 1, 4, 61).replicas, 4, "only 4s are left in the window");
    });

    it("holds the count against a one-sync spike with the default 300 s scale-down window", () => {
      const state = newHpaState();
      const spec = { minReplicas: 1, maxReplicas: 10 };
      const backlog = (value: number) => [{ kind: "external-average" as const, name: "b", value, target: 1 }];
      assert.equal(hpaSync(spec, state, 4, backlog(4), pods(4), 0).desired, 4);
      assert.equal(hpaSync(spec, state, 4, backlog(0), pods(4), 15).desired, 4);
      assert.equal(hpaSync(spec, state, 4, backlog(0), pods(4), 299).desired, 4);
      assert.equal(hpaSync(spec, state, 4, backlog(0), pods(4), 301).desired, 1);
    });
  });

  describe("scaling policies", () => {
    it("removes 8 of 80 replicas with Percent 10 when it allows more than Pods 4 (the docs' example)", () => {
      const rules: HpaBehavior["scaleDown"] = {
        stabilizationWindowSeconds: 0,
        selectPolicy: "Max",
        policies: [
          { type: "Pods", value: 4, periodSeconds: 60 },
          { type: "Percent", value: 10, periodSeconds: 60 },
        ],
      };
      const state = newHpaState();
      assert.equal(scaleDownLimit(state, rules, 80, 0), 72);
      // Next period: 72 -> 10% is 7.2, the count goes to int(64.8) = 64, 8 fewer.
      recordScale(state, 80, 72, 0);
      assert.equal(scaleDownLimit(state, rules, 72, 61), 64);
      // Below 40 replicas the Pods policy removes more: 4 at a time.
      assert.equal(scaleDownLimit(newHpaState(), rules, 30, 0), 26);
    });

    it("with selectPolicy Min picks the policy that changes least", () => {
      const rules: HpaBehavior["scaleDown"] = {
        stabilizationWindowSeconds: 0,
        selectPolicy: "Min",
        policies: [
          { type: "Pods", value: 4, periodSeconds: 60 },
          { type: "Percent", value: 10, periodSeconds: 60 },
        ],
      };
      assert.equal(scaleDownLimit(newHpaState(), rules, 80, 0), 76);
      assert.equal(scaleUpLimit(newHpaState(), { ...rules }, 80, 0), 84);
    });

    it("never scales in a direction whose selectPolicy is Disabled", () => {
      const rules = { stabilizationWindowSeconds: 0, selectPolicy: "Disabled" as const, policies: [] };
      const behavior: HpaBehavior = { scaleUp: noWindows.scaleUp, scaleDown: rules };
      assert.equal(applyRateLimits(newHpaState(), behavior, 1, 10, 5, 1, 0).replicas, 5);
    });

    it("counts replicas added within the period against the policy (Pods 2 per 120 s)", () => {
      const up: HpaBehavior["scaleUp"] = {
        stabilizationWindowSeconds: 0,
        selectPolicy: "Max",
        policies: [{ type: "Pods", value: 2, periodSeconds: 120 }],
      };
      const state = newHpaState();
      assert.equal(scaleUpLimit(state, up, 1, 0), 3);
      recordScale(state, 1, 3, 0);
      assert.equal(scaleUpLimit(state, up, 3, 60), 3, "2 were added 60 s ago: no more this period");
      assert.equal(scaleUpLimit(state, up, 3, 121), 5);
    });

    it("rounds a Percent scale-up up, so 1 replica at 50% still grows (to 2)", () => {
      const up = {
        stabilizationWindowSeconds: 0,
        selectPolicy: "Max" as const,
        policies: [{ type: "Percent" as const, value: 50, periodSeconds: 15 }],
      };
      assert.equal(scaleUpLimit(newHpaState(), up, 1, 0), 2);
    });

    it("defaults to 4 pods or 100% every 15 s up, whichever is more", () => {
      assert.equal(scaleUpLimit(newHpaState(), DEFAULT_BEHAVIOR.scaleUp, 1, 0), 5);
      assert.equal(scaleUpLimit(newHpaState(), DEFAULT_BEHAVIOR.scaleUp, 10, 0), 20);
    });

    it("bounds the result by maxReplicas and minReplicas and names which limit applied", () => {
      const state = newHpaState();
      assert.deepEqual(applyRateLimits(state, noWindows, 1, 3, 1, 9, 0), {
        replicas: 3,
        reason: "TooManyReplicas",
      });
      assert.deepEqual(applyRateLimits(state, noWindows, 2, 3, 3, 0, 0), {
        replicas: 2,
        reason: "TooFewReplicas",
      });
    });
  });

  describe("one sync", () => {
    it("leaves a target at zero alone when minReplicas is above zero (KEDA's job to wake it)", () => {
      const d = hpaSync(
        { minReplicas: 1, maxReplicas: 4 },
        newHpaState(),
        0,
        [{ kind: "external-average", name: "b", value: 9, target: 1 }],
        [],
        0,
      );
      assert.equal(d.desired, 0);
      assert.match(d.reason, /ScalingDisabled/);
    });

    it("records no recommendation on a sync whose metrics all failed, as the controller returns early", () => {
      const state = newHpaState();
      const spec = { minReplicas: 1, maxReplicas: 10 };
      hpaSync(spec, state, 3, [{ kind: "external-average", name: "b", value: 3, target: 1 }], pods(3), 0);
      const d = hpaSync(spec, state, 3, [{ kind: "error", name: "b", error: "refused" }], pods(3), 15);
      assert.equal(d.desired, 3);
      assert.match(d.reason, /FailedGetMetrics/);
      assert.equal(state.recommendations.length, 1);
    });

    it("goes 1 -> 3 -> 5 -> 7 under the project's GPU behaviour (2 pods per 120 s, 60 s up-window)", () => {
      const behavior: HpaBehavior = {
        scaleUp: {
          stabilizationWindowSeconds: 60,
          selectPolicy: "Max",
          policies: [{ type: "Pods", value: 2, periodSeconds: 120 }],
        },
        scaleDown: {
          stabilizationWindowSeconds: 600,
          selectPolicy: "Min",
          policies: [{ type: "Pods", value: 1, periodSeconds: 300 }],
        },
      };
      const spec = { minReplicas: 1, maxReplicas: 8, behavior };
      const state = newHpaState();
      const b = [{ kind: "external-average" as const, name: "b", value: 8, target: 1 }];
      let current = 1;
      const trace: number[] = [];
      for (let t = 0; t <= 300; t += 15) {
        current = hpaSync(spec, state, current, b, pods(current), t).desired;
        trace.push(current);
      }
      // Nothing for the first 60 s (the first sync's own 8 is the only sample: it moves at once, 1 -> 3).
      assert.equal(trace[0], 3);
      assert.equal(Math.max(...trace.slice(0, 8)), 3, "no second step within 120 s of the first");
      assert.equal(trace[8], 5, "the second step at 120 s, once the first left the policy's period");
      assert.equal(trace[trace.length - 1], 7);
    });
  });
});

describe("simulated KEDA semantics (KEDA 2.20's rules, not KEDA itself)", () => {
  const spec: ScaledObjectSemantics = {
    minReplicaCount: 0,
    maxReplicaCount: 4,
    pollingInterval: 15,
    cooldownPeriod: 300,
    initialCooldownPeriod: 0,
    fallback: { failureThreshold: 3, replicas: 1, behavior: "currentReplicasIfHigher" },
  };

  it("reads a Prometheus answer as the scaler does: one sample, empty is an error unless ignoreNullValues", () => {
    assert.deepEqual(prometheusScalerValue([2.5], false), { value: 2.5 });
    assert.ok("error" in prometheusScalerValue([], false));
    assert.deepEqual(prometheusScalerValue([], true), { value: 0 });
    assert.ok("error" in prometheusScalerValue([1, 2], true));
    assert.ok("error" in prometheusScalerValue([NaN], false));
  });

  it("is active only while a value is strictly above its activationThreshold", () => {
    assert.equal(activity([{ value: 0 }], [0]).isActive, false);
    assert.equal(activity([{ value: 0.5 }], [0]).isActive, true);
    assert.equal(activity([{ value: 2 }], [2]).isActive, false);
    assert.deepEqual(activity([{ error: "x" }, { value: 1 }], [0, 0]), { isActive: true, isError: true });
  });

  it("wakes a target at zero to max(minReplicaCount, 1) and then leaves the count to the HPA", () => {
    const state: KedaState = { createdAt: 0 };
    assert.equal(kedaPoll(spec, state, 0, [{ value: 0.5 }], [0], 10).scaleTo, 1);
    assert.equal(
      kedaPoll({ ...spec, minReplicaCount: 2 }, { createdAt: 0 }, 0, [{ value: 1 }], [0], 10).scaleTo,
      2,
    );
    assert.equal(kedaPoll(spec, state, 3, [{ value: 5 }], [0], 25).scaleTo, undefined);
    assert.equal(state.lastActiveTime, 25);
  });

  it("scales to zero only after cooldownPeriod since the last active poll", () => {
    const state = { createdAt: 0, lastActiveTime: 100 };
    assert.equal(kedaPoll(spec, state, 2, [{ value: 0 }], [0], 300).scaleTo, undefined);
    assert.match(kedaPoll(spec, state, 2, [{ value: 0 }], [0], 300).reason, /cooling down: 100s/);
    assert.equal(kedaPoll(spec, state, 2, [{ value: 0 }], [0], 401).scaleTo, 0);
  });

  it("never scales to zero while its triggers fail and a fallback is set", () => {
    const state = { createdAt: 0, lastActiveTime: 0 };
    assert.equal(kedaPoll(spec, state, 2, [{ error: "down" }], [0], 10_000).scaleTo, undefined);
    const noFallback = { ...spec, fallback: undefined };
    assert.equal(kedaPoll(noFallback, state, 2, [{ error: "down" }], [0], 10_000).scaleTo, undefined);
  });

  it("raises a target below a non-zero minReplicaCount while inactive", () => {
    assert.equal(
      kedaPoll({ ...spec, minReplicaCount: 1 }, { createdAt: 0 }, 0, [{ value: 0 }], [0], 5).scaleTo,
      1,
    );
  });

  it("hands the HPA target x fallback replicas only after more than failureThreshold failures in a row", () => {
    const health = {};
    const fail = () => metricWithFallback(spec, health, "s0", { error: "down" }, 1, 3);
    assert.ok("error" in fail());
    assert.ok("error" in fail());
    assert.ok("error" in fail());
    // currentReplicasIfHigher: 3 running is more than fallback.replicas 1, so 3 are held.
    assert.deepEqual(fail(), { value: 3, fallback: true });
    assert.deepEqual(metricWithFallback(spec, health, "s0", { value: 0.5 }, 1, 3), {
      value: 0.5,
      fallback: false,
    });
    assert.ok("error" in fail(), "a good reading resets the count");
  });

  it("picks the fallback replicas by behavior", () => {
    const f = { failureThreshold: 3, replicas: 2 };
    assert.equal(fallbackReplicas({ ...f, behavior: "static" }, 5), 2);
    assert.equal(fallbackReplicas({ ...f, behavior: "currentReplicas" }, 5), 5);
    assert.equal(fallbackReplicas({ ...f, behavior: "currentReplicasIfHigher" }, 1), 2);
    assert.equal(fallbackReplicas({ ...f, behavior: "currentReplicasIfHigher" }, 5), 5);
    assert.equal(fallbackReplicas({ ...f, behavior: "currentReplicasIfLower" }, 5), 2);
  });
});
