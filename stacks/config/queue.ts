import { z } from "zod";
import { AOF_REPLAY_BYTES_PER_CPU_SECOND, MIB } from "../../components";
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
    aofReplayBytesPerCpuSecond: z
      .number()
      .int()
      .min(MIB, { message: `must be an integer >= ${MIB} (1 MiB)` })
      .optional()
      .meta({
        description:
          "AOF bytes the in-cluster store replays per CPU-second at start, at the least: Valkey's startup probe allows the replay of twice `maxmemory` at this rate on its 100m CPU request. Lower it for a slower CPU or volume (docs/develop.md, \"Valkey's probes\").",
        defaultText: `\`${AOF_REPLAY_BYTES_PER_CPU_SECOND}\` (12 MiB, measured)`,
      }),
  })
  .strict()
  .default({ mode: "in-cluster", storage: { size: "10Gi" } })
  .describe(
    "The shared job queue: Valkey in the cluster, or a managed Redis (URL in the secret `queueRedisUrl`).",
  );
