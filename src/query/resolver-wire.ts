/**
 * The messages between the node and its query workers (resolver-pool.ts, resolver-worker.ts).
 * A port delivers in order, so a query sent after a trust table or an acknowledged source is
 * answered with them.
 */
import type { StemeRecord } from "../core/record.ts";
import type { AnswerSummary, QueryRequest } from "./query.ts";
import type { WorkerStoreOptions } from "./worker-store.ts";

export type ToWorker =
  | { type: "open"; store: WorkerStoreOptions; recordCacheBytes: number }
  /** τ of every agent the trust computation knows; the rest have the floor (authorities: 1). */
  | { type: "trust"; agents: Array<[string, number]> }
  /** Acknowledged records the gather cache keeps state about (`GatherCache.concerns`). */
  | { type: "acknowledged"; entries: Array<{ lsn: number; record: StemeRecord }> }
  /** Queries that arrived in one turn of the node's event loop: answered in one read transaction, in one message. */
  | { type: "queries"; items: QueryItem[] }
  /** The node is stopping: close the store (its index connection) and say so. */
  | { type: "close" };

export interface QueryItem {
  seq: number;
  q: QueryRequest;
  trustLsn: number;
}

export type FromWorker =
  | { type: "opened"; ok: true }
  | { type: "opened"; ok: false; error: string }
  | { type: "closed" }
  /** What became of each query of a `queries` message, in its order. */
  | { type: "settled"; items: Settled[] };

/** What a worker says of one query. */
export type Settled =
  /**
   * Each lens's answer as JSON text (the response body as it is), what the audit trail keeps of
   * it, and the deps as JSON: text crosses at a fraction of a structured clone's cost.
   */
  | { type: "answer"; seq: number; answers: Record<string, string>; summaries: Record<string, AnswerSummary>; deps: string }
  /** The node answers it (an id lookup, a failed log read). */
  | { type: "node"; seq: number; why: string }
  | { type: "damage"; seq: number; found: string }
  | { type: "error"; seq: number; code: string; message: string; hint?: string; extra?: Record<string, unknown> }
  | { type: "bug"; seq: number; message: string; stack?: string };
