import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import * as path from "node:path";
import { CLUSTER_DIR } from "../paths";
import { api, getIfExists } from "./api-client";
import { Pod, Volume } from "./pod-types";

/**
 * A pod's volumes as directories on this machine, the way a kubelet lays them out: Secrets, ConfigMaps and
 * projected volumes written from the API server (and rewritten when they change, so a config reloader sees
 * the change), emptyDirs per pod, and claims per PersistentVolumeClaim (kept across pod restarts, as a disk
 * is). Host paths are not offered: nothing the runtime runs needs one.
 */
export const POD_DIR = path.join(CLUSTER_DIR, "pods");
const CLAIM_DIR = path.join(CLUSTER_DIR, "volumes");

/** A Secret or ConfigMap that a volume needs and that does not exist yet: the pod waits, as with a kubelet. */
export class VolumeNotReady extends Error {}

export function podDir(pod: Pod): string {
  return path.join(POD_DIR, `${pod.metadata.namespace}_${pod.metadata.name}`);
}

/** Writes a file only when its content changed, by rename, so a watcher never reads half a file. */
function writeIfChanged(file: string, content: Buffer): void {
  if (existsSync(file) && readFileSync(file).equals(content)) return;
  mkdirSync(path.dirname(file), { recursive: true });
  const tmp = `${file}.tmp-${process.pid}`;
  writeFileSync(tmp, content);
  renameSync(tmp, file);
}

interface KeyedData {
  data?: Record<string, string>;
  binaryData?: Record<string, string>;
}

type Items = { key: string; path: string }[] | undefined;

function writeKeys(dir: string, entries: Map<string, Buffer>, items: Items): void {
  const wanted = items ?? [...entries.keys()].map((key) => ({ key, path: key }));
  for (const { key, path: file } of wanted) {
    const content = entries.get(key);
    if (content) writeIfChanged(path.join(dir, file), content);
  }
}

async function secretEntries(ns: string, name: string, optional: boolean): Promise<Map<string, Buffer>> {
  const secret = await getIfExists<{ data?: Record<string, string> }>(
    `/api/v1/namespaces/${ns}/secrets/${name}`,
  );
  if (!secret) {
    if (optional) return new Map();
    throw new VolumeNotReady(`Secret ${ns}/${name} does not exist`);
  }
  return new Map(Object.entries(secret.data ?? {}).map(([k, v]) => [k, Buffer.from(v, "base64")]));
}

async function configMapEntries(ns: string, name: string, optional: boolean): Promise<Map<string, Buffer>> {
  const cm = await getIfExists<KeyedData>(`/api/v1/namespaces/${ns}/configmaps/${name}`);
  if (!cm) {
    if (optional) return new Map();
    throw new VolumeNotReady(`ConfigMap ${ns}/${name} does not exist`);
  }
  return new Map([
    ...Object.entries(cm.data ?? {}).map(([k, v]) => [k, Buffer.from(v, "utf8")] as const),
    ...Object.entries(cm.binaryData ?? {}).map(([k, v]) => [k, Buffer.from(v, "base64")] as const),
  ]);
}

/** A Secret's or ConfigMap's keys into a volume's directory, as a volume or a projected source names them. */
async function writeSource(
  dir: string,
  ns: string,
  kind: "secret" | "configMap",
  ref: { name: string; items?: Items; optional?: boolean },
): Promise<void> {
  const entries = kind === "secret" ? secretEntries : configMapEntries;
  writeKeys(dir, await entries(ns, ref.name, ref.optional ?? false), ref.items);
}

/** A token of the pod's ServiceAccount, as the projected volume of a pod holds it (a day long here). */
async function serviceAccountToken(pod: Pod): Promise<Buffer> {
  const sa = pod.spec.serviceAccountName ?? "default";
  const answer = await api<{ status: { token: string } }>(
    "POST",
    `/api/v1/namespaces/${pod.metadata.namespace}/serviceaccounts/${sa}/token`,
    {
      apiVersion: "authentication.k8s.io/v1",
      kind: "TokenRequest",
      spec: {
        expirationSeconds: 86_400,
        boundObjectRef: { apiVersion: "v1", kind: "Pod", name: pod.metadata.name, uid: pod.metadata.uid },
      },
    },
  );
  return Buffer.from(answer.status.token, "utf8");
}

/** The directory that holds a volume's files on this machine. */
export function volumeDir(pod: Pod, volume: Volume): string {
  if (volume.persistentVolumeClaim)
    return path.join(CLAIM_DIR, pod.metadata.namespace, volume.persistentVolumeClaim.claimName);
  return path.join(podDir(pod), "volumes", volume.name);
}

/**
 * Writes (or refreshes) every volume of the pod. `tokens` keeps the pod's service-account tokens between
 * refreshes: one TokenRequest per pod, not one per refresh.
 */
export async function materializeVolumes(
  pod: Pod,
  tokens: Map<string, Buffer>,
  optional: ReadonlySet<string> = new Set(),
): Promise<void> {
  const ns = pod.metadata.namespace;
  for (const volume of pod.spec.volumes ?? []) {
    if (optional.has(volume.name)) {
      await materializeVolumes({ ...pod, spec: { ...pod.spec, volumes: [volume] } }, tokens).catch(
        () => undefined,
      );
      continue;
    }
    const dir = volumeDir(pod, volume);
    mkdirSync(dir, { recursive: true });
    if (volume.secret)
      await writeSource(dir, ns, "secret", { ...volume.secret, name: volume.secret.secretName });
    else if (volume.configMap) await writeSource(dir, ns, "configMap", volume.configMap);
    else if (volume.projected)
      for (const source of volume.projected.sources) {
        if (source.serviceAccountToken) {
          const token = tokens.get(pod.metadata.uid) ?? (await serviceAccountToken(pod));
          tokens.set(pod.metadata.uid, token);
          writeIfChanged(path.join(dir, source.serviceAccountToken.path), token);
        } else if (source.configMap) await writeSource(dir, ns, "configMap", source.configMap);
        else if (source.secret) await writeSource(dir, ns, "secret", source.secret);
        else if (source.downwardAPI)
          for (const item of source.downwardAPI.items)
            if (item.fieldRef?.fieldPath === "metadata.namespace")
              writeIfChanged(path.join(dir, item.path), Buffer.from(ns));
      }
  }
}
