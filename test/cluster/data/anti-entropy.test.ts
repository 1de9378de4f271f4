/**
 * Anti-entropy and shard hand-over on the in-memory network: Merkle repair finds exactly what
 * each side lacks; a partitioned replica catches up after the heal within two intervals; a
 * node that joins (or restarts) syncs its shards before it serves reads from them — a read sent
 * to it meanwhile is forwarded to an in-sync replica or refused, never answered from a partial
 * shard.
 */
import { afterEach, describe, expect, test } from "bun:test";
import { generateKeyPair, type SignedRecord, toHex } from "../../../src/client/index.ts";
import { shardOf } from "../../../src/cluster/placement.ts";
import { assertion, TestCluster, type TestNode } from "./harness.ts";

let cluster: TestCluster;
afterEach(async () => {
  await cluster?.close();
});

const key = generateKeyPair();
const t0 = Date.now() - 600_000;

/** Stores records on one node only, as a peer's replication would (so nothing is pushed on). */
async function plant(c: TestCluster, node: TestNode, records: readonly SignedRecord[]): Promise<void> {
  const results = await c.settle(
    node.services.ingest.submit(
      records.map((r) => ({ shape: "cbor", body: r.body, sig: r.sig })),
      { replicated: true },
    ),
  );
  for (const r of results) expect(r.ok).toBe(true);
}

async function start(names: string[], options: ConstructorParameters<typeof TestCluster>[0] = {}): Promise<TestCluster> {
  const c = new TestCluster(options);
  for (const n of names) await c.start(n);
  await c.until(() => c.allInSync(), 30_000, "initial sync");
  return c;
}

describe("Merkle repair", () => {
  test("finds exactly the ids each side lacks, fetches them, pushes the others; both end with the union", async () => {
    cluster = await start(["n1", "n2"], { shardCount: 4 });
    const [a, b] = [cluster.node("n1"), cluster.node("n2")];
    const subject = "repair/subject";
    const shard = shardOf(subject, cluster.shardCount);
    const all = Array.from({ length: 300 }, (_, i) => assertion(key, subject, `p${i % 7}`, i, t0 + i));
    const onlyA = all.slice(0, 40);
    const onlyB = all.slice(40, 97);
    const both = all.slice(97);
    await plant(cluster, a, [...onlyA, ...both]);
    await plant(cluster, b, [...onlyB, ...both]);
    const repaired = await cluster.settle(a.plane.antiEntropy.repair("n2", shard));
    expect(repaired).toEqual({ lacked: onlyB.length, peerLacked: onlyA.length, fetched: onlyB.length, pushed: onlyA.length });
    for (const r of all) {
      expect(a.store.lookupId(r.id)).not.toBeNull();
      expect(b.store.lookupId(r.id)).not.toBeNull();
    }
    expect(a.plane.localShards().shards.find((s) => s.id === shard)?.root).toBe(
      b.plane.localShards().shards.find((s) => s.id === shard)?.root,
    );
    // Equal trees now: one round, nothing moves.
    expect(await cluster.settle(a.plane.antiEntropy.repair("n2", shard))).toEqual({
      lacked: 0,
      peerLacked: 0,
      fetched: 0,
      pushed: 0,
    });
  });

  test("a shard far larger on one side is fetched in bounded messages (the diff descends instead of one huge id list)", async () => {
    cluster = await start(["n1", "n2"], {
      shardCount: 1,
      plane: (o) => ({ ...o, antiEntropy: { ...o.antiEntropy, idsPerPrefixMax: 64, fetchIdsMax: 50 } }),
    });
    const records = Array.from({ length: 700 }, (_, i) => assertion(key, `big/${i % 30}`, "p", i, t0 + i));
    await plant(cluster, cluster.node("n2"), records);
    const repaired = await cluster.settle(cluster.node("n1").plane.antiEntropy.repair("n2", 0));
    expect(repaired?.fetched).toBe(700);
    for (const r of records) expect(cluster.node("n1").store.lookupId(r.id)).not.toBeNull();
  });
});

describe("anti-entropy", () => {
  test("a partitioned replica catches up after the heal: every shard's replicas agree within two intervals", async () => {
    cluster = await start(["n1", "n2", "n3"]);
    cluster.network.cut(["n3"], ["n1", "n2"]); // n3 is cut off but nobody declares it dead
    const records = Array.from({ length: 200 }, (_, i) => assertion(key, `part/${i}`, "p", i, t0 + i));
    for (let i = 0; i < records.length; i += 50) {
      const res = await cluster.writeBatch(i % 100 === 0 ? "n1" : "n2", records.slice(i, i + 50));
      for (const r of res.body.results as Array<{ error?: { code: string } }>)
        if (r.error) expect(r.error.code).toBe("not_enough_replicas"); // n3's share: no replica reachable from n1/n2 took them
    }
    await cluster.run(1000);
    expect(cluster.rootsAgree()).toBe(false);
    cluster.network.heal();
    const interval = cluster.node("n1").plane.options.antiEntropy.intervalMs;
    const took = await cluster.until(() => cluster.rootsAgree(), 2 * interval, "roots agree");
    expect(took).toBeLessThanOrEqual(2 * interval);
  });

  test("a node that joins syncs its shards before it serves them: reads sent to it meanwhile are forwarded, never answered from a partial shard", async () => {
    cluster = await start(["n1", "n2"]);
    const subjects = Array.from({ length: 40 }, (_, i) => `join/${i}`);
    const records = subjects.flatMap((s, i) => [
      assertion(key, s, "dose", 1, t0 + i),
      assertion(generateKeyPair(), s, "dose", 2, t0 + 100 + i),
    ]);
    expect((await cluster.writeBatch("n1", records)).body.accepted).toBe(records.length);
    await cluster.run(500);
    const n3 = await cluster.start("n3");
    n3.plane.antiEntropy.stop(); // hold n3 in `syncing` to look at it
    await cluster.run(2000); // everyone hears the news
    const gained = n3.plane.shards
      .localShards()
      .filter(([, h]) => h.state === "syncing")
      .map(([id]) => id);
    expect(gained.length).toBeGreaterThan(0);
    const subject = subjects.find((s) => gained.includes(shardOf(s, cluster.shardCount))) as string;
    const q = `/v1/query?subject=${encodeURIComponent(subject)}&predicate=dose&lens=consensus`;
    const expected = await cluster.request("n1", "GET", q);
    const viaN3 = await cluster.request("n3", "GET", q);
    expect(viaN3.status).toBe(200);
    expect(viaN3.headers.get("x-stemedb-answered-by")).not.toBe("n3");
    expect(viaN3.body.candidates).toBe(2);
    expect(viaN3.body.value).toEqual(expected.body.value);
    // A read forwarded to n3 by a peer with stale news is refused by n3, not answered.
    const direct = await cluster.settle(cluster.node("n1").plane.router.forward("n3", new Request(`http://localhost${q}`)));
    expect(direct.status).toBe(503);
    expect(((await direct.json()) as { code: string }).code).toBe("shard_unavailable");

    n3.plane.antiEntropy.start();
    await cluster.until(() => cluster.allInSync(), 30_000, "n3 in sync");
    const local = await cluster.request("n3", "GET", q);
    expect(local.headers.get("x-stemedb-answered-by")).toBeNull(); // n3 answers itself now
    expect(local.body.candidates).toBe(2);
    for (const r of records) {
      const shard = shardOf(r.record.kind === "assertion" ? r.record.subject : "", cluster.shardCount);
      if (gained.includes(shard)) expect(n3.store.lookupId(r.id)).not.toBeNull();
    }
  });

  test("a node restarted after a crash serves nothing until it has compared with a complete holder, then has every record", async () => {
    cluster = await start(["n1", "n2", "n3"]);
    const before = Array.from({ length: 60 }, (_, i) => assertion(key, `crash/${i}`, "p", i, t0 + i));
    expect((await cluster.writeBatch("n1", before)).body.accepted).toBe(60);
    await cluster.run(500);
    await cluster.crash("n2"); // kill -9: not declared dead
    const during = Array.from({ length: 60 }, (_, i) => assertion(key, `crash/${i}`, "q", i, t0 + 1000 + i));
    const res = await cluster.writeBatch("n1", during);
    const acked = during.filter((_, i) => (res.body.results as Array<{ id?: string }>)[i]?.id !== undefined);
    const n2 = await cluster.restart("n2");
    expect(n2.plane.shards.localShards().every(([, h]) => h.state === "syncing")).toBe(true);
    await cluster.until(() => cluster.allInSync(), 30_000, "n2 in sync");
    const placement = n2.plane.shards.placement;
    for (const r of [...before, ...acked]) {
      const shard = shardOf(r.record.kind === "assertion" ? r.record.subject : "", cluster.shardCount);
      if (placement.replicas(shard).includes("n2")) expect(n2.store.lookupId(r.id)).not.toBeNull();
    }
    for (const r of acked) {
      const got = await cluster.request("n2", "GET", `/v1/assertions/${toHex(r.id)}`);
      expect(got.status).toBe(200);
    }
  });
});

describe("rebalancing", () => {
  test("a fourth node joins and another drains while reads go on: no read fails or comes back short; the drained node ends with no replica", async () => {
    cluster = await start(["n1", "n2", "n3"]);
    const subjects = Array.from({ length: 30 }, (_, i) => `move/${i}`);
    const records = subjects.flatMap((s, i) => [
      assertion(key, s, "p", i, t0 + i),
      assertion(generateKeyPair(), s, "p", i, t0 + 50 + i),
    ]);
    expect((await cluster.writeBatch("n1", records)).body.accepted).toBe(records.length);
    await cluster.until(() => cluster.converged(), 30_000, "converged");
    let reads = 0;
    let stop = false;
    const failures: string[] = [];
    const reader = (async () => {
      for (let i = 0; !stop; i++) {
        const node = ["n1", "n2", "n3", "n4"][i % 4] as string;
        if (!cluster.nodes.get(node)?.up) {
          await cluster.run(20);
          continue;
        }
        const subject = subjects[i % subjects.length] as string;
        const res = await cluster.request(
          node,
          "GET",
          `/v1/query?subject=${encodeURIComponent(subject)}&predicate=p&lens=consensus`,
        );
        reads++;
        if (res.status !== 200 || res.body.candidates !== 2)
          failures.push(`${node} ${subject}: ${res.status} ${JSON.stringify(res.body).slice(0, 160)}`);
      }
    })();
    await cluster.run(300);
    await cluster.start("n4");
    await cluster.run(300);
    const drained = cluster.node("n2").plane.drain();
    expect(drained.shards_moving).toBeGreaterThan(0);
    await cluster.until(
      () => cluster.converged() && cluster.node("n2").plane.drainProgress().handing_over === 0,
      60_000,
      "hand-over",
    );
    stop = true;
    await reader;
    expect(failures).toEqual([]);
    expect(reads).toBeGreaterThan(20);
    for (const n of ["n1", "n3", "n4"]) expect(cluster.node(n).plane.shards.placement.shardsOf("n2")).toEqual([]);
    expect(cluster.node("n2").plane.drainProgress().primary).toBe(0);
    // every record still on RF replicas of the new placement
    const placement = cluster.node("n1").plane.shards.placement;
    for (const r of records) {
      const shard = shardOf(r.record.kind === "assertion" ? r.record.subject : "", cluster.shardCount);
      for (const n of placement.replicas(shard)) expect(cluster.node(n).store.lookupId(r.id)).not.toBeNull();
    }
  });
});

describe("leavers", () => {
  test("a node that held every shard alone, then handed them over, never answers from the copies it left behind", async () => {
    cluster = new TestCluster();
    await cluster.start("n1");
    await cluster.until(() => cluster.allInSync(), 30_000, "n1 alone in sync");
    await cluster.start("n2");
    await cluster.start("n3");
    await cluster.until(() => cluster.converged(), 30_000, "converged");
    const n1 = cluster.node("n1").plane.shards;
    const left = n1
      .localShards()
      .filter(([, h]) => h.state === "leaving")
      .map(([id]) => id);
    expect(left.length).toBeGreaterThan(0);
    for (const shard of left) expect(n1.answersAsFallback(shard)).toBe(false); // retired once the new replicas were in sync
    const subject = Array.from({ length: 200 }, (_, i) => `left/${i}`).find((s) =>
      left.includes(shardOf(s, cluster.shardCount)),
    ) as string;
    expect((await cluster.write("n2", assertion(key, subject, "p", 1, t0))).status).toBe(201);
    await cluster.run(500);
    const res = await cluster.request("n1", "GET", `/v1/query?subject=${encodeURIComponent(subject)}&predicate=p&lens=consensus`);
    expect(res.body.candidates).toBe(1);
    expect(res.headers.get("x-stemedb-answered-by")).not.toBeNull();
  });
});

describe("hand-off", () => {
  test("a node that restarts with records of a shard it does not hold hands them to the shard's replicas", async () => {
    cluster = await start(["n1", "n2", "n3"]);
    const placement = cluster.node("n1").plane.shards.placement;
    let subject = "";
    for (let i = 0; subject === ""; i++)
      if (!placement.replicas(shardOf(`left/${i}`, cluster.shardCount)).includes("n3")) subject = `left/${i}`;
    const shard = shardOf(subject, cluster.shardCount);
    const replicas = placement.replicas(shard);
    // Only n3 has it, as it would after taking a write on its side of a partition and losing the shard since.
    const lone = assertion(key, subject, "p", 1, t0);
    await plant(cluster, cluster.node("n3"), [lone]);
    await cluster.run(2_000);
    expect(replicas.map((n) => cluster.node(n).store.lookupId(lone.id))).toEqual([null, null]); // nothing moves it while n3 runs
    await cluster.crash("n3");
    const n3 = await cluster.restart("n3");
    expect(n3.plane.shards.localState(shard)?.state).toBe("leaving");
    const held = () => replicas.every((n) => cluster.node(n).store.lookupId(lone.id) !== null);
    await cluster.until(() => held() && n3.plane.shards.localState(shard)?.handedOver === true, 30_000, "handed over");
    const got = await cluster.request("n1", "GET", `/v1/assertions/${toHex(lone.id)}`);
    expect(got.status).toBe(200);
  });
});
