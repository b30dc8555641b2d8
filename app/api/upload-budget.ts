import type { IncomingMessage } from "node:http";
import { isIP } from "node:net";

/** Bytes an upload holds as soon as it is admitted, before any arrives (less when it declares less). */
export const FIRST_STEP_BYTES = 64 * 1024;

/** Why an upload found no room: the replica's budget, or the share of one client address. */
export type UploadShortage =
  | { short: "replica"; inUse: number; budget: number }
  | { short: "client"; client: string; held: number; cap: number };

/**
 * Bytes of uploads one replica holds in memory at once, and what one client address may hold of them.
 * An upload holds what has arrived of its body (at least a first step), so it never holds what it has
 * not sent: a handful of slow connections hold a few first steps, not whole bodies. The per-client cap
 * keeps many connections of one address (slow or fast) from filling the budget, so other clients
 * always find room; `watchReceiveRate` cuts uploads that stop using what they hold.
 */
export class UploadBudget {
  private used = 0;
  private readonly byClient = new Map<string, number>();

  /**
   * @param bytes the budget: upload bytes this replica holds at once
   * @param perClientBytes the most of it one client address holds at once
   */
  constructor(
    readonly bytes: number,
    readonly perClientBytes: number,
  ) {}

  /** Bytes held by the uploads being read now. */
  get inUse(): number {
    return this.used;
  }

  /** Bytes held by the uploads of one client address. */
  heldBy(client: string): number {
    return this.byClient.get(client) ?? 0;
  }

  /**
   * Admits an upload of `client` that declared `declared` bytes (undefined when chunked): it must fit
   * now, whole when declared, and it holds its first step. Returns its hold, or why it does not fit.
   */
  open(client: string, declared: number | undefined): UploadHold | UploadShortage {
    const first = Math.min(declared ?? FIRST_STEP_BYTES, FIRST_STEP_BYTES);
    const shortage = this.shortage(client, Math.max(first, declared ?? 0));
    if (shortage) return shortage;
    this.take(client, first);
    return new UploadHold(this, client, first);
  }

  /** Takes `bytes` for `client` if they fit; else says why not. */
  tryTake(client: string, bytes: number): UploadShortage | undefined {
    const shortage = this.shortage(client, bytes);
    if (!shortage) this.take(client, bytes);
    return shortage;
  }

  /** Gives back what an upload of `client` held. */
  give(client: string, bytes: number): void {
    this.used -= bytes;
    const left = this.heldBy(client) - bytes;
    if (left > 0) this.byClient.set(client, left);
    else this.byClient.delete(client);
  }

  private shortage(client: string, bytes: number): UploadShortage | undefined {
    if (this.used + bytes > this.bytes) return { short: "replica", inUse: this.used, budget: this.bytes };
    const held = this.heldBy(client);
    if (held + bytes > this.perClientBytes)
      return { short: "client", client, held, cap: this.perClientBytes };
    return undefined;
  }

  private take(client: string, bytes: number): void {
    this.used += bytes;
    this.byClient.set(client, this.heldBy(client) + bytes);
  }
}

/** One upload's hold on the budget: what has arrived of its body, at least its first step. */
export class UploadHold {
  private received = 0;
  private released = false;

  constructor(
    private readonly budget: UploadBudget,
    readonly client: string,
    private held: number,
  ) {}

  /** Bytes this upload holds. */
  get holds(): number {
    return this.held;
  }

  /** Counts `bytes` more of the body as arrived, holding them; says why not when they do not fit. */
  arrived(bytes: number): UploadShortage | undefined {
    if (this.released) return undefined;
    this.received += bytes;
    const more = this.received - this.held;
    if (more <= 0) return undefined;
    const shortage = this.budget.tryTake(this.client, more);
    if (!shortage) this.held += more;
    return shortage;
  }

  /** Gives back everything held (call once the response is over; later calls do nothing). */
  release(): void {
    if (this.released) return;
    this.released = true;
    this.budget.give(this.client, this.held);
  }
}

/** The text of a shortage, for the 429 `uploads_busy` answer and its log line. */
export function shortageMessage(s: UploadShortage): string {
  switch (s.short) {
    case "replica":
      return `this replica holds ${s.inUse} bytes of uploads in progress, its budget of ${s.budget}; retry shortly`;
    case "client":
      return `uploads from ${s.client} hold ${s.held} bytes on this replica, the most one client address may hold (${s.cap}); retry once one of them ends`;
    default:
      return unreachable(s);
  }
}

function unreachable(s: never): never {
  throw new Error(`unknown shortage ${JSON.stringify(s)}`);
}

/** A client address that was expected in a header and is not there: the request's own fault (400). */
export class ClientAddressError extends Error {
  constructor(
    readonly header: string,
    readonly value: string,
  ) {
    super(
      `header '${header}' must end with the client's IP address, got ${JSON.stringify(value.slice(0, 128))}`,
    );
    this.name = "ClientAddressError";
  }
}

/**
 * The address a request counts against for the per-client cap. Behind a proxy every connection comes
 * from the proxy, so the address is read from `header`, which the proxy sets (`x-real-ip`) or appends
 * to (`x-forwarded-for`): the last entry is the one the proxy itself saw, the ones before it are what
 * the client claimed. A request without the header (a caller inside the cluster, beside the proxy)
 * counts by its connection's address. IPv4 in IPv6 (`::ffff:a.b.c.d`) counts as the IPv4 address.
 */
export function clientAddress(request: IncomingMessage, header?: string): string {
  const value = header ? request.headers[header] : undefined;
  if (header && value !== undefined) {
    const text = Array.isArray(value) ? value.join(",") : value;
    const last = text.split(",").pop()!.trim();
    if (isIP(last) === 0) throw new ClientAddressError(header, text);
    return normalized(last);
  }
  return normalized(request.socket.remoteAddress ?? "unknown");
}

function normalized(address: string): string {
  return address.replace(/^::ffff:(?=\d+\.\d+\.\d+\.\d+$)/i, "").toLowerCase();
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
 * timeout: their connections and first steps would otherwise be held for minutes.
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
