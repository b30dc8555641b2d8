import { spawnSync } from "node:child_process";
import * as path from "node:path";
import { ROOT } from "../../cluster/paths";

/**
 * npm run test:cluster [spec...]: the live deploy suite. Starts this checkout's local cluster (npm run cluster
 * -- up), runs test/cluster/*.cluster.ts inside its network namespace, and always takes the cluster down
 * after (SONIC_KEEP_CLUSTER=1 keeps the last one for a post-mortem). Needs the tools of npm run setup:cluster.
 *
 * Without arguments it makes four passes: everything but the controllers' and the rehearsal's suites on
 * `generic` nodes, the prod stack again on a cluster of the flavour prod names (`eks`: its GPU node labels and
 * taints), the rehearsal's suite with no cluster of its own (npm run rehearse starts and stops its clusters),
 * and the controllers' suite on a cluster started with `--controllers`. With spec files (and mocha options such
 * as --grep) it makes one pass on SONIC_CLUSTER_FLAVOR (default generic), with the controllers when the
 * controllers' suite is among them, and without a cluster when the rehearsal's suite is.
 */
const node = [process.execPath, "-r", require.resolve("ts-node/register/transpile-only")];
const cli = path.join(__dirname, "..", "..", "cluster", "cli.ts");

interface Pass {
  flavor: string;
  /** Start the pod runtime (`cluster up --controllers`): the real operator, Prometheus, adapter, KEDA... */
  controllers: boolean;
  /** Start a cluster and run mocha inside its namespace; false for a suite that starts its own. @default true */
  cluster?: boolean;
  mochaArgs: string[];
}

/** The suite that needs the real controllers; the others run without them (less load on two cores). */
const CONTROLLERS_SPEC = "test/cluster/controllers.cluster.ts";
/** The suite of npm run rehearse, which starts and stops clusters itself. */
const REHEARSAL_SPEC = "test/cluster/rehearse.cluster.ts";

function run(argv: string[]): number {
  const result = spawnSync(argv[0], argv.slice(1), { stdio: "inherit", cwd: ROOT, env: process.env });
  return result.status ?? 1;
}

const mocha = [
  path.join(ROOT, "node_modules", ".bin", "mocha"),
  "--no-config",
  "-r",
  "ts-node/register/transpile-only",
  "--timeout",
  "1200000",
  "--reporter",
  "spec",
];

function runPass({ flavor, controllers, cluster = true, mochaArgs }: Pass, last: boolean): number {
  if (!cluster) {
    process.stdout.write(`test:cluster: no cluster of its own: ${mochaArgs.join(" ")}\n`);
    return run([...mocha, ...mochaArgs]);
  }
  process.stdout.write(
    `test:cluster: ${flavor} nodes${controllers ? " with controllers" : ""}: ${mochaArgs.join(" ")}\n`,
  );
  let status = run([...node, cli, "up", "--flavor", flavor, ...(controllers ? ["--controllers"] : [])]);
  if (status === 0) {
    status = run([...node, cli, "exec", "--", ...mocha, ...mochaArgs]);
  }
  if (!(last && process.env.SONIC_KEEP_CLUSTER)) run([...node, cli, "down"]);
  return status;
}

const given = process.argv.slice(2);
const passes: Pass[] =
  given.length > 0
    ? [
        {
          flavor: process.env.SONIC_CLUSTER_FLAVOR ?? "generic",
          controllers: given.some((a) => a.endsWith(CONTROLLERS_SPEC)),
          cluster: !given.some((a) => a.endsWith(REHEARSAL_SPEC)),
          mochaArgs: given,
        },
      ]
    : [
        {
          flavor: "generic",
          controllers: false,
          mochaArgs: ["test/cluster/*.cluster.ts", "--ignore", CONTROLLERS_SPEC, "--ignore", REHEARSAL_SPEC],
        },
        {
          flavor: "eks",
          controllers: false,
          mochaArgs: ["test/cluster/stacks.cluster.ts", "--grep", "the prod stack"],
        },
        { flavor: "generic", controllers: false, cluster: false, mochaArgs: [REHEARSAL_SPEC] },
        { flavor: "generic", controllers: true, mochaArgs: [CONTROLLERS_SPEC] },
      ];
let failed = 0;
passes.forEach((pass, i) => {
  if (runPass(pass, i === passes.length - 1) !== 0) failed += 1;
});
process.exit(failed === 0 ? 0 : 1);
