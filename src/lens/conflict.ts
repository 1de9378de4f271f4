/**
 * The conflict score κ (docs/SEMANTICS.md#the-conflict-score): how far a lens's group weights are from unanimity.
 *
 * κ = (1 − W_max / W_total) / (1 − 1/k) for k ≥ 2 groups: 0 when one group holds all the weight,
 * 1 when the weight is spread evenly (two equal camps, three equal camps …). It is 0 when there
 * are fewer than two groups or no weight at all. Groups of weight 0 still count towards k.
 */
import type { Verdict } from "./types.ts";

export function conflictScore(weights: readonly number[]): number {
  const k = weights.length;
  if (k < 2) return 0;
  let total = 0;
  let max = 0;
  for (const w of weights) {
    total += w;
    if (w > max) max = w;
  }
  if (total <= 0) return 0;
  const kappa = (1 - max / total) / (1 - 1 / k);
  // Rounding can push an even split a hair past 1 or below 0.
  return Math.min(1, Math.max(0, kappa));
}

/** Below this κ an answer is settled. */
export const settledBelow = 0.2;
/** From this κ on an answer is contested. */
export const contestedFrom = 0.5;

export function verdictFor(kappa: number): Verdict {
  if (kappa < settledBelow) return "settled";
  if (kappa >= contestedFrom) return "contested";
  return "disputed";
}
