/**
 * The cluster node (src/cluster/node.ts) on the in-memory network with a fake clock: joining
 * through seeds, the refusals (another shard count, a taken name), retries while no seed
 * answers, placement from the live members, channel sessions both ways, leave.
 */
import { describe, expect, test } from "bun:test";
import { channelIds } from "../../src/cluster/channels.ts";
import { presets } from "../../src/cluster/config.ts";
import { FakeClock } from "../../src/cluster/fake-clock.ts";
import { Keyring } from "../../src/cluster/keyring.ts";
import { MemoryNetwork } from "../../src/cluster/memory-network.ts";
import { ClusterNode, type ClusterNodeOptions } from "../../src/cluster/node.ts";
import { seededRandom } from "../../src/cluster/random.ts";
import { StemeError } from "../../src/core/errors.ts";
import type { Logger } from "../../src/core/logger.ts";

interface Logged {
  level: string;
  msg: string;
  fields: Record<string, unknown> | undefined;
}

class World {
  readonly clock = new FakeClock();
  readonly random = seededRandom(7);
  readonly network = new MemoryNetwork(this.clock, this.random, { delayMs: 1, jitterMs: 1 });
  readonly keyring = new Keyring([new Uint8Array(32).fill(0x4b)]);
  readonly logs: Logged[] = [];
  readonly nodes = new Map<string, ClusterNode>();

  logger(name: string): Logger {
    const log = (level: string) => (msg: string, fields?: Record<string, unknown>) =>
      this.logs.push({ level, msg: `${name}: ${msg}`, fields });
    return { debug: log("debug"), info: log("info"), warn: log("warn"), error: log("error") } as unknown as Logger;
  }

  node(name: string, overrides: Partial<ClusterNodeOptions> = {}): ClusterNode {
    const node = new ClusterNode({
      name,
      nodeId: `id-${name}`,
      api: `${name}:18180`,
      transport: this.network.attach(name),
      clock: this.clock,
      random: this.random,
      keyring: this.keyring,
      config: presets.local,
      shardCount: 64,
      replicationFactor: 2,
      seeds: [],
      logger: this.logger(name),
      ...overrides,
    });
    this.nodes.set(name, node);
    return node;
  }

  /** Runs the clock in steps, letting promises settle between them, until `promise` settles. */
  async drive<T>(promise: Promise<T>, limitMs = 60_000): Promise<T> {
    let outcome: { ok: true; value: T } | { ok: false; error: unknown } | null = null;
    promise.then(
      (value) => {
        outcome = { ok: true, value };
      },
      (error) => {
        outcome = { ok: false, error };
      },
    );
    for (let t = 0; outcome === null && t < limitMs; t += 10) {
      this.clock.advance(10);
      await new Promise((r) => setImmediate(r));
    }
    const settled = outcome as { ok: true; value: T } | { ok: false; error: unknown } | null;
    if (settled === null) throw new Error(`not settled within ${limitMs} ms`);
    if (!settled.ok) throw settled.error;
    return settled.value;
  }

  async run(ms: number): Promise<void> {
    for (let t = 0; t < ms; t += 10) {
      this.clock.advance(10);
      await new Promise((r) => setImmediate(r));
    }
  }

  aliveEverywhere(names: string[]): boolean {
    return names.every((n) => {
      const node = this.nodes.get(n) as ClusterNode;
      return names.every((m) => node.member(m)?.state === "alive");
    });
  }
}

async function threeNodes(): Promise<World> {
  const w = new World();
  const seeds = ["n1:18182"];
  expect(await w.drive(w.node("n1", { seeds }).start())).toEqual({
    state: "first",
    detail: "no seed to join: this node starts the cluster",
  });
  expect((await w.drive(w.node("n2", { seeds }).start())).state).toBe("joined");
  expect((await w.drive(w.node("n3", { seeds }).start())).state).toBe("joined");
  await w.run(3000);
  expect(w.aliveEverywhere(["n1", "n2", "n3"])).toBe(true);
  return w;
}

describe("joining", () => {
  test("three nodes join through a seed; every node computes the same placement from the live members", async () => {
    const w = await threeNodes();
    const views = [...w.nodes.values()].map((n) => n.placement());
    for (const v of views) {
      expect(v.shardCount).toBe(64);
      for (let shard = 0; shard < 64; shard++) {
        expect(v.replicas(shard)).toHaveLength(2);
        expect(v.replicas(shard)).toEqual(views[0]?.replicas(shard) as string[]);
      }
    }
    const held = ["n1", "n2", "n3"].map((n) => views[0]?.shardsOf(`id-${n}`).length ?? 0);
    expect(held.reduce((a, b) => a + b, 0)).toBe(128);
    expect(views[0]?.place("vote", "x")).toEqual({ global: true });
    const placed = views[0]?.place("assertion", "drug/aspirin");
    expect(placed?.global).toBe(false);
  });

  test("a member's death moves its shards and raises the meta version; listeners hear it", async () => {
    const w = await threeNodes();
    const n1 = w.nodes.get("n1") as ClusterNode;
    const before = n1.placement().metaVersion;
    const heard: string[] = [];
    n1.onChange((c) => heard.push(`${c.member.name}:${c.previous}->${c.member.state}:${c.moved}`));
    w.network.crash("n3");
    await w.run(30_000);
    expect(n1.member("n3")?.state).toBe("dead");
    expect(heard).toContain("n3:alive->suspect:false");
    expect(heard).toContain("n3:suspect->dead:true");
    expect(n1.placement().metaVersion).toBe(before + 1);
    expect(n1.placement().shardsOf("id-n3")).toEqual([]);
    expect(n1.stateChanges.dead).toBe(1);
  });

  test("a node with another shard count is refused loudly and never enters the cluster", async () => {
    const w = await threeNodes();
    const odd = w.node("n4", { seeds: ["n1:18182"], shardCount: 128 });
    const failure = await w.drive(odd.start()).catch((e) => e);
    expect(failure).toBeInstanceOf(StemeError);
    expect((failure as StemeError).code).toBe("cluster_refused");
    expect((failure as StemeError).message).toContain("the cluster has 64 shards; this node was started with --shards 128");
    await w.run(2000);
    expect(w.nodes.get("n1")?.member("n4")).toBeUndefined();
    expect(w.logs.some((l) => l.msg === "n1: cluster: a node with another shard count tried to join; it is refused")).toBe(true);
  });

  test("a node claiming a live member's name is refused", async () => {
    const w = await threeNodes();
    const twin = new ClusterNode({
      name: "n2",
      nodeId: "id-other",
      api: "n9:18180",
      transport: w.network.attach("n9"),
      clock: w.clock,
      random: w.random,
      keyring: w.keyring,
      config: presets.local,
      shardCount: 64,
      replicationFactor: 2,
      seeds: ["n1:18182"],
      logger: w.logger("n9"),
    });
    const failure = await w.drive(twin.start()).catch((e) => e);
    expect((failure as StemeError).code).toBe("cluster_refused");
    expect((failure as StemeError).message).toContain("the name n2 is held by another live node (node id id-n2)");
    expect(w.nodes.get("n1")?.member("n2")?.nodeId).toBe("id-n2");
  });

  test("no seed answers: the node serves alone, retries with backoff, and joins once a seed comes up", async () => {
    const w = new World();
    const n2 = w.node("n2", { seeds: ["n1:18182"], joinRetryMs: { first: 1000, max: 4000 } });
    const outcome = await w.drive(n2.start());
    expect(outcome.state).toBe("retrying");
    expect(n2.members().map((m) => m.name)).toEqual(["n2"]);
    await w.run(10_000);
    const retries = w.logs.filter((l) => l.msg.includes("no seed answered"));
    // Attempts at 1 s, 3 s and 7 s: the delay doubles from 1 s and stops at the 4 s cap.
    expect(retries.map((l) => l.fields?.retry_in_ms)).toEqual([2000, 4000, 4000]);
    expect(retries.map((l) => l.fields?.attempt)).toEqual([1, 2, 3]);
    await w.drive(w.node("n1").start());
    await w.run(6000);
    expect(w.aliveEverywhere(["n1", "n2"])).toBe(true);
    expect(n2.joined).toBe(true);
  });

  test("a node another member joined through stops retrying its own seeds", async () => {
    const w = new World();
    const a = w.node("a", { seeds: ["nowhere:18182"] });
    expect((await w.drive(a.start())).state).toBe("retrying");
    expect((await w.drive(w.node("b", { seeds: ["a:18182"] }).start())).state).toBe("joined");
    await w.run(5000);
    expect(a.joined).toBe(true);
    expect(w.logs.some((l) => l.msg === "a: cluster joined: another member reached us")).toBe(true);
  });

  test("leave: the others see the member left, and its shards move", async () => {
    const w = await threeNodes();
    const n3 = w.nodes.get("n3") as ClusterNode;
    await w.drive(n3.leave());
    n3.shutdown();
    await w.run(2000);
    for (const n of ["n1", "n2"]) expect(w.nodes.get(n)?.member("n3")?.state).toBe("left");
    expect(w.nodes.get("n1")?.placement().shardsOf("id-n3")).toEqual([]);
  });
});

describe("channel sessions", () => {
  test("a session to a member by node id carries messages both ways, in order; the server knows who opened it", async () => {
    const w = await threeNodes();
    const n1 = w.nodes.get("n1") as ClusterNode;
    const n2 = w.nodes.get("n2") as ClusterNode;
    const atServer: string[] = [];
    const peers: string[] = [];
    n2.serve("push", (session) => {
      peers.push(session.peer);
      return {
        message: (payload) => {
          atServer.push(new TextDecoder().decode(payload));
          session.send(new TextEncoder().encode(`re ${new TextDecoder().decode(payload)}`));
        },
        end: () => {},
      };
    });
    const atClient: string[] = [];
    const session = await w.drive(
      n1.openSession("id-n2", "push", {
        message: (payload) => atClient.push(new TextDecoder().decode(payload)),
        end: () => {},
      }),
    );
    for (let i = 0; i < 5; i++) session.send(new TextEncoder().encode(`m${i}`));
    await w.run(500); // past the session's handshake deadline: a channel session stays open
    for (let i = 5; i < 10; i++) session.send(new TextEncoder().encode(`m${i}`));
    await w.run(2000);
    expect(atServer).toEqual(Array.from({ length: 10 }, (_, i) => `m${i}`));
    expect(atClient).toEqual(Array.from({ length: 10 }, (_, i) => `re m${i}`));
    expect(peers).toEqual(["id-n1"]);
    expect(session.closed).toBe(false);
    expect(n1.channelStats.opened.push).toBe(1);
    expect(n2.channelStats.accepted.push).toBe(1);
    session.close();
  });

  test("a channel the peer does not serve: the session ends and the refusal is counted", async () => {
    const w = await threeNodes();
    const n1 = w.nodes.get("n1") as ClusterNode;
    const ends: string[] = [];
    const session = await w.drive(n1.openSession("id-n3", "rpc", { message: () => {}, end: (r) => ends.push(r) }));
    await w.run(500);
    expect(session.closed).toBe(true);
    expect(ends).toHaveLength(1);
    expect(w.nodes.get("n3")?.channelStats.refused).toBe(1);
    expect(channelIds.rpc).toBe(3);
  });

  test("an idle timeout ends a silent session on both sides", async () => {
    const w = await threeNodes();
    const n1 = w.nodes.get("n1") as ClusterNode;
    const serverEnds: string[] = [];
    (w.nodes.get("n2") as ClusterNode).serve("push", () => ({ message: () => {}, end: (r) => serverEnds.push(r) }), 2000);
    const clientEnds: string[] = [];
    await w.drive(n1.openSession("id-n2", "push", { message: () => {}, end: (r) => clientEnds.push(r) }));
    await w.run(5000);
    expect(serverEnds).toEqual(["idle for 2000 ms"]);
    expect(clientEnds).toHaveLength(1);
  });

  test("a handler that throws ends its session, is logged as a bug, and the node carries on", async () => {
    const w = await threeNodes();
    const n1 = w.nodes.get("n1") as ClusterNode;
    const n2 = w.nodes.get("n2") as ClusterNode;
    n2.serve("push", () => ({
      message: () => {
        throw new Error("boom");
      },
      end: () => {},
    }));
    const ends: string[] = [];
    const session = await w.drive(n1.openSession("id-n2", "push", { message: () => {}, end: (r) => ends.push(r) }));
    session.send(new Uint8Array([1]));
    await w.run(500);
    expect(ends).toHaveLength(1);
    expect(n2.channelStats.handlerErrors).toBe(1);
    expect(w.logs.some((l) => l.level === "error" && l.msg === "n2: cluster channel handler failed")).toBe(true);
    await w.run(3000);
    expect(w.aliveEverywhere(["n1", "n2", "n3"])).toBe(true);
  });

  test("a session to an unknown node id, or a dead member, is refused at once", async () => {
    const w = await threeNodes();
    const n1 = w.nodes.get("n1") as ClusterNode;
    await expect(n1.openSession("id-nobody", "push", { message: () => {}, end: () => {} })).rejects.toThrow(
      "no live member has node id id-nobody",
    );
  });
});
