/**
 * The facts TrustRank is computed from, distilled from records: each voter's votes, the
 * authorities' trust reviews, and the assertions those point at (their author, and for gold
 * standards their subject, predicate and object). Compact, so a node can hold every vote in
 * memory, and order-free: `computeTrust` sorts what it reads.
 */
import { encodeCanonical } from "../core/cbor.ts";
import { toHex } from "../core/hex.ts";
import type { Assertion, Review, StemeRecord, Vote } from "../core/record.ts";

interface Fact {
  /** Record id, hex. */
  id: string;
  ts: number;
  /** When this node received the record (node-local; needed for a `knownAt` computation). */
  recordedAt?: number;
}

export interface VoteFact extends Fact {
  voter: string;
  target: string;
  value: 1 | -1;
}

/** A trust-relevant review (`trust_seed`, `gold`, `ungold`) by anyone; authorship is checked later. */
export interface ReviewFact extends Fact {
  agent: string;
  action: "trust_seed" | "gold" | "ungold";
  target: string;
}

/** An assertion a vote or a gold review points at, or one on a gold (subject, predicate). */
export interface ClaimFact extends Fact {
  agent: string;
  /** subject NUL predicate */
  sp: string;
  /** Hex of the object's canonical encoding: equal values, equal strings. */
  object: string;
}

export interface TrustFacts {
  votes: VoteFact[];
  reviews: ReviewFact[];
  /** By assertion id. */
  claims: Map<string, ClaimFact>;
}

export const trustActions: ReadonlySet<string> = new Set(["trust_seed", "gold", "ungold"]);

/** The canonical (ts, id) order. */
export function byFact(a: Fact, b: Fact): number {
  return a.ts - b.ts || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
}

export const spKey = (subject: string, predicate: string): string => `${subject}\0${predicate}`;

const received = (recordedAt: number | undefined) => (recordedAt === undefined ? {} : { recordedAt });

export function voteFact(id: string, r: Vote, recordedAt?: number): VoteFact {
  return { id, ts: r.ts, ...received(recordedAt), voter: toHex(r.agent), target: toHex(r.target), value: r.value };
}

export function reviewFact(id: string, r: Review, recordedAt?: number): ReviewFact | null {
  if (!trustActions.has(r.action)) return null;
  return {
    id,
    ts: r.ts,
    ...received(recordedAt),
    agent: toHex(r.agent),
    action: r.action as ReviewFact["action"],
    target: toHex(r.target),
  };
}

export function claimFact(id: string, r: Assertion, recordedAt?: number): ClaimFact {
  return {
    id,
    ts: r.ts,
    ...received(recordedAt),
    agent: toHex(r.agent),
    sp: spKey(r.subject, r.predicate),
    object: toHex(encodeCanonical(r.object)),
  };
}

/**
 * Facts from a full record set (tests, and anyone holding the records): every vote, every
 * trust review, and every assertion (unused ones cost nothing but memory).
 */
export function factsFromRecords(records: ReadonlyArray<{ id: string; record: StemeRecord; recordedAt?: number }>): TrustFacts {
  const facts: TrustFacts = { votes: [], reviews: [], claims: new Map() };
  for (const { id, record, recordedAt } of records) {
    if (record.kind === "vote") facts.votes.push(voteFact(id, record, recordedAt));
    else if (record.kind === "review") {
      const f = reviewFact(id, record, recordedAt);
      if (f) facts.reviews.push(f);
    } else if (record.kind === "assertion") facts.claims.set(id, claimFact(id, record, recordedAt));
  }
  return facts;
}
