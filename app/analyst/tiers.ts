import type { AnalystServiceProfile } from "../../contract/analyst-service-profile";

/** The tiers of a two-tier service: the `api` Deployment and the GPU `worker` one. */
export type Tier = "api" | "worker";

const escapeRegExp = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

/**
 * The tier a pod belongs to, from its name: a Deployment's pods are `<deployment>-<template hash>-<5
 * characters>` (ReplicaSet naming), so `sonic-generate-service-…` is never read as a pod of a
 * Deployment named `sonic-generate`. Undefined when the profile names no tiers or none matches.
 */
export function tierOf(pod: string, profile: AnalystServiceProfile | undefined): Tier | undefined {
  for (const tier of ["api", "worker"] as const) {
    const deployment = profile?.tiers?.[tier];
    if (deployment && new RegExp(`^${escapeRegExp(deployment)}-[a-z0-9]{1,10}-[a-z0-9]{5}$`).test(pod))
      return tier;
  }
  return undefined;
}

/** What a tier's outage means to clients and to the work, in on-call's words (advice, as data). */
export const TIER_IMPACT: Record<Tier, string> = {
  api: "The API tier takes no jobs: while its pods are down clients get 503 (or connection errors) on submit and poll; jobs already queued keep running on the workers.",
  worker:
    "A worker pod pulls no jobs while it restarts: new jobs wait in the queue rather than fail, and a job it held is retried once its lock expires.",
};
