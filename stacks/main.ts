import * as pulumi from "@pulumi/pulumi";

// One project, two kinds of stack: a stack file with a `fleet` key runs the fleet program (the global
// store, its ruler and Grafana); every other stack file is a cluster (stacks/index.ts).
const isFleet = new pulumi.Config("sonic-observability").getObject("fleet") !== undefined;
// eslint-disable-next-line @typescript-eslint/no-require-imports
export = isFleet ? require("./fleet") : require("./index");
