import { FastifyError, FastifyInstance } from "fastify";
import { QueueUnavailableError } from "../queue/job-queue";
import { ApiError } from "../shared/errors";
import { ApiContext, isSubmit } from "./context";
import { shortageMessage, UploadShortage } from "./upload-budget";

/** A refused body up to this size is read and dropped rather than cutting the connection. */
const SMALL_BODY_BYTES = 1024 * 1024;

/** The 429 of an upload that found no room in this replica's budget or its client's share. */
export function uploadsBusy(shortage: UploadShortage): ApiError {
  return new ApiError("uploads_busy", shortageMessage(shortage), undefined, { "retry-after": "1" });
}

/** Maps any error (ours, Fastify's, the multipart parser's, the store's) to the API's JSON error. */
export function toApiError(err: FastifyError | ApiError | Error): ApiError {
  if (err instanceof ApiError) return err;
  if (err instanceof QueueUnavailableError)
    return new ApiError("queue_unavailable", "the job queue is unavailable; retry shortly", undefined, {
      "retry-after": "5",
    });
  const status = (err as FastifyError).statusCode ?? 500;
  const code = (err as FastifyError).code;
  // Multipart field and part limits are about the form, not the upload size: the documented 400.
  if (code === "FST_FIELDS_LIMIT" || code === "FST_PARTS_LIMIT" || code === "FST_PROTO_VIOLATION")
    return new ApiError(
      "bad_request",
      `malformed form: ${err.message}; send only the files 'audio' and 'image'`,
    );
  if (status === 413) return new ApiError("payload_too_large", `the upload is too large: ${err.message}`);
  if (status === 415 || code === "FST_INVALID_MULTIPART_CONTENT_TYPE") {
    return new ApiError(
      "unsupported_media_type",
      "send multipart/form-data with the fields 'audio' and 'image'",
    );
  }
  if (status >= 400 && status < 500) return new ApiError("bad_request", err.message);
  return new ApiError("internal", "internal error");
}

/**
 * The one error handler: every error becomes the API's JSON error; a refused submission is counted
 * and logged with its reason, and its connection closed when the rest of its body would not be read.
 * Set on the root instance (not as an encapsulated plugin) so that every route answers through it.
 */
export function handleErrors(app: FastifyInstance, { queue, metrics, awaitingContinue }: ApiContext): void {
  app.setErrorHandler((err: FastifyError, request, reply) => {
    const api = toApiError(err);
    if (api.statusCode >= 500 && api.code !== "queue_unavailable")
      request.log.error({ err }, "request failed");
    if (isSubmit(request)) {
      const status =
        api.code === "queue_full" ||
        api.code === "uploads_busy" ||
        api.code === "store_full" ||
        api.code === "shutting_down"
          ? "rejected"
          : api.statusCode < 500
            ? "client_error"
            : "server_error";
      metrics.requestFinished(status, reply.elapsedTime / 1000);
      // Every refusal is logged with its reason: what the client was told, or the store's own answer.
      const cause = (api === (err as Error) ? api.cause : err) as Error | undefined;
      request.log[api.statusCode >= 500 || api.code === "store_full" ? "warn" : "info"](
        {
          event: "submission_refused",
          status: api.statusCode,
          code: api.code,
          reason: cause?.message ?? api.message,
          ...(queue.health.down ? { store_down: queue.health.down } : {}),
        },
        "submission refused",
      );
      // The rest of a refused large or endless body is not read: close the connection instead of
      // draining it. A small one is drained, so the client reads the answer on a kept-alive connection.
      // A client still waiting for `100 Continue` may send its body anyway: never read it as a request.
      const length = Number(request.headers["content-length"]);
      if (awaitingContinue.has(request.raw) || (!request.raw.readableEnded && !(length <= SMALL_BODY_BYTES)))
        reply.header("connection", "close");
    }
    return reply.code(api.statusCode).headers(api.headers).send(api.toJSON());
  });
  app.setNotFoundHandler((request, reply) =>
    reply
      .code(404)
      .send(new ApiError("not_found", `no route ${request.method} ${request.url.split("?")[0]}`).toJSON()),
  );
}
