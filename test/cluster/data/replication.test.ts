/**
 * Replication and ack levels on the in-memory network: a batch written through any node lands
 * on exactly the replicas of each record's shard (global records on every node); `ack=quorum`
 * waits for a majority and refuses with `503 not_enough_replicas` when it cannot have one; a
 * dead peer's queue stays bounded.
 */
import { afterEach, describe, expect, test } from "bun:test";
import { generateKeyPair, signClaim, toHex } from "../../../src/client/index.ts";
import { shardOf } from "../../../src/cluster/placement.ts";
import { assertion, TestCluster } from "./harness.ts";

let cluster: TestCluster;
afterEach(async () => {
  await cluster?.close();
});

const key = generateKeyPair();
const t0 = Date.now() - 60_000;

async function threeNodes(options: ConstructorParameters<typeof TestCluster>[0] = {}): Promise<TestCluster> {
  const c = new TestCluster(options);
  for (const n of ["n1", "n2", "n3"]) await c.start(n);
  await c.until(() => c.allInSync(), 30_000, "initial sync");
  return c;
}

describe("replication", () => {
  test("a batch written through one node lands on exactly the replicas of each record's shard; globals on every node", async () => {
    cluster = await threeNodes();
    const records = Array.from({ length: 60 }, (_, i) => assertion(key, `test/subject-${i}`, "p", i, t0 + i));
    const vote = signClaim(key, { kind: "vote", target: toHex(records[0]?.id as Uint8Array), value: 1, ts: t0 + 100 });
    const res = await cluster.writeBatch("n1", [...records, vote]);
    expect(res.status).toBe(200);
    expect(res.body.accepted).toBe(61);
    for (const r of res.body.results as Array<{ replicas_acked: number }>) expect(r.replicas_acked).toBeGreaterThanOrEqual(1);
    const placement = cluster.node("n1").plane.shards.placement;
    const holds = (node: string, id: Uint8Array) => cluster.node(node).store.lookupId(id) !== null;
    await cluster.until(
      () =>
        records.every((r) =>
          placement.replicas(shardOf(r.record.kind === "assertion" ? r.record.subject : "", 16)).every((n) => holds(n, r.id)),
        ),
      10_000,
      "replication",
    );
    // records[0] is the vote's target: every node that holds the (global) vote fetches it too (references.ts)
    for (const r of records.slice(1)) {
      const subject = r.record.kind === "assertion" ? r.record.subject : "";
      const replicas = placement.replicas(shardOf(subject, cluster.shardCount));
      expect(replicas.length).toBe(2);
      for (const n of ["n1", "n2", "n3"]) expect([n, holds(n, r.id)]).toEqual([n, replicas.includes(n)]);
    }
    await cluster.until(() => ["n1", "n2", "n3"].every((n) => holds(n, vote.id)), 10_000, "global vote everywhere");
    const target = records[0]?.id as Uint8Array;
    await cluster.until(() => ["n1", "n2", "n3"].every((n) => holds(n, target)), 10_000, "the vote's target everywhere");
    const lag = await cluster.node("n1").metrics.registry.getSingleMetricAsString("stemedb_replication_lag_seconds");
    expect(lag).toContain("stemedb_replication_lag_seconds_count");
  });

  test("ack=quorum with one replica down: 503 not_enough_replicas; with it back: replicas_acked = 2", async () => {
    cluster = await threeNodes();
    const placement = cluster.node("n1").plane.shards.placement;
    // a subject whose replicas are n1 and one other, so n1 takes the write itself
    let subject = "";
    let other = "";
    for (let i = 0; ; i++) {
      const replicas = placement.replicas(shardOf(`quorum/${i}`, cluster.shardCount));
      if (replicas[0] === "n1" || replicas[1] === "n1") {
        subject = `quorum/${i}`;
        other = replicas.find((r) => r !== "n1") as string;
        break;
      }
    }
    await cluster.crash(other); // down, and not yet declared dead: still in the replica set
    const first = assertion(key, subject, "p", 1, t0);
    const refused = await cluster.write("n1", first, "quorum");
    expect(refused.status).toBe(503);
    expect(refused.body.code).toBe("not_enough_replicas");
    expect(refused.body.replicas_acked).toBe(1);
    expect(refused.headers.get("retry-after")).toBe("1");
    expect(cluster.node("n1").store.lookupId(first.id)).not.toBeNull(); // durable where it got to
    const one = await cluster.write("n1", assertion(key, subject, "p", 2, t0 + 1));
    expect(one.status).toBe(201);
    expect(one.body.replicas_acked).toBe(1);

    await cluster.restart(other);
    await cluster.until(() => cluster.allInSync(), 30_000, "resync");
    const again = await cluster.write("n1", first, "quorum"); // the retry: a duplicate, pushed again
    expect(again.status).toBe(200);
    expect(again.body.replicas_acked).toBe(2);
    const fresh = await cluster.write(other === "n2" ? "n3" : "n2", assertion(key, subject, "p", 3, t0 + 2), "quorum");
    expect(fresh.status).toBe(201);
    expect(fresh.body.replicas_acked).toBe(2);
  });

  test("ack=quorum refuses before writing when the shard has fewer live replicas than a majority", async () => {
    cluster = new TestCluster({ replicationFactor: 2 });
    await cluster.start("n1");
    await cluster.start("n2");
    await cluster.until(() => cluster.allInSync(), 30_000, "initial sync");
    await cluster.crash("n2", true); // declared dead: the shard has one live replica
    const record = assertion(key, "lonely/subject", "p", 1, t0);
    const refused = await cluster.write("n1", record, "quorum");
    expect(refused.status).toBe(503);
    expect(refused.body.code).toBe("not_enough_replicas");
    expect(refused.body.replicas_acked).toBe(0);
    expect(cluster.node("n1").store.lookupId(record.id)).toBeNull();
  });

  test("a dead peer's push queue stays bounded; what was dropped arrives by anti-entropy once it is back", async () => {
    cluster = await threeNodes({
      plane: (o) => ({ ...o, replicator: { ...o.replicator, queueRecordsMax: 50, inFlightMax: 1, timeoutMs: 60_000 } }),
    });
    cluster.network.cut(["n1"], ["n2"]); // n2 unreachable from n1, but not declared dead
    const records = Array.from({ length: 400 }, (_, i) =>
      signClaim(key, { kind: "source", source_id: `s${i}`, title: "t", tier: 3, ts: t0 + i }),
    );
    for (let i = 0; i < records.length; i += 100) {
      const res = await cluster.writeBatch("n1", records.slice(i, i + 100));
      expect(res.body.accepted).toBe(100);
      expect(cluster.node("n1").plane.replicator.depth("n2")).toBeLessThanOrEqual(50);
    }
    const dropped = await cluster.node("n1").metrics.registry.getSingleMetricAsString("stemedb_replication_dropped_total");
    expect(dropped).toMatch(/peer="n2",reason="(queue_full|unreachable)"} [1-9]/);
    cluster.network.heal();
    await cluster.until(
      () => records.every((r) => cluster.node("n2").store.lookupId(r.id) !== null),
      30_000,
      "anti-entropy repair",
    );
  });
});
