import { strict as assert } from "node:assert";
import { getItems } from "../../cluster/kubectl";
import {
  danglingApiServices,
  deployOk,
  eventually,
  helmReleases,
  LOCAL_CHART_ARGS,
  namespacePhases,
  stackResources,
} from "./support";

/**
 * The README's adapter -> keda migration ("Migrating from adapter to keda with no window in which nothing
 * scales"), step by step on a live prod stack. KEDA never runs on kwok nodes, so it never adopts an HPA: each
 * step checks what the API server can show (which objects exist, which autoscaler is active, who serves
 * the external metrics API) and that every up finishes.
 */
const NS = "ai-inference";
const TIERS = ["sonic-generate-service", "sonic-generate-worker"];
const EXTERNAL = "v1beta1.external.metrics.k8s.io";
const CUSTOM = "v1beta1.custom.metrics.k8s.io";
/** npm run deploy's arguments for the prod stack with these settings (`key=value`) and flags. */
const prod = (action: string, config: string[] = [], ...flags: string[]) => [
  "prod",
  action,
  "--stand-in-secrets",
  ...LOCAL_CHART_ARGS,
  ...config.flatMap((c) => ["--config", c]),
  ...flags,
];

interface Hpa {
  metadata: { name: string };
  spec: { scaleTargetRef: { kind: string; name: string } };
}
interface ScaledObjectItem {
  metadata: { name: string; annotations?: Record<string, string> };
  spec: {
    scaleTargetRef: { name: string };
    advanced?: { horizontalPodAutoscalerConfig?: { name?: string } };
  };
}

const hpas = () => getItems<Hpa>(["hpa", "-n", NS]);
/** The ScaledObjects in Sonic's namespace; none while KEDA's CRDs are not installed. */
function scaledObjects(): ScaledObjectItem[] {
  try {
    return getItems<ScaledObjectItem>(["scaledobjects.keda.sh", "-n", NS]);
  } catch (error) {
    if (/doesn't have a resource type/.test(String((error as { stderr?: string }).stderr))) return [];
    throw error;
  }
}
const paused = (s: ScaledObjectItem) => s.metadata.annotations?.["autoscaling.keda.sh/paused"] === "true";

/**
 * The autoscalers that act on each tier's Deployment: its HPAs, and its unpaused ScaledObjects unless the
 * ScaledObject adopts that very HPA (KEDA rewrites the one object in place: still one autoscaler).
 */
function activeAutoscalers(): Map<string, string[]> {
  const active = new Map<string, string[]>(TIERS.map((t) => [t, []]));
  const hpaList = hpas();
  for (const h of hpaList) active.get(h.spec.scaleTargetRef.name)?.push(`HPA ${h.metadata.name}`);
  for (const s of scaledObjects()) {
    if (paused(s)) continue;
    const adopts = s.spec.advanced?.horizontalPodAutoscalerConfig?.name;
    if (
      hpaList.some(
        (h) => h.metadata.name === adopts && h.spec.scaleTargetRef.name === s.spec.scaleTargetRef.name,
      )
    )
      continue;
    active.get(s.spec.scaleTargetRef.name)?.push(`ScaledObject ${s.metadata.name}`);
  }
  return active;
}

/**
 * Tiers with two or more active autoscalers right now, as messages; with `scaledBefore`, also those of
 * these tiers that have none (a window in which nothing scales).
 */
function autoscalerFaults(scaledBefore: string[] = []): string[] {
  return [...activeAutoscalers()]
    .filter(([tier, found]) => found.length > 1 || (found.length === 0 && scaledBefore.includes(tier)))
    .map(([tier, found]) => `${tier} has ${found.length} autoscalers: ${found.join(", ") || "none"}`);
}

/**
 * One up of the migration, watched every two seconds while the engine works: never two autoscalers on one
 * tier, and never none on a tier that had one. After it, exactly one each.
 */
async function watchedUp(step: string, config: string[] = []): Promise<void> {
  const scaledBefore = [...activeAutoscalers()].filter(([, found]) => found.length > 0).map(([tier]) => tier);
  const seen = new Set<string>();
  const sample = setInterval(() => {
    try {
      for (const fault of autoscalerFaults(scaledBefore)) seen.add(fault);
    } catch {
      // The API server is busy or a CRD is being installed: the next sample decides.
    }
  }, 2000);
  try {
    await deployOk(prod("up", config));
  } finally {
    clearInterval(sample);
  }
  for (const fault of autoscalerFaults(TIERS)) seen.add(fault);
  assert.deepEqual([...seen], [], `${step}: not one autoscaler per tier at some moment`);
}

/** The Service behind an APIService, as namespace/name, or undefined when it is absent. */
function apiServiceBackend(name: string): string | undefined {
  const found = getItems<{
    metadata: { name: string };
    spec: { service?: { namespace: string; name: string } };
  }>(["apiservices"]).find((a) => a.metadata.name === name);
  return found?.spec.service ? `${found.spec.service.namespace}/${found.spec.service.name}` : undefined;
}

const releases = () => helmReleases("prod").map((r) => r.name);
const hpasInState = () =>
  stackResources("prod")
    .filter((r) => r.type === "kubernetes:autoscaling/v2:HorizontalPodAutoscaler")
    .map((r) => r.urn.split("::").pop());

describe("the adapter -> keda migration, with the README's steps on a live prod stack", function () {
  this.timeout(20 * 60_000);

  it("starts on the adapter: its HPAs scale both tiers, it serves the external metrics API", async () => {
    await watchedUp("adapter");
    assert.deepEqual(
      hpas()
        .map((h) => h.metadata.name)
        .sort(),
      TIERS,
    );
    assert.deepEqual(scaledObjects(), []);
    assert.match(apiServiceBackend(EXTERNAL) ?? "none", /^monitoring\/prometheus-adapter/);
  });

  it("standby: KEDA without a metrics server and without ScaledObjects, the adapter's HPAs still scaling", async () => {
    await watchedUp("standby", ["autoscaling.engine=keda", "autoscaling.handover=standby"]);
    // A paused ScaledObject would have the real KEDA delete the HPA it names (controllers.cluster.ts).
    assert.deepEqual(scaledObjects(), []);
    assert.deepEqual(
      hpas()
        .map((h) => h.metadata.name)
        .sort(),
      TIERS,
    );
    assert.match(apiServiceBackend(EXTERNAL) ?? "none", /^monitoring\/prometheus-adapter/);
    assert.ok(releases().includes("keda"), `no keda release: ${releases()}`);
  });

  it("takeover: KEDA's metrics server owns the external metrics API, the HPAs stay for KEDA to adopt", async () => {
    await watchedUp("takeover", ["autoscaling.engine=keda", "autoscaling.handover=takeover"]);
    assert.match(apiServiceBackend(EXTERNAL) ?? "none", /^keda\/keda-operator-metrics-apiserver/);
    // The API tier's HPA reads its custom metric from the adapter until KEDA adopts it.
    assert.match(apiServiceBackend(CUSTOM) ?? "none", /^monitoring\/prometheus-adapter/);
    const objects = scaledObjects();
    assert.deepEqual(objects.map((s) => s.metadata.name).sort(), TIERS);
    for (const s of objects) {
      assert.ok(!paused(s), `ScaledObject ${s.metadata.name} paused`);
      assert.equal(s.metadata.annotations?.["scaledobject.keda.sh/transfer-hpa-ownership"], "true");
      assert.equal(s.spec.advanced?.horizontalPodAutoscalerConfig?.name, s.spec.scaleTargetRef.name);
    }
    // Out of Pulumi's state, still in the cluster: KEDA takes them over in place.
    assert.deepEqual(hpasInState(), []);
    assert.deepEqual(
      hpas()
        .map((h) => h.metadata.name)
        .sort(),
      TIERS,
    );
  });

  it("done: the adapter is uninstalled, workers may scale to zero, no APIService points at nothing", async () => {
    const done = ["autoscaling.engine=keda", "autoscaling.worker.minReplicas=0"];
    await watchedUp("done", done);
    assert.ok(
      !releases().some((r) => r.includes("adapter")),
      `the adapter is still installed: ${releases()}`,
    );
    assert.equal(apiServiceBackend(CUSTOM), undefined);
    assert.match(apiServiceBackend(EXTERNAL) ?? "none", /^keda\/keda-operator-metrics-apiserver/);
    for (const s of scaledObjects())
      assert.equal(s.metadata.annotations?.["scaledobject.keda.sh/transfer-hpa-ownership"], undefined);
    assert.deepEqual(danglingApiServices(), []);
    await deployOk(prod("preview", done, "--expect-no-changes"));
  });

  after(async function () {
    await deployOk(prod("destroy"));
    await eventually("the prod namespaces remain", () =>
      ["monitoring", NS, "keda"].filter((ns) => namespacePhases().has(ns)),
    );
  });
});
