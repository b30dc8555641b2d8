import { buildAlertAnalyst, loadAnalystConfig } from "./analyst/server";
import { configOrExit } from "./shared/config";

/** Entry point of the alert analyst (same image as the API): `npm run analyst`. */
async function main(): Promise<void> {
  const config = configOrExit(() => loadAnalystConfig());
  const analyst = await buildAlertAnalyst(config);
  await analyst.app.listen({ port: config.PORT, host: config.HOST });
  analyst.app.log.info(
    { event: "started", port: config.PORT, model: !!config.ANALYST_MODEL_URL },
    "alert analyst started",
  );
  // New notifications are refused from the signal on (Alertmanager retries them), accepted ones delivered.
  const stop = () =>
    void analyst
      .drain()
      .then(() => analyst.app.close())
      .then(() => process.exit(0));
  process.on("SIGTERM", stop);
  process.on("SIGINT", stop);
}

main().catch((err: unknown) => {
  process.stderr.write(`${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
