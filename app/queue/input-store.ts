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
 * Uploads as a Redis hash per job beside the BullMQ job, under a TTL: Redis holds at most backlog
 * limit x (2 x upload cap) of inputs. Each instance speaks over one connection: the API's fails fast,
 * the worker's waits out a stall instead of failing a job after a short command timeout.
 */
export class RedisInputStore implements InputStore {
  constructor(
    private readonly redis: IORedis,
    private readonly queueName: string,
  ) {}

  /** Redis key of a job's uploads. */
  key(id: string): string {
    return `sonic:${this.queueName}:inputs:${id}`;
  }

  async put(id: string, inputs: JobInputs, ttlSeconds: number): Promise<void> {
    const key = this.key(id);
    await this.redis
      .multi()
      .hset(key, "audio", inputs.audio, "image", inputs.image)
      .expire(key, ttlSeconds)
      .exec();
  }

  async get(id: string): Promise<JobInputs | undefined> {
    const [audio, image] = await this.redis.hmgetBuffer(this.key(id), "audio", "image");
    return audio && image ? { audio, image } : undefined;
  }

  async drop(id: string): Promise<void> {
    await this.redis.del(this.key(id));
  }
}
