/**
 * Derived state (docs/SEMANTICS.md#derived-state) as a pure function of a set of records: lifecycle flags with their
 * authorship rules, visibility, source tiers and net votes. No I/O; the same set of records
 * gives the same answer in any input order (everything is read in (ts, id) order, and every
 * output collection is sorted).
 *
 * Order of derivation: sources → retracted, source_retracted → cascade (which depends only on
 * those) → epoch_superseded, quarantined, rejected → superseded (a fixpoint over visibility,
 * see supersession.ts).
 */
import { cascade, epochSuperseded, retracted, reviews, sourceRetracted } from "./flags.ts";
import { Notes, prepare, type StoredRecord } from "./records.ts";
import { deriveSources, unregisteredTier } from "./sources.ts";
import { resolveSupersession } from "./supersession.ts";
import { latestVotes, netVotes } from "./votes.ts";

export type Flag = "retracted" | "superseded" | "source_retracted" | "cascade" | "epoch_superseded" | "quarantined" | "rejected";

/**
 * Every flag hides an assertion from lenses (queries may still ask to include them). Kept in
 * sorted order, so filtering it yields sorted flags.
 */
export const blockingFlags: readonly Flag[] = [
  "cascade",
  "epoch_superseded",
  "quarantined",
  "rejected",
  "retracted",
  "source_retracted",
  "superseded",
];

export interface AssertionState {
  /** Sorted. */
  flags: Flag[];
  /** Readable explanations, sorted (e.g. ignored retractions or supersessions and why). */
  notes: string[];
}

export interface DerivedState {
  /** Every assertion in the (asOf-filtered) input, flagged or not. */
  assertions: Map<string, AssertionState>;
  /** Counted tier 1–5 (a tier is a claim: docs/SEMANTICS.md#sources-and-registrars); 6 when unregistered, disputed or no source. */
  sourceTier(sourceId: string | undefined): number;
  /** Why a source counts below its stated tier (not confirmed, disputed), for explanations. */
  sourceTierNote(sourceId: string | undefined): string | undefined;
  sourceTitle(sourceId: string): string | undefined;
  /** Σ over each voter's latest vote on the assertion of value × trust(voter). */
  netVotes(assertionId: string): number;
  /** Present and without a blocking flag. */
  visible(assertionId: string): boolean;
}

export interface DeriveOptions {
  /** Authority agent keys, lowercase hex. */
  authorities: ReadonlySet<string>;
  /** Only records with ts ≤ asOf count. */
  asOf?: number;
  /** Only records this node received by then (recordedAt ≤ knownAt) count; every record must carry recordedAt. */
  knownAt?: number;
  /** Voter trust; default 1 for everyone. */
  trust?: (agentHex: string) => number;
}

export function deriveState(records: readonly StoredRecord[], options: DeriveOptions): DerivedState {
  const { authorities } = options;
  const trust = options.trust ?? (() => 1);
  const { entries, assertions } = prepare(records, {
    ...(options.asOf !== undefined ? { asOf: options.asOf } : {}),
    ...(options.knownAt !== undefined ? { knownAt: options.knownAt } : {}),
  });
  const notes = new Notes();
  const sources = deriveSources(entries, authorities);

  const flagSets = new Map<Flag, Set<string>>();
  flagSets.set("retracted", retracted(entries, assertions, authorities, notes));
  flagSets.set("source_retracted", sourceRetracted(assertions, sources, notes));
  const tainted = new Map<string, string>();
  for (const id of flagSets.get("source_retracted")!) tainted.set(id, "source-retracted");
  for (const id of flagSets.get("retracted")!) tainted.set(id, "retracted");
  flagSets.set("cascade", cascade(assertions, tainted, notes));
  flagSets.set("epoch_superseded", epochSuperseded(entries, assertions, authorities, notes));
  const { quarantined, rejected } = reviews(entries, assertions, authorities, notes);
  flagSets.set("quarantined", quarantined);
  flagSets.set("rejected", rejected);

  const blocked = new Set<string>();
  for (const set of flagSets.values()) for (const id of set) blocked.add(id);
  const { superseded, visible } = resolveSupersession(assertions, blocked, authorities, notes);
  flagSets.set("superseded", superseded);

  const states = new Map<string, AssertionState>();
  for (const id of [...assertions.keys()].sort()) {
    const flags = blockingFlags.filter((f) => flagSets.get(f)!.has(id));
    states.set(id, { flags, notes: notes.get(id) });
  }
  const votes = latestVotes(entries, (id) => assertions.get(id)?.agent);

  return {
    assertions: states,
    sourceTier: (sourceId) =>
      sourceId === undefined ? unregisteredTier : (sources.entries.get(sourceId)?.tier ?? unregisteredTier),
    sourceTierNote: (sourceId) => (sourceId === undefined ? undefined : sources.tierNotes.get(sourceId)),
    sourceTitle: (sourceId) => sources.entries.get(sourceId)?.title,
    netVotes: (assertionId) => netVotes(votes, assertionId, trust),
    visible: (assertionId) => visible.has(assertionId) && (states.get(assertionId)?.flags.length ?? 1) === 0,
  };
}
