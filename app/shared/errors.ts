/** Error codes the API answers with, next to their HTTP status. */
export const ERROR_STATUS = {
  bad_request: 400,
  invalid_audio: 422,
  invalid_image: 422,
  not_found: 404,
  payload_too_large: 413,
  upload_too_slow: 408,
  unsupported_media_type: 415,
  queue_full: 429,
  uploads_busy: 429,
  store_full: 429,
  shutting_down: 503,
  queue_unavailable: 503,
  not_ready: 503,
  internal: 500,
} as const;
export type ErrorCode = keyof typeof ERROR_STATUS;

/** An error the API returns as `{ error: { code, message, field? } }` with its status. */
export class ApiError extends Error {
  public readonly statusCode: number;
  constructor(
    public readonly code: ErrorCode,
    message: string,
    public readonly field?: string,
    public readonly headers: Record<string, string> = {},
  ) {
    super(message);
    this.statusCode = ERROR_STATUS[code];
  }

  toJSON() {
    return {
      error: { code: this.code, message: this.message, ...(this.field ? { field: this.field } : {}) },
    };
  }
}
