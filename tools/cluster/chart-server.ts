import { execFileSync } from "node:child_process";
import { copyFileSync, createReadStream, existsSync, mkdirSync, readdirSync, statSync } from "node:fs";
import { createServer, Server } from "node:http";
import * as path from "node:path";
import { ADDRESSES, CHARTS_DIR, ROOT, toolsPath } from "./paths";

/** Where the pinned chart archives come from: the shared pins of the round and the project's own. */
export const CHART_SOURCES = [path.resolve(ROOT, "..", "shared", "charts"), path.join(ROOT, "charts")];

/**
 * A Helm chart repository of the pinned archives, as a user's mirror (ChartMuseum, Harbor, Artifactory) would
 * serve them: `index.yaml` made by `helm repo index`, the archives beside it. The program reaches it through
 * its chart-mirror setting, so every Release of the live suite installs exactly the pinned chart.
 */
export function prepareChartRepository(): string[] {
  mkdirSync(CHARTS_DIR, { recursive: true });
  const archives: string[] = [];
  for (const dir of CHART_SOURCES) {
    if (!existsSync(dir)) continue;
    for (const file of readdirSync(dir)) {
      if (!file.endsWith(".tgz")) continue;
      copyFileSync(path.join(dir, file), path.join(CHARTS_DIR, file));
      archives.push(file);
    }
  }
  if (archives.length === 0) throw new Error(`no chart archives found in ${CHART_SOURCES.join(" or ")}`);
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
