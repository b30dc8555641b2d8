import { PolicyPack } from "@pulumi/policy";
import { resourcePolicies, stackPolicies } from "./guardrails";

// `pulumi preview --policy-pack policy/` runs this pack against the program (see the README).
new PolicyPack("sonic-observability-guardrails", {
  policies: [...resourcePolicies, ...stackPolicies],
});
