/**
 * Candidate selection and grouping (docs/SEMANTICS.md#candidates), shared by every lens.
 *
 * *One agent, one voice*: only each agent's latest candidate counts, latest meaning the larger
 * `ts`, then the larger id (ids are uniformly distributed hashes, so the tie-break is arbitrary
 * but the same on every replica).
 *
 * *Agreement*: two objects agree when their canonical CBOR bytes are equal, or, when the query
 * gives a `tolerance`, when both are numbers with |a − b| ≤ tolerance × max(|a|, |b|).
 *
 * Tolerance is not transitive (0.200 ~ 0.201 ~ 0.202 but 0.200 ≁ 0.202 at 0.5 %), so grouping
 * needs a rule to be deterministic. We sort candidates by (ts, id) and assign each one to the
 * first group whose *first member* (its anchor, the earliest claim) it agrees with, else it
 * opens a new group. The sort makes the result independent of input order; anchoring on the
 * first member keeps every group within one tolerance of its anchor instead of letting a chain
 * of near values drift.
 */
import { encodeCanonical, type Value } from "../core/cbor.ts";
import { invalid, invariant } from "../core/errors.ts";
import { toHex } from "../core/hex.ts";
import type { Candidate, LensParams } from "./types.ts";

/** Largest relative tolerance a query may ask for: 1 would make every two same-sign numbers agree. */
export const toleranceMax = 1;

/** Order by (ts, id), earliest first. */
export function byTime(a: Candidate, b: Candidate): number {
  if (a.ts !== b.ts) return a.ts - b.ts;
  return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
}

/** The later of two candidates by (ts, id). */
export function later(a: Candidate, b: Candidate): Candidate {
  return byTime(a, b) >= 0 ? a : b;
}

/** Checks the user-supplied parameters; bad ones are a 400, never an assert. */
export function checkParams(params: LensParams): void {
  const t = params.tolerance;
  if (t !== undefined && (typeof t !== "number" || !Number.isFinite(t) || t < 0 || t > toleranceMax)) {
    throw invalid("invalid_query", `tolerance: expected a number in [0, ${toleranceMax}], got ${String(t)}`, {
      field: "tolerance",
    });
  }
}

/** Candidates come from our own index, so a malformed one is a bug, not bad input. */
function checkCandidate(c: Candidate): void {
  invariant(typeof c.id === "string" && c.id.length > 0, "candidate id is a non-empty hex string");
  invariant(typeof c.agent === "string" && c.agent.length > 0, "candidate agent is a non-empty hex string");
  invariant(Number.isFinite(c.ts), `candidate ${c.id}: ts is finite`);
  invariant(c.confidence >= 0 && c.confidence <= 1, `candidate ${c.id}: confidence in [0, 1]`);
  invariant(Number.isInteger(c.tier) && c.tier >= 1 && c.tier <= 6, `candidate ${c.id}: tier in 1..6`);
  invariant(c.netVotes === undefined || Number.isFinite(c.netVotes), `candidate ${c.id}: netVotes is finite`);
  invariant(c.trust === undefined || (c.trust >= 0 && c.trust <= 1), `candidate ${c.id}: trust in [0, 1]`);
  invariant(c.earned === undefined || (c.earned >= 0 && c.earned <= 1), `candidate ${c.id}: earned trust in [0, 1]`);
}

export interface Selection {
  /** Each agent's latest candidate, sorted by (ts, id), earliest first. */
  kept: Candidate[];
  /** How many older claims one agent, one voice set aside. */
  setAside: number;
}

export function oneVoicePerAgent(candidates: readonly Candidate[]): Selection {
  const latest = new Map<string, Candidate>();
  for (const c of candidates) {
    checkCandidate(c);
    const seen = latest.get(c.agent);
    latest.set(c.agent, seen === undefined ? c : later(seen, c));
  }
  const kept = [...latest.values()].sort(byTime);
  return { kept, setAside: candidates.length - kept.length };
}

export function numbersAgree(a: number, b: number, tolerance: number): boolean {
  return Math.abs(a - b) <= tolerance * Math.max(Math.abs(a), Math.abs(b));
}

/** Whether two objects agree; `bytesA`/`bytesB` are their canonical encodings as hex. */
function agreeEncoded(a: Value, bytesA: string, b: Value, bytesB: string, tolerance: number | undefined): boolean {
  if (bytesA === bytesB) return true;
  return tolerance !== undefined && typeof a === "number" && typeof b === "number" && numbersAgree(a, b, tolerance);
}

export function agree(a: Value, b: Value, tolerance?: number): boolean {
  return agreeEncoded(a, toHex(encodeCanonical(a)), b, toHex(encodeCanonical(b)), tolerance);
}

/** Candidates that agree with the group's first member. */
export interface CandidateGroup {
  /** The first member's object. */
  value: Value;
  /** Sorted by (ts, id), earliest first; the first one is the anchor. */
  members: Candidate[];
}

/** Groups candidates already sorted by (ts, id) (see the module comment for the rule). */
export function groupCandidates(sorted: readonly Candidate[], tolerance?: number): CandidateGroup[] {
  const groups: Array<CandidateGroup & { bytes: string }> = [];
  for (const c of sorted) {
    const bytes = toHex(encodeCanonical(c.object));
    const home = groups.find((g) => agreeEncoded(g.value, g.bytes, c.object, bytes, tolerance));
    if (home) home.members.push(c);
    else groups.push({ value: c.object, bytes, members: [c] });
  }
  return groups.map(({ value, members }) => ({ value, members }));
}

/** The group holding a candidate; the candidate must be in one. */
export function groupOf<G extends CandidateGroup>(groups: readonly G[], c: Candidate): G {
  const g = groups.find((group) => group.members.includes(c));
  invariant(g !== undefined, `candidate ${c.id} belongs to a group`);
  return g;
}
