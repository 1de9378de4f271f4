/**
 * The union property on the in-memory network (docs/CLUSTER.md#the-promise): the same records
 * written through a 3-node cluster (each batch through a random node) and into one single node
 * give the same answer to every lens on every (subject, predicate), asked at every node, the
 * same records by id (with their derived flags) and the same listings — node-local fields
 * (lsn, recorded_at, trust_lsn) aside.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { generateKeyPair, toHex, toJsonSubmission } from "../../../src/client/index.ts";
import { seededRandom } from "../../../src/cluster/random.ts";
import { lensNames } from "../../../src/lens/index.ts";
import { TestCluster } from "./harness.ts";
import { unionWorkload, withoutNodeLocal, type Workload } from "./workload.ts";

/** The first field where two answers differ, as a path and both values (for a readable failure). */
function firstDifference(a: unknown, b: unknown, path = ""): string | null {
  if (JSON.stringify(a) === JSON.stringify(b)) return null;
  if (a && b && typeof a === "object" && typeof b === "object") {
    const keys = new Set([...Object.keys(a as object), ...Object.keys(b as object)]);
    for (const k of keys) {
      const d = firstDifference((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k], `${path}.${k}`);
      if (d) return d;
    }
  }
  return `${path}: ${JSON.stringify(a)?.slice(0, 160)} ≠ ${JSON.stringify(b)?.slice(0, 160)}`;
}

const authority = generateKeyPair();
let cluster: TestCluster;
let single: Awaited<ReturnType<TestCluster["single"]>>;
let work: Workload;

async function ask(fetch: (r: Request) => Promise<Response>, path: string) {
  const res = await cluster.settle(fetch(new Request(`http://localhost${path}`)));
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

beforeAll(async () => {
  cluster = new TestCluster({ shardCount: 16, authorities: [toHex(authority.publicKey)], seed: 3 });
  for (const n of ["n1", "n2", "n3"]) await cluster.start(n);
  await cluster.until(() => cluster.allInSync(), 30_000, "initial sync");
  single = await cluster.single();
  work = unionWorkload(authority, 5);
  const random = seededRandom(9);
  for (let i = 0; i < work.records.length; i += 25) {
    const batch = work.records.slice(i, i + 25);
    const res = await cluster.writeBatch(`n${1 + random.int(3)}`, batch);
    expect(res.body.rejected).toBe(0);
    const one = await cluster.settle(
      single.fetch(
        new Request("http://localhost/v1/assert/batch", {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ records: batch.map(toJsonSubmission) }),
        }),
      ),
    );
    expect(((await one.json()) as { rejected: number }).rejected).toBe(0);
  }
  await cluster.until(() => cluster.converged(), 60_000, "converged");
  // TrustRank refreshes on a timer (200 ms here): let every node catch up with the records.
  await Bun.sleep(600);
});
afterAll(async () => {
  await single?.close();
  await cluster?.close();
});

describe("the union property, in memory", () => {
  test("every lens on every (subject, predicate), asked at every node, answers as the single node does", async () => {
    let compared = 0;
    const mismatches: string[] = [];
    for (const [subject, predicate] of work.pairs) {
      for (const lens of lensNames) {
        const layers = lens === "layered" ? "&layers=authority,recency" : "";
        const q = `/v1/query?subject=${encodeURIComponent(subject)}&predicate=${predicate}&lens=${lens}${layers}&fresh=true`;
        const want = await ask(single.fetch, q);
        for (const node of ["n1", "n2", "n3"]) {
          const got = await ask(cluster.node(node).fetch, q);
          compared++;
          const d = firstDifference(withoutNodeLocal(got.body), withoutNodeLocal(want.body));
          if (d) mismatches.push(`${node} ${subject} ${predicate} ${lens} ${d}`);
        }
      }
    }
    expect(mismatches.slice(0, 8)).toEqual([]);
    expect(compared).toBe(work.pairs.length * lensNames.length * 3);
  });

  test("every record by id, with its derived flags and notes, at every node", async () => {
    const mismatches: string[] = [];
    for (const r of work.records) {
      const path = `/v1/assertions/${toHex(r.id)}`;
      const want = withoutNodeLocal((await ask(single.fetch, path)).body);
      for (const node of ["n1", "n2", "n3"]) {
        const got = withoutNodeLocal((await ask(cluster.node(node).fetch, path)).body);
        const d = firstDifference(got, want);
        if (d) mismatches.push(`${node} ${r.record.kind} ${d}`);
      }
    }
    expect(mismatches.slice(0, 5)).toEqual([]);
  });

  test("listings hold the same records (the cluster pages in (ts, id) order, a single node in its log order)", async () => {
    const all = async (fetch: (r: Request) => Promise<Response>) => {
      const out: Record<string, unknown>[] = [];
      let cursor: string | null = null;
      do {
        const page = await ask(fetch, `/v1/assertions?kind=any&limit=100${cursor ? `&cursor=${cursor}` : ""}`);
        out.push(...(page.body.items as Record<string, unknown>[]));
        cursor = (page.body.next_cursor as string | null) ?? null;
      } while (cursor !== null);
      return out.map((i) => JSON.stringify(withoutNodeLocal(i))).sort();
    };
    const want = await all(single.fetch);
    expect(want.length).toBe(work.records.length);
    for (const node of ["n1", "n2", "n3"]) expect(await all(cluster.node(node).fetch)).toEqual(want);
  });
});
