import type { IncomingMessage } from "node:http";

/**
 * Bytes of uploads one replica reads at once. Each admitted upload reserves its declared length (or a
 * whole maximum body when chunked) before a byte is read, so concurrent uploads can never hold more
 * than the budget in memory; `watchReceiveRate` makes sure an upload that holds a reservation keeps
 * using it, so slow clients cannot sit on the budget.
 */
export class UploadBudget {
  private used = 0;

  /** @param bytes the budget: upload bytes this replica holds at once */
  constructor(readonly bytes: number) {}

  /** Bytes reserved by the uploads being read now. */
  get inUse(): number {
    return this.used;
  }

  /** Reserves `bytes` if they fit; returns the release (call it once), or undefined when they do not. */
  tryReserve(bytes: number): (() => void) | undefined {
    if (this.used + bytes > this.bytes) return undefined;
    this.used += bytes;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.used -= bytes;
    };
  }
}

export interface ReceiveRateOptions {
  /** Bytes per second the body must arrive at, measured over each window. 0 turns the check off. */
  minBytesPerSecond: number;
  /** Seconds of each measuring window; the first starts when the server starts reading. */
  windowSeconds: number;
}

/**
 * Calls `tooSlow` once when a request's body arrives slower than the minimum rate over a whole window
 * (bytes read from its socket, so nothing is attached to the body stream itself), and stops once the
 * body is complete. Returns the stop function. Slow clients are cut rather than trusted for the request
 * timeout: a trickle of 50 B/s would otherwise hold a whole body's reservation for minutes.
 */
export function watchReceiveRate(
  request: IncomingMessage,
  options: ReceiveRateOptions,
  tooSlow: (receivedBytes: number, seconds: number) => void,
): () => void {
  if (options.minBytesPerSecond <= 0) return () => undefined;
  const socket = request.socket;
  let windowStart = socket.bytesRead;
  const timer = setInterval(() => {
    if (request.complete || socket.destroyed) return clearInterval(timer);
    const received = socket.bytesRead - windowStart;
    windowStart = socket.bytesRead;
    if (received < options.minBytesPerSecond * options.windowSeconds) {
      clearInterval(timer);
      tooSlow(received, options.windowSeconds);
    }
  }, options.windowSeconds * 1000);
  timer.unref();
  return () => clearInterval(timer);
}
