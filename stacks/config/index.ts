// The cluster stacks' config, one file per concern: the value types, a file per block of keys, the checks
// across blocks, the secrets, and the load that reads Pulumi's config into the schema.
export {
  AUTOSCALING_ENGINES,
  type AutoscalingEngine,
  HANDOVER_STEPS,
  MOVED_AUTOSCALING_KEYS,
} from "./autoscaling";
export { chartRepositoryOf, chartsSchema } from "./charts";
export { configSchema } from "./config-schema";
export { loadStackConfig, parseStackConfig, PROJECT, type StackConfig, StackConfigError } from "./load";
export { requiredSecrets, SECRET_DOCS, SECRET_KEYS, SECRET_URLS, type SecretKey } from "./secrets";
