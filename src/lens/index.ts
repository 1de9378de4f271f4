/** The lens layer's face: the registry of lenses and `resolveLens` (docs/SEMANTICS.md#the-lenses). */
import { invalid } from "../core/errors.ts";
import { authority } from "./authority.ts";
import { consensus } from "./consensus.ts";
import { layered } from "./layered.ts";
import { recency } from "./recency.ts";
import { skeptic } from "./skeptic.ts";
import { trust } from "./trust.ts";
import type { Candidate, LensParams, LensResult, Lens } from "./types.ts";
import { vote } from "./vote.ts";

export { conflictScore, verdictFor } from "./conflict.ts";
export { agree, groupCandidates, oneVoicePerAgent, toleranceMax } from "./select.ts";
export type * from "./types.ts";

export const lenses: Readonly<Record<string, Lens>> = Object.freeze({
  recency,
  consensus,
  vote,
  authority,
  trust,
  skeptic,
  layered,
});

export const lensNames: readonly string[] = Object.keys(lenses);

/** Resolves with the named lens; an unknown name is a 400 `unknown_lens`. */
export function resolveLens(name: string, candidates: Candidate[], params: LensParams = {}): LensResult {
  if (!Object.hasOwn(lenses, name)) {
    throw invalid("unknown_lens", `unknown lens ${JSON.stringify(name)}; expected one of ${lensNames.join(", ")}`, {
      field: "lens",
      expected: lensNames,
    });
  }
  return lenses[name]!.resolve(candidates, params);
}
