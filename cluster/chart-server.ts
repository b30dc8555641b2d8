import { execFileSync } from "node:child_process";
import { copyFileSync, createReadStream, existsSync, mkdirSync, readdirSync, statSync } from "node:fs";
import { createServer, Server } from "node:http";
import * as path from "node:path";
import { chartDirs, packageSubchart, SUBCHARTS } from "../testkit/helm";
import { ADDRESSES, CHARTS_DIR, TOOLS_BIN, toolsPath } from "./paths";

/**
 * A Helm chart repository of the pinned archives, as a user's mirror (ChartMuseum, Harbor, Artifactory) would
 * serve them: `index.yaml` made by `helm repo index`, the archives beside it. The program reaches it through
 * its chart-mirror setting, so every Release of the live suite installs exactly the pinned chart.
 */
export function prepareChartRepository(): string[] {
  mkdirSync(CHARTS_DIR, { recursive: true });
  const archives: string[] = [];
  for (const dir of chartDirs()) {
    if (!existsSync(dir)) continue;
    for (const file of readdirSync(dir)) {
      if (!file.endsWith(".tgz")) continue;
      copyFileSync(path.join(dir, file), path.join(CHARTS_DIR, file));
      archives.push(file);
    }
  }
  if (archives.length === 0) throw new Error(`no chart archives found in ${chartDirs().join(" or ")}`);
  // A chart pinned inside another archive (the fleet's Grafana) is served as its own chart, as a mirror would.
  for (const name of Object.keys(SUBCHARTS)) {
    const packaged = packageSubchart(path.join(TOOLS_BIN, "helm"), name, CHARTS_DIR);
    if (packaged) archives.push(path.basename(packaged));
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
