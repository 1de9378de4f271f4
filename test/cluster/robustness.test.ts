/**
 * The packet loop never dies: 10,000 random packets, 10,000 damaged real ones and 2,000
 * authentic packets of random messages go into a member, which counts what it drops and keeps
 * working. And the cluster key: rotation while running, a node without the key refused.
 */
import { describe, expect, test } from "bun:test";
import { Keyring } from "../../src/cluster/keyring.ts";
import { seededRandom } from "../../src/cluster/random.ts";
import { ClusterSim } from "../../src/cluster/sim.ts";
import { droppedTotal } from "../../src/cluster/stats.ts";
import { encodeMessage, type Message, packetBytesMax, sealPacket } from "../../src/cluster/wire.ts";

function converged(nodes: number, seed = 1): ClusterSim {
  const sim = new ClusterSim({ nodes, seed });
  sim.startAll(10);
  expect(sim.runUntil(() => sim.converged(), 30_000)).not.toBeNull();
  return sim;
}

const names = ["n01", "n02", "n03", "ghost"];

/** A random but well-formed message: any type, fields drawn to hit the edge cases. */
function randomMessage(r: ReturnType<typeof seededRandom>): Message {
  const name = () => names[r.int(names.length)] as string;
  const uint = () => [0, 1, 2, r.int(1000), 2 ** 40, Number.MAX_SAFE_INTEGER - 2][r.int(6)] as number;
  const addr = () => `${name()}:${18182 + r.int(3)}`;
  const choices: Array<() => Message> = [
    () => ({ type: "ping", seq: uint(), target: name() }),
    () => ({ type: "indirect_ping", seq: uint(), target: name(), target_addr: addr(), nack: r.float() < 0.5 }),
    () => ({ type: "ack", seq: uint() }),
    () => ({ type: "nack", seq: uint() }),
    () => ({ type: "alive", name: name(), node_id: name(), api: addr(), cluster: addr(), gossip: addr(), inc: uint() }),
    () => ({ type: "suspect", name: name(), inc: uint(), from: name() }),
    () => ({ type: "dead", name: name(), inc: uint(), from: name() }),
    () => ({ type: "hello", version: 1, nonce: r.bytes(32) }),
    () => ({ type: "push_pull", join: true, members: [] }),
  ];
  return (choices[r.int(choices.length)] as () => Message)();
}

describe("the receive loop under garbage", () => {
  test("random bytes, damaged packets and random authentic messages: all counted, nothing thrown, the cluster recovers", () => {
    const sim = converged(3);
    const target = sim.nodes[0]?.membership as NonNullable<ClusterSim["nodes"][number]["membership"]>;
    const r = seededRandom(99);
    const real: Uint8Array[] = [];
    sim.network.tap = (_from, _to, bytes) => {
      if (real.length < 200) real.push(bytes.slice());
    };
    sim.run(5000);
    sim.network.tap = null;
    const before = droppedTotal(target.stats);
    for (let i = 0; i < 10_000; i++) target.receive(r.bytes(r.int(packetBytesMax + 200)), "x:18183");
    for (let i = 0; i < 10_000; i++) {
      const packet = (real[r.int(real.length)] as Uint8Array).slice();
      if (i % 2 === 0) target.receive(packet.subarray(0, r.int(packet.length)), "x:18183");
      else {
        const at = r.int(packet.length);
        packet[at] = (packet[at] as number) ^ (1 << r.int(8));
        target.receive(packet, "x:18183");
      }
    }
    expect(droppedTotal(target.stats) - before).toBe(20_000);
    for (let i = 0; i < 2000; i++) {
      const messages = Array.from({ length: 1 + r.int(4) }, () => encodeMessage(randomMessage(r)));
      target.receive(sealPacket(sim.keyring, messages), `${names[r.int(names.length)]}:18183`);
      if (i % 100 === 0) sim.run(50);
    }
    expect(target.stats.dropped.wrong_channel).toBeGreaterThan(0);
    expect(target.stats.dropped.bad_mac + target.stats.dropped.bad_version + target.stats.dropped.too_short).toBeGreaterThan(0);
    // Whatever the random news said, each member refutes what was said about it and the cluster settles.
    expect(sim.runUntil(() => sim.converged(), 120_000)).not.toBeNull();
    expect(target.member("n01")?.state).toBe("alive");
  });
});

describe("the cluster key", () => {
  const k1 = new Uint8Array(32).fill(1);
  const k2 = new Uint8Array(32).fill(2);

  test("rotation while running: add, switch node by node, remove; nothing is dropped and nobody is suspected", () => {
    const sim = new ClusterSim({ nodes: 4, seed: 3 });
    const all = sim.nodes.slice(0, 3);
    for (const n of all) n.membership.keyring = new Keyring([k1]);
    for (let i = 0; i < 3; i++) sim.start(i);
    sim.join(1, 0);
    sim.join(2, 0);
    sim.run(5000);
    for (const n of all) n.membership.keyring = n.membership.keyring.withKey(k2);
    sim.run(5000);
    for (const n of all) {
      n.membership.keyring = n.membership.keyring.withPrimary(k2); // one node at a time: mixed primaries meanwhile
      sim.run(10_000);
    }
    for (const n of all) n.membership.keyring = n.membership.keyring.without(k1);
    sim.run(40_000); // beyond a push-pull period: sessions too run under the new key
    for (const n of all) {
      expect(droppedTotal(n.membership.stats)).toBe(0);
      expect(n.membership.stats.sessionsFailed).toBe(0);
      expect(n.membership.stats.suspicionsStarted).toBe(0);
    }
    // A node that still has only the old key can neither join nor be heard.
    const stale = sim.nodes[3]?.membership as NonNullable<ClusterSim["nodes"][number]["membership"]>;
    stale.keyring = new Keyring([k1]);
    sim.start(3);
    let failures: string[] = [];
    sim.join(3, 0, (_joined, f) => {
      failures = f;
    });
    sim.run(20_000);
    expect(failures).toEqual(["n01:18182: the server did not prove the cluster key"]);
    expect(sim.nodes[0]?.membership.member("n04")).toBeUndefined();
    const packet = sealPacket(new Keyring([k1]), [encodeMessage({ type: "ping", seq: 1, target: "n01" })]);
    const macFailures = sim.nodes[0]?.membership.stats.dropped.bad_mac as number;
    sim.nodes[0]?.membership.receive(packet, "n04:18183");
    expect(sim.nodes[0]?.membership.stats.dropped.bad_mac).toBe(macFailures + 1);
  });
});
