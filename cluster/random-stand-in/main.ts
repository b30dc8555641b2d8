import { main } from "@pulumi/pulumi/provider";
import { randomStandIn } from "./provider";

/*
 * The process the engine starts for the `random` provider when the stand-in is installed (through the
 * `pulumi-resource-random` script next to this file). `main` serves the provider over gRPC and prints the
 * port on stdout, which is how the engine finds it: nothing else may write to stdout first.
 */
main(randomStandIn(), process.argv.slice(2)).catch((err: unknown) => {
  process.stderr.write(
    `random stand-in: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
  );
  process.exit(1);
});
