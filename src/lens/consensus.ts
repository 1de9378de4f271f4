/** `consensus` (docs/SEMANTICS.md#the-lenses): the group with the largest Σ confidence; ties go to the group holding the latest candidate. */
import { resolveHeaviest } from "./result.ts";
import type { Candidate, Lens, LensParams, LensResult } from "./types.ts";

export const consensusWeight = (c: Candidate): number => c.confidence;

export const consensus: Lens = {
  name: "consensus",
  resolve(candidates: Candidate[], params: LensParams): LensResult {
    return resolveHeaviest("consensus", candidates, params, consensusWeight, "Σ confidence");
  },
};
