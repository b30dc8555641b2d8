import { execFileSync } from "node:child_process";
import { copyFileSync, createReadStream, existsSync, mkdirSync, statSync } from "node:fs";
import { createServer, Server } from "node:http";
import * as path from "node:path";
import { CHART_PINS } from "../components/shared/chart-pins";
import { pinnedArchive } from "../testkit/chart-archives";
import { ADDRESSES, CHARTS_DIR, toolsPath } from "./paths";

/**
 * A Helm chart repository of the pinned archives, as a user's mirror (ChartMuseum, Harbor, Artifactory) would
 * serve them: `index.yaml` made by `helm repo index`, the archives beside it, each from the chart cache
 * (testkit/chart-archives.ts; the fleet's Grafana packaged from kube-prometheus-stack's copy). The program
 * reaches it through its chart-mirror setting, so every Release of the live suite installs exactly the
 * pinned chart. Throws, naming `npm run charts`, when a pinned chart is missing.
 */
export function prepareChartRepository(): string[] {
  mkdirSync(CHARTS_DIR, { recursive: true });
  const archives: string[] = [];
  for (const pin of Object.values(CHART_PINS)) {
    copyFileSync(pinnedArchive(pin), path.join(CHARTS_DIR, pin.archive));
    archives.push(pin.archive);
  }
  execFileSync("helm", ["repo", "index", CHARTS_DIR, "--url", ADDRESSES.chartServer], {
    env: { ...process.env, PATH: toolsPath() },
    stdio: ["ignore", "ignore", "pipe"],
  });
  return archives.sort();
}

/** Serves the repository on the namespace's loopback; only index.yaml and the archives, nothing above. */
export function serveCharts(port: number = ADDRESSES.chartServerPort): Server {
  const server = createServer((req, res) => {
    const name = decodeURIComponent(new URL(req.url ?? "/", "http://local").pathname).replace(/^\/+/, "");
    const file = path.join(CHARTS_DIR, name);
    if (!/^[\w.-]+\.(tgz|yaml)$/.test(name) || !existsSync(file) || !statSync(file).isFile()) {
      res.writeHead(404, { "content-type": "text/plain" }).end(`not found: ${name}\n`);
      return;
    }
    res.writeHead(200, {
      "content-type": name.endsWith(".yaml") ? "application/x-yaml" : "application/gzip",
      "content-length": statSync(file).size,
    });
    createReadStream(file).pipe(res);
  });
  return server.listen(port, "127.0.0.1");
}
