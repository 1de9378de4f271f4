/** `recency` (docs/SEMANTICS.md#the-lenses): the latest candidate wins (ts, then id). Groups weigh Σ confidence. */
import { finish, fmtValue, prepare, weigh } from "./result.ts";
import type { Candidate, Lens, LensParams, LensResult } from "./types.ts";

// Recency has no weight of its own; groups carry Σ confidence (as in consensus) so that κ says
// how contested the field is, whoever happened to speak last.
const weightOf = (c: Candidate): number => c.confidence;

export const recency: Lens = {
  name: "recency",
  resolve(candidates: Candidate[], params: LensParams): LensResult {
    const prep = prepare(candidates, params);
    const weighted = weigh(prep.groups, weightOf);
    const winner = prep.kept.at(-1) ?? null; // kept is sorted by (ts, id)
    const lines =
      winner === null
        ? []
        : [`latest: ${fmtValue(winner.object)} by agent ${winner.agent.slice(0, 8)}… at ${isoTime(winner.ts)}`];
    return finish("recency", prep, weighted, winner, lines);
  },
};

export function isoTime(ts: number): string {
  const d = new Date(ts);
  return Number.isNaN(d.getTime()) ? String(ts) : d.toISOString();
}
