import * as assert from "node:assert/strict";
import { ChildProcess, execFile, spawn, spawnSync } from "node:child_process";
import {
  closeSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeSync,
} from "node:fs";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { parse } from "yaml";
import { freePort } from "../../sandbox/ports";
import { requireRedisServer } from "../../sandbox/redis";
import { REPO_ROOT } from "../../testkit/stack-file";

/**
 * Valkey's probes against a store that replays its AOF, with the real Debian redis-server 7.0 standing
 * in for Valkey 8.1 (the same AOF loader and the same `-LOADING` answer; `valkey-cli` is `redis-cli`
 * under Valkey's name, as the image ships both). The probes are the dev stack's rendered ones, from
 * its reviewed snapshot (program.test.ts keeps it equal to what the program renders), run as the
 * kubelet runs them: the exec command in the container's environment, within its timeoutSeconds.
 */

/** Keys of the AOF: tiny ones, the slowest AOF to replay per byte (each command costs the same). */
const KEYS = 600_000;
const PASSWORD = "replay-test-password";

const snapshot = (file: string) =>
  parse(readFileSync(path.join(REPO_ROOT, "test", "snapshots", "dev", file), "utf8"));
const statefulSet = snapshot("ai-inference.statefulset.sonic-queue.yaml");
const valkey = statefulSet.spec.template.spec.containers.find((c: any) => c.name === "valkey");
const valkeyConf: string = snapshot("ai-inference.configmap.sonic-queue-config.yaml").data["valkey.conf"];
const confValue = (key: string) => Number(new RegExp(`^${key} (\\d+)$`, "m").exec(valkeyConf)![1]);

type ProbeName = "startupProbe" | "readinessProbe" | "livenessProbe";
interface ProbeResult {
  passed: boolean;
  output: string;
}
interface Sample {
  atMs: number;
  startupProbe: ProbeResult;
  readinessProbe: ProbeResult;
  livenessProbe: ProbeResult;
}

/**
 * Writes a multi-part AOF as Valkey and Redis 7 keep it (a manifest and a base file of commands, no RDB
 * preamble): `keys` SETs of 10-byte values. Returns its size in bytes.
 */
function writeAof(dir: string, keys: number): number {
  const aofDir = path.join(dir, "appendonlydir");
  mkdirSync(aofDir);
  const base = "appendonly.aof.1.base.aof";
  const fd = openSync(path.join(aofDir, base), "w");
  let bytes = 0;
  const chunk: string[] = [];
  const flush = () => {
    const buf = Buffer.from(chunk.join(""));
    writeSync(fd, buf);
    bytes += buf.length;
    chunk.length = 0;
  };
  for (let i = 0; i < keys; i++) {
    const key = `k:${i}`;
    chunk.push(`*3\r\n$3\r\nSET\r\n$${key.length}\r\n${key}\r\n$10\r\nvvvvvvvvvv\r\n`);
    if (chunk.length === 50_000) flush();
  }
  flush();
  closeSync(fd);
  const manifest = Buffer.from(`file ${base} seq 1 type b\n`);
  const mfd = openSync(path.join(aofDir, "appendonly.aof.manifest"), "w");
  writeSync(mfd, manifest);
  closeSync(mfd);
  return bytes;
}

function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, "127.0.0.1");
    socket.once("error", () => resolve(false));
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
  });
}

/** CPU seconds a process has used: utime + stime of /proc/<pid>/stat, in clock ticks (CLK_TCK). */
function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  const ticks = Number(spawnSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).stdout.trim()) || 100;
  return (Number(fields[11]) + Number(fields[12])) / ticks;
}

describe("Valkey's probes while it replays its AOF (a real redis-server on an AOF of 600 k keys)", function () {
  this.timeout(60_000);
  let dir: string;
  let server: ChildProcess | undefined;
  let aofBytes = 0;
  let replaySeconds = 0;
  let replayCpuSeconds = 0;
  const samples: Sample[] = [];

  /** Runs a rendered probe as the kubelet does, against the test's port instead of the pod's. */
  function runProbe(probe: ProbeName, port: number, env: NodeJS.ProcessEnv): Promise<ProbeResult> {
    const { exec, timeoutSeconds } = valkey[probe];
    const command: string[] = exec.command;
    const containerPort = valkey.ports.find((p: any) => p.name === "redis").containerPort;
    assert.equal(command.at(-1), String(containerPort), `${probe}: the port is the command's last argument`);
    return new Promise((resolve) =>
      execFile(
        command[0],
        [...command.slice(1, -1), String(port)],
        { env, timeout: timeoutSeconds * 1000 },
        (err, stdout, stderr) => resolve({ passed: !err, output: `${stdout}${stderr}`.trim() }),
      ),
    );
  }

  before(async function () {
    const redisServer = requireRedisServer();
    const redisCli = spawnSync("sh", ["-c", "command -v redis-cli"], { encoding: "utf8" }).stdout.trim();
    assert.ok(redisCli, "redis-cli is not installed: run 'npm run setup' (or 'apt-get install redis-tools')");
    dir = mkdtempSync(path.join(tmpdir(), "sonic-aof-replay-"));
    const bin = path.join(dir, "bin");
    mkdirSync(bin);
    symlinkSync(redisCli, path.join(bin, "valkey-cli"));
    const data = path.join(dir, "data");
    mkdirSync(data);
    aofBytes = writeAof(data, KEYS);
    const port = await freePort();
    const log = path.join(dir, "server.log");
    server = spawn(
      redisServer,
      [
        "--port",
        String(port),
        "--bind",
        "127.0.0.1",
        "--dir",
        data,
        "--appendonly",
        "yes",
        "--save",
        "",
        "--requirepass",
        PASSWORD,
        "--logfile",
        log,
      ],
      { stdio: "ignore" },
    );
    // The container's environment: valkey-cli on the PATH, the password in REDISCLI_AUTH.
    const env = { ...process.env, PATH: `${bin}:${process.env.PATH}`, REDISCLI_AUTH: PASSWORD };
    const started = Date.now();
    // The kubelet runs liveness and readiness only after startup passes; the test runs all three
    // throughout, once the port is open, to see what each would say.
    while (!(await listening(port))) {
      if (Date.now() - started > 10_000) throw new Error(`redis-server did not listen on ${port}`);
      await new Promise((r) => setTimeout(r, 20));
    }
    for (;;) {
      const [startupProbe, readinessProbe, livenessProbe] = await Promise.all(
        (["startupProbe", "readinessProbe", "livenessProbe"] as const).map((p) => runProbe(p, port, env)),
      );
      samples.push({ atMs: Date.now() - started, startupProbe, readinessProbe, livenessProbe });
      if (startupProbe.passed) break;
      if (Date.now() - started > 40_000) throw new Error("the AOF was not loaded after 40 s");
      await new Promise((r) => setTimeout(r, 100));
    }
    replayCpuSeconds = cpuSeconds(server.pid!);
    const loaded = /DB loaded from append only file: ([\d.]+) seconds/.exec(readFileSync(log, "utf8"));
    assert.ok(loaded, "the server logged its load time");
    replaySeconds = Number(loaded[1]);
    console.log(
      `      replayed ${(aofBytes / 1e6).toFixed(1)} MB (${KEYS} keys) in ${replaySeconds} s: ` +
        `${(aofBytes / 1e6 / replaySeconds).toFixed(1)} MB/s, ${Math.round(KEYS / replaySeconds / 1000)} k keys/s ` +
        `(${replayCpuSeconds.toFixed(2)} CPU s, ${(aofBytes / 1e6 / replayCpuSeconds).toFixed(1)} MB per CPU s)`,
    );
  });

  after(async () => {
    const child = server;
    if (child && child.exitCode === null && child.signalCode === null) {
      await new Promise<void>((resolve) => {
        child.once("exit", () => resolve());
        child.kill("SIGKILL");
      });
    }
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const whileLoading = () => samples.filter((s) => /^LOADING /.test(s.readinessProbe.output));

  it("fails readiness with the server's LOADING answer while the AOF replays", () => {
    assert.ok(
      whileLoading().length >= 2,
      `probes ran ${samples.length} times, ${whileLoading().length} while loading: ${JSON.stringify(samples[0])}`,
    );
    for (const s of whileLoading()) assert.equal(s.readinessProbe.passed, false);
  });

  it("passes liveness at every probe while the AOF replays, so a replay of any length restarts nothing", () => {
    for (const s of whileLoading())
      assert.ok(s.livenessProbe.passed, `liveness failed at ${s.atMs} ms: ${s.livenessProbe.output}`);
  });

  it("fails the startup probe until the AOF is loaded and passes it then, readiness with it", () => {
    for (const s of whileLoading()) assert.equal(s.startupProbe.passed, false);
    const last = samples.at(-1)!;
    assert.deepEqual(
      [last.startupProbe.passed, last.readinessProbe.passed, last.livenessProbe.passed],
      [true, true, true],
      JSON.stringify(last),
    );
  });

  it("gives the dev stack's largest AOF a startup budget that covers its replay at the CPU-second rate measured here, on the store's CPU request", () => {
    const largestAof = confValue("maxmemory") * (1 + confValue("auto-aof-rewrite-percentage") / 100);
    const cpu = /^(\d+)m$/.exec(valkey.resources.requests.cpu);
    assert.ok(cpu, `the store's CPU request is in millicores: ${valkey.resources.requests.cpu}`);
    const needed = largestAof / ((aofBytes / replayCpuSeconds) * (Number(cpu[1]) / 1000));
    const startup = valkey.startupProbe.failureThreshold * valkey.startupProbe.periodSeconds;
    const liveness = valkey.livenessProbe.failureThreshold * valkey.livenessProbe.periodSeconds;
    console.log(
      `      dev: an AOF of ${(largestAof / 1e6).toFixed(0)} MB replays in ${needed.toFixed(0)} s on ${cpu[0]} at this rate ` +
        `(${(largestAof / (aofBytes / replaySeconds)).toFixed(0)} s at this run's wall rate); ` +
        `startup allows ${startup} s, liveness ${liveness} s`,
    );
    assert.ok(needed > liveness, `a replay of ${needed.toFixed(0)} s fits liveness' ${liveness} s anyway`);
    assert.ok(
      needed <= startup,
      `the replay needs ${needed.toFixed(0)} s, the startup probe allows ${startup} s`,
    );
  });
});
