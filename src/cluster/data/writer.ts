/**
 * Cluster writes (docs/CLUSTER.md#routing and #ack-levels): the write routes' `Submitter` on a
 * cluster node. Any node takes any write; each record goes to a replica of its shard, which
 * validates, verifies and makes it durable, then pushes it to the other replicas.
 *
 * - A record is parsed here (so a malformed one is refused where it arrived, and its subject
 *   read); an **assertion** whose shard this node replicates, and every **global** record, is
 *   stored here; any other assertion goes, with the others of its batch for the same node, to a
 *   live replica of its shard in a `write` message — the next replica if that one cannot be
 *   reached. Nothing is answered as written that no replica made durable.
 * - **`ack=one`** (the default) answers once the replica that took it has it durable;
 *   replication to the others follows (replicator.ts). **`ack=quorum`** answers once a
 *   majority of the replication factor, ⌊RF/2⌋ + 1, have it durable: the taking replica and
 *   the first pushes to confirm. A shard with fewer live replicas than that is refused before
 *   anything is written; pushes that fail or time out leave the record durable where it got
 *   to, and the answer is `503 not_enough_replicas` with `replicas_acked` and Retry-After —
 *   never a false acknowledgement. A retry is idempotent: the duplicate is pushed again and
 *   counted again.
 * - Every answer says how many replicas were known durable: `replicas_acked`.
 */
import { type ProblemCode, problems, StemeError } from "../../core/errors.ts";
import type { Logger } from "../../core/logger.ts";
import type { SignedRecord } from "../../crypto/signed.ts";
import {
  faultOf,
  type Ingest,
  type ItemResult,
  prepareSubmission,
  type Submission,
  type SubmitOptions,
  type Submitter,
} from "../../ingest/pipeline.ts";
import type { ReplicationMetrics } from "../../metrics/replication.ts";
import type { Clock } from "../env.ts";
import type { Replicator } from "./replicator.ts";
import { PeerUnavailable, type PeerLink } from "./rpc.ts";
import type { ShardMap } from "./shards.ts";
import type { ShardTrees } from "./shard-trees.ts";
import { globalShard, type WireWriteResult } from "./wire.ts";

export interface WriterOptions {
  /** How long an `ack=quorum` write waits for the other replicas to confirm. */
  quorumTimeoutMs: number;
  /** How long a write forwarded to a replica may take. */
  forwardTimeoutMs: number;
}

export const writerDefaults: WriterOptions = { quorumTimeoutMs: 5000, forwardTimeoutMs: 15_000 };

export interface WriterDeps {
  ingest: Ingest;
  shards: ShardMap;
  trees: ShardTrees;
  replicator: Replicator;
  /** Throws while the node cannot route writes yet (before its first join). */
  ready?: () => void;
  rpc(peer: string): PeerLink;
  clock: Clock;
  logger: Logger;
  metrics: ReplicationMetrics | undefined;
}

type Ack = "one" | "quorum";

/** A parsed record and where it goes. */
interface Routed {
  slot: number;
  signed: SignedRecord;
  shard: number;
}

/** ⌊RF/2⌋ + 1 durable copies for `ack=quorum`. */
export function quorumOf(replicationFactor: number): number {
  return Math.floor(replicationFactor / 2) + 1;
}

function notEnough(message: string, acked: number): StemeError {
  return new StemeError("not_enough_replicas", message, { extra: { replicas_acked: acked, retry_after_s: 1 } });
}

export class ClusterWriter implements Submitter {
  private readonly fault;

  constructor(
    private readonly deps: WriterDeps,
    private readonly options: WriterOptions,
  ) {
    this.fault = faultOf(deps.logger);
  }

  async submit(items: readonly Submission[], options: SubmitOptions = {}): Promise<ItemResult[]> {
    if (options.replicated) return this.deps.ingest.submit(items, options);
    this.deps.ready?.();
    const ack: Ack = options.ack ?? "one";
    const results: ItemResult[] = new Array(items.length);
    const local: Routed[] = [];
    const remote: Routed[] = [];
    items.forEach((item, slot) => {
      const p = prepareSubmission(item, options.kinds, this.fault);
      if (p instanceof StemeError) {
        results[slot] = { ok: false, error: p };
        return;
      }
      const shard = this.shardOf(p);
      const here = shard === globalShard || this.deps.shards.placement.replicas(shard).includes(this.deps.shards.selfId);
      (here ? local : remote).push({ slot, signed: p, shard });
    });
    const work: Array<Promise<void>> = [this.route(remote, ack, new Set(), results)];
    if (local.length > 0)
      work.push(
        this.writeHere(
          local.map((l) => l.signed),
          ack,
        ).then((rs) => {
          rs.forEach((r, i) => {
            results[(local[i] as Routed).slot] = r;
          });
        }),
      );
    await Promise.all(work);
    return results;
  }

  /** The shard a record is written to: `globalShard` for the records every node holds (references.ts). */
  private shardOf(s: SignedRecord): number {
    const r = s.record;
    if (this.deps.trees.isGlobal(r) || r.kind !== "assertion") return globalShard;
    return this.deps.trees.shardOfRecord(r.kind, r.subject);
  }

  /**
   * Sends each record to the first replica of its shard not yet tried, one `write` message per
   * replica; what a replica could not take goes to the next; a record no replica took is refused.
   */
  private async route(group: Routed[], ack: Ack, tried: ReadonlySet<string>, results: ItemResult[]): Promise<void> {
    const { shards } = this.deps;
    const byTarget = new Map<string, Routed[]>();
    for (const item of group) {
      const target = shards.placement.replicas(item.shard).find((id) => !tried.has(id) && id !== shards.selfId);
      if (target === undefined) {
        results[item.slot] = { ok: false, error: notEnough("no replica of the record's shard could take the write", 0) };
        continue;
      }
      byTarget.set(target, [...(byTarget.get(target) ?? []), item]);
    }
    await Promise.all(
      [...byTarget].map(async ([target, items]) => {
        try {
          const answer = await this.deps
            .rpc(target)
            .call(
              { type: "write", records: items.map((g) => [g.signed.body, g.signed.sig]), ack, kinds: null },
              this.options.forwardTimeoutMs,
              "write_answer",
            );
          this.deps.metrics?.forwardedTotal.inc({ kind: "write", result: "ok" });
          items.forEach((g, i) => {
            const w = answer.results[i];
            results[g.slot] = w ? fromWire(w) : { ok: false, error: notEnough("a replica gave no answer for the record", 0) };
          });
        } catch (err) {
          this.deps.metrics?.forwardedTotal.inc({ kind: "write", result: "failed" });
          if (err instanceof StemeError) {
            for (const g of items) results[g.slot] = { ok: false, error: err };
            return;
          }
          if (!(err instanceof PeerUnavailable)) throw err;
          this.deps.logger.debug("cluster write: a replica could not take records; trying the next", {
            target,
            err: err.message,
          });
          await this.route(items, ack, new Set([...tried, target]), results);
        }
      }),
    );
  }

  /**
   * Stores records as a replica (or, for globals, as the receiving node) and waits for the
   * confirmations `ack` asks for. Records arriving in a peer's `write` come here too.
   */
  async writeHere(signed: readonly SignedRecord[], ack: Ack, kinds?: SubmitOptions["kinds"]): Promise<ItemResult[]> {
    const { shards, ingest } = this.deps;
    const need = ack === "quorum" ? quorumOf(shards.replicationFactor) : 1;
    const slots: Array<ItemResult | null> = signed.map((s) => {
      const shard = this.shardOf(s);
      const holders = shard === globalShard ? shards.live.length : shards.placement.replicas(shard).length;
      if (holders >= need) return null;
      return {
        ok: false,
        error: notEnough(`ack=quorum needs ${need} durable replicas; only ${holders} are live for this record's shard`, 0),
      };
    });
    const todo = signed.filter((_, i) => slots[i] === null);
    const stored = await ingest.submit(
      todo.map((s) => ({ shape: "signed", signed: s })),
      kinds ? { kinds } : {},
    );
    const confirmed = await Promise.all(stored.map((r, i) => this.confirm(todo[i] as SignedRecord, r, need)));
    let next = 0;
    return slots.map((s) => s ?? (confirmed[next++] as ItemResult));
  }

  /** Waits for `need − 1` other replicas to confirm a stored record; the result with `replicas_acked`. */
  private async confirm(signed: SignedRecord, r: ItemResult, need: number): Promise<ItemResult> {
    if (!r.ok) return r;
    const { shards, replicator } = this.deps;
    const shard = this.shardOf(signed);
    const peers = shards.pushTargets(shard === globalShard ? "global" : shard);
    const key = r.result.id;
    // A duplicate was not pushed when it was stored this time: a quorum write pushes it again.
    if (r.result.duplicate && need > 1) replicator.enqueue(key, [signed.body, signed.sig], peers, this.deps.clock.now());
    const others =
      need > 1
        ? await replicator.waitFor(key, peers, need - 1, this.options.quorumTimeoutMs)
        : [...replicator.acked(key)].filter((p) => peers.includes(p)).length;
    const acked = 1 + others;
    if (acked < need)
      return {
        ok: false,
        error: notEnough(
          `ack=quorum needs ${need} durable replicas; ${acked} confirmed in time (the record is durable there)`,
          acked,
        ),
      };
    return { ok: true, result: { ...r.result, replicas_acked: acked } };
  }
}

/** A `write_answer` item as an ItemResult. */
function fromWire(w: WireWriteResult): ItemResult {
  if ("error" in w) {
    const known = Object.hasOwn(problems, w.error.code);
    const code = (known ? w.error.code : "internal") as ProblemCode;
    return { ok: false, error: new StemeError(code, w.error.message, { extra: w.error.extra ?? {} }) };
  }
  return { ok: true, result: w };
}

/** An ItemResult as a `write_answer` item. */
export function toWire(r: ItemResult): WireWriteResult {
  if (r.ok) return { ...r.result, replicas_acked: r.result.replicas_acked ?? 1 };
  return { error: { code: r.error.code, message: r.error.message, status: r.error.status, extra: r.error.extra } };
}
