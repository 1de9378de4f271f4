/**
 * `trust` (docs/SEMANTICS.md#the-lenses): the group with the largest Σ confidence × earned τ —
 * the trust each author earned above a stranger's floor. Strangers (no endorsement path from a
 * seed) weigh nothing while anyone with earned trust speaks, so a ring of N fresh keys does not
 * add up to N × the floor; when no candidate's author earned any, the floor τ weighs them all
 * alike and the lens answers as among equals.
 */
import { resolveHeaviest } from "./result.ts";
import type { Candidate, Lens, LensParams, LensResult } from "./types.ts";

export const earnedOf = (c: Candidate): number => c.earned ?? c.trust ?? 0;
export const trustWeight = (c: Candidate): number => c.confidence * earnedOf(c);
const floorWeight = (c: Candidate): number => c.confidence * (c.trust ?? 0);

export const trust: Lens = {
  name: "trust",
  resolve(candidates: Candidate[], params: LensParams): LensResult {
    if (candidates.some((c) => trustWeight(c) > 0))
      return resolveHeaviest("trust", candidates, params, trustWeight, "Σ confidence × earned τ");
    return resolveHeaviest("trust", candidates, params, floorWeight, "Σ confidence × τ (no author has earned trust)");
  },
};
