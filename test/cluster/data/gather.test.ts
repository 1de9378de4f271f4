/**
 * Cluster listings: paging through `GET /v1/assertions` from random nodes with random page
 * sizes, in both orders and for several filters, visits every matching record exactly once, in
 * `(ts, id)` order — the same set a single node holding every record lists. A property test
 * over seeds; many records share a `ts` so the id breaks ties.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { generateKeyPair, type SignedRecord, signClaim, toHex } from "../../../src/client/index.ts";
import { encodeClusterCursor, parseClusterCursor } from "../../../src/cluster/data/cursor.ts";
import { seededRandom } from "../../../src/cluster/random.ts";
import { assertion, TestCluster } from "./harness.ts";

let cluster: TestCluster;
const records: SignedRecord[] = [];
const t0 = Date.now() - 3_600_000;

beforeAll(async () => {
  cluster = new TestCluster({ shardCount: 16, seed: 7 });
  for (const n of ["n1", "n2", "n3"]) await cluster.start(n);
  await cluster.until(() => cluster.allInSync(), 30_000, "initial sync");
  const random = seededRandom(42);
  const keys = [generateKeyPair(), generateKeyPair(), generateKeyPair()];
  for (let i = 0; i < 240; i++) {
    const key = keys[i % 3] as (typeof keys)[number];
    // ts in a small range: many records share one
    records.push(assertion(key, `drug/${random.int(30)}/x`, `p${random.int(3)}`, i, t0 + random.int(40)));
  }
  for (let i = 0; i < 30; i++)
    records.push(
      signClaim(keys[0] as (typeof keys)[number], {
        kind: "vote",
        target: toHex(records[i]?.id as Uint8Array),
        value: 1,
        ts: t0 + random.int(40),
      }),
    );
  for (let i = 0; i < records.length; i += 90) {
    const res = await cluster.writeBatch(`n${(i % 3) + 1}`, records.slice(i, i + 90));
    expect(res.body.rejected).toBe(0);
  }
  await cluster.run(1000);
});
afterAll(async () => {
  await cluster?.close();
});

function expectedIds(keep: (r: SignedRecord) => boolean, order: "asc" | "desc"): string[] {
  const chosen = records.filter(keep).map((r) => ({ ts: r.record.ts, id: toHex(r.id) }));
  chosen.sort((a, b) => (a.ts - b.ts || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0)) * (order === "asc" ? 1 : -1));
  return chosen.map((c) => c.id);
}

async function pageAll(query: string, seed: number): Promise<string[]> {
  const random = seededRandom(seed);
  const out: string[] = [];
  let cursor: string | null = null;
  for (let page = 0; page < 1000; page++) {
    const limit = 1 + random.int(25);
    const node = `n${1 + random.int(3)}`;
    const res = await cluster.request(node, "GET", `/v1/assertions?${query}&limit=${limit}${cursor ? `&cursor=${cursor}` : ""}`);
    expect(res.status).toBe(200);
    const items = res.body.items as Array<{ id: string }>;
    expect(items.length).toBeLessThanOrEqual(limit);
    out.push(...items.map((i) => i.id));
    cursor = res.body.next_cursor ?? null;
    if (cursor === null) return out;
    expect(items.length).toBe(limit);
  }
  throw new Error("paging did not end");
}

describe("cluster listings", () => {
  test("every assertion exactly once, in (ts, id) order, whichever node is asked for each page (5 seeds)", async () => {
    for (let seed = 1; seed <= 5; seed++) {
      const order = seed % 2 === 0 ? "desc" : "asc";
      const ids = await pageAll(`order=${order}`, seed);
      expect(ids).toEqual(expectedIds((r) => r.record.kind === "assertion", order));
    }
  });

  test("kind=any gathers the global records once, not once per node", async () => {
    const ids = await pageAll("kind=any", 11);
    expect(ids).toEqual(expectedIds(() => true, "asc"));
    expect(new Set(ids).size).toBe(records.length);
  });

  test("filters: an exact subject (one shard), a prefix (every shard), a predicate, votes only", async () => {
    const exact = "drug/3/x";
    expect(await pageAll(`subject=${encodeURIComponent(exact)}`, 3)).toEqual(
      expectedIds((r) => r.record.kind === "assertion" && r.record.subject === exact, "asc"),
    );
    expect(await pageAll(`subject=${encodeURIComponent("drug/*")}&predicate=p1`, 4)).toEqual(
      expectedIds((r) => r.record.kind === "assertion" && r.record.predicate === "p1", "asc"),
    );
    expect(await pageAll("kind=vote&order=desc", 5)).toEqual(expectedIds((r) => r.record.kind === "vote", "desc"));
  });

  test("a replica that dies between two pages: its shards are answered by the other replica, with no gap and no repeat", async () => {
    const first = await cluster.request("n1", "GET", "/v1/assertions?limit=50");
    const ids = (first.body.items as Array<{ id: string }>).map((i) => i.id);
    await cluster.crash("n3"); // not declared dead: n1 and n2 find out when they ask it
    let cursor = first.body.next_cursor ?? null;
    for (let i = 0; cursor !== null; i++) {
      const res = await cluster.request(i % 2 ? "n1" : "n2", "GET", `/v1/assertions?limit=37&cursor=${cursor}`);
      expect(res.status).toBe(200);
      ids.push(...(res.body.items as Array<{ id: string }>).map((x) => x.id));
      cursor = res.body.next_cursor ?? null;
    }
    expect(ids).toEqual(expectedIds((r) => r.record.kind === "assertion", "asc"));
    await cluster.restart("n3");
  });

  test("a cursor is a (ts, id) position; anything else is 400 invalid_query", async () => {
    const position = { ts: 123, id: new Uint8Array(32).fill(7) };
    expect(parseClusterCursor(encodeClusterCursor(position))).toEqual(position);
    const lsnCursor = Buffer.from("lsn:5").toString("base64url");
    const bad = await cluster.request("n1", "GET", `/v1/assertions?cursor=${lsnCursor}`);
    expect(bad.status).toBe(400);
    expect(bad.body.code).toBe("invalid_query");
  });
});
