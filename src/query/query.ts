/**
 * Answering a query (docs/SEMANTICS.md#queries-and-lenses): gather the records, derive their state as of the asked time,
 * select the candidates, and let each asked lens pick, score and explain.
 */
import { invalid } from "../core/errors.ts";
import { toHex } from "../core/hex.ts";
import type { Assertion, StemeRecord } from "../core/record.ts";
import { type Candidate, type LensParams, type LensResult, lensNames, resolveLens } from "../lens/index.ts";
import { blockingFlags, type Cut, deriveState, type Flag, withinCut } from "../state/index.ts";
import { type ReadStore, type RecordView, viewOf } from "../store/checked-read.ts";
import type { Store } from "../store/store.ts";
import { trustFloor } from "../trust/rank.ts";
import { type GatherCache, type Gathered, gather } from "./gather.ts";

export interface QueryRequest {
  subject: string;
  predicate: string;
  lenses: string[];
  /** Only records the agents date at or before this time (ts ≤ asOf) count. */
  asOf?: number;
  /** Only records this node had received by this time (recorded_at ≤ knownAt) count; node-local. */
  knownAt?: number;
  validAt?: number;
  tolerance?: number;
  layers?: string[];
  /** Flags whose assertions still count, e.g. `superseded` for history. */
  include?: Flag[];
  /** Answer from every acknowledged record and a TrustRank computed now, never from a view. */
  fresh?: boolean;
  /** Open an escalation when κ ≥ this (`true`: the server's `--escalate-kappa`). */
  escalate?: number | true;
  /** `false` leaves the `explain` lines out of the answer. */
  explain?: boolean;
}

/** What a query weighs trust with: τ per agent, and the log position it reflects. */
export interface TrustContext {
  trustOf(agent: string): number;
  lsn: number;
}

/** Lenses whose answer depends on TrustRank (through τ or trust-weighted votes). */
export const trustLenses: ReadonlySet<string> = new Set(["vote", "trust", "layered"]);

/** What an answer was derived from, so a view of it can be dropped when any of it changes. */
export interface AnswerDeps {
  /** subject NUL predicate */
  sp: string;
  /** Every gathered record id, and every id a gathered assertion references (present or not). */
  ids: string[];
  /** Every source id a gathered assertion cites. */
  sources: string[];
}

export interface QueryAnswer extends Omit<LensResult, "winner"> {
  subject: string;
  predicate: string;
  winner: Record<string, unknown> | null;
  lsn: number;
  /** The log position the TrustRank used reflects (lenses that weigh trust). */
  trust_lsn?: number;
  as_of?: number;
  known_at?: number;
}

/** What the query audit trail keeps of an answer (src/audit/query-log.ts). */
export interface AnswerSummary {
  winner: string | null;
  value: unknown;
  conflict: number;
  support: number;
  lsn: number;
}

export function summaryOf(a: QueryAnswer): AnswerSummary {
  const winner = typeof a.winner?.id === "string" ? a.winner.id : null;
  return { winner, value: a.value, conflict: a.conflict, support: a.support, lsn: a.lsn };
}

export function checkLens(name: string): void {
  if (!lensNames.includes(name))
    throw invalid("unknown_lens", `lens "${name}" does not exist; lenses: ${lensNames.join(", ")}`, { field: "lens" });
}

/**
 * Answers a query from the index as it stands: `await`s only for the index to catch up, then
 * runs synchronously, so nothing is indexed between gathering and answering.
 */
export async function runQuery(
  store: Store,
  q: QueryRequest,
  trust: TrustContext,
): Promise<{ answers: Record<string, QueryAnswer>; deps: AnswerDeps }> {
  for (const lens of q.lenses) checkLens(lens);
  await store.indexCaughtUp(); // every acknowledged record counts
  return answerNow(store, q, trust);
}

/** The synchronous part of `runQuery`: the caller has waited for the index. */
export function answerNow(
  store: ReadStore,
  q: QueryRequest,
  trust: TrustContext,
  cache?: GatherCache,
): { answers: Record<string, QueryAnswer>; deps: AnswerDeps } {
  const gathered = gather(store, q.subject, q.predicate, cache);
  const cut = cutOf(q);
  const earned = (agent: string) => earnedTrust(trust.trustOf(agent));
  const state = deriveState(gathered.records, { authorities: new Set(store.dataDir.authorities), trust: earned, ...cut });
  const include = new Set<Flag>(q.include ?? []);
  const counts = (flags: Flag[]) => flags.every((f) => !blockingFlags.includes(f) || include.has(f));
  const candidates: Candidate[] = [];
  const byId = new Map<string, Assertion>();
  for (const stored of gathered.assertions) {
    const { id } = stored;
    const r = stored.record as Assertion;
    if (!withinCut(stored, cut)) continue;
    if (
      q.validAt !== undefined &&
      ((r.valid_from !== undefined && q.validAt < r.valid_from) || (r.valid_to !== undefined && q.validAt >= r.valid_to))
    )
      continue;
    const s = state.assertions.get(id);
    if (s && !counts(s.flags)) continue;
    byId.set(id, r);
    const agent = toHex(r.agent);
    candidates.push({
      id,
      agent,
      ts: r.ts,
      object: r.object,
      confidence: r.confidence,
      tier: state.sourceTier(r.source),
      ...(r.source !== undefined ? { source: r.source } : {}),
      ...tierNoteOf(state.sourceTierNote(r.source)),
      netVotes: state.netVotes(id),
      trust: trust.trustOf(agent),
      earned: earned(agent),
    });
  }
  const params: LensParams = {
    ...(q.tolerance !== undefined ? { tolerance: q.tolerance } : {}),
    ...(q.layers ? { layers: q.layers } : {}),
  };
  const out: Record<string, QueryAnswer> = {};
  for (const lens of q.lenses) {
    const result = resolveLens(lens, candidates, params);
    const winner = result.winner ? recordView(store, gathered, result.winner.id) : null;
    if (winner) winner.flags = state.assertions.get(result.winner?.id ?? "")?.flags ?? [];
    out[lens] = {
      ...result,
      subject: q.subject,
      predicate: q.predicate,
      winner,
      lsn: gathered.lsn,
      ...(trustLenses.has(lens) ? { trust_lsn: trust.lsn } : {}),
      ...(q.asOf !== undefined ? { as_of: q.asOf } : {}),
      ...(q.knownAt !== undefined ? { known_at: q.knownAt } : {}),
    };
  }
  return { answers: out, deps: depsOf(q, gathered.records) };
}

/** A gathered assertion as the API shows it: from this query's read of it, else read again (checked). */
function recordView(store: ReadStore, gathered: Gathered, id: string): RecordView | null {
  const read = gathered.reads.get(id);
  if (read) return viewOf(read);
  const loc = gathered.locations.get(id);
  return loc ? store.view(loc) : null;
}

/**
 * The trust an agent earned: τ above the floor a stranger has, rescaled to [0, 1]. Lenses weigh
 * claims and votes by it (docs/SEMANTICS.md#trustrank), so strangers — however many — count for
 * nothing against anyone a seed's endorsements reach.
 */
export function earnedTrust(tau: number): number {
  return Math.max(0, (tau - trustFloor) / (1 - trustFloor));
}

/** The records a query counts: `as_of` by stated time, `known_at` by this node's receive time. */
export function cutOf(q: Pick<QueryRequest, "asOf" | "knownAt">): Cut {
  return {
    ...(q.asOf !== undefined ? { asOf: q.asOf } : {}),
    ...(q.knownAt !== undefined ? { knownAt: q.knownAt } : {}),
  };
}

const tierNoteOf = (note: string | undefined) => (note === undefined ? {} : { tierNote: note });

function depsOf(q: QueryRequest, records: readonly { id: string; record: StemeRecord }[]): AnswerDeps {
  const ids = new Set<string>();
  const sources = new Set<string>();
  for (const { id, record } of records) {
    ids.add(id);
    if (record.kind !== "assertion") continue;
    if (record.source !== undefined) sources.add(record.source);
    if (record.supersedes) ids.add(toHex(record.supersedes));
    for (const d of record.depends_on ?? []) ids.add(toHex(d));
  }
  return { sp: spKey(q.subject, q.predicate), ids: [...ids], sources: [...sources] };
}

export const spKey = (subject: string, predicate: string): string => `${subject}\0${predicate}`;

/**
 * The lifecycle of one stored assertion now (`GET /v1/assertions/:id`): its flags and the
 * notes explaining them, derived from the same records a query of its pair reads. The caller
 * has waited for the index.
 */
export function lifecycleOf(store: Store, id: string, subject: string, predicate: string): { flags: Flag[]; notes: string[] } {
  const gathered = gather(store, subject, predicate);
  const state = deriveState(gathered.records, { authorities: new Set(store.dataDir.authorities) });
  return state.assertions.get(id) ?? { flags: [], notes: [] };
}
