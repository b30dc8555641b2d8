import * as assert from "node:assert/strict";
import { Agent, request } from "node:http";
import { multipartBody, png, wav } from "../../testkit/media";
import { sharedRedis } from "../../testkit/redis";
import { RunningService, startService } from "../../testkit/service";

/** Small seeded PRNG (mulberry32): a failing run can be replayed from the seed it prints. */
function prng(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const VALID_AUDIO = wav(0.5);
const VALID_IMAGE = png(32, 32);

function multipart(boundary: string, parts: [string, Buffer][]): Buffer {
  return multipartBody(
    boundary,
    parts.map(([name, data]) => ({ name, type: "application/octet-stream", data })),
  );
}

/**
 * One request that must be refused: every generator breaks at least one thing the API checks, so a
 * 2xx is as much a failure as a 5xx or a crash.
 */
function badRequest(random: () => number): { contentType?: string; body: Buffer; kind: string } {
  const bytes = (n: number) => Buffer.from(Array.from({ length: n }, () => Math.floor(random() * 256)));
  const pick = <T>(items: T[]) => items[Math.floor(random() * items.length)];
  const boundary = `b${Math.floor(random() * 1e9)}`;
  const mpType = `multipart/form-data; boundary=${boundary}`;
  switch (Math.floor(random() * 6)) {
    case 0:
      return {
        kind: "random bytes",
        contentType: pick([
          mpType,
          "application/json",
          "text/plain",
          "application/octet-stream",
          "audio/wav",
          undefined,
        ]),
        body: bytes(Math.floor(random() * 4096)),
      };
    case 1: {
      // RIFF magic broken, plus random damage anywhere in the header
      const audio = Buffer.from(VALID_AUDIO);
      for (let i = 0; i < 4; i++) audio[Math.floor(random() * 44)] = Math.floor(random() * 256);
      audio[Math.floor(random() * 4)] ^= 1 + Math.floor(random() * 255); // last, so nothing restores it
      return {
        kind: "mutated audio header",
        contentType: mpType,
        body: multipart(boundary, [
          ["audio", audio],
          ["image", VALID_IMAGE],
        ]),
      };
    }
    case 2: {
      const audio = VALID_AUDIO.subarray(0, Math.floor(random() * (VALID_AUDIO.length - 1)));
      return {
        kind: "truncated audio",
        contentType: mpType,
        body: multipart(boundary, [
          ["audio", audio],
          ["image", VALID_IMAGE],
        ]),
      };
    }
    case 3: {
      const image = Buffer.concat([bytes(8), VALID_IMAGE.subarray(8)]);
      image[0] = 0x42; // neither PNG's 0x89 nor JPEG's 0xff
      return {
        kind: "mutated image",
        contentType: mpType,
        body: multipart(boundary, [
          ["audio", VALID_AUDIO],
          ["image", image],
        ]),
      };
    }
    case 4: {
      const whole = multipart(boundary, [
        ["audio", VALID_AUDIO],
        ["image", VALID_IMAGE],
      ]);
      return {
        kind: "cut-off multipart",
        contentType: mpType,
        body: whole.subarray(0, Math.floor(random() * (whole.length - 8))),
      };
    }
    default: {
      const name = pick(["Audio", "img", "", "audio ", "file", "image[]"]);
      return {
        kind: "wrong field names",
        contentType: mpType,
        body: multipart(boundary, [
          [name, VALID_AUDIO],
          ["image", VALID_IMAGE],
        ]),
      };
    }
  }
}

function send(url: URL, agent: Agent, req: { contentType?: string; body: Buffer }): Promise<number> {
  return new Promise((resolve, reject) => {
    const r = request(
      {
        host: url.hostname,
        port: url.port,
        path: "/v1/videos",
        method: "POST",
        agent,
        headers: {
          ...(req.contentType ? { "content-type": req.contentType } : {}),
          "content-length": req.body.length,
        },
      },
      (res) => {
        res.resume();
        res.on("end", () => resolve(res.statusCode ?? 0));
      },
    );
    r.on("error", reject);
    r.end(req.body);
  });
}

describe("fuzzing the upload endpoint", function () {
  this.timeout(180_000);
  let svc: RunningService;
  before(async () => {
    svc = await startService(await sharedRedis(), { SONIC_SIM_RTF: "0.01", SONIC_BACKLOG_LIMIT: "1000" });
  });
  after(() => svc.close());

  it("answers 10,000 random and mutated bodies each with a 4xx and keeps serving", async () => {
    const seed = Number(process.env.FUZZ_SEED ?? Date.now() % 1e9);
    const random = prng(seed);
    const url = new URL(svc.url);
    const agent = new Agent({ keepAlive: true, maxSockets: 16 });
    const total = 10_000;
    const unexpected: string[] = [];
    let next = 0;
    const worker = async () => {
      while (next < total) {
        next++;
        const req = badRequest(random);
        let status: number;
        try {
          status = await send(url, agent, req);
        } catch (err) {
          status = -1;
          unexpected.push(`${req.kind}: ${(err as Error).message}`);
        }
        if (status < 400 || status >= 500) unexpected.push(`${req.kind}: ${status}`);
      }
    };
    await Promise.all(Array.from({ length: 16 }, worker));
    agent.destroy();
    assert.deepEqual(unexpected.slice(0, 10), [], `seed ${seed}: ${unexpected.length} unexpected answers`);
    const backlog = await svc.api.queue.backlog();
    const finished = await svc.api.queue.queue.getJobCounts("completed", "failed");
    assert.equal(
      backlog.queued + backlog.running + finished.completed + finished.failed,
      0,
      "a bad body was accepted as a job",
    );
    assert.equal((await fetch(`${svc.url}/healthz`)).status, 200);
  });
});
