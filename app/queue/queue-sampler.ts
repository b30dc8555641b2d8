import type { AppMetrics } from "../shared/metrics";
import type { JobQueue } from "./job-queue";

/**
 * Reads the service-wide queue depth every `seconds` in the background, so a scrape never waits on
 * Redis; both tiers export it (`sonic_jobs_queued`, read with `max`) and whether the store answers.
 */
export function startQueueSampler(queue: JobQueue, metrics: AppMetrics, seconds: number): NodeJS.Timeout {
  const sample = async () => {
    try {
      metrics.setQueued((await queue.backlog()).queued);
      metrics.setQueueStoreUp(true);
    } catch {
      metrics.setQueueStoreUp(false);
    }
  };
  void sample();
  const timer = setInterval(sample, seconds * 1000);
  timer.unref();
  return timer;
}
