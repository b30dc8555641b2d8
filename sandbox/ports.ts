import { createServer } from "node:net";

/** `preferred` when it is free on 127.0.0.1, otherwise a free port the kernel picks. */
export async function freePort(preferred = 0): Promise<number> {
  const tryListen = (port: number) =>
    new Promise<number | undefined>((resolve) => {
      const server = createServer();
      server.once("error", () => resolve(undefined));
      server.listen(port, "127.0.0.1", () => {
        const { port: bound } = server.address() as { port: number };
        server.close(() => resolve(bound));
      });
    });
  return (preferred ? await tryListen(preferred) : undefined) ?? (await tryListen(0))!;
}
