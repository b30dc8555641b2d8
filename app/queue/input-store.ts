import type IORedis from "ioredis";

/** The uploads of one job: what the worker hands its model server. */
export interface JobInputs {
  audio: Buffer;
  image: Buffer;
}

/**
 * Where the uploads of accepted jobs wait for a worker, apart from the queue itself (which holds only
 * a job's small data). Storing them elsewhere (an object store, say) is a new implementation of this
 * interface and a change of `JobQueue.inputStoreOn`, nothing more: the API puts, the worker gets, and
 * whoever records a job's outcome drops them.
 */
export interface InputStore {
  /** Stores a job's uploads, kept at most `ttlSeconds` whatever becomes of the job. */
  put(id: string, inputs: JobInputs, ttlSeconds: number): Promise<void>;
  /** A job's uploads, or undefined once they expired or were dropped. */
  get(id: string): Promise<JobInputs | undefined>;
  /** Deletes a job's uploads (its outcome is recorded, or its submission was refused). */
  drop(id: string): Promise<void>;
}

/**
 * Bytes of each piece an input is written in: a few milliseconds of Redis' time, so each write's
 * command timeout (2 s on the API's connection) means a stalled Redis, never a large upload on a busy
 * host. 64 bytes under 1 MiB, so a piece and Redis' header fit jemalloc's 1 MiB size class exactly.
 */
export const INPUT_PIECE_BYTES = 1024 * 1024 - 64;

/** Field of an input hash written last: the pieces of each file, so a half-written hash reads as absent. */
const PIECES_FIELD = "pieces";

/**
 * Uploads as a Redis hash per job beside the BullMQ job, under a TTL: Redis holds at most backlog
 * limit x (2 x upload cap) of inputs. Each file is written in pieces (`audio.0`, `audio.1`, …), one
 * command each, in order, then the count of pieces: a large input never makes one command that can
 * outlast the command timeout, and a write cut short leaves no readable input. Each instance speaks
 * over one connection: the API's fails fast, the worker's waits out a stall instead of failing a job
 * after a short command timeout.
 */
export class RedisInputStore implements InputStore {
  constructor(
    private readonly redis: IORedis,
    private readonly queueName: string,
    private readonly pieceBytes = INPUT_PIECE_BYTES,
  ) {}

  /** Redis key of a job's uploads. */
  key(id: string): string {
    return `sonic:${this.queueName}:inputs:${id}`;
  }

  async put(id: string, inputs: JobInputs, ttlSeconds: number): Promise<void> {
    const key = this.key(id);
    const pieces = { audio: this.piecesOf(inputs.audio), image: this.piecesOf(inputs.image) };
    let first = true;
    for (const field of ["audio", "image"] as const) {
      for (const [i, piece] of pieces[field].entries()) {
        if (first) {
          // The TTL comes with the first piece: a writer that dies midway leaves nothing forever.
          await exec(this.redis.multi().hset(key, `${field}.${i}`, piece).expire(key, ttlSeconds));
          first = false;
        } else {
          await this.redis.hset(key, `${field}.${i}`, piece);
        }
      }
    }
    const count = JSON.stringify({ audio: pieces.audio.length, image: pieces.image.length });
    await this.redis.hset(key, PIECES_FIELD, count);
  }

  async get(id: string): Promise<JobInputs | undefined> {
    const fields = await this.redis.hgetallBuffer(this.key(id));
    const count = fields[PIECES_FIELD];
    // Inputs stored whole, by an API of before the pieces, during a rollout.
    if (!count)
      return fields.audio && fields.image ? { audio: fields.audio, image: fields.image } : undefined;
    const counts = JSON.parse(count.toString()) as Record<"audio" | "image", number>;
    const file = (field: "audio" | "image") => {
      const pieces = Array.from({ length: counts[field] }, (_, i) => fields[`${field}.${i}`]);
      return pieces.every((p) => p !== undefined) ? Buffer.concat(pieces) : undefined;
    };
    const audio = file("audio");
    const image = file("image");
    return audio && image ? { audio, image } : undefined;
  }

  async drop(id: string): Promise<void> {
    await this.redis.del(this.key(id));
  }

  /** A file cut into pieces of at most `pieceBytes` (views, no copies); an empty file is one empty piece. */
  private piecesOf(data: Buffer): Buffer[] {
    const pieces: Buffer[] = [];
    for (let at = 0; at < data.length; at += this.pieceBytes)
      pieces.push(data.subarray(at, at + this.pieceBytes));
    return pieces.length > 0 ? pieces : [data];
  }
}

/** Runs a MULTI, failing with the first command's error (EXEC answers them as values). */
async function exec(multi: ReturnType<IORedis["multi"]>): Promise<void> {
  for (const [err] of (await multi.exec()) ?? []) if (err) throw err;
}
