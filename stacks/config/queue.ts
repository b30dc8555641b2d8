import { z } from "zod";
import { volumeSize } from "./value-types";

export const queueSchema = z
  .object({
    mode: z
      .enum(["in-cluster", "external"])
      .default("in-cluster")
      .describe(
        "`in-cluster`: a Valkey StatefulSet with its AOF on a volume; `external`: a managed Redis, its URL in the secret `queueRedisUrl`.",
      ),
    storage: z
      .object({
        size: volumeSize.describe("The AOF volume of the in-cluster store."),
        storageClassName: z.string().min(1).optional().meta({
          description:
            "StorageClass of the volume; another provider's class than `clusterFlavor`'s is an error.",
          defaultText: "the cluster's default class",
        }),
      })
      .strict()
      .default({ size: "10Gi" })
      .describe("The in-cluster store's volume."),
  })
  .strict()
  .default({ mode: "in-cluster", storage: { size: "10Gi" } })
  .describe(
    "The shared job queue: Valkey in the cluster, or a managed Redis (URL in the secret `queueRedisUrl`).",
  );
