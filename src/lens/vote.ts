/** `vote` (docs/SEMANTICS.md#the-lenses): consensus with each weight scaled by (1 + trust-weighted net votes), floored at 0. */
import { resolveHeaviest } from "./result.ts";
import type { Candidate, Lens, LensParams, LensResult } from "./types.ts";

export const voteWeight = (c: Candidate): number => c.confidence * Math.max(0, 1 + (c.netVotes ?? 0));

export const vote: Lens = {
  name: "vote",
  resolve(candidates: Candidate[], params: LensParams): LensResult {
    return resolveHeaviest("vote", candidates, params, voteWeight, "Σ confidence × (1 + net votes)");
  },
};
