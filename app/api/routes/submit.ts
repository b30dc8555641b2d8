import { FastifyError, FastifyPluginAsync, FastifyReply, FastifyRequest } from "fastify";
import { StoreFullError } from "../../queue/job-queue";
import { AudioDecodeError, decodeAudio } from "../../shared/audio";
import { ApiError } from "../../shared/errors";
import { largestSubmissionBytes } from "../config";
import { Admission, ApiContext, SUBMIT_URL } from "../context";
import { toApiError, uploadsBusy } from "../errors";
import { checkImage, ImageCheckError } from "../image";
import { ClientAddressError, clientAddress, UploadHold, watchReceiveRate } from "../upload-budget";

/** `POST /v1/videos`: admission before the body, then the upload read, checked, and stored as a job. */
export const submitRoute: FastifyPluginAsync<ApiContext> = async (app, ctx) => {
  const { queue } = ctx;
  app.post(SUBMIT_URL, { onRequest: admission(ctx) }, async (request, reply) => {
    const admission = ctx.admissions.get(request)!;
    const files = await receiveUploads(request, admission, ctx);
    const { audioSeconds, imageType } = checkInputs(files, ctx);
    // An upload that finishes while this replica drains is still stored: the queue is shared, so
    // another replica runs it, and drain waits for this write before it closes the store.
    const stored = await queue
      .submit({ audioSeconds, imageType }, files, admission.backlog)
      .catch(async (err) => {
        throw err instanceof StoreFullError ? await ctx.storeFull(err) : err;
      });
    request.log.info({ job: stored.id, event: "job_accepted", audio_seconds: audioSeconds }, "job accepted");
    const job = await ctx.withCapacity(stored, reply);
    return reply
      .code(202)
      .header("location", `${SUBMIT_URL}/${job.id}`)
      .send({ ...job, status_url: `${SUBMIT_URL}/${job.id}` });
  });
};

/**
 * The submission's `onRequest` hook. Everything that refuses a submission is decided here, before a
 * byte of the body is read and before `100 Continue`, and the most binding reason wins: what the client
 * must change (415, 413), then the service-wide backlog (429 `queue_full` with the time until a slot
 * frees), then this replica's drain (503) and its upload budget (429 `uploads_busy`, 1 s).
 */
function admission(ctx: ApiContext) {
  const { config, queue, metrics, uploads, admissions, awaitingContinue, state } = ctx;
  const maxBody = largestSubmissionBytes(config);
  const addressHeader = config.SONIC_CLIENT_ADDRESS_HEADER?.toLowerCase();
  // A backlog reservation outlives no request: the request timeout cuts every upload before it lapses.
  const holdSeconds = config.SONIC_REQUEST_TIMEOUT_SECONDS + 30;
  return async (request: FastifyRequest, reply: FastifyReply): Promise<void> => {
    metrics.submissionReceived();
    // The multipart plugin marks a request multipart only when its body parser runs, after this hook.
    if (!/^multipart\/form-data\s*(;|$)/i.test(request.headers["content-type"] ?? "")) {
      throw new ApiError(
        "unsupported_media_type",
        `send multipart/form-data with the fields 'audio' and 'image', not ${request.headers["content-type"] ?? "no content type"}`,
      );
    }
    const declared = Number(request.headers["content-length"]);
    if (declared > maxBody) {
      throw new ApiError(
        "payload_too_large",
        `the upload is ${declared} bytes; the limit is ${config.SONIC_MAX_UPLOAD_BYTES} per file`,
      );
    }
    let client: string;
    try {
      client = clientAddress(request.raw, addressHeader);
    } catch (err) {
      if (!(err instanceof ClientAddressError)) throw err;
      throw new ApiError("bad_request", err.message, err.header);
    }
    state.submissionsInFlight++;
    const admission: Admission = { release: async () => undefined };
    admissions.set(request, admission);
    // Released once the response is over, whatever ended it (answer, refusal, cut connection).
    reply.raw.once("close", () => {
      state.submissionsInFlight--;
      void admission.release();
    });
    const backlog = await queue.reserveBacklog(config.SONIC_BACKLOG_LIMIT, holdSeconds).catch(async (err) => {
      throw err instanceof StoreFullError ? await ctx.storeFull(err) : err;
    });
    if (!backlog.admitted) {
      // With no worker live the wait includes a worker's cold start.
      const seconds = await ctx.secondsUntilRoom();
      const uploading = backlog.reserved > 0 ? `; ${backlog.reserved} more are being uploaded` : "";
      throw new ApiError(
        "queue_full",
        `the service has ${backlog.queued} jobs queued and ${backlog.running} running (limit ${config.SONIC_BACKLOG_LIMIT})${uploading}; retry later`,
        undefined,
        { "retry-after": String(seconds) },
      );
    }
    admission.release = backlog.release;
    admission.backlog = backlog;
    if (state.draining) {
      throw new ApiError(
        "shutting_down",
        "the service is shutting down; retry on another replica",
        undefined,
        {
          "retry-after": "5",
        },
      );
    }
    // The upload holds what arrives of its body (at least a first step), never a whole body ahead.
    const hold = uploads.open(client, Number.isFinite(declared) ? declared : undefined);
    if (!(hold instanceof UploadHold)) throw uploadsBusy(hold);
    admission.hold = hold;
    admission.release = async () => {
      hold.release();
      await backlog.release();
    };
    if (awaitingContinue.delete(request.raw)) reply.raw.writeContinue();
  };
}

/** The body of an admitted submission, which must keep arriving: a client below the minimum rate is cut and frees its reservation. */
async function receiveUploads(
  request: FastifyRequest,
  admission: Admission,
  { config }: ApiContext,
): Promise<{ audio: Buffer; image: Buffer }> {
  let stopWatching = () => undefined as void;
  const tooSlow = new Promise<never>((_, reject) => {
    stopWatching = watchReceiveRate(
      request.raw,
      {
        minBytesPerSecond: config.SONIC_MIN_UPLOAD_BYTES_PER_SECOND,
        windowSeconds: config.SONIC_UPLOAD_RATE_WINDOW_SECONDS,
      },
      (received, seconds) =>
        reject(
          new ApiError(
            "upload_too_slow",
            `the upload arrived at ${Math.floor(received / seconds)} bytes/s; the minimum is ${config.SONIC_MIN_UPLOAD_BYTES_PER_SECOND}`,
          ),
        ),
    );
  });
  const reading = readUploads(request, config.SONIC_MAX_UPLOAD_BYTES, (bytes) => {
    const shortage = admission.hold!.arrived(bytes);
    if (shortage) throw uploadsBusy(shortage);
  });
  reading.catch(() => undefined); // a cut upload's parser fails after the answer: nothing to report
  try {
    return await Promise.race([reading, tooSlow]);
  } finally {
    stopWatching();
  }
}

/** The audio decoded (its length) and the image checked (its type), or the 400 that says what is wrong. */
function checkInputs(
  files: { audio: Buffer; image: Buffer },
  { config, metrics }: ApiContext,
): { audioSeconds: number; imageType: "png" | "jpg" } {
  let audioSeconds: number;
  try {
    audioSeconds = decodeAudio(files.audio, config.SONIC_MAX_AUDIO_SECONDS).durationSeconds;
  } catch (err) {
    if (!(err instanceof AudioDecodeError)) throw err;
    metrics.decodeFailure(err.reason);
    throw new ApiError("invalid_audio", `${err.message} (reason: ${err.reason})`, "audio");
  }
  let imageType: "png" | "jpg";
  try {
    imageType = checkImage(files.image, {
      maxSide: config.SONIC_MAX_IMAGE_SIDE,
      maxPixels: config.SONIC_MAX_IMAGE_PIXELS,
    }).type;
  } catch (err) {
    if (!(err instanceof ImageCheckError)) throw err;
    throw new ApiError("invalid_image", err.message, "image");
  }
  return { audioSeconds, imageType };
}

/**
 * Reads exactly the two files `audio` and `image` from the multipart body, refusing anything else.
 * `arrived` is told each piece of a file as it arrives, before it is kept, and may refuse it (throw).
 */
async function readUploads(
  request: FastifyRequest,
  maxFileBytes: number,
  arrived: (bytes: number) => void,
): Promise<{ audio: Buffer; image: Buffer }> {
  const files: Partial<Record<"audio" | "image", Buffer>> = {};
  try {
    for await (const part of request.parts()) {
      if (part.type !== "file" || (part.fieldname !== "audio" && part.fieldname !== "image")) {
        if (part.type === "file") part.file.resume();
        throw new ApiError(
          "bad_request",
          `unexpected field "${part.fieldname.slice(0, 64)}": send only the files 'audio' and 'image'`,
          part.fieldname.slice(0, 64),
        );
      }
      if (files[part.fieldname])
        throw new ApiError("bad_request", `field "${part.fieldname}" appears twice`, part.fieldname);
      const chunks: Buffer[] = [];
      for await (const chunk of part.file as AsyncIterable<Buffer>) {
        arrived(chunk.length);
        chunks.push(chunk);
      }
      // busboy stops a file at the size limit and marks it truncated (toBuffer's check, done here).
      if (part.file.truncated)
        throw new ApiError(
          "payload_too_large",
          `the upload is too large: file '${part.fieldname}' is over the limit of ${maxFileBytes} bytes per file`,
          part.fieldname,
        );
      files[part.fieldname] = Buffer.concat(chunks);
    }
  } catch (err) {
    if (err instanceof ApiError) throw err;
    const api = toApiError(err as FastifyError);
    // The multipart parser reports a broken body as a plain error; that is the client's body, not our fault.
    throw api.statusCode >= 500
      ? new ApiError("bad_request", `malformed multipart body: ${(err as Error).message}`)
      : api;
  }
  for (const field of ["audio", "image"] as const) {
    if (!files[field]) throw new ApiError("bad_request", `missing file field '${field}'`, field);
  }
  return { audio: files.audio!, image: files.image! };
}
