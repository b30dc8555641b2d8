import * as assert from "node:assert/strict";
import { createMetrics } from "../../app/shared/metrics";
import { ruleCatalogue } from "../../components";
import { parseStackConfig } from "../../stacks/config";
import { readProjectConfig } from "../../testkit/stack-file";

/** The value of one unlabelled sample in a Prometheus text exposition. */
function sample(exposition: string, name: string): number {
  const line = exposition.split("\n").find((l) => l.startsWith(`${name} `));
  assert.ok(line, `${name} is exported`);
  return Number(line.split(" ")[1]);
}

describe("the cost of a video, measured by the app", () => {
  it("counts busy slot-seconds as jobs in progress integrated over time, up to the scrape itself", async () => {
    let now = 100;
    const metrics = createMetrics("worker", true, "test", "sonic", () => now);
    metrics.setInProgress(2);
    now += 10;
    metrics.setInProgress(1);
    now += 5;
    // 2 jobs x 10 s + 1 job x 5 s, although the second job has not ended yet.
    assert.equal(sample(await metrics.exposition(), "sonic_slot_busy_seconds_total"), 25);
    now += 4;
    metrics.setInProgress(0);
    now += 100;
    assert.equal(sample(await metrics.exposition(), "sonic_slot_busy_seconds_total"), 29);
  });

  it("counts the seconds of video it delivers, the unit a video is priced in", async () => {
    const metrics = createMetrics("worker", true, "test");
    for (const videoSeconds of [12.5, 30])
      metrics.videoGenerated({
        audioDecodeSeconds: 1,
        videoRenderSeconds: 200,
        avOffsetSeconds: 0,
        videoSeconds,
      });
    assert.equal(sample(await metrics.exposition(), "sonic_video_output_seconds_total"), 42.5);
  });
});

describe("the stack's GPU price", () => {
  // Both stacks write to the fleet, so both need remoteWritePassword.
  const secrets = new Set(["slackWebhookUrl", "remoteWritePassword"]);
  const devWithCost = (cost: unknown) => ({ ...readProjectConfig("dev"), cost: JSON.stringify(cost) });

  it("is read from both committed stacks with its currency", () => {
    const c = parseStackConfig(readProjectConfig("dev"), secrets);
    assert.equal(c.cost?.currency, "USD");
    assert.ok((c.cost?.gpuHourly ?? 0) > 0);
  });

  it("names the key and the value of a price that is not positive", () => {
    assert.throws(() => parseStackConfig(devWithCost({ gpuHourly: 0 }), secrets), {
      message:
        "invalid stack configuration:\n  sonic-observability:cost.gpuHourly: Too small: expected number to be >0, got 0",
    });
  });

  it("names the key and the value of a currency that is not an ISO 4217 code", () => {
    assert.throws(() => parseStackConfig(devWithCost({ gpuHourly: 2, currency: "dollars" }), secrets), {
      message: /sonic-observability:cost\.currency: expected an ISO 4217 code like USD or EUR, got "dollars"/,
    });
  });
});

describe("the rule catalogue's GPU price, for teams that import the components", () => {
  it("names the property and the value of a price or currency it cannot use", () => {
    const base = { job: "tts", namespace: "speech" };
    assert.throws(() => ruleCatalogue({ ...base, cost: { gpuHourly: -1 } }), {
      message: "cost.gpuHourly: expected a positive price of one GPU-hour, got -1",
    });
    assert.throws(() => ruleCatalogue({ ...base, cost: { gpuHourly: 1, currency: "usd" } }), {
      message: 'cost.currency: expected an ISO 4217 code like USD or EUR, got "usd"',
    });
  });

  it("records GPU-hours without a price, and prices them only when given one", () => {
    const records = (cost?: { gpuHourly: number }) =>
      ruleCatalogue({ job: "tts", namespace: "speech", cost })
        .flatMap((g) => g.rules)
        .flatMap((r) => ("record" in r ? [r.record] : []));
    assert.ok(records().includes("sonic:gpu_idle_hours:1d"));
    assert.ok(!records().some((r) => r.includes("cost")));
    assert.ok(records({ gpuHourly: 2 }).includes("sonic:video_minute_cost:1h"));
  });
});
