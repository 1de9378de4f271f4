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
import type { FromWorker, ToWorker } from "./resolver-wire.ts";
import { DamageFound, NodeAnswers, WorkerStore } from "./worker-store.ts";

declare const self: Worker;

let store: WorkerStore | null = null;
let cache: GatherCache | null = null;
let authorities: ReadonlySet<string> = new Set();
/** TrustRank's τ by agent, as the node last sent it. */
let agents = new Map<string, { trust: number }>();

const send = (m: FromWorker) => self.postMessage(m);

function answer(seq: number, q: QueryRequest, trustLsn: number): FromWorker {
  if (!store || !cache) return { type: "node", seq, why: "the worker has no store open" };
  const s = store;
  const c = cache;
  const ranked = { agents };
  const trust = { trustOf: (agent: string) => trustOf(ranked, agent, authorities), lsn: trustLsn };
  try {
    const { answers, deps } = s.index.readAt(() => answerNow(s, q, trust, c));
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
function failure(seq: number, err: unknown): FromWorker {
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
    case "query":
      send(answer(m.seq, m.q, m.trustLsn));
      return;
    case "close":
      store?.close();
      store = null;
      send({ type: "closed" });
      return;
  }
};
