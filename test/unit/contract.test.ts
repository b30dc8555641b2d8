import * as assert from "node:assert/strict";
import fc from "fast-check";
import { loadApiConfig } from "../../app/api/config";
import { loadWorkerConfig } from "../../app/worker/config";
import { loadAnalystConfig } from "../../app/analyst/server";
import { loadSimulatedModelServerConfig } from "../../app/simulated-model-server";
import {
  ANALYST_SETTINGS,
  analystModelEnv,
  API_SETTINGS,
  apiEnv,
  DRAIN_MARGIN_SECONDS,
  Setting,
  SettingsTable,
  SIMULATED_MODEL_SERVER_SETTINGS,
  simulatedModelServerEnv,
  WORKER_SETTINGS,
  workerEnv,
} from "../../contract";
import { parseStackConfig, SECRET_KEYS, SECRET_URLS } from "../../stacks/config";
import { readProjectConfig } from "../../testkit/stack-file";

/** Runs of each property; the total is printed so the note can quote it. */
const RUNS = 200;
let propertiesTried = 0;
const check = <T>(arb: fc.Arbitrary<T>, predicate: (value: T) => void) => {
  fc.assert(fc.property(arb, predicate), { numRuns: RUNS });
  propertiesTried += RUNS;
};

/** Each program, its table and its own parser, with the variables it cannot start without. */
const PROGRAMS: {
  name: string;
  table: SettingsTable;
  parse: (env: Record<string, string>) => unknown;
  base: Record<string, string>;
}[] = [
  {
    name: "the API",
    table: API_SETTINGS,
    parse: loadApiConfig,
    base: { SONIC_REDIS_URL: "redis://127.0.0.1:6379" },
  },
  {
    name: "the worker",
    table: WORKER_SETTINGS,
    parse: loadWorkerConfig,
    base: { SONIC_REDIS_URL: "redis://127.0.0.1:6379" },
  },
  {
    name: "the simulated model server",
    table: SIMULATED_MODEL_SERVER_SETTINGS,
    parse: loadSimulatedModelServerConfig,
    base: {},
  },
  {
    name: "the alert analyst",
    table: ANALYST_SETTINGS,
    parse: loadAnalystConfig,
    base: {
      ANALYST_PROMETHEUS_URL: "http://prometheus:9090",
      ANALYST_WEBHOOK_TOKEN_FILE: "/var/run/secrets/analyst/token",
    },
  },
];

/** Values the row documents as valid. */
function validValues(s: Setting): fc.Arbitrary<string | number | boolean> {
  switch (s.kind) {
    case "int":
      return fc.integer({ min: s.min, max: s.max });
    case "number":
      return fc.double({ min: s.min, max: s.max, noNaN: true, noDefaultInfinity: true });
    case "bool":
      return fc.boolean();
    case "enum":
      return fc.constantFrom(...s.values);
    case "text":
      if (s.url) return fc.webUrl({ validSchemes: ["http", "https"] }).filter((u) => URL.canParse(u));
      if (s.pattern) return fc.stringMatching(s.pattern).filter((v) => v.length > 0);
      return fc.string({ minLength: 1 }).filter((v) => v.trim() === v && v.length > 0);
  }
}

/** Values the row documents as invalid (outside the bounds, not an integer, not in the set). */
function invalidValues(s: Setting): fc.Arbitrary<string | number> | undefined {
  switch (s.kind) {
    case "int":
      return fc.oneof(
        fc.integer({ min: s.max + 1, max: s.max * 4 + 10 }),
        fc.integer({ min: s.min - 1000, max: s.min - 1 }),
        fc.double({ min: s.min, max: s.max, noNaN: true }).filter((v) => !Number.isInteger(v)),
      );
    case "number":
      return fc.oneof(
        fc.double({ min: s.max, max: s.max * 4 + 10, noNaN: true }).filter((v) => v > s.max),
        fc.double({ min: s.min - 1000, max: s.min, noNaN: true }).filter((v) => v < s.min),
      );
    case "enum":
      return fc.string({ minLength: 1 }).filter((v) => !s.values.includes(v) && v.trim() === v);
    case "text":
      return s.pattern ? fc.constant(" not valid ") : undefined;
    case "bool":
      return fc.constantFrom("yes", "1", "TRUE");
  }
}

const accepts = (parse: () => unknown) => {
  try {
    parse();
    return true;
  } catch {
    return false;
  }
};

describe("the settings contract (contract/): what the stack accepts, the pod accepts", () => {
  after(() => process.stdout.write(`      (${propertiesTried} generated cases tried)\n`));

  for (const { name, table, parse, base } of PROGRAMS) {
    for (const [env, setting] of Object.entries(table)) {
      it(`${name} accepts every documented value of ${env} and reads it back`, () => {
        check(validValues(setting), (value) => {
          const parsed = parse({ ...base, [env]: String(value) }) as Record<string, unknown>;
          if (typeof value === "number")
            assert.ok(Math.abs((parsed[env] as number) - value) <= 1e-9 * Math.abs(value));
          else assert.equal(parsed[env], value);
        });
      });
      const invalid = invalidValues(setting);
      if (invalid)
        it(`${name} refuses a value of ${env} outside its documented bounds, naming the variable and the value`, () => {
          check(invalid, (value) => {
            assert.throws(
              () => parse({ ...base, [env]: String(value) }),
              (err: Error) =>
                err.message.includes(`${env}: `) &&
                (setting.secret !== undefined ||
                  err.message.includes(JSON.stringify(value).replace(/^"|"$/g, ""))),
            );
          });
        });
    }
  }

  // The stack keys that become environment: the stack refuses exactly what a pod would refuse.
  const stack = readProjectConfig("dev");
  const secrets = new Set<string>(SECRET_KEYS);
  const sonic = JSON.parse(stack.sonic);
  const either = (s: { min: number; max: number }) =>
    fc.oneof(fc.integer({ min: s.min, max: s.max }), fc.integer({ min: s.min - 100, max: s.max * 2 + 100 }));
  const graceMax = API_SETTINGS.SONIC_SHUTDOWN_GRACE_SECONDS.max + DRAIN_MARGIN_SECONDS;
  const sonicArb = fc.record({
    gpuCount: either(WORKER_SETTINGS.SONIC_GPU_COUNT),
    concurrencyPerGpu: either(WORKER_SETTINGS.SONIC_CONCURRENCY_PER_GPU),
    backlogLimit: either(API_SETTINGS.SONIC_BACKLOG_LIMIT),
    maxUploadBytes: either(API_SETTINGS.SONIC_MAX_UPLOAD_BYTES),
    jobHistory: either(API_SETTINGS.SONIC_JOB_HISTORY),
    terminationGracePeriodSeconds: either({ min: 1, max: graceMax }),
    modelServerPort: either(SIMULATED_MODEL_SERVER_SETTINGS.PORT),
  });

  it("any sonic.* the stack accepts starts the api, worker and model-server containers; any value within the tables' bounds is accepted", () => {
    check(sonicArb, (v) => {
      const { modelServerPort, ...rest } = v;
      const config = {
        ...stack,
        sonic: JSON.stringify({
          ...sonic,
          ...rest,
          modelServer: { ...sonic.modelServer, port: modelServerPort },
        }),
      };
      const bounds: [number, { min: number; max: number }][] = [
        [v.gpuCount, WORKER_SETTINGS.SONIC_GPU_COUNT],
        [v.concurrencyPerGpu, WORKER_SETTINGS.SONIC_CONCURRENCY_PER_GPU],
        [v.backlogLimit, API_SETTINGS.SONIC_BACKLOG_LIMIT],
        [v.maxUploadBytes, API_SETTINGS.SONIC_MAX_UPLOAD_BYTES],
        [v.jobHistory, API_SETTINGS.SONIC_JOB_HISTORY],
        [v.terminationGracePeriodSeconds, { min: 1, max: graceMax }],
        [v.modelServerPort, SIMULATED_MODEL_SERVER_SETTINGS.PORT],
      ];
      const inBounds =
        bounds.every(([value, s]) => value >= s.min && value <= s.max) &&
        v.modelServerPort !== API_SETTINGS.PORT.default;
      const stackAccepts = accepts(() => parseStackConfig(config, secrets));
      assert.equal(
        stackAccepts,
        inBounds,
        `stack ${stackAccepts ? "accepted" : "refused"} ${JSON.stringify(v)}`,
      );
      if (!stackAccepts) return;
      const api = apiEnv({ ...rest, version: "1.0.0" });
      assert.ok(
        accepts(() => loadApiConfig({ ...api, SONIC_REDIS_URL: "redis://q:6379" })),
        JSON.stringify(api),
      );
      const worker = workerEnv({ ...rest, modelServerPort, version: "1.0.0" });
      assert.ok(
        accepts(() => loadWorkerConfig({ ...worker, SONIC_REDIS_URL: "redis://q:6379" })),
        JSON.stringify(worker),
      );
      const sim = simulatedModelServerEnv({
        port: modelServerPort,
        gpuCount: v.gpuCount,
        slots: v.gpuCount * v.concurrencyPerGpu,
      });
      assert.ok(
        accepts(() => loadSimulatedModelServerConfig(sim)),
        JSON.stringify(sim),
      );
    });
  });

  it("any analyst.model the stack accepts starts the analyst", () => {
    const analyst = { enabled: true };
    const arb = fc.record({
      url: fc.oneof(
        fc.webUrl().map((u) => u.replace(/\/?$/, "/v1")),
        fc.webUrl(),
      ),
      name: fc.string({ minLength: 0, maxLength: 8 }),
      timeoutSeconds: either(ANALYST_SETTINGS.ANALYST_MODEL_TIMEOUT_SECONDS),
    });
    check(arb, (model) => {
      const config = { ...stack, analyst: JSON.stringify({ ...analyst, model }) };
      if (!accepts(() => parseStackConfig(config, secrets))) return;
      const env = analystModelEnv(model);
      assert.ok(
        accepts(() =>
          loadAnalystConfig({
            ANALYST_PROMETHEUS_URL: "http://p:9090",
            ANALYST_WEBHOOK_TOKEN_FILE: "/var/run/secrets/analyst/token",
            ...env,
          }),
        ),
        JSON.stringify(env),
      );
    });
  });

  // The URL-shaped secrets: checked at the door like every key, their credentials never quoted.
  const token = fc.stringMatching(/^[a-z0-9]{10}$/).map((t) => `S3cr${t}`);
  const host = fc.domain().filter((d) => /[a-z]/.test(d));
  const port = fc.integer({ min: 1, max: 65535 });
  const validSecretUrls: Record<string, fc.Arbitrary<string>> = {
    queueRedisUrl: fc
      .record({
        scheme: fc.constantFrom("redis", "rediss"),
        password: fc.option(token, { nil: undefined }),
        host,
        port: fc.option(port, { nil: undefined }),
        db: fc.option(fc.integer({ min: 0, max: 15 }), { nil: undefined }),
      })
      .map(
        (u) =>
          `${u.scheme}://${u.password ? `:${u.password}@` : ""}${u.host}${u.port ? `:${u.port}` : ""}${u.db !== undefined ? `/${u.db}` : ""}`,
      ),
    slackWebhookUrl: token.map((t) => `https://hooks.slack.com/services/T0/B0/${t}`),
    alertWebhookUrl: fc.webUrl({ validSchemes: ["http", "https"] }).filter((u) => URL.canParse(u)),
  };
  /** A malformed value of `key`, and the secret part that must never be quoted. */
  const malformedSecretUrl = (key: string) =>
    fc.record({ secret: token, host, port, kind: fc.nat({ max: 5 }) }).map(({ secret, host, port, kind }) => {
      const redis = key === "queueRedisUrl";
      const scheme = redis ? "rediss" : "https";
      const withSecret = redis
        ? `${scheme}://:${secret}@${host}:${port}`
        : `${scheme}://${host}:${port}/${secret}`;
      const values = [
        withSecret.replace(/^[a-z]+:\/\//, ""), // no scheme: the issue's `host:6380`
        withSecret.replace(/^[a-z]+/, redis ? "https" : "redis"), // the other kind of URL
        withSecret.replace(/:\d+/, ":0"), // port 0
        `${withSecret} `, // a trailing space or line break from a pasted value
        redis ? `${withSecret}/${secret}` : withSecret.replace(host, ""), // a path that is no database; no host
        redis ? withSecret.replace(`:${secret}@`, `:${secret}#x@`) : `${scheme}:/${host}/${secret}`, // an unencoded '#'; one slash
      ];
      return { value: values[kind], secret };
    });

  for (const key of Object.keys(SECRET_URLS)) {
    it(`accepts every well-formed ${key}`, () => {
      check(validSecretUrls[key], (value) => {
        assert.doesNotThrow(() => parseStackConfig({ ...stack, [key]: value }, secrets), value);
      });
    });

    it(`refuses every malformed ${key} at preview, naming the key and never quoting its credentials`, () => {
      check(malformedSecretUrl(key), ({ value, secret }) => {
        assert.throws(
          () => parseStackConfig({ ...stack, [key]: value }, secrets),
          (err: Error) => {
            assert.match(err.message, new RegExp(`sonic-observability:${key}: expected `), value);
            assert.ok(!err.message.includes(secret), `${secret} quoted in: ${err.message}`);
            return true;
          },
        );
      });
    });
  }

  it("refuses sonic.concurrencyPerGpu 100 at preview, naming the key and the value (the pod would exit 2)", () => {
    const config = { ...stack, sonic: JSON.stringify({ ...sonic, concurrencyPerGpu: 100 }) };
    assert.throws(
      () => parseStackConfig(config, secrets),
      /sonic-observability:sonic\.concurrencyPerGpu: Too big: expected number to be <=64, got 100/,
    );
  });
});
