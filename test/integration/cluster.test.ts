/**
 * The cluster's promise with real processes on loopback (docs/CLUSTER.md#the-promise):
 *
 * - **the union property**: the same records — assertions across many subjects, votes, sources,
 *   retractions, reviews, epochs — written through a 3-node cluster (each batch through a random
 *   node) and into one single node give the same answer to every lens on every (subject,
 *   predicate), asked at every node, and the same listings, node-local fields aside;
 * - **kill -9** of a node during writes: writes go on through the others; once it is back,
 *   every acknowledged record is readable through every node and every shard's replicas report
 *   the same root within two anti-entropy intervals;
 * - **a fourth node joins and one drains under load** with no failed read.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { generateKeyPair, type SignedRecord, signClaim, toHex, toJsonSubmission } from "../../src/client/index.ts";
import { lensNames } from "../../src/lens/index.ts";
import { unionWorkload, withoutNodeLocal } from "../cluster/data/workload.ts";
import {
  type ClusterNodeProcess,
  clusterDataDir,
  clusterKeyFile,
  clusterSettled,
  eventually,
  planNodes,
  restartNode,
  rootsAgree,
  startNode,
} from "./cluster-procs.ts";
import { cleanupAll, getJson, mapLimit, prng, type ServerProcess, sleep, spawnServer } from "./helpers.ts";

const authority = generateKeyPair();
const antiEntropySecs = 2;

afterAll(async () => {
  await cleanupAll();
});

/** A cluster of `count` nodes joined through the first, every one settled. */
async function startCluster(count: number): Promise<ClusterNodeProcess[]> {
  planNodes(["n1", "n2", "n3", "n4"]);
  const keyFile = clusterKeyFile();
  const nodes: ClusterNodeProcess[] = [];
  for (let i = 1; i <= count; i++) {
    const name = `n${i}`;
    const dir = await clusterDataDir(name, [toHex(authority.publicKey)]);
    nodes.push(
      await startNode({
        name,
        dir,
        keyFile,
        join: nodes.slice(0, 1),
        extra: ["--anti-entropy-interval-secs", String(antiEntropySecs)],
      }),
    );
  }
  expect(await eventually(() => clusterSettled(nodes, count), 60_000)).toBe(true);
  return nodes;
}

async function postBatch(url: string, records: readonly SignedRecord[], ack = "one") {
  return getJson(`${url}/v1/assert/batch?ack=${ack}`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ records: records.map(toJsonSubmission) }),
  });
}

describe("the union property (3 nodes against 1)", () => {
  let nodes: ClusterNodeProcess[];
  let single: ServerProcess;
  const work = unionWorkload(authority, 11, 40);

  beforeAll(async () => {
    nodes = await startCluster(3);
    single = await spawnServer(await clusterDataDir("single", [toHex(authority.publicKey)]));
    const random = prng(5);
    for (let i = 0; i < work.records.length; i += 40) {
      const batch = work.records.slice(i, i + 40);
      const through = nodes[Math.floor(random() * nodes.length)] as ClusterNodeProcess;
      expect((await postBatch(through.url, batch)).body.rejected).toBe(0);
      expect((await postBatch(single.url, batch)).body.rejected).toBe(0);
    }
    // Replicas converge: roots agree, then TrustRank everywhere has seen every record.
    expect(await eventually(() => rootsAgree(nodes), 4 * antiEntropySecs * 1000 + 10_000)).toBe(true);
    await sleep(3000);
  }, 180_000);

  test("every lens on every (subject, predicate), at every node, answers as the single node does", async () => {
    const asks = work.pairs.flatMap(([subject, predicate]) =>
      lensNames.map((lens) => {
        const layers = lens === "layered" ? "&layers=authority,recency" : "";
        return `/v1/query?subject=${encodeURIComponent(subject)}&predicate=${predicate}&lens=${lens}${layers}&fresh=true`;
      }),
    );
    const mismatches: string[] = [];
    await mapLimit(asks, 8, async (q) => {
      const want = JSON.stringify(withoutNodeLocal((await getJson(`${single.url}${q}`)).body));
      for (const n of nodes) {
        const got = JSON.stringify(withoutNodeLocal((await getJson(`${n.url}${q}`)).body));
        if (got !== want) mismatches.push(`${n.name} ${q}: ${got.slice(0, 200)} ≠ ${want.slice(0, 200)}`);
      }
    });
    expect(mismatches.slice(0, 5)).toEqual([]);
  }, 300_000);

  test("every record by id, and listings, hold the same records", async () => {
    const ids = work.records.map((r) => toHex(r.id));
    await mapLimit(ids, 8, async (id) => {
      const want = JSON.stringify(withoutNodeLocal((await getJson(`${single.url}/v1/assertions/${id}`)).body));
      for (const n of nodes)
        expect(JSON.stringify(withoutNodeLocal((await getJson(`${n.url}/v1/assertions/${id}`)).body))).toBe(want);
    });
    const all = async (url: string) => {
      const out: string[] = [];
      let cursor: string | null = null;
      do {
        const page = await getJson(`${url}/v1/assertions?kind=any&limit=200${cursor ? `&cursor=${cursor}` : ""}`);
        expect(page.status).toBe(200);
        out.push(...(page.body.items as unknown[]).map((i) => JSON.stringify(withoutNodeLocal(i))));
        cursor = (page.body.next_cursor as string | null) ?? null;
      } while (cursor !== null);
      return out.sort();
    };
    const want = await all(single.url);
    expect(want.length).toBe(work.records.length);
    for (const n of nodes) expect(await all(n.url)).toEqual(want);
  }, 300_000);
});

describe("kill -9 during writes", () => {
  test("every acknowledged record readable through every node; every shard's roots equal within two anti-entropy intervals", async () => {
    const nodes = await startCluster(3);
    const key = generateKeyPair();
    const acked: string[] = [];
    let stop = false;
    let seq = 0;
    const writer = async (w: number) => {
      while (!stop) {
        const live = nodes.filter((n) => n.proc.exitCode === null && !n.proc.killed);
        const n = live[(seq + w) % live.length] as ClusterNodeProcess;
        const batch = Array.from({ length: 20 }, () => {
          const i = seq++;
          return signClaim(key, { kind: "assertion", subject: `crash/s${i % 97}`, predicate: "p", object: i, confidence: 0.9 });
        });
        try {
          const res = await postBatch(n.url, batch);
          (res.body.results as Array<{ id?: string }> | undefined)?.forEach((r) => {
            if (r.id) acked.push(r.id);
          });
        } catch {
          // that node is down: the next batch goes elsewhere
        }
      }
    };
    const writers = [writer(0), writer(1)];
    await sleep(1500);
    const victim = nodes[1] as ClusterNodeProcess;
    await victim.kill();
    await sleep(2000);
    nodes[1] = await restartNode(victim);
    await sleep(1500);
    stop = true;
    await Promise.all(writers);
    expect(acked.length).toBeGreaterThan(100);
    const settled = performance.now();
    expect(await eventually(() => rootsAgree(nodes), 2 * antiEntropySecs * 1000 + 15_000)).toBe(true);
    console.log(
      `roots agreed ${Math.round(performance.now() - settled)} ms after the writes stopped (interval ${antiEntropySecs} s)`,
    );
    for (const n of nodes) {
      const statuses = await mapLimit(acked, 16, async (id) => (await fetch(`${n.url}/v1/assertions/${id}`)).status);
      expect({ node: n.name, missing: acked.filter((_, i) => statuses[i] !== 200).slice(0, 5) }).toEqual({
        node: n.name,
        missing: [],
      });
    }
  }, 300_000);
});

describe("join and drain under load", () => {
  test("a fourth node joins, then one drains, while reads go on through every node: no read fails", async () => {
    const nodes = await startCluster(3);
    const key = generateKeyPair();
    const other = generateKeyPair();
    const subjects = Array.from({ length: 60 }, (_, i) => `move/s${i}`);
    const records = subjects.flatMap((s, i) => [
      signClaim(key, { kind: "assertion", subject: s, predicate: "p", object: i, confidence: 0.9 }),
      signClaim(other, { kind: "assertion", subject: s, predicate: "p", object: i, confidence: 0.8 }),
    ]);
    expect((await postBatch((nodes[0] as ClusterNodeProcess).url, records, "quorum")).body.rejected).toBe(0);
    let stop = false;
    let reads = 0;
    const failures: string[] = [];
    const reader = async (r: number) => {
      for (let i = r; !stop; i += 3) {
        const n = nodes[i % nodes.length] as ClusterNodeProcess;
        const s = subjects[i % subjects.length] as string;
        const res = await getJson(`${n.url}/v1/query?subject=${encodeURIComponent(s)}&predicate=p&lens=consensus`).catch((e) => ({
          status: 0,
          body: { error: String(e) } as Record<string, unknown>,
        }));
        reads++;
        if (res.status !== 200 || res.body.candidates !== 2)
          failures.push(`${n.name} ${s}: ${res.status} ${JSON.stringify(res.body).slice(0, 400)}`);
      }
    };
    const readers = [reader(0), reader(1), reader(2)];
    await sleep(1000);
    const dir = await clusterDataDir("n4", [toHex(authority.publicKey)]);
    const keyFile = (nodes[0] as ClusterNodeProcess).args[
      (nodes[0] as ClusterNodeProcess).args.indexOf("--cluster-key-file") + 1
    ] as string;
    nodes.push(
      await startNode({
        name: "n4",
        dir,
        keyFile,
        join: [nodes[0] as ClusterNodeProcess],
        extra: ["--anti-entropy-interval-secs", String(antiEntropySecs)],
      }),
    );
    expect(await eventually(() => clusterSettled(nodes, 4), 60_000)).toBe(true);
    const drained = nodes[0] as ClusterNodeProcess;
    const drain = await getJson(`${nodes[2]?.url}/v1/cluster/nodes/${drained.name}/drain`, { method: "POST" });
    expect(drain.status).toBeLessThan(300);
    const noPrimary = async () => {
      const table = await getJson(`${nodes[3]?.url}/v1/cluster/shards`);
      return (table.body.shards as Array<{ replicas: string[]; state: string }>).every(
        (s) => !s.replicas.includes(drained.name) && s.state === "healthy",
      );
    };
    expect(await eventually(noPrimary, 60_000)).toBe(true);
    await sleep(1000);
    stop = true;
    await Promise.all(readers);
    expect(reads).toBeGreaterThan(50);
    if (failures.length)
      console.error(
        "FAILURES",
        failures.length,
        reads,
        failures.slice(0, 8).map((f) => f.slice(0, 600)),
      );
    expect(failures.slice(0, 5)).toEqual([]);
  }, 300_000);
});
