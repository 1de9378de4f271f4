/**
 * Cluster listings (docs/CLUSTER.md#cursors): `GET /v1/assertions` gathered from one reader per
 * shard, merged in `(ts, id)` order and paged with the cluster cursor (cursor.ts).
 *
 * The node asked plans who answers what: for each shard the listing can touch (the subject's
 * shard for an exact subject, else all of them, none when only global kinds are asked for) the
 * first in-sync reader — itself when it can — and for the global records itself or any peer
 * whose globals are in sync. Each node answers in one `list` message with its first `limit + 1`
 * records after the cursor among *everything it holds* (src/index/shard-list.ts
 * listByPosition: a shard clause would cost a listing the subjects of every shard it touches,
 * and what a node holds beyond its shards is genuine too); the merge drops the records two nodes
 * both sent and keeps the first `limit`. A record the page needs is among the first `limit` of
 * every node that holds it, and some node in the plan holds its shard complete, so nothing the
 * page needs is missing. A node that
 * fails or refuses (it is no longer in sync) has its part planned again without it, twice at
 * most; a shard nobody can answer makes the listing `503 shard_unavailable`, never a page
 * with a hole.
 */
import type { RouteContext } from "../../api/route.ts";
import { parseListQuery } from "../../api/routes/reads.ts";
import { StemeError } from "../../core/errors.ts";
import type { Kind } from "../../core/record.ts";
import type { ListFilter } from "../../index/list.ts";
import { parseSubjectMatch } from "../../index/list.ts";
import { listByPosition, type PositionListFilter } from "../../index/shard-list.ts";
import type { Store } from "../../store/store.ts";
import { shardOf } from "../placement.ts";
import { compareTsId, encodeClusterCursor, parseClusterCursor } from "./cursor.ts";
import { shardUnavailable } from "./router.ts";
import { type PeerLink, PeerUnavailable } from "./rpc.ts";
import type { ShardMap } from "./shards.ts";
import type { MessageOf, WireListFilter } from "./wire.ts";

export interface GatherDeps {
  shards: ShardMap;
  store: Store;
  rpc(peer: string): PeerLink;
  timeoutMs: number;
}

/** One node's part of a listing. */
interface Part {
  shards: number[];
  globals: boolean;
}

type Item = { ts: number; id: Uint8Array; view: string };

/** Re-plans after a node failed, at most this many times. */
const replansMax = 2;

function toWireFilter(f: Omit<ListFilter, "afterLsn">): WireListFilter {
  const out: WireListFilter = {};
  if (f.subject !== undefined) out.subject = f.subject;
  if (f.predicate !== undefined) out.predicate = f.predicate;
  if (f.agent !== undefined) out.agent = f.agent;
  if (f.source !== undefined) out.source = f.source;
  if (f.kinds !== undefined) out.kinds = f.kinds;
  if (f.since !== undefined) out.since = f.since;
  if (f.until !== undefined) out.until = f.until;
  if (f.order !== undefined) out.order = f.order;
  return out;
}

export class Gatherer {
  constructor(private readonly deps: GatherDeps) {}

  /** `GET /v1/assertions` in a cluster. */
  async list(ctx: RouteContext): Promise<Response> {
    const q = ctx.url.searchParams;
    const filter = parseListQuery(q);
    const after = parseClusterCursor(q.get("cursor"));
    const kinds = filter.kinds ?? [];
    const wantAssertions = kinds.length === 0 || kinds.includes("assertion");
    const wantGlobals = kinds.length === 0 || kinds.some((k) => k !== "assertion");
    const subject = filter.subject !== undefined ? parseSubjectMatch(filter.subject) : undefined;
    const { shardCount } = this.deps.shards;
    const shardsWanted = !wantAssertions
      ? []
      : subject?.kind === "exact"
        ? [shardOf(subject.path, shardCount)]
        : Array.from({ length: shardCount }, (_, i) => i);
    const gathered = await this.gather(toWireFilter(filter), shardsWanted, wantGlobals, after, filter.limit);
    const desc = filter.order === "desc";
    gathered.sort((a, b) => (desc ? -1 : 1) * compareTsId(a, b));
    // Nodes answer from everything they hold: a record two of them hold comes twice.
    const items = gathered.filter((item, i) => i === 0 || compareTsId(item, gathered[i - 1] as Item) !== 0);
    const more = items.length > filter.limit;
    const page = items.slice(0, filter.limit);
    const last = page[page.length - 1];
    const next = more && last ? JSON.stringify(encodeClusterCursor(last)) : "null";
    return new Response(`{"items":[${page.map((i) => i.view).join(",")}],"next_cursor":${next}}`, {
      headers: { "content-type": "application/json" },
    });
  }

  /** Every part's first `limit + 1` records (one more than the page: so the page knows whether more follow). */
  private async gather(
    filter: WireListFilter,
    shardsWanted: number[],
    globals: boolean,
    after: { ts: number; id: Uint8Array } | undefined,
    limit: number,
  ): Promise<Item[]> {
    const out: Item[] = [];
    const failed = new Set<string>();
    let todo: Part = { shards: shardsWanted, globals };
    for (let attempt = 0; attempt <= replansMax; attempt++) {
      const plan = this.plan(todo, failed);
      const results = await Promise.all(
        [...plan].map(async ([node, part]) => {
          try {
            out.push(...(await this.listPart(node, part, filter, after, limit + 1)));
            return null;
          } catch (err) {
            if (!(err instanceof PeerUnavailable) && !(err instanceof StemeError && err.code === "shard_unavailable")) throw err;
            failed.add(node);
            return part;
          }
        }),
      );
      const left = results.filter((p): p is Part => p !== null);
      if (left.length === 0) return out;
      todo = { shards: left.flatMap((p) => p.shards), globals: left.some((p) => p.globals) };
    }
    throw shardUnavailable(todo.shards[0] ?? "global", "the nodes that hold it in sync did not answer the listing");
  }

  /** Who answers which shards: the first in-sync reader of each not known to have failed. */
  private plan(todo: Part, failed: ReadonlySet<string>): Map<string, Part> {
    const { shards } = this.deps;
    const plan = new Map<string, Part>();
    const partOf = (node: string) => {
      let p = plan.get(node);
      if (!p) {
        p = { shards: [], globals: false };
        plan.set(node, p);
      }
      return p;
    };
    for (const shard of todo.shards) {
      const reader = shards.readers(shard).find((n) => !failed.has(n));
      if (reader === undefined) throw shardUnavailable(shard, "no live replica holds it in sync");
      partOf(reader).shards.push(shard);
    }
    if (todo.globals) {
      const inSync = [shards.selfId, ...shards.live.map((m) => m.nodeId)].filter((n) => shards.globalInSync(n));
      const reader = [...inSync, ...shards.unheard()].find((n) => !failed.has(n));
      if (reader === undefined) throw shardUnavailable("global", "no live member holds the global records in sync");
      partOf(reader).globals = true;
    }
    return plan;
  }

  private async listPart(
    node: string,
    part: Part,
    filter: WireListFilter,
    after: { ts: number; id: Uint8Array } | undefined,
    limit: number,
  ): Promise<Item[]> {
    if (node === this.deps.shards.selfId)
      return (await this.listHere(filter, part, after ? [after.ts, after.id] : null, limit)).items;
    const answer = await this.deps
      .rpc(node)
      .call(
        { type: "list", filter, shards: part.shards, globals: part.globals, after: after ? [after.ts, after.id] : null, limit },
        this.deps.timeoutMs,
        "list_page",
      );
    return answer.items;
  }

  /** This node's part (a peer's `list`, or its own): refused for a shard it does not hold in sync. */
  async answerList(m: MessageOf<"list">): Promise<MessageOf<"list_page">> {
    const page = await this.listHere(m.filter, { shards: m.shards, globals: m.globals }, m.after, m.limit);
    return { type: "list_page", seq: m.seq, items: page.items, more: page.more };
  }

  private async listHere(
    filter: WireListFilter,
    part: Part,
    after: [number, Uint8Array] | null,
    limit: number,
  ): Promise<{ items: Item[]; more: boolean }> {
    const { shards, store } = this.deps;
    for (const s of part.shards)
      if (!shards.servesReads(s) && !shards.answersAsFallback(s)) throw shardUnavailable(s, "this node is not in sync for it");
    if (part.globals && shards.global !== "in_sync") throw shardUnavailable("global", "this node's global records are syncing");
    await store.indexCaughtUp(); // lists see every acknowledged record
    const f: PositionListFilter = {
      ...filter,
      agent: filter.agent ? new Uint8Array(filter.agent) : undefined,
      kinds: filter.kinds as Kind[] | undefined,
      limit,
      ...(after ? { after: { ts: after[0], id: new Uint8Array(after[1]) } } : {}),
    } as PositionListFilter;
    for (const k of Object.keys(f) as Array<keyof PositionListFilter>) if (f[k] === undefined) delete f[k];
    const page = listByPosition(store.index, f);
    return {
      items: page.items.map((loc) => ({ ts: loc.ts, id: loc.id, view: JSON.stringify(store.view(loc)) })),
      more: page.more,
    };
  }
}
