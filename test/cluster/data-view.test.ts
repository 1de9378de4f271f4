/**
 * The data plane's view of a cluster node (src/cluster/data-view.ts) on the in-memory network:
 * channels usable at once (frames sent before the handshake wait), frames held until attach,
 * one close with its reason, named channels only; the member list and the change signal.
 */
import { describe, expect, test } from "bun:test";
import { presets } from "../../src/cluster/config.ts";
import { viewOf, type ViewChannel } from "../../src/cluster/data-view.ts";
import { FakeClock } from "../../src/cluster/fake-clock.ts";
import { Keyring } from "../../src/cluster/keyring.ts";
import { MemoryNetwork } from "../../src/cluster/memory-network.ts";
import { ClusterNode } from "../../src/cluster/node.ts";
import { seededRandom } from "../../src/cluster/random.ts";
import { silentLogger } from "../../src/core/logger.ts";

async function pair() {
  const clock = new FakeClock();
  const random = seededRandom(3);
  const network = new MemoryNetwork(clock, random);
  const keyring = new Keyring([new Uint8Array(32).fill(7)]);
  const make = (name: string, seeds: string[]) =>
    new ClusterNode({
      name,
      nodeId: `id-${name}`,
      api: `${name}:18180`,
      transport: network.attach(name),
      clock,
      random,
      keyring,
      config: presets.local,
      shardCount: 16,
      replicationFactor: 2,
      seeds,
      logger: silentLogger,
    });
  const a = make("a", []);
  const b = make("b", ["a:18182"]);
  const run = async (ms: number) => {
    for (let t = 0; t < ms; t += 10) {
      clock.advance(10);
      await new Promise((r) => setImmediate(r));
    }
  };
  const starting = [a.start(), b.start()];
  await run(2000);
  await Promise.all(starting);
  return { a, b, run, network };
}

const text = (b: Uint8Array) => new TextDecoder().decode(b);
const bytes = (s: string) => new TextEncoder().encode(s);

describe("the data plane's view of a node", () => {
  test("members and the change signal", async () => {
    const { a, b, run, network } = await pair();
    const view = viewOf(a);
    expect(view.selfId).toBe("id-a");
    expect(
      view
        .members()
        .map((m) => `${m.name}:${m.nodeId}:${m.state}`)
        .sort(),
    ).toEqual(["a:id-a:alive", "b:id-b:alive"]);
    expect(Object.keys(view.members()[0] ?? {}).sort()).toEqual(["api", "cluster", "name", "nodeId", "state"]);
    let changes = 0;
    const stop = view.onChange(() => changes++);
    network.crash("b");
    await run(20_000);
    expect(changes).toBeGreaterThanOrEqual(2); // suspect, then dead
    stop();
    b.shutdown();
  });

  test("a channel is usable at once: frames sent before the handshake go once it is done, in order, both ways", async () => {
    const { a, b, run } = await pair();
    const seen: string[] = [];
    let served: ViewChannel | null = null;
    viewOf(b).onChannel("push", (channel) => {
      served = channel;
    });
    const replies: string[] = [];
    const channel = viewOf(a).openChannel("id-b", "push");
    channel.attach({ frame: (f) => replies.push(text(f)), close: () => {} });
    for (let i = 0; i < 5; i++) channel.send(bytes(`f${i}`)); // before the session exists
    await run(500);
    const far = served as ViewChannel | null;
    expect(far?.peer).toBe("id-a");
    // Attached only now: what came meanwhile was held, in order.
    far?.attach({ frame: (f) => seen.push(text(f)), close: () => {} });
    far?.send(bytes("ack"));
    await run(500);
    expect(seen).toEqual(["f0", "f1", "f2", "f3", "f4"]);
    expect(replies).toEqual(["ack"]);
  });

  test("a channel that cannot be made closes once with the reason; our own close is not reported", async () => {
    const { a, run } = await pair();
    const reasons: string[] = [];
    const nowhere = viewOf(a).openChannel("id-nobody", "rpc");
    nowhere.attach({ frame: () => {}, close: (r) => reasons.push(r) });
    nowhere.send(bytes("lost"));
    await run(100);
    expect(reasons).toEqual(["no live member has node id id-nobody"]);
    const unserved: string[] = [];
    const c = viewOf(a).openChannel("id-b", "rpc"); // b serves no rpc channel
    c.attach({ frame: () => {}, close: (r) => unserved.push(r) });
    await run(500);
    expect(unserved).toHaveLength(1);
    const mine: string[] = [];
    const d = viewOf(a).openChannel("id-b", "push");
    d.attach({ frame: () => {}, close: (r) => mine.push(r) });
    d.close();
    await run(500);
    expect(mine).toEqual([]);
  });

  test("only the channel table's names", async () => {
    const { a } = await pair();
    expect(() => viewOf(a).openChannel("id-b", "gossip")).toThrow(RangeError);
    expect(() => viewOf(a).onChannel("bulk", () => {})).toThrow(/no channel named "bulk"/);
  });
});
