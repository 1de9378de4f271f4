/** `trust` (docs/SEMANTICS.md#the-lenses): the group with the largest Σ confidence × τ(agent). */
import { resolveHeaviest } from "./result.ts";
import type { Candidate, Lens, LensParams, LensResult } from "./types.ts";

export const trustWeight = (c: Candidate): number => c.confidence * (c.trust ?? 0);

export const trust: Lens = {
  name: "trust",
  resolve(candidates: Candidate[], params: LensParams): LensResult {
    return resolveHeaviest("trust", candidates, params, trustWeight, "Σ confidence × τ");
  },
};
