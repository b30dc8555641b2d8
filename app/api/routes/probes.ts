import { FastifyPluginAsync } from "fastify";
import { ApiContext } from "../context";

/** `/healthz`, `/readyz` and `/metrics`. */
export const probeRoutes: FastifyPluginAsync<ApiContext> = async (app, { queue, metrics, state }) => {
  app.get("/healthz", async () => ({ status: "ok" }));

  // Ready means "can accept and store jobs": not draining, and Redis answers and takes a write (a
  // read-only replica answers PING and refuses every job). A full backlog and a full store (maxmemory)
  // are 429s, never unreadiness: both are service-wide, so no other pod would do better, and the pod
  // must stay in the Service so its jobs can be polled and clients get the 429 with its Retry-After.
  // While Redis is known to be down this answers at once.
  app.get("/readyz", async (_request, reply) => {
    const store = await queue.storeState();
    const reasons = [
      ...(state.draining ? ["shutting down"] : []),
      ...(store.cannotStore ? [store.cannotStore] : []),
    ];
    return reply.code(reasons.length === 0 ? 200 : 503).send({
      ready: reasons.length === 0,
      reasons,
      ...(store.full ? { notes: ["job store full: submissions are answered 429 store_full"] } : {}),
    });
  });

  app.get("/metrics", async (_request, reply) =>
    reply.header("content-type", metrics.contentType).send(await metrics.exposition()),
  );
};
