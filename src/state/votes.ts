/**
 * Votes (docs/SEMANTICS.md#votes): each voter's latest vote (by ts, then id) on a target counts; net votes are
 * weighted by the voter's trust.
 *
 * Choices where the contract (docs/SEMANTICS.md) is silent:
 * - Only votes whose target is an assertion in the record set count; votes on unknown ids wait
 *   (no effect yet), votes on other kinds of record are ignored.
 * - An author's vote on their own assertion does not count, here as in TrustRank: endorsing
 *   yourself says nothing new (it used to count, weighted by the author's own τ, which let a
 *   trusted author double its claim's weight under `vote` at will).
 * - Votes count whatever the target's visibility; lenses decide what to show.
 * - The sum runs over voters in key order, so floating-point rounding is order-independent.
 */
import { toHex } from "../core/hex.ts";
import type { Vote } from "../core/record.ts";
import type { Entry } from "./records.ts";

/** target id → voter key → that voter's latest vote value. */
export type LatestVotes = Map<string, Map<string, 1 | -1>>;

/** `authorOf`: the author of an assertion in the record set, undefined for any other id. */
export function latestVotes(entries: readonly Entry[], authorOf: (id: string) => string | undefined): LatestVotes {
  const out: LatestVotes = new Map();
  for (const e of entries) {
    if (e.record.kind !== "vote") continue;
    const vote = e as Entry<Vote>;
    const target = toHex(vote.record.target);
    const author = authorOf(target);
    if (author === undefined || author === vote.agent) continue;
    let byVoter = out.get(target);
    if (!byVoter) {
      byVoter = new Map();
      out.set(target, byVoter);
    }
    byVoter.set(vote.agent, vote.record.value); // entries are in (ts, id) order: the last one wins
  }
  return out;
}

export function netVotes(votes: LatestVotes, target: string, trust: (agentHex: string) => number): number {
  const byVoter = votes.get(target);
  if (!byVoter) return 0;
  let sum = 0;
  for (const voter of [...byVoter.keys()].sort()) sum += byVoter.get(voter)! * trust(voter);
  return sum;
}
