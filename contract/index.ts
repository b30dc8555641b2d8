// What the Pulumi side (components/, stacks/) and the programs of the image (app/) agree on, with no
// Pulumi in it: the metric contract, each program's settings, the analyst's signals.
export * from "./analyst-settings";
export * from "./analyst-service-profile";
export * from "./analyst-signals";
export * from "./api-settings";
export * from "./metrics";
export * from "./promql";
export * from "./setting";
export * from "./shared-settings";
export * from "./simulated-model-server-settings";
export * from "./urls";
export * from "./worker-settings";
