import { toObjects } from "../scripts/render";
import { runStack } from "./run-stack";

/**
 * Prints `{ resources, objects }` of one checkout's stack as JSON for the offline review
 * (testkit/offline-review.ts): the program's own resources and every object, the charts rendered.
 *
 *   ts-node testkit/review-render.ts <stack> <checkout>
 */
const [stack, root] = process.argv.slice(2);
runStack(stack, { root }).then(
  (run) => {
    const resources = run.resources
      .filter((r) => r.custom && r.type.startsWith("kubernetes:"))
      .map((r) => ({ type: r.type, name: r.name, inputs: r.inputs }));
    process.stdout.write(JSON.stringify({ resources, objects: toObjects(run.resources, { charts: true }) }));
  },
  (error: unknown) => {
    process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(1);
  },
);
