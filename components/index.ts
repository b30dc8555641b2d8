// Public API of the sonic-observability component package. Names here are contract (shared/DESIGN.md).
export * from "./errors";
export * from "./durations";
export * from "./metric-contract";
export * from "./alert-routing";
export * from "./monitoring-stack";
export * from "./gpu-inference-service";
export * from "./service-monitor";
export * from "./alert-rules";
export * from "./custom-metric";
export * from "./prometheus-adapter";
export * from "./autoscaler";
export * from "./inference-network-policy";
export * from "./team-monitoring-access";
export * from "./inference-observability";
export * from "./rules";
export * from "./overview-dashboard";
export * from "./dashboards";
