import { ChildProcess, execFileSync, spawn } from "node:child_process";
import { writeFileSync } from "node:fs";
import { createServer, IncomingMessage, ServerResponse } from "node:http";
import { AddressInfo, createServer as createTcpServer, Socket } from "node:net";
import * as path from "node:path";
import { openMetrics, SeriesSpec } from "./history";

/** A port nothing listens on (bound, then released): connections to it are refused. */
export async function freePort(): Promise<number> {
  const server = createTcpServer();
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const port = (server.address() as AddressInfo).port;
  await new Promise<void>((r) => server.close(() => r()));
  return port;
}

export interface RunningPrometheus {
  url: string;
  stop(): Promise<void>;
}

/**
 * A real Prometheus holding `series` as history up to now: written as OpenMetrics, turned into blocks
 * by `promtool tsdb create-blocks-from openmetrics`, served from `dir`. It scrapes and evaluates
 * nothing: what it answers is exactly the history.
 */
export async function startBackfilledPrometheus(
  dir: string,
  series: SeriesSpec[],
): Promise<RunningPrometheus> {
  const now = Math.floor(Date.now() / 1000);
  writeFileSync(path.join(dir, "history.om"), openMetrics(series, now));
  execFileSync("promtool", ["tsdb", "create-blocks-from", "openmetrics", "history.om", "data"], {
    cwd: dir,
    stdio: "ignore",
  });
  writeFileSync(path.join(dir, "prometheus.yml"), "global: {}\n");
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const child: ChildProcess = spawn(
    "prometheus",
    [
      "--config.file=prometheus.yml",
      "--storage.tsdb.path=data",
      `--web.listen-address=127.0.0.1:${port}`,
      "--log.level=warn",
    ],
    { cwd: dir, stdio: "ignore" },
  );
  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((r) => child.once("exit", r));
    child.kill("SIGTERM");
    await exited;
  };
  for (let i = 0; ; i++) {
    try {
      if ((await fetch(`${url}/-/ready`)).ok) break;
    } catch {
      /* starting */
    }
    if (i > 300) {
      await stop();
      throw new Error("the backfilled Prometheus did not become ready within 30 s");
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return { url, stop };
}

export interface FailingPrometheus {
  url: string;
  close(): Promise<void>;
  /** Most connections open at once (black hole only). */
  peak(): number;
}

/**
 * Stand-ins for a Prometheus that fails as real ones do: `blackhole` accepts connections and never
 * answers (hung, or a dropped route), `502` is a proxy's HTML error page, `query-error` answers every
 * query empty except one it cannot parse (as a hostile label value used to make it).
 */
export async function failingPrometheus(
  mode: "blackhole" | "502" | "query-error",
): Promise<FailingPrometheus> {
  let open = 0;
  let peak = 0;
  if (mode === "blackhole") {
    const sockets = new Set<Socket>();
    const server = createTcpServer((socket) => {
      sockets.add(socket);
      peak = Math.max(peak, ++open);
      socket.on("close", () => {
        sockets.delete(socket);
        open--;
      });
      socket.on("error", () => undefined);
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    return {
      url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
      close: () =>
        new Promise<void>((r) => {
          for (const s of sockets) s.destroy();
          server.close(() => r());
        }),
      peak: () => peak,
    };
  }
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    if (mode === "502") {
      res.writeHead(502, { "content-type": "text/html" });
      res.end("<html><body><h1>502 Bad Gateway</h1></body></html>");
      return;
    }
    const query = new URL(req.url ?? "", "http://x").searchParams.get("query") ?? "";
    if (query.includes("kube_pod_container_status_restarts_total")) {
      res.writeHead(400, { "content-type": "application/json" });
      res.end(
        JSON.stringify({
          status: "error",
          errorType: "bad_data",
          error: "parse error: unexpected character",
        }),
      );
      return;
    }
    res.writeHead(200, { "content-type": "application/json" });
    const data = req.url?.startsWith("/api/v1/query_range")
      ? { resultType: "matrix", result: [] }
      : query.startsWith("max by (pod) (sonic_gpu_memory_used_bytes")
        ? { resultType: "vector", result: [{ metric: { pod: "sonic-a" }, value: [0, "0.97"] }] }
        : { resultType: "vector", result: [] };
    res.end(JSON.stringify({ status: "success", data }));
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () => new Promise<void>((r) => server.close(() => r())),
    peak: () => 0,
  };
}
