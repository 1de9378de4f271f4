/**
 * SWIM with Lifeguard on the in-memory network, seeded: every scenario replays exactly. The
 * simulator (src/cluster/sim.ts) is the harness; the network's tap shows the packets.
 */
import { describe, expect, test } from "bun:test";
import { Awareness } from "../../src/cluster/awareness.ts";
import { failureDetectionBoundMs, type MembershipConfig, presets, suspicionTimeoutMs } from "../../src/cluster/config.ts";
import { FakeClock } from "../../src/cluster/fake-clock.ts";
import { Membership } from "../../src/cluster/membership.ts";
import { Prober } from "../../src/cluster/probe.ts";
import { seededRandom } from "../../src/cluster/random.ts";
import { ClusterSim } from "../../src/cluster/sim.ts";
import { MemberStates } from "../../src/cluster/state.ts";
import { newStats } from "../../src/cluster/stats.ts";
import { encodeMessage, type Message, openPacket, sealPacket } from "../../src/cluster/wire.ts";

const lan = presets.lan;

function converged(nodes: number, options: { seed?: number; lossRate?: number; config?: MembershipConfig } = {}): ClusterSim {
  const sim = new ClusterSim({ nodes, seed: options.seed ?? 1, lossRate: options.lossRate ?? 0, config: options.config });
  sim.startAll(10);
  expect(sim.runUntil(() => sim.converged(), 30_000)).not.toBeNull();
  return sim;
}

/** The messages of every packet sent, decoded, with sender and receiver hosts. */
function capture(sim: ClusterSim): Array<{ atMs: number; from: string; to: string; messages: Message[] }> {
  const packets: Array<{ atMs: number; from: string; to: string; messages: Message[] }> = [];
  sim.network.tap = (from, to, bytes) => {
    const opened = openPacket(sim.keyring, bytes);
    if (opened.ok) packets.push({ atMs: sim.clock.now(), from, to, messages: opened.messages });
  };
  return packets;
}

const node = (sim: ClusterSim, name: string) =>
  sim.nodes.find((n) => n.name === name)?.membership as NonNullable<ClusterSim["nodes"][number]["membership"]>;

describe("probing", () => {
  test("every member probes one member a protocol period and gets its ack", () => {
    const sim = converged(3);
    sim.run(20_000);
    for (const n of sim.nodes) {
      const s = n.membership.stats;
      expect(s.probes).toBeGreaterThanOrEqual(19);
      expect(s.probesFailed).toBe(0);
      expect(s.indirectProbes).toBe(0);
      expect(s.probeRttCount).toBeGreaterThanOrEqual(s.probes - 1);
      const meanRtt = s.probeRttMsSum / s.probeRttCount;
      expect(meanRtt).toBeGreaterThanOrEqual(2); // 1 ms + jitter each way
      expect(meanRtt).toBeLessThan(6);
    }
    expect(sim.falseSuspicions).toBe(0);
  });

  test("an indirect probe saves a member whose direct link is broken; without relays it would be suspected", () => {
    const run = (config: MembershipConfig) => {
      const sim = converged(5, { config });
      sim.network.setLinkLoss("n01", "n02", 1);
      sim.network.setLinkLoss("n02", "n01", 1);
      sim.run(120_000);
      return sim;
    };
    const sim = run(lan);
    expect(node(sim, "n01").stats.indirectProbes).toBeGreaterThan(0);
    expect(node(sim, "n01").stats.probesFailed).toBe(0);
    expect(node(sim, "n02").stats.probesFailed).toBe(0);
    expect(sim.falseSuspicions).toBe(0);
    expect(sim.falseDeaths).toBe(0);
    const withoutRelays = run({ ...lan, indirectChecks: 0 });
    expect(withoutRelays.falseSuspicions).toBeGreaterThan(0);
  });

  test("a ping to a suspect carries the suspicion ahead of it (buddy system)", () => {
    const clock = new FakeClock();
    const sent: Array<[string, Message[]]> = [];
    const hooks = {
      broadcast: () => {},
      changed: () => {},
      refuted: () => {},
      declaredDead: () => {},
      conflict: () => {},
      suspected: () => {},
      lastCheck: () => {},
    };
    const self = { name: "a", nodeId: "1", api: "a:18180", cluster: "a:18182", gossip: "a:18183" };
    const members = new MemberStates(self, clock, lan, hooks);
    members.start();
    members.onAlive({ type: "alive", name: "b", node_id: "2", api: "b:18180", cluster: "b:18182", gossip: "b:18183", inc: 4 });
    members.onSuspect({ type: "suspect", name: "b", inc: 4, from: "c" });
    const prober = new Prober({
      config: lan,
      clock,
      random: seededRandom(1),
      members,
      awareness: new Awareness(8),
      stats: newStats(),
      send: (to, m) => sent.push([to, m]),
    });
    prober.start();
    clock.advance(lan.probeIntervalMs);
    expect(sent[0]).toEqual([
      "b:18183",
      [
        { type: "suspect", name: "b", inc: 4, from: "a" },
        { type: "ping", seq: 1, target: "b" },
      ],
    ]);
    prober.stop();
  });

  test("the suspect refutes before it acks, so the ack carries the refutation; the accuser is answered directly too", () => {
    const sim = converged(3);
    const packets = capture(sim);
    const buddy = [
      { type: "suspect", name: "n03", inc: 1, from: "n01" },
      { type: "ping", seq: 999, target: "n03" },
    ] as Message[];
    node(sim, "n03").receive(sealPacket(sim.keyring, buddy.map(encodeMessage)), "n01:18183");
    sim.run(10);
    const replies = packets.filter((p) => p.from === "n03" && p.to === "n01").map((p) => p.messages);
    const ack = replies.find((m) => m[0]?.type === "ack" && m[0].seq === 999);
    expect(ack?.some((m) => m.type === "alive" && m.name === "n03" && m.inc === 2)).toBe(true);
    expect(replies.find((m) => m[0]?.type === "alive")?.[0]).toMatchObject({ type: "alive", name: "n03", inc: 2 });
    expect(node(sim, "n03").stats.refutations).toBe(1);
    expect(node(sim, "n03").health).toBe(1); // Lifeguard: a refutation counts against our own health
  });
});

describe("suspicion, refutation, death", () => {
  test("a member cut off briefly is suspected, refutes with a higher incarnation, and is never declared dead", () => {
    const sim = converged(5);
    sim.network.cut(["n03"], ["n01", "n02", "n04", "n05"]);
    sim.run(2500);
    sim.network.heal();
    sim.run(15_000);
    expect(sim.nodes.reduce((a, n) => a + n.membership.stats.suspicionsStarted, 0)).toBeGreaterThan(0);
    expect(node(sim, "n03").stats.refutations).toBeGreaterThanOrEqual(1);
    for (const n of sim.nodes) {
      expect(n.membership.member("n03")?.state).toBe("alive");
      expect(n.membership.member("n03")?.incarnation).toBeGreaterThan(1);
    }
    expect(sim.falseDeaths).toBe(0);
  });

  test("a crashed member is dead everywhere within the preset's bound, and is probed no more", () => {
    const sim = converged(8);
    sim.record();
    const packets = capture(sim);
    const crashAt = sim.clock.now();
    sim.crash(7);
    const bound = failureDetectionBoundMs(lan, 8);
    const took = sim.runUntil(() => sim.allSee("n08", "dead"), bound);
    expect(took).not.toBeNull();
    // Confirmations from several prober shorten the suspicion: well under its maximum (Lifeguard).
    const firstSuspect = sim.events.find((e) => e.subject === "n08" && e.to === "suspect")?.atMs as number;
    const firstDead = sim.events.find((e) => e.subject === "n08" && e.to === "dead")?.atMs as number;
    const minMs = suspicionTimeoutMs(lan, 8);
    expect(firstDead - firstSuspect).toBeLessThan(lan.suspicionMaxTimeoutMult * minMs);
    expect(firstDead - firstSuspect).toBeGreaterThanOrEqual(minMs);
    expect(firstDead - crashAt).toBeLessThan(bound);
    const allDeadAt = sim.clock.now();
    sim.run(20_000);
    const pingsAfter = packets.filter(
      (p) => p.to === "n08" && p.atMs > allDeadAt + lan.probeIntervalMs && p.messages.some((m) => m.type === "ping"),
    );
    expect(pingsAfter).toEqual([]);
    expect(sim.nodes.reduce((a, n) => a + n.membership.stats.lastChecks, 0)).toBeGreaterThan(0);
    expect(sim.falseDeaths).toBe(0);
  });
});

describe("Lifeguard: local health", () => {
  test("a node that hears little slows its probing instead of accusing the healthy", () => {
    const sim = converged(6);
    sim.record();
    for (const other of ["n02", "n03", "n04", "n05", "n06"]) sim.network.setLinkLoss(other, "n01", 0.9);
    let healthMax = 0;
    for (let t = 0; t < 120; t++) {
      sim.run(1000);
      healthMax = Math.max(healthMax, node(sim, "n01").health);
    }
    expect(healthMax).toBeGreaterThanOrEqual(3);
    const sick = node(sim, "n01").stats.probes;
    const healthy = sim.nodes.filter((n) => n.name !== "n01").map((n) => n.membership.stats.probes);
    expect(sick).toBeLessThan(0.6 * Math.min(...healthy));
    const healthyDeaths = sim.events.filter((e) => e.to === "dead" && e.subject !== "n01");
    expect(healthyDeaths).toEqual([]);
  });
});

describe("identity", () => {
  test("a name or address other members would refuse on the wire is refused at construction", () => {
    const sim = new ClusterSim({ nodes: 1, seed: 1 });
    const base = {
      nodeId: "x",
      api: "x:1",
      transport: sim.network.attach("long"),
      clock: sim.clock,
      random: seededRandom(1),
      keyring: sim.keyring,
      config: lan,
    };
    expect(() => new Membership({ ...base, name: "n".repeat(129) })).toThrow(/node name: expected 1 to 128 bytes/);
    expect(() => new Membership({ ...base, name: "" })).toThrow(RangeError);
    expect(() => new Membership({ ...base, name: "ok", api: "a".repeat(257) })).toThrow(/address: expected 1 to 256 bytes/);
  });
});

describe("push-pull, leave, partitions", () => {
  test("a join's push-pull gives the joiner the whole table and the seed the joiner, at once", () => {
    const sim = new ClusterSim({ nodes: 5, seed: 2 });
    for (let i = 0; i < 4; i++) sim.start(i);
    for (let i = 1; i < 4; i++) sim.join(i, 0);
    expect(sim.runUntil(() => sim.converged(), 10_000)).not.toBeNull();
    sim.start(4);
    let atDone: { joined: number; joinerSees: string[]; seedSees: string | undefined } | null = null;
    sim.join(4, 1, (joined) => {
      atDone = {
        joined,
        joinerSees: node(sim, "n05")
          .members()
          .filter((m) => m.state === "alive")
          .map((m) => m.name)
          .sort(),
        seedSees: node(sim, "n02").member("n05")?.state,
      };
    });
    sim.run(100);
    expect(atDone as unknown).toEqual({ joined: 1, joinerSees: ["n01", "n02", "n03", "n04", "n05"], seedSees: "alive" });
    expect(sim.runUntil(() => sim.converged(), 10_000)).not.toBeNull();
  });

  test("a join through a seed nobody answers at reports why", () => {
    const sim = new ClusterSim({ nodes: 1, seed: 1 });
    sim.start(0);
    let result: [number, string[]] | null = null;
    node(sim, "n01").join(["ghost:18182"], (joined, failures) => {
      result = [joined, failures];
    });
    sim.run(lan.streamTimeoutMs + 1000);
    expect(result as unknown).toEqual([0, ["ghost:18182: connect timed out: unreachable"]]);
  });

  test("a graceful leave is `left` everywhere, not dead, and stays so after the process stops", () => {
    const sim = converged(5);
    sim.leave(4);
    sim.run(3000);
    expect(sim.allSee("n05", "left")).toBe(true);
    sim.stop(4);
    sim.run(120_000);
    expect(sim.allSee("n05", "left")).toBe(true);
    expect(sim.falseDeaths).toBe(0);
    expect(sim.converged()).toBe(true);
  });

  test("a partition: each side declares the other dead; after the heal, reconnects bring everyone back", () => {
    const sim = converged(6);
    const left = ["n01", "n02", "n03"];
    const right = ["n04", "n05", "n06"];
    sim.network.cut(left, right);
    sim.run(90_000);
    for (const a of left) for (const b of right) expect(node(sim, a).member(b)?.state).toBe("dead");
    sim.network.heal();
    const took = sim.runUntil(() => sim.converged(), 4 * lan.reconnectIntervalMs);
    expect(took).not.toBeNull();
    for (const n of sim.nodes) for (const m of n.membership.members()) expect(m.state).toBe("alive");
  });
});

describe("loss", () => {
  test("10% packet loss for ten minutes: suspicions happen and are refuted; no false death", () => {
    const sim = converged(10, { lossRate: 0.1, seed: 7 });
    sim.run(600_000);
    expect(sim.falseDeaths).toBe(0);
    const refutations = sim.nodes.reduce((a, n) => a + n.membership.stats.refutations, 0);
    expect(refutations).toBeGreaterThan(0);
    expect(sim.falseSuspicions).toBeGreaterThan(0);
    expect(sim.converged()).toBe(true);
  });
});

describe("forgetting the gone", () => {
  test("a member dead (or left) for longer than the reconnect timeout is forgotten by every member still running", () => {
    const config = { ...presets.lan, reconnectTimeoutMs: 120_000 };
    const sim = converged(5, { config });
    sim.crash(4); // n05: dead after detection
    sim.leave(3); // n04: left
    sim.stop(3);
    sim.run(60_000);
    for (const n of sim.nodes.slice(0, 3)) {
      expect(n.membership.member("n05")?.state).toBe("dead");
      expect(n.membership.member("n04")?.state).toBe("left");
    }
    sim.run(120_000 + 2 * config.reconnectIntervalMs);
    for (const n of sim.nodes.slice(0, 3)) {
      expect(n.membership.member("n05")).toBeUndefined();
      expect(n.membership.member("n04")).toBeUndefined();
      expect(
        n.membership
          .members()
          .map((m) => m.name)
          .sort(),
      ).toEqual(["n01", "n02", "n03"]);
    }
    expect(sim.falseDeaths).toBe(0);
  });
});
