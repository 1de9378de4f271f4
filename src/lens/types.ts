/**
 * The shapes every lens shares (docs/SEMANTICS.md#the-lenses).
 *
 * A lens is a pure function from candidates to an answer: no I/O, no clock, no randomness.
 * Gathering candidates (visibility, `as_of`, `valid_at`) and computing votes and trust happen
 * below this layer; the lens only weighs what it is given, so the same candidates in any order
 * give the same result.
 */
import type { Value } from "../core/cbor.ts";

/** One visible assertion for a (subject, predicate), with what the lenses need to weigh it. */
export interface Candidate {
  /** Assertion id, lowercase hex. */
  id: string;
  /** Author's public key, lowercase hex. */
  agent: string;
  /** Assertion time, ms since the epoch. */
  ts: number;
  object: Value;
  /** In [0, 1]. */
  confidence: number;
  /** Counted tier of the cited source, 1 (best) to 5; 6 when there is no source or it is not registered (or disputed). */
  tier: number;
  /** The cited `source_id`, if any; only used to make `explain` readable. */
  source?: string;
  /** Why the source counts below the tier it states (not confirmed, disputed); for `explain`. */
  tierNote?: string;
  /** Trust-weighted net votes on this assertion; 0 when absent. */
  netVotes?: number;
  /** TrustRank τ of the agent, in [0, 1]; 0 when absent. */
  trust?: number;
  /**
   * The trust the agent earned: τ above a stranger's floor, rescaled to [0, 1] (0 for an agent
   * with no endorsement path from a seed). `trust` when absent.
   */
  earned?: number;
}

export interface LensParams {
  /** Relative tolerance under which two numbers agree: |a − b| ≤ tolerance × max(|a|, |b|). */
  tolerance?: number;
  /** For `layered`: the lenses to apply in order; default ["authority", "recency"]. */
  layers?: string[];
}

/** Candidates that agree, and what they weigh under the lens. */
export interface LensGroup {
  /** The object of the group's first member (earliest by ts, then id). */
  value: Value;
  weight: number;
  count: number;
  /** Member ids, earliest first (ts, then id). */
  ids: string[];
}

export type Verdict = "settled" | "disputed" | "contested";

/** A numeric candidate further than 3 MAD from the confidence-weighted median. */
export interface Outlier {
  id: string;
  agent: string;
  value: number;
  /** |value − median| / MAD, or null when the MAD is 0 (every other value sits on the median). */
  distanceMads: number | null;
}

export interface Dissent {
  /** Every group but the winner's, heaviest first. */
  groups: LensGroup[];
  outliers: Outlier[];
  /** Confidence-weighted median and MAD of the numeric candidates; null with fewer than 3. */
  median: number | null;
  mad: number | null;
}

export interface LensResult {
  lens: string;
  winner: Candidate | null;
  value: Value | null;
  /** The winner group's share of the total weight, in [0, 1]. */
  support: number;
  /** Conflict score κ in [0, 1] (see conflict.ts). */
  conflict: number;
  /** `skeptic` only. */
  verdict?: Verdict;
  /** Heaviest first; ties go to the group holding the latest candidate. */
  groups: LensGroup[];
  /** Candidates counted, after one agent, one voice. */
  candidates: number;
  explain: string[];
  params: LensParams;
  /** `skeptic` only. */
  dissent?: Dissent;
}

export interface Lens {
  name: string;
  resolve(candidates: Candidate[], params: LensParams): LensResult;
}
