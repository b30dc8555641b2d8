import { kubectlAsync } from "./kubectl";

/**
 * Nothing provisions volumes under kwok, so a claim would stay Pending and its pod unscheduled. The binder
 * plays the provisioner of the cluster's default StorageClass: for each Pending claim it creates a
 * PersistentVolume of the claim's size, access modes and class, reserved for that claim (claimRef), which
 * the PV controller then binds. No byte is ever stored: pods never run here. Volumes it made whose claim is
 * gone are deleted.
 */
export const BINDER_LABEL = "sonic-observability.dev/claim-binder";
export const DEFAULT_STORAGE_CLASS = "local-claims";

interface Claim {
  metadata: { name: string; namespace: string; uid: string };
  spec: {
    accessModes?: string[];
    resources?: { requests?: { storage?: string } };
    storageClassName?: string;
    volumeName?: string;
    volumeMode?: string;
  };
  status?: { phase?: string };
}

interface Volume {
  metadata: { name: string; labels?: Record<string, string> };
  status?: { phase?: string };
}

export function volumeFor(claim: Claim): object {
  return {
    apiVersion: "v1",
    kind: "PersistentVolume",
    metadata: { name: `claim-${claim.metadata.uid}`, labels: { [BINDER_LABEL]: "true" } },
    spec: {
      capacity: { storage: claim.spec.resources?.requests?.storage ?? "1Gi" },
      accessModes: claim.spec.accessModes ?? ["ReadWriteOnce"],
      storageClassName: claim.spec.storageClassName ?? "",
      volumeMode: claim.spec.volumeMode ?? "Filesystem",
      persistentVolumeReclaimPolicy: "Retain",
      claimRef: { namespace: claim.metadata.namespace, name: claim.metadata.name, uid: claim.metadata.uid },
      hostPath: { path: `/var/lib/sonic-local-claims/${claim.metadata.uid}` },
    },
  };
}

/** One pass: volumes for Pending claims, and deletion of the ones whose claim was released. */
export async function bindOnce(log: (line: string) => void): Promise<void> {
  const claims = (JSON.parse(await kubectlAsync(["get", "pvc", "-A", "-o", "json"])) as { items: Claim[] })
    .items;
  for (const claim of claims) {
    if (claim.status?.phase !== "Pending" || claim.spec.volumeName) continue;
    try {
      await kubectlAsync(["create", "-f", "-"], JSON.stringify(volumeFor(claim)));
    } catch (error) {
      // A volume made on an earlier pass that the PV controller has not bound yet.
      if (!/AlreadyExists/.test(String(error))) throw error;
      continue;
    }
    log(
      `bound ${claim.metadata.namespace}/${claim.metadata.name} (${claim.spec.resources?.requests?.storage ?? "?"})`,
    );
  }
  const volumes = (
    JSON.parse(await kubectlAsync(["get", "pv", "-l", BINDER_LABEL, "-o", "json"])) as { items: Volume[] }
  ).items;
  for (const volume of volumes) {
    if (volume.status?.phase === "Released" || volume.status?.phase === "Failed") {
      await kubectlAsync(["delete", "pv", volume.metadata.name, "--wait=false"]);
      log(`deleted ${volume.metadata.name} (claim gone)`);
    }
  }
}
