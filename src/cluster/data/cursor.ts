/**
 * The cluster's list cursor (docs/CLUSTER.md#cursors). A single node pages a listing by log
 * position (LSN), but an LSN means nothing on another replica: the same records sit at other
 * positions there, and the replica that answers a shard may change between two pages (a
 * failure, a hand-over). So a cluster pages in `(ts, id)` order — the record's stated time, then
 * its id — which every replica computes alike, and the cursor is the last position returned:
 *
 *     cursor = base64url("tsid:" ‖ ts ‖ ":" ‖ hex(id))
 *
 * One position serves every shard at once: each node answers "the first records after this
 * position among the shards I am asked for", and the node that gathers merges them in the
 * same order and keeps the first `limit`. Whichever replica answers a shard on the next page,
 * it continues from the same place, so pages have no gaps and no repeats. (Positions per
 * shard would say nothing more: the merge order is global, so the last record returned bounds
 * every shard.) A record written behind the cursor while someone pages — a `ts` earlier than
 * the position reached — is not in the pages that follow, as a record appended behind an LSN
 * cursor would not be.
 */
import { fromHex, toHex } from "../../core/hex.ts";
import { badQuery } from "../../api/problem.ts";
import type { TsIdPosition } from "../../index/shard-list.ts";

const prefix = "tsid:";

export function encodeClusterCursor(p: TsIdPosition): string {
  return Buffer.from(`${prefix}${p.ts}:${toHex(p.id)}`).toString("base64url");
}

/** The position a cursor names; `invalid_query` for anything this cluster did not issue. */
export function parseClusterCursor(raw: string | null): TsIdPosition | undefined {
  if (raw === null || raw === "") return undefined;
  const text = Buffer.from(raw, "base64url").toString("utf8");
  const m = /^tsid:(-?\d{1,16}):([0-9a-f]{64})$/.exec(text);
  const ts = m ? Number(m[1]) : Number.NaN;
  if (!m || !Number.isSafeInteger(ts)) throw badQuery("cursor", "not a cursor this cluster issued");
  return { ts, id: fromHex(m[2], "cursor", 32) };
}

/** `(ts, id)` order: negative when `a` comes first. */
export function compareTsId(a: TsIdPosition, b: TsIdPosition): number {
  if (a.ts !== b.ts) return a.ts < b.ts ? -1 : 1;
  return Buffer.compare(a.id, b.id);
}
