/**
 * A query worker: resolves cold queries on its own thread, from the index and the log of the
 * node's data directory, so a node answers on every core (resolver-pool.ts). Each query reads
 * one consistent cut of the index (`IndexStore.readAt`) and checks every record it reads
 * against its row, as the node does.
 */
import { StemeError } from "../core/errors.ts";
import { isIndexDamaged, isSqliteDamage } from "../index/damage.ts";
import { trustOf } from "../trust/rank.ts";
import { GatherCache } from "./gather.ts";
import { type AnswerSummary, answerNow, type QueryRequest, summaryOf } from "./query.ts";
import type { FromWorker, QueryItem, Settled, ToWorker } from "./resolver-wire.ts";
import { DamageFound, NodeAnswers, WorkerStore } from "./worker-store.ts";

declare const self: Worker;

let store: WorkerStore | null = null;
let cache: GatherCache | null = null;
let authorities: ReadonlySet<string> = new Set();
/** TrustRank's τ by agent, as the node last sent it. */
let agents = new Map<string, { trust: number }>();

const send = (m: FromWorker) => self.postMessage(m);

/**
 * The queries of one message, in one read transaction (`IndexStore.readAtEach`): each reads a
 * cut taken after it arrived, so it sees every record acknowledged before it was sent.
 */
function answerAll(items: readonly QueryItem[]): Settled[] {
  const s = store;
  const c = cache;
  if (!s || !c) return items.map(({ seq }) => ({ type: "node", seq, why: "the worker has no store open" }));
  try {
    return s.index.readAtEach(items, ({ seq, q, trustLsn }) => answer(s, c, seq, q, trustLsn));
  } catch (err) {
    // The transaction could not begin or end (damage, mostly): the node hears it for each query.
    return items.map(({ seq }) => failure(seq, err));
  }
}

/** One query, inside the read transaction; what went wrong is the node's to hear. */
function answer(s: WorkerStore, c: GatherCache, seq: number, q: QueryRequest, trustLsn: number): Settled {
  const ranked = { agents };
  const trust = { trustOf: (agent: string) => trustOf(ranked, agent, authorities), lsn: trustLsn };
  try {
    const { answers, deps } = answerNow(s, q, trust, c);
    const texts: Record<string, string> = {};
    const summaries: Record<string, AnswerSummary> = {};
    for (const [lens, a] of Object.entries(answers)) {
      texts[lens] = JSON.stringify(a);
      summaries[lens] = summaryOf(a);
    }
    return { type: "answer", seq, answers: texts, summaries, deps: JSON.stringify(deps) };
  } catch (err) {
    return failure(seq, err);
  }
}

/** What a failed query tells the node: damage is the node's to report, anything unexpected the node's to answer. */
function failure(seq: number, err: unknown): Settled {
  if (err instanceof NodeAnswers) return { type: "node", seq, why: err.message };
  if (err instanceof DamageFound) return { type: "damage", seq, found: err.message };
  // This connection's own guard met it first (a page checksum, SQLITE_CORRUPT): same damage.
  if (isIndexDamaged(err)) return { type: "damage", seq, found: err.message.replace(/^the index is damaged: /, "") };
  if (isSqliteDamage(err)) return { type: "damage", seq, found: `${err.code} (${err.message}) in a query worker` };
  if (err instanceof StemeError)
    return {
      type: "error",
      seq,
      code: err.code,
      message: err.message,
      ...(err.hint ? { hint: err.hint } : {}),
      extra: err.extra,
    };
  const e = err as Error;
  return { type: "bug", seq, message: String(e?.message ?? e), ...(e?.stack ? { stack: e.stack } : {}) };
}

self.onmessage = (event: MessageEvent<ToWorker>) => {
  const m = event.data;
  switch (m.type) {
    case "open":
      try {
        store = new WorkerStore(m.store);
        cache = new GatherCache(store, m.recordCacheBytes);
        authorities = new Set(m.store.authorities);
        send({ type: "opened", ok: true });
      } catch (err) {
        send({ type: "opened", ok: false, error: (err as Error).message });
      }
      return;
    case "trust":
      agents = new Map(m.agents.map(([agent, trust]) => [agent, { trust }]));
      return;
    case "acknowledged":
      for (const e of m.entries) cache?.acknowledged(e);
      return;
    case "queries":
      send({ type: "settled", items: answerAll(m.items) });
      return;
    case "close":
      store?.close();
      store = null;
      send({ type: "closed" });
      return;
  }
};
