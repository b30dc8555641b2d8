import { z } from "zod";
import { ANALYST_SETTINGS, stackField } from "../../contract";
import { dnsName } from "./value-types";

export const analystSchema = z
  .object({
    enabled: z
      .boolean()
      .default(true)
      .describe(
        "Run the analyst; it posts where alerts go, so a `slack` or `webhook` receiver is then required.",
      ),
    model: z
      .object({
        url: stackField({ ...ANALYST_SETTINGS.ANALYST_MODEL_URL, required: true })
          .meta({ env: "ANALYST_MODEL_URL", program: "analyst" })
          .describe("The model's OpenAI-compatible base URL (`…/v1`)."),
        name: stackField({ ...ANALYST_SETTINGS.ANALYST_MODEL_NAME, default: undefined })
          .meta({ env: "ANALYST_MODEL_NAME", program: "analyst" })
          .describe("The model's name, sent with each request."),
        namespace: dnsName
          .optional()
          .describe(
            "The model's namespace when it runs in the cluster: the analyst's egress policy admits it.",
          ),
        timeoutSeconds: stackField(ANALYST_SETTINGS.ANALYST_MODEL_TIMEOUT_SECONDS).meta({
          env: "ANALYST_MODEL_TIMEOUT_SECONDS",
          program: "analyst",
        }),
      })
      .strict()
      .optional()
      .meta({
        description:
          "An optional OpenAI-compatible model step (an in-cluster vLLM/Ollama, or a hosted API; its key: the secret `analystModelApiKey`).",
        defaultText: "none: deterministic analysis only",
      }),
  })
  .strict()
  .default({ enabled: true })
  .describe("The alert analyst: evidence and likely causes attached to each page; an optional model step.");
