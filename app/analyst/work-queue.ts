/**
 * A first-in first-out queue that runs at most `concurrency` tasks at once and holds at most `limit`
 * waiting: a burst of alert groups costs a bounded number of Prometheus queries, sockets and bytes at
 * any time, instead of starting every analysis at once and timing them all out together. Each task
 * learns how long it waited, so it can choose a cheaper path when it waited too long.
 */
export class WorkQueue<T> {
  private readonly waiting: { item: T; since: number }[] = [];
  private head = 0;
  private active = 0;
  private drained: (() => void)[] = [];

  constructor(
    private readonly options: {
      /** Tasks running at once. */
      concurrency: number;
      /** Items waiting at most; `push` refuses more. */
      limit: number;
      /** The task; it must not throw (a throw is reported to `onError` and the queue goes on). */
      run: (item: T, waitedMs: number) => Promise<void>;
      onError?: (err: unknown) => void;
    },
  ) {
    if (!(options.concurrency >= 1)) throw new Error(`'concurrency' (${options.concurrency}) must be >= 1`);
    if (!(options.limit >= 1)) throw new Error(`'limit' (${options.limit}) must be >= 1`);
  }

  /** Items waiting (not running). */
  get size(): number {
    return this.waiting.length - this.head;
  }

  get running(): number {
    return this.active;
  }

  /** True when `push` would refuse an item. */
  get full(): boolean {
    return this.size >= this.options.limit;
  }

  /** Queues an item; false, and nothing queued, when `limit` items already wait. */
  push(item: T): boolean {
    if (this.full) return false;
    this.waiting.push({ item, since: Date.now() });
    this.pump();
    return true;
  }

  /** Resolves once nothing waits and nothing runs. */
  idle(): Promise<void> {
    if (this.size === 0 && this.active === 0) return Promise.resolve();
    return new Promise((resolve) => this.drained.push(resolve));
  }

  private pump(): void {
    while (this.active < this.options.concurrency && this.size > 0) {
      const next = this.waiting[this.head++];
      // Compact now and then: the array never holds more than `limit` plus what was taken since.
      if (this.head > 1024 && this.head * 2 > this.waiting.length) {
        this.waiting.splice(0, this.head);
        this.head = 0;
      }
      this.active++;
      void this.options
        .run(next.item, Date.now() - next.since)
        .catch((err: unknown) => this.options.onError?.(err))
        .finally(() => {
          this.active--;
          this.pump();
          if (this.size === 0 && this.active === 0) for (const done of this.drained.splice(0)) done();
        });
    }
  }
}
