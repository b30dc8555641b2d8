import { request } from "node:https";
import { readFileSync } from "node:fs";
import { ADDRESSES } from "../paths";
import { ensurePki } from "../pki";

/**
 * The pod runtime's own client of the local API server: the admin identity of .cluster/pki, over the loopback
 * address the API server binds. (kubectl would cost a process start per poll; this is one request.)
 */
let credentials: { ca: Buffer; cert: Buffer; key: Buffer } | undefined;

function tls(): { ca: Buffer; cert: Buffer; key: Buffer } {
  if (!credentials) {
    const pki = ensurePki();
    credentials = {
      ca: readFileSync(pki.caCert),
      cert: readFileSync(pki.adminCert),
      key: readFileSync(pki.adminKey),
    };
  }
  return credentials;
}

export class ApiError extends Error {
  constructor(
    public readonly status: number,
    method: string,
    path: string,
    body: string,
  ) {
    super(`${method} ${path}: HTTP ${status}: ${body.slice(0, 300)}`);
    this.name = "ApiError";
  }
}

export function api<T>(method: "GET" | "POST" | "PATCH", path: string, body?: unknown): Promise<T> {
  const payload = body === undefined ? undefined : JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: "127.0.0.1",
        port: ADDRESSES.apiserverPort,
        method,
        path,
        ...tls(),
        headers: {
          accept: "application/json",
          ...(payload
            ? {
                "content-type": method === "PATCH" ? "application/merge-patch+json" : "application/json",
                "content-length": Buffer.byteLength(payload),
              }
            : {}),
        },
        timeout: 15_000,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => {
          const text = Buffer.concat(chunks).toString("utf8");
          if ((res.statusCode ?? 500) >= 300) reject(new ApiError(res.statusCode ?? 500, method, path, text));
          else resolve(JSON.parse(text) as T);
        });
      },
    );
    req.on("timeout", () => req.destroy(new Error(`${method} ${path}: no answer in 15 s`)));
    req.on("error", reject);
    if (payload) req.write(payload);
    req.end();
  });
}

/** GET that answers undefined for 404 (an object that does not exist yet). */
export async function getIfExists<T>(path: string): Promise<T | undefined> {
  try {
    return await api<T>("GET", path);
  } catch (error) {
    if (error instanceof ApiError && error.status === 404) return undefined;
    throw error;
  }
}
