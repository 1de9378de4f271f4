/**
 * `authority` (docs/SEMANTICS.md#the-lenses): the best source tier wins (lowest number; no source = tier 6), then
 * the higher confidence, then the later candidate (ts, then id).
 *
 * The contract (docs/SEMANTICS.md) does not say how authority weighs groups for support and κ. We weigh each candidate by
 * confidence × (7 − tier): a tier-1 source counts six times an unsourced claim of the same
 * confidence, so κ reflects both how many disagree and how well sourced they are.
 */
import { finish, fmt, plural, prepare, weigh } from "./result.ts";
import { later } from "./select.ts";
import type { Candidate, Lens, LensParams, LensResult } from "./types.ts";

/** One above the worst tier (6), so every candidate keeps a positive weight per unit confidence. */
const tierCeiling = 7;

export const authorityWeight = (c: Candidate): number => c.confidence * (tierCeiling - c.tier);

/** Whether `a` outranks `b`: better tier, then confidence, then recency. */
export function outranks(a: Candidate, b: Candidate): boolean {
  if (a.tier !== b.tier) return a.tier < b.tier;
  if (a.confidence !== b.confidence) return a.confidence > b.confidence;
  return later(a, b) === a;
}

export function bestTier(candidates: readonly Candidate[]): number {
  return candidates.reduce((t, c) => Math.min(t, c.tier), Number.POSITIVE_INFINITY);
}

export const authority: Lens = {
  name: "authority",
  resolve(candidates: Candidate[], params: LensParams): LensResult {
    const prep = prepare(candidates, params);
    const weighted = weigh(prep.groups, authorityWeight);
    let winner: Candidate | null = null;
    for (const c of prep.kept) if (winner === null || outranks(c, winner)) winner = c;
    return finish("authority", prep, weighted, winner, winner === null ? [] : explainAuthority(winner, prep.kept));
  },
};

export function sourceLabel(c: Candidate): string {
  if (c.source !== undefined) return c.source;
  return c.tier === 6 ? "an unsourced claim" : "a source";
}

function explainAuthority(winner: Candidate, kept: readonly Candidate[]): string[] {
  const lines: string[] = [];
  const below = new Map<number, number>();
  for (const c of kept) if (c.tier > winner.tier) below.set(c.tier, (below.get(c.tier) ?? 0) + 1);
  if (below.size > 0) {
    const parts = [...below.entries()].sort((a, b) => a[0] - b[0]).map(([t, n]) => `${plural(n, "candidate")} (tier ${t})`);
    lines.push(`${sourceLabel(winner)} (tier ${winner.tier}) outranks ${parts.join(", ")}`);
  }
  const peers = kept.filter((c) => c.tier === winner.tier);
  if (peers.length > 1) {
    const sameConfidence = peers.filter((c) => c.confidence === winner.confidence).length;
    lines.push(
      sameConfidence > 1
        ? `${peers.length} candidates at tier ${winner.tier}; ${sameConfidence} share the top confidence ${fmt(winner.confidence)}, the latest wins`
        : `${peers.length} candidates at tier ${winner.tier}; the most confident (${fmt(winner.confidence)}) wins`,
    );
  }
  lines.push(...tierNoteLines(kept));
  lines.push(`weight = confidence × (${tierCeiling} − tier)`);
  return lines;
}

/** Sources named in explanations as counted below their stated tier, at most. */
const tierNotesShownMax = 3;

/**
 * Why some sources count below the tier they state (docs/SEMANTICS.md#sources-and-registrars):
 * "source 'x': tier 1 claimed by ab12…, not confirmed: counted as tier 4", one line per source.
 */
export function tierNoteLines(kept: readonly Candidate[]): string[] {
  const notes = [...new Set(kept.flatMap((c) => (c.tierNote === undefined ? [] : [c.tierNote])))].sort();
  const lines = notes.slice(0, tierNotesShownMax);
  if (notes.length > tierNotesShownMax)
    lines.push(`${plural(notes.length - tierNotesShownMax, "more source")} counted below the tier stated`);
  return lines;
}
