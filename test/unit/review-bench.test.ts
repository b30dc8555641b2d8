import { strict as assert } from "node:assert";
import { readFileSync } from "node:fs";
import * as path from "node:path";
import Ajv from "ajv";
import { CORPUS } from "../../bench/review-corpus";
import { diffRenders, immutableChanges } from "../../scripts/diff";
import type { RenderedObject } from "../../scripts/render";
import { strictSchema } from "../../testkit/offline-review";
import { REPO_ROOT } from "../../testkit/stack-file";

const object = (file: string, body: Record<string, unknown>): RenderedObject => ({
  file,
  kind: "",
  name: "",
  body,
});

describe("the review benchmark (npm run bench:review)", () => {
  it("has a corpus of at least 30 changes, 20 bad and 10 good, each edit applying exactly once to this tree", () => {
    assert.ok(CORPUS.length >= 30, String(CORPUS.length));
    assert.ok(CORPUS.filter((c) => c.verdict === "bad").length >= 20);
    assert.ok(CORPUS.filter((c) => c.verdict === "good").length >= 10);
    assert.equal(new Set(CORPUS.map((c) => c.id)).size, CORPUS.length, "ids are unique");
    const misses = CORPUS.flatMap((c) =>
      c.edits.flatMap((e) => {
        const n = readFileSync(path.join(REPO_ROOT, e.file), "utf8").split(e.from).length - 1;
        return n === 1 ? [] : [`${c.id}: ${e.file} holds its 'from' ${n} times`];
      }),
    );
    assert.deepEqual(misses, []);
    for (const c of CORPUS) assert.equal(c.verdict === "good", c.class === "good", c.id);
  });

  it("names a change to an immutable field, in a chart's object and in the program's own, and nothing else", () => {
    const before = [
      object("fleet-store/fleet.statefulset.vmstorage.yaml", {
        spec: {
          replicas: 3,
          volumeClaimTemplates: [{ spec: { resources: { requests: { storage: "200Gi" } } } }],
        },
      }),
      object("ai-inference.service.sonic.yaml", { spec: { ports: [{ port: 80 }] } }),
    ];
    const after = [
      object("fleet-store/fleet.statefulset.vmstorage.yaml", {
        spec: {
          replicas: 4,
          volumeClaimTemplates: [{ spec: { resources: { requests: { storage: "300Gi" } } } }],
        },
      }),
      object("ai-inference.service.sonic.yaml", { spec: { clusterIP: "None", ports: [{ port: 80 }] } }),
    ];
    assert.deepEqual(immutableChanges(diffRenders(before, after)), [
      { file: "ai-inference.service.sonic.yaml", path: "spec.clusterIP" },
      { file: "fleet-store/fleet.statefulset.vmstorage.yaml", path: "spec.volumeClaimTemplates" },
    ]);
  });

  it("validates custom resources as the API server does: an unknown field is refused, except where the schema keeps them", () => {
    const schema = {
      type: "object",
      properties: {
        spec: {
          type: "object",
          properties: {
            cooldownPeriod: { type: "integer" },
            advanced: { type: "object", "x-kubernetes-preserve-unknown-fields": true, properties: {} },
          },
        },
      },
    };
    const validate = new Ajv({ strict: false }).compile(strictSchema(schema));
    assert.equal(validate({ spec: { cooldownPeriod: 300, advanced: { anything: 1 } } }), true);
    assert.equal(validate({ spec: { cooldownPeriodSeconds: 300 } }), false);
    assert.equal(validate.errors?.[0]?.params?.additionalProperty, "cooldownPeriodSeconds");
  });
});
