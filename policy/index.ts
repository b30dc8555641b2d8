import { PolicyPack } from "@pulumi/policy";
import { resourcePolicies, stackPolicies } from "./guardrails";

// `pulumi preview --policy-pack policy/` runs this pack against the program (see docs/develop.md#reviewing-changes-render-diff-policy).
new PolicyPack("sonic-observability-guardrails", {
  policies: [...resourcePolicies, ...stackPolicies],
});
