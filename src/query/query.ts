/**
 * Answering a query (SPEC §4): gather the records, derive their state as of the asked time,
 * select the candidates, and let each asked lens pick, score and explain.
 */
import { invalid } from "../core/errors.ts";
import type { Assertion } from "../core/record.ts";
import { type Candidate, type LensParams, type LensResult, lensNames, resolveLens } from "../lens/index.ts";
import { blockingFlags, deriveState, type Flag } from "../state/index.ts";
import type { Store } from "../store/store.ts";
import { predicatesOf } from "../index/list.ts";
import { gather } from "./gather.ts";

export interface QueryRequest {
  subject: string;
  predicate: string;
  lenses: string[];
  asOf?: number;
  validAt?: number;
  tolerance?: number;
  layers?: string[];
  /** Flags whose assertions still count, e.g. `superseded` for history. */
  include?: Flag[];
}

export interface QueryAnswer extends Omit<LensResult, "winner"> {
  subject: string;
  predicate: string;
  winner: Record<string, unknown> | null;
  lsn: number;
  as_of?: number;
}

/** Lenses that need state this build does not compute yet. */
const unavailableLenses: Record<string, string> = {
  trust: "the trust lens needs TrustRank, which this build does not compute yet",
};

export function checkLens(name: string): void {
  if (unavailableLenses[name]) throw invalid("unknown_lens", `lens "${name}": ${unavailableLenses[name]}`, { field: "lens" });
  if (!lensNames.includes(name))
    throw invalid(
      "unknown_lens",
      `lens "${name}" does not exist; lenses: ${lensNames.filter((n) => !unavailableLenses[n]).join(", ")}`,
      { field: "lens" },
    );
}

export async function runQuery(store: Store, q: QueryRequest): Promise<Record<string, QueryAnswer>> {
  for (const lens of q.lenses) checkLens(lens);
  const gathered = await gather(store, q.subject, q.predicate);
  const state = deriveState(gathered.records, {
    authorities: new Set(store.dataDir.authorities),
    ...(q.asOf !== undefined ? { asOf: q.asOf } : {}),
  });
  const include = new Set<Flag>(q.include ?? []);
  const counts = (flags: Flag[]) => flags.every((f) => !blockingFlags.includes(f) || include.has(f));
  const candidates: Candidate[] = [];
  const byId = new Map<string, Assertion>();
  for (const { id, record } of gathered.assertions) {
    const r = record as Assertion;
    if (q.asOf !== undefined && r.ts > q.asOf) continue;
    if (
      q.validAt !== undefined &&
      ((r.valid_from !== undefined && q.validAt < r.valid_from) || (r.valid_to !== undefined && q.validAt >= r.valid_to))
    )
      continue;
    const s = state.assertions.get(id);
    if (s && !counts(s.flags)) continue;
    byId.set(id, r);
    candidates.push({
      id,
      agent: Buffer.from(r.agent).toString("hex"),
      ts: r.ts,
      object: r.object,
      confidence: r.confidence,
      tier: state.sourceTier(r.source),
      ...(r.source !== undefined ? { source: r.source } : {}),
      netVotes: state.netVotes(id),
    });
  }
  const params: LensParams = {
    ...(q.tolerance !== undefined ? { tolerance: q.tolerance } : {}),
    ...(q.layers ? { layers: q.layers } : {}),
  };
  const out: Record<string, QueryAnswer> = {};
  for (const lens of q.lenses) {
    const result = resolveLens(lens, candidates, params);
    const winner = result.winner ? store.getById(Buffer.from(result.winner.id, "hex")) : null;
    if (winner) winner.flags = state.assertions.get(result.winner?.id ?? "")?.flags ?? [];
    out[lens] = {
      ...result,
      subject: q.subject,
      predicate: q.predicate,
      winner,
      lsn: gathered.lsn,
      ...(q.asOf !== undefined ? { as_of: q.asOf } : {}),
    };
  }
  return out;
}

/** Every predicate of a subject resolved through one lens (`GET /v1/subjects/:path`). */
export async function resolveSubject(
  store: Store,
  subject: string,
  q: Omit<QueryRequest, "subject" | "predicate">,
): Promise<{ subject: string; lens: string; predicates: Record<string, QueryAnswer> }> {
  const lens = q.lenses[0] as string;
  checkLens(lens);
  await store.indexCaughtUp();
  const predicates: Record<string, QueryAnswer> = {};
  for (const predicate of predicatesOf(store.index, subject)) {
    const answers = await runQuery(store, { ...q, subject, predicate, lenses: [lens] });
    predicates[predicate] = answers[lens] as QueryAnswer;
  }
  return { subject, lens, predicates };
}
