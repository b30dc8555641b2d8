import * as assert from "node:assert/strict";
import { chmodSync, mkdtempSync, writeFileSync } from "node:fs";
import { createServer, request as httpRequest, Server } from "node:http";
import { AddressInfo, connect } from "node:net";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { loadApiConfig, uploadBudgetOf } from "../../app/api/config";
import { clientAddress, FIRST_STEP_BYTES, UploadBudget, UploadHold } from "../../app/api/upload-budget";
import { RedisInputStore } from "../../app/queue/input-store";
import { ConfigError } from "../../app/shared/config";
import { loadWorkerConfig } from "../../app/worker/config";
import { parseNvidiaSmiCsv } from "../../app/worker/gpu";
import { DECODE_FAILURE_REASONS, metricNames, REQUEST_STATUSES } from "../../components";
import { Tier, TIER_METRICS, TIER_REQUEST_STATUSES } from "../../contract";
import { parseExposition, seriesCount } from "../../testkit/exposition";
import { form, jpeg, multipartBody, paddedPng, png, uploadRequest, wav } from "../../testkit/media";
import { promtool, requirePromtool } from "../../testkit/promtool";
import { RedisServer, sharedRedis } from "../../testkit/redis";
import { RunningService, setFaults, startService, until, waitForJob } from "../../testkit/service";

const IMAGE = { data: png(64, 64), type: "image/png" };
const AUDIO = { data: wav(1), type: "audio/wav" };
const FAST = { SONIC_SIM_RTF: "0.01" };
const SMALL_UPLOAD_LIMIT = 512 * 1024;

/** The run's real Redis: every service here gets a queue of its own. */
let redis: RedisServer;
before(async () => {
  redis = await sharedRedis();
});

async function submit(url: string, parts: Record<string, { data: Buffer; type: string }>) {
  const res = await fetch(`${url}/v1/videos`, { method: "POST", body: form(parts) });
  return { status: res.status, headers: res.headers, body: (await res.json()) as any };
}

async function exposition(url: string) {
  const text = await (await fetch(`${url}/metrics`)).text();
  return { text, families: parseExposition(text) };
}

describe("the Sonic service over HTTP", function () {
  this.timeout(60_000);
  let svc: RunningService;
  before(async () => {
    svc = await startService(redis, {
      ...FAST,
      SONIC_MAX_AUDIO_SECONDS: "5",
      SONIC_MAX_UPLOAD_BYTES: String(512 * 1024),
      SONIC_MAX_IMAGE_SIDE: "1024",
    });
  });
  after(() => svc.close());

  it("accepts a WAV and a PNG with 202 and generates the video through to succeeded", async () => {
    const res = await submit(svc.url, { audio: AUDIO, image: IMAGE });
    assert.equal(res.status, 202);
    assert.match(res.body.id, /^[0-9a-f-]{36}$/);
    assert.equal(res.body.status_url, `/v1/videos/${res.body.id}`);
    assert.equal(res.headers.get("location"), res.body.status_url);
    assert.equal(res.body.audio_seconds, 1);
    const job = await waitForJob(svc.url, res.body.id);
    assert.equal(job.status, "succeeded");
    assert.equal(job.result.location, `simulated://videos/${job.id}.mp4`);
    assert.ok(job.timings.total_seconds >= 0 && job.timings.generation_seconds >= 0);
  });

  it("accepts a JPEG portrait too", async () => {
    const res = await submit(svc.url, { audio: AUDIO, image: { data: jpeg(320, 240), type: "image/jpeg" } });
    assert.equal(res.status, 202, JSON.stringify(res.body));
  });

  const truncated = wav(1).subarray(0, 2000);
  const corrupt = Buffer.concat([Buffer.from("RIFF\0\0\0\0WAVEjunk", "latin1"), Buffer.alloc(64, 7)]);
  const mp3 = Buffer.concat([Buffer.from("ID3\x04\0\0\0\0\0\0", "latin1"), Buffer.alloc(500, 1)]);
  const adpcm = wav(1);
  adpcm.writeUInt16LE(2, 20);
  const cases: [string, Record<string, { data: Buffer; type: string }>, number, string, RegExp][] = [
    [
      "empty audio",
      { audio: { data: Buffer.alloc(0), type: "audio/wav" }, image: IMAGE },
      422,
      "invalid_audio",
      /audio is empty \(0 bytes\) \(reason: empty\)/,
    ],
    [
      "truncated audio",
      { audio: { data: truncated, type: "audio/wav" }, image: IMAGE },
      422,
      "invalid_audio",
      /announces 32000 bytes of samples, the upload holds 1956 \(reason: truncated\)/,
    ],
    [
      "corrupt audio",
      { audio: { data: corrupt, type: "audio/wav" }, image: IMAGE },
      422,
      "invalid_audio",
      /reason: corrupt/,
    ],
    [
      "MP3 audio",
      { audio: { data: mp3, type: "audio/mpeg" }, image: IMAGE },
      422,
      "invalid_audio",
      /audio is MP3; send WAV \(PCM or float\) \(reason: unsupported_format\)/,
    ],
    [
      "ADPCM WAV audio",
      { audio: { data: adpcm, type: "audio/wav" }, image: IMAGE },
      422,
      "invalid_audio",
      /format tag 2 is not PCM or float \(reason: unsupported_format\)/,
    ],
    [
      "too long audio",
      { audio: { data: wav(6), type: "audio/wav" }, image: IMAGE },
      422,
      "invalid_audio",
      /audio lasts 6\.0s; the limit is 5s \(reason: too_long\)/,
    ],
    [
      "a GIF portrait",
      { audio: AUDIO, image: { data: Buffer.from("GIF89a....", "latin1"), type: "image/gif" } },
      422,
      "invalid_image",
      /neither PNG nor JPEG/,
    ],
    [
      "an oversized portrait",
      { audio: AUDIO, image: { data: png(2000, 10), type: "image/png" } },
      422,
      "invalid_image",
      /image is 2000x10; the limit is 1024 per side/,
    ],
    [
      "a cut-off portrait",
      { audio: AUDIO, image: { data: png(64, 64).subarray(0, 60), type: "image/png" } },
      422,
      "invalid_image",
      /truncated|unreadable/,
    ],
    ["no portrait", { audio: AUDIO }, 400, "bad_request", /missing file field 'image'/],
    [
      "an extra field",
      { audio: AUDIO, image: IMAGE, video: AUDIO },
      400,
      "bad_request",
      /unexpected field "video"/,
    ],
    [
      "a wrong field name",
      { audio: AUDIO, picture: IMAGE },
      400,
      "bad_request",
      /unexpected field "picture"/,
    ],
    [
      "an upload over the size limit",
      { audio: { data: wav(20), type: "audio/wav" }, image: IMAGE },
      413,
      "payload_too_large",
      /too large/,
    ],
  ];
  for (const [name, parts, status, code, message] of cases) {
    it(`answers ${name} with ${status} ${code} and a message naming the problem`, async () => {
      const res = await submit(svc.url, parts);
      assert.equal(res.status, status, JSON.stringify(res.body));
      assert.equal(res.body.error.code, code);
      assert.match(res.body.error.message, message);
    });
  }

  it("answers JSON with 415, a broken multipart body with 400, and an unknown job with 404", async () => {
    const json = await fetch(`${svc.url}/v1/videos`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: "{}",
    });
    assert.equal(json.status, 415);
    assert.equal(((await json.json()) as any).error.code, "unsupported_media_type");
    const broken = await fetch(`${svc.url}/v1/videos`, {
      method: "POST",
      headers: { "content-type": "multipart/form-data; boundary=xyz" },
      body: '--xyz\r\nContent-Disposition: form-data; name="audio"; filename="a"\r\n\r\nRIFF',
    });
    assert.equal(broken.status, 400);
    assert.match(((await broken.json()) as any).error.message, /malformed multipart body|missing file field/);
    const missing = await fetch(`${svc.url}/v1/videos/00000000-0000-4000-8000-000000000000`);
    assert.equal(missing.status, 404);
    const bad = await fetch(`${svc.url}/v1/videos/not-a-uuid`);
    assert.equal(bad.status, 400);
    assert.equal(((await bad.json()) as any).error.field, "id");
  });

  it("keeps serving after every bad request, and counts each decode failure under its reason", async () => {
    assert.equal((await fetch(`${svc.url}/healthz`)).status, 200);
    const { families } = await exposition(svc.url);
    const failures = families.get("sonic_audio_decode_failure_total")!;
    const byReason = Object.fromEntries(failures.samples.map((m) => [m.labels.reason, m.value]));
    assert.deepEqual(byReason, { empty: 1, truncated: 1, corrupt: 1, unsupported_format: 2, too_long: 1 });
    const requests = families.get("sonic_request_total")!;
    const clientErrors = requests.samples.find((m) => m.labels.status === "client_error")!.value;
    assert.ok(clientErrors >= cases.length, `client_error is ${clientErrors}`);
  });
});

describe("the Sonic metrics exposition, per tier", function () {
  this.timeout(60_000);
  let svc: RunningService;
  before(async () => {
    svc = await startService(redis, { ...FAST, SONIC_GPU_COUNT: "2" });
    const ok = await submit(svc.url, { audio: AUDIO, image: IMAGE });
    await waitForJob(svc.url, ok.body.id);
  });
  after(() => svc.close());
  const urlOf = (tier: Tier) => (tier === "api" ? svc.url : svc.workerUrl);

  it("holds every metric of the contract, on the tier that exports it, with its type and closed-set labels", async () => {
    const tiers = { api: await exposition(svc.url), worker: await exposition(svc.workerUrl) };
    const n = metricNames("sonic");
    const expected: [keyof typeof n, string, string[]][] = [
      ["requestTotal", "COUNTER", ["status"]],
      ["requestDuration", "HISTOGRAM", ["status"]],
      ["videoGenerationSuccess", "COUNTER", []],
      ["audioDecodeFailure", "COUNTER", ["reason"]],
      ["audioDecodeDuration", "HISTOGRAM", []],
      ["videoRenderDuration", "HISTOGRAM", []],
      ["avSyncOffset", "HISTOGRAM", []],
      ["gpuMemoryUsed", "GAUGE", ["gpu"]],
      ["gpuMemoryTotal", "GAUGE", ["gpu"]],
      ["cpuUsageRatio", "GAUGE", []],
      ["jobsInProgress", "GAUGE", []],
      ["jobsQueued", "GAUGE", []],
      ["buildInfo", "GAUGE", ["version"]],
      ["residentMemory", "GAUGE", []],
    ];
    for (const [key, type, labels] of expected) {
      const name = n[key];
      const on = (["api", "worker"] as const).filter((t) => TIER_METRICS[t].includes(key as never));
      assert.ok(on.length > 0, `${name} is exported by no tier`);
      for (const tier of on) {
        const family = tiers[tier].families.get(name);
        assert.ok(family, `${name} is missing on the ${tier}`);
        assert.equal(family.type, type.toLowerCase(), `${name} type`);
        assert.ok(family.samples.length > 0, `${name} has no samples on the ${tier}`);
        for (const sample of family.samples) {
          const keys = Object.keys(sample.labels).filter((k) => k !== "le");
          assert.deepEqual(keys.sort(), [...labels].sort(), `${name} labels`);
        }
      }
    }
    // Between them the tiers count every request status once: the API what it answers, the worker
    // what a job ends with.
    const statusesOf = (tier: Tier) =>
      tiers[tier].families.get(n.requestTotal)!.samples.map((m) => m.labels.status);
    assert.deepEqual(statusesOf("api").sort(), [...TIER_REQUEST_STATUSES.api].sort());
    assert.deepEqual(statusesOf("worker").sort(), [...TIER_REQUEST_STATUSES.worker].sort());
    assert.deepEqual([...statusesOf("api"), ...statusesOf("worker")].sort(), [...REQUEST_STATUSES].sort());
    assert.deepEqual(
      tiers.api.families
        .get(n.audioDecodeFailure)!
        .samples.map((m) => m.labels.reason)
        .sort(),
      [...DECODE_FAILURE_REASONS].sort(),
    );
    assert.deepEqual(
      tiers.worker.families
        .get(n.gpuMemoryTotal)!
        .samples.map((m) => m.labels.gpu)
        .sort(),
      ["0", "1"],
    );
    for (const tier of ["api", "worker"] as const) {
      const buckets = tiers[tier].families.get(n.requestDuration)!.samples.map((m) => m.labels.le);
      assert.ok(buckets.includes("1800"), "request duration buckets must reach 30 minutes");
      const cpu = tiers[tier].families.get(n.cpuUsageRatio)!.samples[0].value;
      assert.ok(cpu >= 0 && cpu <= 1);
    }
  });

  for (const tier of ["api", "worker"] as const) {
    it(`the ${tier} exposes exactly its tier's contract metrics, besides the process metrics`, async () => {
      const { families } = await exposition(urlOf(tier));
      const n = metricNames("sonic");
      const contract = new Set<string>(Object.values(n).filter((name) => !name.startsWith("sonic_process_")));
      const ours = [...families.keys()].filter((name) => contract.has(name)).sort();
      const wanted = TIER_METRICS[tier]
        .map((key) => n[key])
        .filter((name) => !name.startsWith("sonic_process_"))
        .sort();
      assert.deepEqual(ours, wanted);
    });

    it(`passes promtool check metrics on the ${tier}, apart from prom-client's own nodejs_*_total gauges`, async () => {
      requirePromtool();
      const { text } = await exposition(urlOf(tier));
      const dir = mkdtempSync(path.join(tmpdir(), "sonic-exposition-"));
      writeFileSync(path.join(dir, "metrics.txt"), text);
      let report = "";
      try {
        report = promtool(["check", "metrics"], undefined, text);
      } catch (err) {
        report = (err as Error).message;
      }
      const problems = report
        .split("\n")
        .filter((line) => line.startsWith("sonic_"))
        .filter(
          (line) =>
            !/^sonic_nodejs_active_\w+_total non-counter metrics should not have "_total" suffix/.test(line),
        );
      assert.deepEqual(problems, []);
    });
  }
});

describe("backpressure", function () {
  this.timeout(30_000);
  let svc: RunningService;
  before(async () => {
    svc = await startService(redis, {
      SONIC_SIM_RTF: "1.5",
      SONIC_BACKLOG_LIMIT: "2",
      SONIC_CONCURRENCY_PER_GPU: "1",
    });
    // One finished job, so the service knows how long a second of audio takes here.
    await waitForJob(svc.url, (await submit(svc.url, { audio: AUDIO, image: IMAGE })).body.id);
  });
  after(() => svc.close());

  it("answers 429 with a Retry-After of the time until a slot frees, counts queued and running jobs, and stays ready", async () => {
    const first = await submit(svc.url, { audio: AUDIO, image: IMAGE });
    const second = await submit(svc.url, { audio: AUDIO, image: IMAGE });
    await new Promise((r) => setTimeout(r, 300));
    const third = await submit(svc.url, { audio: AUDIO, image: IMAGE });
    assert.deepEqual([first.status, second.status, third.status], [202, 202, 429]);
    assert.equal(third.body.error.code, "queue_full");
    assert.match(third.body.error.message, /1 jobs queued and 1 running \(limit 2\)/);
    const retryAfter = Number(third.headers.get("retry-after"));
    // The running job (1 s of audio at 1.5 s per second) ends in about 1.2 s from now: not 30, not 510.
    assert.ok(retryAfter >= 1 && retryAfter <= 2, `Retry-After ${retryAfter}`);
    const { text } = await exposition(svc.url);
    const worker = (await exposition(svc.workerUrl)).text;
    assert.match(worker, /^sonic_jobs_in_progress 1$/m);
    assert.match(text, /^sonic_jobs_queued 1$/m);
    assert.match(worker, /^sonic_jobs_queued 1$/m);
    assert.match(text, /^sonic_request_total\{status="rejected"\} 1$/m);
    assert.match(text, /^sonic_job_submissions_total 4$/m);
    const ready = await fetch(`${svc.url}/readyz`);
    assert.equal(ready.status, 200, "a full backlog must not take the pod out of the Service");
  });

  it("refuses an upload against a full backlog before reading its body", async () => {
    await submit(svc.url, { audio: AUDIO, image: IMAGE });
    await submit(svc.url, { audio: AUDIO, image: IMAGE });
    const url = new URL(svc.url);
    // Headers of a 100 MB upload and not one byte of body: the answer must come anyway.
    const answer = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = httpRequest(
        {
          host: url.hostname,
          port: url.port,
          path: "/v1/videos",
          method: "POST",
          headers: {
            "content-type": "multipart/form-data; boundary=x",
            "content-length": String(SMALL_UPLOAD_LIMIT * 2),
          },
        },
        (res) => {
          let body = "";
          res.on("data", (d) => (body += d));
          res.on("end", () => resolve({ status: res.statusCode!, body }));
        },
      );
      req.on("error", reject);
      req.flushHeaders();
    });
    assert.equal(answer.status, 429, answer.body);
    assert.equal(JSON.parse(answer.body).error.code, "queue_full");
  });
});

/**
 * Sends the headers of a multipart upload with `Expect: 100-continue` and its body only once the server
 * answers `100 Continue`; resolves with what came back and whether the body was sent.
 */
function expectContinue(url: string, parts: Record<string, { data: Buffer; type: string }>) {
  const boundary = "continue-boundary";
  const raw = multipartBody(
    boundary,
    Object.entries(parts).map(([name, p]) => ({ name, ...p })),
  );
  return new Promise<{ continued: boolean; status: number; body: any }>((resolve, reject) => {
    let continued = false;
    const req = uploadRequest(url, boundary, raw, { expect: "100-continue" });
    req.on("continue", () => {
      continued = true;
      req.end(raw);
    });
    req.on("response", (res) => {
      let text = "";
      res.on("data", (d) => (text += d));
      res.on("end", () => resolve({ continued, status: res.statusCode!, body: JSON.parse(text) }));
    });
    req.on("error", reject);
    req.flushHeaders();
  });
}

/** A chunked multipart upload that trickles one byte every `everyMs`; resolves with the raw answer. */
function trickle(url: string, everyMs: number) {
  const u = new URL(url);
  return new Promise<string>((resolve) => {
    let answer = "";
    let timer: NodeJS.Timeout | undefined;
    const socket = connect(Number(u.port), u.hostname, () => {
      socket.write(
        "POST /v1/videos HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=x\r\nTransfer-Encoding: chunked\r\n\r\n",
      );
      timer = setInterval(() => socket.writable && socket.write("1\r\n-\r\n"), everyMs);
    });
    socket.on("data", (d) => (answer += d));
    socket.on("error", () => undefined);
    socket.on("close", () => {
      clearInterval(timer);
      resolve(answer);
    });
    setTimeout(() => socket.destroy(), 20_000);
  });
}

describe("admission of submissions", function () {
  this.timeout(60_000);

  it("answers Expect: 100-continue with the refusal itself, never 100 Continue, and continues an admitted upload", async () => {
    const svc = await startService(redis, { ...FAST, SONIC_BACKLOG_LIMIT: "1" });
    try {
      const admitted = await expectContinue(svc.url, { audio: AUDIO, image: IMAGE });
      assert.deepEqual([admitted.continued, admitted.status], [true, 202], JSON.stringify(admitted.body));
      await waitForJob(svc.url, admitted.body.id);
      await setFaults(svc.modelServerUrl, { unready: true });
      await new Promise((r) => setTimeout(r, 300));
      assert.equal((await submit(svc.url, { audio: AUDIO, image: IMAGE })).status, 202);
      const refused = await Promise.all(
        Array.from({ length: 4 }, () => expectContinue(svc.url, { audio: AUDIO, image: IMAGE })),
      );
      assert.deepEqual(
        refused.map((r) => [r.continued, r.status, r.body.error.code]),
        Array.from({ length: 4 }, () => [false, 429, "queue_full"]),
      );
    } finally {
      await svc.close();
    }
  });

  it("admits exactly the backlog limit of 40 concurrent submissions across two replicas", async () => {
    const queue = `test-${crypto.randomUUID().slice(0, 8)}`;
    const env = { ...FAST, SONIC_QUEUE_NAME: queue, SONIC_BACKLOG_LIMIT: "5" };
    const replicas = [await startService(redis, env), await startService(redis, env)];
    try {
      await Promise.all(replicas.map((r) => setFaults(r.modelServerUrl, { unready: true })));
      await new Promise((r) => setTimeout(r, 300));
      const answers = await Promise.all(
        Array.from({ length: 40 }, (_, i) => submit(replicas[i % 2].url, { audio: AUDIO, image: IMAGE })),
      );
      const accepted = answers.filter((a) => a.status === 202).length;
      assert.equal(accepted, 5, `${accepted} of 40 accepted with a backlog limit of 5`);
      assert.deepEqual(
        [...new Set(answers.filter((a) => a.status !== 202).map((a) => `${a.status} ${a.body.error.code}`))],
        ["429 queue_full"],
      );
    } finally {
      for (const r of replicas) await r.close();
    }
  });

  it("refuses concurrent submissions to a full backlog with queue_full and its estimate, not uploads_busy", async () => {
    const svc = await startService(redis, {
      SONIC_SIM_RTF: "1.5",
      SONIC_BACKLOG_LIMIT: "2",
      // Room for one of these uploads at a time.
      SONIC_UPLOAD_BYTES_IN_FLIGHT: String(60 * 1024),
    });
    try {
      await waitForJob(svc.url, (await submit(svc.url, { audio: AUDIO, image: IMAGE })).body.id);
      assert.equal((await submit(svc.url, { audio: AUDIO, image: IMAGE })).status, 202);
      assert.equal((await submit(svc.url, { audio: AUDIO, image: IMAGE })).status, 202);
      const refused = await Promise.all(
        Array.from({ length: 10 }, () => submit(svc.url, { audio: AUDIO, image: IMAGE })),
      );
      assert.deepEqual(
        refused.map((r) => `${r.status} ${r.body.error?.code}`),
        Array.from({ length: 10 }, () => "429 queue_full"),
      );
      for (const r of refused) {
        const seconds = Number(r.headers.get("retry-after"));
        assert.ok(
          seconds >= 1 && seconds <= 3,
          `Retry-After ${seconds}: the time until the running job ends`,
        );
      }
    } finally {
      await svc.close();
    }
  });

  /**
   * Four chunked uploads trickling at 50 B/s to one replica (reconnecting as soon as they are cut, when
   * `reconnect`), and beside them eight normal submissions, one every 2.1 s, each tried once. Resolves
   * with the normal ones' answers and what the slow clients were answered.
   */
  async function normalBesideTrickles(url: string, reconnect: boolean) {
    let trickling = true;
    const cuts: string[] = [];
    const slow = Array.from({ length: 4 }, async () => {
      do cuts.push(await trickle(url, 20));
      while (reconnect && trickling);
    });
    // The trickles are in before the first normal submission.
    await new Promise((r) => setTimeout(r, 300));
    const answers = await Promise.all(
      Array.from({ length: 8 }, async (_, i) => {
        await new Promise((r) => setTimeout(r, i * 2_100));
        return submit(url, { audio: AUDIO, image: IMAGE });
      }),
    );
    trickling = false;
    await Promise.all(slow);
    return { answers, cuts };
  }

  /** The service of the slow-client tests: the default rate window (5 s) and minimum rate. */
  const slowClientEnv = {
    ...FAST,
    SONIC_BACKLOG_LIMIT: "100",
    SONIC_MAX_UPLOAD_BYTES: String(SMALL_UPLOAD_LIMIT),
  };

  it("serves at least 7 of 8 normal submissions, one every 2.1 s, while four chunked uploads trickle to the same replica", async function () {
    this.timeout(180_000); // about 20 s of traffic, and a loaded machine's start-up
    const svc = await startService(redis, slowClientEnv);
    try {
      const { answers, cuts } = await normalBesideTrickles(svc.url, false);
      const served = answers.filter((a) => a.status === 202).length;
      console.log(`      (${served} of 8 served beside ${cuts.length} trickles)`);
      assert.ok(
        served >= 7,
        `${served} of 8 served: ${answers.map((a) => a.body.error?.code ?? a.status).join(", ")}`,
      );
      // The minimum receive rate still cuts each trickle.
      for (const answer of cuts) assert.match(answer, /^HTTP\/1\.1 408 [^]*"code":"upload_too_slow"/);
    } finally {
      await svc.close();
    }
  });

  it("serves at least 7 of 8 normal submissions while four trickling clients reconnect as soon as they are cut", async function () {
    this.timeout(180_000);
    const svc = await startService(redis, slowClientEnv);
    try {
      const { answers, cuts } = await normalBesideTrickles(svc.url, true);
      const served = answers.filter((a) => a.status === 202).length;
      console.log(`      (${served} of 8 served beside ${cuts.length} trickles)`);
      assert.ok(
        served >= 7,
        `${served} of 8 served beside ${cuts.length} trickles: ${answers.map((a) => a.body.error?.code ?? a.status).join(", ")}`,
      );
      assert.ok(cuts.length >= 8, `the slow clients came back ${cuts.length - 4} times, not at least 4`);
      assert.ok(
        cuts.every((c) => c === "" || /^HTTP\/1\.1 408 /.test(c)),
        `a trickle was answered otherwise than 408: ${cuts.find((c) => !/^HTTP\/1\.1 408 /.test(c))}`,
      );
    } finally {
      await svc.close();
    }
  });
});

describe("the upload budget of a replica", () => {
  it("holds what has arrived of each upload, so four trickles hold four first steps, not four bodies", () => {
    const budget = new UploadBudget(1024 * 1024, 1024 * 1024);
    const trickles = Array.from({ length: 4 }, () => budget.open("192.0.2.1", undefined) as UploadHold);
    assert.equal(budget.inUse, 4 * FIRST_STEP_BYTES);
    for (const t of trickles) assert.equal(t.arrived(100), undefined);
    assert.equal(budget.inUse, 4 * FIRST_STEP_BYTES, "bytes within the first step take nothing more");
    const fast = budget.open("192.0.2.2", 500 * 1024) as UploadHold;
    assert.equal(fast.holds, FIRST_STEP_BYTES, "a declared upload holds its first step, not its length");
    assert.equal(fast.arrived(300 * 1024), undefined);
    assert.equal(fast.holds, 300 * 1024);
    fast.release();
    fast.release();
    for (const t of trickles) t.release();
    assert.equal(budget.inUse, 0, "each release gives back once what it held");
  });

  it("refuses an upload that does not fit, naming whose room is short: the replica's or the client's", () => {
    const budget = new UploadBudget(500 * 1024, 200 * 1024);
    const a = budget.open("192.0.2.1", 150 * 1024) as UploadHold;
    assert.equal(a.arrived(150 * 1024), undefined);
    assert.deepEqual(budget.open("192.0.2.1", 100 * 1024), {
      short: "client",
      client: "192.0.2.1",
      held: 150 * 1024,
      cap: 200 * 1024,
    });
    const b = budget.open("192.0.2.2", undefined) as UploadHold;
    assert.equal(b.arrived(200 * 1024), undefined);
    assert.deepEqual(b.arrived(60 * 1024), {
      short: "client",
      client: "192.0.2.2",
      held: 200 * 1024,
      cap: 200 * 1024,
    });
    assert.deepEqual(budget.open("192.0.2.3", 200 * 1024), {
      short: "replica",
      inUse: 350 * 1024,
      budget: 500 * 1024,
    });
    a.release();
    assert.ok(budget.open("192.0.2.1", 100 * 1024) instanceof UploadHold, "room again once one ends");
  });

  it("counts a request by the last entry of the trusted header, else by its connection's address", () => {
    const request = (headers: Record<string, string | string[]>, remoteAddress = "::ffff:10.1.2.3") =>
      ({ headers, socket: { remoteAddress } }) as never;
    assert.equal(clientAddress(request({})), "10.1.2.3");
    assert.equal(clientAddress(request({}, "2001:DB8::1")), "2001:db8::1");
    assert.equal(clientAddress(request({ "x-forwarded-for": "203.0.113.9" })), "10.1.2.3", "no header set");
    assert.equal(
      clientAddress(request({ "x-forwarded-for": "198.51.100.1, 203.0.113.9" }), "x-forwarded-for"),
      "203.0.113.9",
    );
    assert.equal(clientAddress(request({}), "x-forwarded-for"), "10.1.2.3", "a caller beside the proxy");
    assert.throws(() => clientAddress(request({ "x-real-ip": "203.0.113.9, me" }), "x-real-ip"), {
      message: `header 'x-real-ip' must end with the client's IP address, got "203.0.113.9, me"`,
    });
  });
});

describe("the upload share of one client address, behind a proxy", function () {
  this.timeout(60_000);
  const FILE_LIMIT = 128 * 1024;
  /** Over half of a client's share (one largest submission: 2 x 128 KiB + 64 KiB), in two files. */
  const audio = { data: wav((120 * 1024) / 32000), type: "audio/wav" };
  const image = { data: paddedPng(60 * 1024), type: "image/png" };

  /** A submission as the proxy forwards it; `hold` keeps its last 100 bytes until `finish`. */
  function forwarded(url: string, xff: string | undefined, hold = false) {
    const boundary = "proxy-boundary";
    const raw = multipartBody(boundary, [
      { name: "audio", ...audio },
      { name: "image", ...image },
    ]);
    const req = uploadRequest(url, boundary, raw, xff === undefined ? {} : { "x-forwarded-for": xff });
    const answer = new Promise<{ status: number; body: any }>((resolve, reject) => {
      req.on("response", (res) => {
        let text = "";
        res.on("data", (d) => (text += d));
        res.on("end", () => resolve({ status: res.statusCode!, body: JSON.parse(text) }));
      });
      req.on("error", reject);
    });
    if (!hold) {
      req.end(raw);
      return { answer, finish: () => answer };
    }
    req.write(raw.subarray(0, raw.length - 100));
    return { answer, finish: () => (req.end(raw.subarray(raw.length - 100)), answer) };
  }

  it("caps what one client address holds, counting it by the last x-forwarded-for entry, and refuses a bad one with 400", async () => {
    const svc = await startService(redis, {
      ...FAST,
      SONIC_MAX_UPLOAD_BYTES: String(FILE_LIMIT),
      SONIC_UPLOAD_BYTES_PER_CLIENT: String(2 * FILE_LIMIT + 64 * 1024),
      SONIC_UPLOAD_BYTES_IN_FLIGHT: String(4 * 1024 * 1024),
      SONIC_CLIENT_ADDRESS_HEADER: "X-Forwarded-For",
      // The held upload below must not be cut for its pause, nor hold up the shutdown when a check fails.
      SONIC_MIN_UPLOAD_BYTES_PER_SECOND: "0",
      SONIC_SHUTDOWN_GRACE_SECONDS: "1",
    });
    try {
      const held = forwarded(svc.url, "198.51.100.1, 203.0.113.7", true);
      await until(() => svc.api.uploads.heldBy("203.0.113.7") > 170 * 1024, "the held upload to arrive");
      // Same address, whatever the client claims in front of it: its share is taken.
      for (const xff of ["203.0.113.7", "203.0.113.8, 203.0.113.7"]) {
        const refused = await forwarded(svc.url, xff).answer;
        assert.equal(refused.status, 429, JSON.stringify(refused.body));
        assert.equal(refused.body.error.code, "uploads_busy");
        assert.match(
          refused.body.error.message,
          /^uploads from 203\.0\.113\.7 hold \d+ bytes on this replica/,
        );
      }
      assert.equal((await forwarded(svc.url, "203.0.113.8").answer).status, 202, "another client is served");
      assert.equal((await forwarded(svc.url, undefined).answer).status, 202, "a caller beside the proxy too");
      const bad = await forwarded(svc.url, "not-an-address").answer;
      assert.deepEqual(bad, {
        status: 400,
        body: {
          error: {
            code: "bad_request",
            message: `header 'x-forwarded-for' must end with the client's IP address, got "not-an-address"`,
            field: "x-forwarded-for",
          },
        },
      });
      assert.equal((await held.finish()).status, 202);
      assert.equal((await forwarded(svc.url, "203.0.113.7").answer).status, 202, "its share is free again");
      assert.equal(svc.api.uploads.inUse, 0);
    } finally {
      await svc.close();
    }
  });
});

describe("fault switches of the simulated model server", function () {
  this.timeout(30_000);
  let svc: RunningService;
  before(async () => {
    svc = await startService(redis, FAST);
  });
  after(() => svc.close());

  it("fail jobs, raise GPU memory and shift A/V offset on demand, count failures by reason, and reject bad switch values", async () => {
    const set = await setFaults(svc.modelServerUrl, {
      errorRate: 1,
      gpuMemoryPressure: 0.95,
      avOffsetSeconds: 0.4,
    });
    assert.equal(set.status, 200);
    const job = await waitForJob(svc.url, (await submit(svc.url, { audio: AUDIO, image: IMAGE })).body.id);
    assert.equal(job.status, "failed");
    assert.deepEqual(job.failure, {
      reason: "inference_error",
      message: "model server answered 500 (inference_error)",
    });
    await setFaults(svc.modelServerUrl, { errorRate: 0, oomRate: 1 });
    const oom = await waitForJob(svc.url, (await submit(svc.url, { audio: AUDIO, image: IMAGE })).body.id);
    assert.equal(oom.failure.reason, "gpu_out_of_memory");
    await setFaults(svc.modelServerUrl, { oomRate: 0 });
    const ok = await waitForJob(svc.url, (await submit(svc.url, { audio: AUDIO, image: IMAGE })).body.id);
    assert.ok(ok.result.video_seconds - 1 >= 0.4);
    const bad = await setFaults(svc.modelServerUrl, { errorRate: 2 });
    assert.equal(bad.status, 400);
    assert.match(((await bad.json()) as any).error.message, /^errorRate: /);
    const { text } = await exposition(svc.workerUrl);
    assert.match(text, /^sonic_request_total\{status="server_error"\} 2$/m);
    assert.match(text, /^sonic_job_failures_total\{reason="inference_error"\} 1$/m);
    assert.match(text, /^sonic_job_failures_total\{reason="gpu_out_of_memory"\} 1$/m);
    assert.match(text, /^sonic_gpu_memory_used_bytes\{gpu="0"\} /m);
  });

  it("pulls no job while the model server is not ready, and runs it once it is", async () => {
    await setFaults(svc.modelServerUrl, { unready: true });
    await new Promise((r) => setTimeout(r, 300));
    const res = await submit(svc.url, { audio: AUDIO, image: IMAGE });
    assert.equal(res.status, 202, "the API accepts jobs while its model server loads");
    await new Promise((r) => setTimeout(r, 500));
    assert.equal(
      ((await (await fetch(`${svc.url}/v1/videos/${res.body.id}`)).json()) as any).status,
      "queued",
    );
    await setFaults(svc.modelServerUrl, { unready: false });
    assert.equal((await waitForJob(svc.url, res.body.id)).status, "succeeded");
  });
});

describe("the HTTP client of the model server (against a stand-in server)", function () {
  this.timeout(30_000);
  let worker: Server;
  let workerUrl: string;
  const calls: string[] = [];
  let mode: "ok" | "flaky" | "oom" | "reject" | "breaks-off" = "ok";
  let flakyLeft = 0;
  before(async () => {
    worker = createServer((req, res) => {
      calls.push(`${req.method} ${req.url}`);
      let size = 0;
      req.on("data", (chunk: Buffer) => (size += chunk.length));
      req.on("end", () => {
        res.setHeader("content-type", "application/json");
        if (req.url === "/healthz") {
          return res.end(
            JSON.stringify({
              ready: true,
              gpus: [{ index: 0, memory_used_bytes: 5e9, memory_total_bytes: 24e9 }],
            }),
          );
        }
        if (mode === "flaky" && flakyLeft-- > 0) {
          res.statusCode = 503;
          return res.end("{}");
        }
        if (mode === "breaks-off" && flakyLeft-- > 0) {
          // Headers and half a body, then the connection drops: a crash mid-reply.
          res.writeHead(200, { "content-length": "200" });
          res.write('{"video_url": "s3://vid');
          return setTimeout(() => res.socket?.destroy(), 20);
        }
        if (mode === "oom") {
          res.statusCode = 500;
          return res.end(JSON.stringify({ error: { code: "gpu_out_of_memory" } }));
        }
        if (mode === "reject") {
          res.statusCode = 422;
          return res.end(JSON.stringify({ error: { code: "bad_portrait" } }));
        }
        return res.end(
          JSON.stringify({
            video_url: `s3://videos/${size}.mp4`,
            video_duration_seconds: 1.03,
            stages: { audio_decode_seconds: 0.2, video_render_seconds: 17 },
          }),
        );
      });
    });
    await new Promise<void>((r) => worker.listen(0, "127.0.0.1", r));
    workerUrl = `http://127.0.0.1:${(worker.address() as AddressInfo).port}`;
  });
  after(() => worker.close());

  async function withWorker(fn: (svc: RunningService) => Promise<void>) {
    const svc = await startService(redis, {
      SONIC_MODEL_SERVER_URL: workerUrl,
      SONIC_MODEL_SERVER_RETRIES: "2",
      SONIC_GPU_SAMPLE_SECONDS: "0.1",
    });
    try {
      await fn(svc);
    } finally {
      await svc.close();
    }
  }

  it("posts the job to the worker and records its stage timings and A/V offset", async () => {
    mode = "ok";
    await withWorker(async (svc) => {
      const job = await waitForJob(svc.url, (await submit(svc.url, { audio: AUDIO, image: IMAGE })).body.id);
      assert.equal(job.status, "succeeded");
      assert.match(job.result.location, /^s3:\/\/videos\/\d+\.mp4$/);
      assert.ok(
        Number(job.result.location.match(/videos\/(\d+)/)[1]) > AUDIO.data.length,
        "the upload reached the worker",
      );
      const { text } = await exposition(svc.workerUrl);
      assert.match(text, /^sonic_video_render_duration_seconds_sum 17$/m);
      assert.match(text, /^sonic_av_sync_offset_seconds_bucket\{le="0.05"\} 1$/m);
    });
  });

  it("retries a 503 from the worker and succeeds", async () => {
    mode = "flaky";
    flakyLeft = 2;
    calls.length = 0;
    await withWorker(async (svc) => {
      const job = await waitForJob(svc.url, (await submit(svc.url, { audio: AUDIO, image: IMAGE })).body.id);
      assert.equal(job.status, "succeeded");
      assert.equal(calls.filter((c) => c === "POST /v1/generate").length, 3);
    });
  });

  it("maps the worker's out-of-memory and rejection to failure reasons without retrying", async () => {
    await withWorker(async (svc) => {
      mode = "oom";
      calls.length = 0;
      const oom = await waitForJob(svc.url, (await submit(svc.url, { audio: AUDIO, image: IMAGE })).body.id);
      assert.equal(oom.failure.reason, "gpu_out_of_memory");
      mode = "reject";
      const rejected = await waitForJob(
        svc.url,
        (await submit(svc.url, { audio: AUDIO, image: IMAGE })).body.id,
      );
      assert.equal(rejected.failure.reason, "worker_rejected");
      assert.equal(calls.filter((c) => c === "POST /v1/generate").length, 2);
    });
  });

  it("retries a reply that breaks off mid-body with the same job_id, and succeeds", async () => {
    mode = "breaks-off";
    flakyLeft = 1;
    calls.length = 0;
    await withWorker(async (svc) => {
      const job = await waitForJob(svc.url, (await submit(svc.url, { audio: AUDIO, image: IMAGE })).body.id);
      assert.equal(job.status, "succeeded", JSON.stringify(job.failure));
      assert.equal(calls.filter((c) => c === "POST /v1/generate").length, 2);
    });
  });

  it("reports GPU memory from the model server's health endpoint when nvidia-smi is absent", async () => {
    mode = "ok";
    await withWorker(async (svc) => {
      assert.equal((await fetch(`${svc.url}/readyz`)).status, 200);
      await new Promise((r) => setTimeout(r, 300));
      const { text } = await exposition(svc.workerUrl);
      assert.match(text, /^sonic_gpu_memory_used_bytes\{gpu="0"\} 5000000000$/m);
      assert.match(text, /^sonic_gpu_memory_total_bytes\{gpu="0"\} 24000000000$/m);
    });
  });
});

describe("GPU memory from nvidia-smi", function () {
  this.timeout(20_000);
  it("parses nvidia-smi's CSV in MiB per GPU and refuses a line it cannot read", () => {
    assert.deepEqual(parseNvidiaSmiCsv("0, 20480, 24576\n1, 1024, 24576\n"), [
      { index: 0, usedBytes: 20480 * 1048576, totalBytes: 24576 * 1048576 },
      { index: 1, usedBytes: 1024 * 1048576, totalBytes: 24576 * 1048576 },
    ]);
    assert.throws(() => parseNvidiaSmiCsv("0, [N/A], 24576"), {
      message: 'unreadable nvidia-smi line: "0, [N/A], 24576"',
    });
  });

  it("exports what the nvidia-smi binary prints, in preference to the backend's figures", async () => {
    const dir = mkdtempSync(path.join(tmpdir(), "fake-smi-"));
    const smi = path.join(dir, "nvidia-smi");
    writeFileSync(
      smi,
      '#!/bin/sh\n[ "$1" = "--query-gpu=index,memory.used,memory.total" ] || exit 3\necho "0, 23000, 24576"\n',
    );
    chmodSync(smi, 0o755);
    const svc = await startService(redis, {
      ...FAST,
      SONIC_NVIDIA_SMI: smi,
      SONIC_GPU_SAMPLE_SECONDS: "0.1",
    });
    try {
      await new Promise((r) => setTimeout(r, 400));
      const { text } = await exposition(svc.workerUrl);
      assert.match(text, new RegExp(`^sonic_gpu_memory_used_bytes\\{gpu="0"\\} ${23000 * 1048576}$`, "m"));
    } finally {
      await svc.close();
    }
  });
});

describe("service configuration", () => {
  const REDIS = { SONIC_REDIS_URL: "redis://127.0.0.1:6379" };
  it("names each bad environment variable and its value, and never echoes a password", () => {
    assert.throws(
      () =>
        loadApiConfig({
          ...REDIS,
          SONIC_BACKLOG_LIMIT: "-1",
          SONIC_BACKLOG_LIMT: "3",
          SONIC_REDIS_PASSWORD: "",
          SONIC_REDIS_PASSWORD_X: "hunter2-secret",
        }),
      (err: unknown) => {
        assert.ok(err instanceof ConfigError);
        assert.deepEqual(err.problems, [
          'SONIC_BACKLOG_LIMT: unknown variable (misspelt?), got "3"',
          "SONIC_REDIS_PASSWORD_X: unknown variable (misspelt?), got (secret, not shown)",
          "SONIC_BACKLOG_LIMIT: Too small: expected number to be >=1, got -1",
        ]);
        return true;
      },
    );
    assert.throws(
      () => loadWorkerConfig({ ...REDIS, SONIC_MODEL_SERVER_URL: "gpu", SONIC_REDIS_PASSWORD_X: "hunter2" }),
      (err: unknown) => {
        assert.ok(err instanceof ConfigError);
        assert.deepEqual(err.problems, [
          "SONIC_REDIS_PASSWORD_X: unknown variable (misspelt?), got (secret, not shown)",
          'SONIC_MODEL_SERVER_URL: Invalid URL, got "gpu"',
        ]);
        return true;
      },
    );
  });

  it("refuses the other tier's variables: a setting the program would ignore is an error", () => {
    assert.throws(() => loadApiConfig({ ...REDIS, SONIC_GPU_COUNT: "2" }), {
      message: 'invalid configuration:\n  SONIC_GPU_COUNT: unknown variable (misspelt?), got "2"',
    });
    assert.throws(() => loadWorkerConfig({ ...REDIS, SONIC_BACKLOG_LIMIT: "2" }), {
      message: 'invalid configuration:\n  SONIC_BACKLOG_LIMIT: unknown variable (misspelt?), got "2"',
    });
  });

  it("names a bad client address header, and raises a per-client upload share to one largest submission", () => {
    const base = { SONIC_REDIS_URL: "redis://127.0.0.1:6379", SONIC_MAX_UPLOAD_BYTES: "65536" };
    assert.throws(() => loadApiConfig({ ...base, SONIC_CLIENT_ADDRESS_HEADER: "x forwarded for" }), {
      message:
        /SONIC_CLIENT_ADDRESS_HEADER: expected a header name like x-forwarded-for, got "x forwarded for"/,
    });
    assert.equal(
      loadApiConfig({ ...base, SONIC_CLIENT_ADDRESS_HEADER: "X-Real-IP" }).SONIC_CLIENT_ADDRESS_HEADER,
      "X-Real-IP",
    );
    const budget = (env: Record<string, string>) => uploadBudgetOf(loadApiConfig({ ...base, ...env }));
    assert.deepEqual(budget({}), { bytes: 4 * 196608, perClientBytes: 2 * 196608 });
    assert.deepEqual(budget({ SONIC_UPLOAD_BYTES_PER_CLIENT: "100000" }), {
      bytes: 4 * 196608,
      perClientBytes: 196608,
    });
  });

  it("requires the Redis URL of the shared queue", () => {
    for (const load of [loadApiConfig, loadWorkerConfig])
      assert.throws(() => load({}), {
        message:
          "invalid configuration:\n  SONIC_REDIS_URL: Invalid input: expected string, received undefined, got nothing",
      });
    assert.throws(() => loadApiConfig({ SONIC_REDIS_URL: "localhost:6379" }), {
      message:
        'invalid configuration:\n  SONIC_REDIS_URL: expected a URL like redis://host:6379 or rediss://host:6380, got "localhost:6379"',
    });
  });
});

describe("metric cardinality", function () {
  this.timeout(60_000);
  /** The budget per pod the benchmark reports against (issue: at most 250 series). */
  const SERIES_BUDGET = 250;

  it("stays within 250 series per pod after every outcome and failure reason, whatever the clients send", async () => {
    const svc = await startService(redis, {
      ...FAST,
      SONIC_GPU_COUNT: "2",
      SONIC_BACKLOG_LIMIT: "2",
      SONIC_CONCURRENCY_PER_GPU: "1",
      SONIC_MAX_AUDIO_SECONDS: "3",
    });
    try {
      const keysOf = (fams: Map<string, { samples: { name: string; labels: Record<string, string> }[] }>) =>
        new Set(
          [...fams.values()].flatMap((f) => f.samples.map((x) => `${x.name}${JSON.stringify(x.labels)}`)),
        );
      const before = {
        api: keysOf((await exposition(svc.url)).families),
        worker: keysOf((await exposition(svc.workerUrl)).families),
      };
      const bad = [
        Buffer.alloc(0),
        wav(1).subarray(0, 100),
        Buffer.from("RIFF\0\0\0\0WAVExxxx"),
        Buffer.from("fLaC0000"),
        wav(4),
      ];
      const rounds = [];
      for (let i = 0; i < 40; i++) {
        rounds.push(
          submit(svc.url, { audio: { data: bad[i % bad.length], type: "audio/wav" }, image: IMAGE }),
        );
        rounds.push(submit(svc.url, { audio: AUDIO, image: IMAGE }));
        rounds.push(fetch(`${svc.url}/v1/videos/${crypto.randomUUID()}`));
        rounds.push(fetch(`${svc.url}/no/such/route/${i}`));
      }
      const answers = await Promise.all(rounds);
      assert.ok(
        answers.some((a) => a.status === 429),
        "no request was rejected for backpressure",
      );
      await setFaults(svc.modelServerUrl, { errorRate: 1 });
      let failing = await submit(svc.url, { audio: AUDIO, image: IMAGE });
      while (failing.status === 429) {
        await new Promise((r) => setTimeout(r, 20)); // the earlier jobs still hold both GPU slots
        failing = await submit(svc.url, { audio: AUDIO, image: IMAGE });
      }
      await waitForJob(svc.url, failing.body.id);
      await new Promise((r) => setTimeout(r, 200));
      const statuses: string[] = [];
      for (const tier of ["api", "worker"] as const) {
        const { text, families } = await exposition(tier === "api" ? svc.url : svc.workerUrl);
        const after = seriesCount(text);
        statuses.push(
          ...families
            .get("sonic_request_total")!
            .samples.filter((s) => s.value > 0)
            .map((s) => s.labels.status),
        );
        // The budget is per pod: an API pod or a worker pod each stays within it.
        assert.ok(after <= SERIES_BUDGET, `${after} series on the ${tier}`);
        // Traffic adds no series of ours (every label value is pre-initialised from a closed set); only
        // prom-client's own gain one: its GC histogram per GC kind the first time that kind runs, and its
        // active handles/requests/resources per libuv type alive at the scrape (a socket shutting down shows
        // as ShutdownWrap): both closed sets of Node's, and the budget above bounds them.
        const added = [...keysOf(families)].filter((k) => !before[tier].has(k));
        const nodeOwn = /^sonic_nodejs_(gc_duration_seconds|active_(handles|requests|resources))/;
        assert.deepEqual(
          added.filter((k) => !nodeOwn.test(k)),
          [],
          tier,
        );
      }
      assert.deepEqual(statuses.sort(), ["client_error", "rejected", "server_error", "success"]);
    } finally {
      await svc.close();
    }
  });
});

describe("the API at the edges of HTTP", function () {
  this.timeout(30_000);
  let svc: RunningService;
  before(async () => {
    svc = await startService(redis, { ...FAST, SONIC_REQUEST_TIMEOUT_SECONDS: "1" });
  });
  after(() => svc.close());

  /**
   * Sends headers, then a chunked body that never ends, on a raw socket; resolves with what the server
   * answered once it closes the connection.
   */
  function endlessBody(contentType: string, chunk: Buffer, everyMs: number) {
    const url = new URL(svc.url);
    return new Promise<{ answer: string; sent: number; seconds: number }>((resolve) => {
      const started = Date.now();
      let sent = 0;
      let answer = "";
      const frame = Buffer.concat([
        Buffer.from(`${chunk.length.toString(16)}\r\n`),
        chunk,
        Buffer.from("\r\n"),
      ]);
      let timer: NodeJS.Timeout | undefined;
      const socket = connect(Number(url.port), url.hostname, () => {
        socket.write(
          `POST /v1/videos HTTP/1.1\r\nHost: x\r\nContent-Type: ${contentType}\r\nTransfer-Encoding: chunked\r\n\r\n`,
        );
        // The body only once the headers are written: a socket buffers writes made before connect.
        timer = setInterval(() => {
          if (socket.writable) socket.write(frame, (err) => (err ? undefined : (sent += chunk.length)));
        }, everyMs);
      });
      socket.on("data", (d) => (answer += d));
      const done = () => {
        clearInterval(timer);
        resolve({ answer, sent, seconds: (Date.now() - started) / 1000 });
      };
      socket.on("error", () => undefined);
      socket.on("close", done);
      setTimeout(() => socket.destroy(), 10_000);
    });
  }

  it("closes the connection of an endless body after its error reply instead of reading on", async () => {
    const outcome = await endlessBody("application/octet-stream", Buffer.alloc(256 * 1024, 1), 1);
    // The reply comes first; a client still writing may see the close as a reset and lose it (TCP),
    // which is why well-behaved clients send Expect: 100-continue with large bodies.
    if (outcome.answer) assert.match(outcome.answer, /^HTTP\/1\.1 415 [^]*connection: close/i);
    assert.ok(outcome.seconds < 5, `connection held for ${outcome.seconds}s`);
    assert.ok(outcome.sent < 64 * 1024 * 1024, `${outcome.sent} bytes accepted after the reply`);
  });

  it("cuts off a trickled upload once the request timeout passes", async () => {
    const outcome = await endlessBody("multipart/form-data; boundary=x", Buffer.from("-"), 200);
    assert.ok(
      outcome.seconds >= 0.9 && outcome.seconds < 4,
      `trickle held the connection ${outcome.seconds}s`,
    );
    assert.equal((await fetch(`${svc.url}/healthz`)).status, 200);
  });

  it("answers a text field with the documented 400, not 413", async () => {
    const body = new FormData();
    body.set("audio", "not a file");
    body.set("image", new Blob([IMAGE.data], { type: "image/png" }), "p.png");
    const res = await fetch(`${svc.url}/v1/videos`, { method: "POST", body });
    assert.equal(res.status, 400);
    assert.equal(((await res.json()) as any).error.code, "bad_request");
  });
});

describe("the bound on the job store's memory", function () {
  this.timeout(60_000);
  const UPLOAD = 256 * 1024;
  const LIMIT = 4;

  it("holds at most backlog limit x two capped uploads of inputs, each with a TTL, and frees them when jobs finish", async () => {
    const svc = await startService(redis, {
      ...FAST,
      SONIC_BACKLOG_LIMIT: String(LIMIT),
      SONIC_MAX_UPLOAD_BYTES: String(UPLOAD),
      // Room for two of these uploads at once: the backlog admission counts uploads in flight too.
      SONIC_UPLOAD_BYTES_IN_FLIGHT: String(3 * UPLOAD),
      SONIC_INPUT_TTL_SECONDS: "600",
    });
    try {
      const redisInfo = async () =>
        Number((await svc.api.queue.redis.info("memory")).match(/^used_memory:(\d+)/m)![1]);
      await setFaults(svc.modelServerUrl, { unready: true });
      await new Promise((r) => setTimeout(r, 300));
      const before = await redisInfo();
      // The largest audio the cap admits (just under 256 KiB), a hundred times over the limit.
      const audio = { data: wav((UPLOAD - 1024) / 32000), type: "audio/wav" };
      const answers = await Promise.all(
        Array.from({ length: 100 }, () => submit(svc.url, { audio, image: IMAGE })),
      );
      const accepted = answers.filter((a) => a.status === 202);
      assert.equal(accepted.length, LIMIT, `${accepted.length} accepted`);
      const refused = answers.filter((a) => a.status === 429).map((a) => a.body.error.code);
      assert.equal(refused.length, 100 - accepted.length, "every other upload was refused, none failed");
      assert.ok(refused.every((c) => c === "queue_full" || c === "uploads_busy"));
      const grown = (await redisInfo()) - before;
      const bound = accepted.length * (2 * UPLOAD + 16 * 1024);
      assert.ok(grown <= bound, `Redis grew ${grown} bytes for ${accepted.length} jobs; bound ${bound}`);
      for (const a of accepted) {
        const ttl = await svc.api.queue.redis.ttl((svc.api.queue.inputs as RedisInputStore).key(a.body.id));
        assert.ok(ttl > 500 && ttl <= 600, `inputs of ${a.body.id} expire in ${ttl}s`);
      }
      await setFaults(svc.modelServerUrl, { unready: false });
      for (const a of accepted) await waitForJob(svc.url, a.body.id);
      const left = await svc.api.queue.redis.exists(
        ...accepted.map((a) => (svc.api.queue.inputs as RedisInputStore).key(a.body.id)),
      );
      assert.equal(left, 0, "inputs of finished jobs are deleted");
    } finally {
      await svc.close();
    }
  });
});
