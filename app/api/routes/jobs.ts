import { FastifyPluginAsync } from "fastify";
import { ApiError } from "../../shared/errors";
import { ApiContext, SUBMIT_URL } from "../context";

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** `GET /v1/videos/:id`: a job's view, from any replica (the store is shared). */
export const jobRoute: FastifyPluginAsync<ApiContext> = async (app, { config, queue, withCapacity }) => {
  app.get<{ Params: { id: string } }>(`${SUBMIT_URL}/:id`, async (request, reply) => {
    const { id } = request.params;
    if (!UUID.test(id))
      throw new ApiError("bad_request", `job id must be a UUID, got "${id.slice(0, 64)}"`, "id");
    const job = await queue.get(id);
    if (!job)
      throw new ApiError(
        "not_found",
        `no job ${id} (finished jobs are kept for the last ${config.SONIC_JOB_HISTORY}, at most ${config.SONIC_JOB_HISTORY_SECONDS}s)`,
        "id",
      );
    return withCapacity(job, reply);
  });
};
