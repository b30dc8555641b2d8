/**
 * What the simulated controllers scale: a Deployment's replica count. `count` is the desired count
 * (the scale's `spec.replicas`, which the controllers read back), not how many are ready yet.
 */
export interface WorkerPool {
  readonly count: number;
  scaleTo(replicas: number): Promise<void>;
  /** Names of the pods the count stands for (a Pods metric averages over them). @default none */
  pods?(): readonly string[];
}

/** One pod the pool can run: started on scale-up, sent SIGTERM on scale-down. */
export interface PoolSlot {
  readonly name: string;
  start(): Promise<unknown>;
  terminate(): Promise<unknown>;
}

/** A pod's allocation: from the scale-up that asked for it to the end of its termination. */
export interface Allocation {
  pod: string;
  from: number;
  to?: number;
}

/**
 * A pool of worker processes over a fixed list of slots (the sandbox's pods), scaled as a ReplicaSet
 * would: the lowest-numbered slots run, a scale-down stops the highest first. Starts and stops happen
 * in the background (a scale is a write; the pods follow), one transition at a time per slot. It keeps
 * every allocation, for GPU-seconds.
 */
export class ProcessWorkerPool implements WorkerPool {
  private desired = 0;
  private readonly running = new Set<number>();
  private readonly chains: Promise<unknown>[];
  readonly allocations: Allocation[] = [];
  private readonly open = new Map<number, Allocation>();

  constructor(
    private readonly slots: PoolSlot[],
    private readonly now: () => number = Date.now,
    private readonly onError: (slot: string, err: unknown) => void = () => undefined,
  ) {
    this.chains = slots.map(() => Promise.resolve());
  }

  /** The most replicas it can run. */
  get capacity(): number {
    return this.slots.length;
  }

  get count(): number {
    return this.desired;
  }

  pods(): readonly string[] {
    return this.slots.slice(0, this.desired).map((s) => s.name);
  }

  /** Pods allocated right now (starting, running or terminating). */
  get allocated(): number {
    return this.open.size;
  }

  /** Sets the desired count (clamped to the slots) and starts or stops pods towards it. */
  async scaleTo(replicas: number): Promise<void> {
    this.desired = Math.max(0, Math.min(replicas, this.slots.length));
    this.slots.forEach((slot, i) => {
      if (i < this.desired && !this.running.has(i)) {
        this.running.add(i);
        // A pod still terminating stays allocated through its restart: one allocation, not two.
        if (!this.open.has(i)) {
          const a: Allocation = { pod: slot.name, from: this.now() };
          this.allocations.push(a);
          this.open.set(i, a);
        }
        this.chains[i] = this.chains[i].then(() => slot.start()).catch((err) => this.onError(slot.name, err));
      } else if (i >= this.desired && this.running.has(i)) {
        this.running.delete(i);
        this.chains[i] = this.chains[i]
          .then(() => slot.terminate())
          .catch((err) => this.onError(slot.name, err))
          .finally(() => {
            const a = this.open.get(i);
            if (a && !this.running.has(i)) {
              a.to = this.now();
              this.open.delete(i);
            }
          });
      }
    });
  }

  /** Waits until every start and stop asked for so far has finished. */
  async settled(): Promise<void> {
    await Promise.all(this.chains);
  }

  /** Pod-milliseconds allocated between `from` and `to` (multiply by GPUs per pod for GPU time). */
  allocatedMs(from: number, to: number): number {
    return this.allocations.reduce(
      (sum, a) => sum + Math.max(0, Math.min(a.to ?? to, to) - Math.max(a.from, from)),
      0,
    );
  }
}
