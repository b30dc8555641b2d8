import type { FastifyInstance } from "fastify";

/** What an entrypoint runs: a built program with its HTTP app and its graceful shutdown. */
export interface Program {
  app: FastifyInstance;
  shutdown(): Promise<unknown>;
}

/**
 * Runs a tier's program as a container process: listen, log `started` with `fields`, and on SIGTERM
 * or SIGINT shut down once (the program puts every job it cannot finish back in the shared queue, so
 * the exit is clean: 0). A failure to start is printed and exits 1.
 */
export function runProgram(
  build: () => Promise<{ program: Program; port: number; host: string }>,
  fields: Record<string, unknown>,
  message: string,
): void {
  const main = async () => {
    const { program, port, host } = await build();
    await program.app.listen({ port, host });
    program.app.log.info({ event: "started", ...fields, port }, message);
    let stopping = false;
    const stop = async (signal: string) => {
      if (stopping) return;
      stopping = true;
      program.app.log.info({ event: "signal", signal }, "stopping");
      await program.shutdown();
      process.exit(0);
    };
    process.on("SIGTERM", () => void stop("SIGTERM"));
    process.on("SIGINT", () => void stop("SIGINT"));
  };
  main().catch((err: unknown) => {
    process.stderr.write(`${(err as Error).stack ?? String(err)}\n`);
    process.exit(1);
  });
}
