/** The in-memory network: the transport conformance suite, then its faults (loss, delay, partitions, crashes). */
import { describe, expect, test } from "bun:test";
import { FakeClock } from "../../src/cluster/fake-clock.ts";
import { MemoryNetwork, type MemoryNetworkOptions } from "../../src/cluster/memory-network.ts";
import { seededRandom } from "../../src/cluster/random.ts";
import { transportConformance } from "./transport-conformance.ts";

transportConformance("memory", () => {
  const clock = new FakeClock();
  const network = new MemoryNetwork(clock, seededRandom(1), { delayMs: 2, jitterMs: 3 });
  return {
    make: (host) => network.attach(host),
    settle: async (ms) => clock.advance(ms),
    nowhere: "nobody:18182",
    close: () => {},
  };
});

function world(options: MemoryNetworkOptions = {}, seed = 1) {
  const clock = new FakeClock();
  const network = new MemoryNetwork(clock, seededRandom(seed), options);
  const received = new Map<string, number[]>();
  const hosts = ["a", "b", "c", "d"].map((h) => {
    const t = network.attach(h);
    received.set(h, []);
    t.listen({
      packet: (bytes) => received.get(h)?.push(bytes[0] as number),
      stream: (s) => s.attach({ frame: () => {}, close: () => {} }),
    });
    return t;
  });
  return { clock, network, received, hosts };
}

describe("faults", () => {
  test("loss drops about the configured share, counted on the sender; per-link loss overrides it", () => {
    const { clock, network, received, hosts } = world({ lossRate: 0.1 });
    const [a, b, c] = hosts as [(typeof hosts)[0], (typeof hosts)[0], (typeof hosts)[0]];
    for (let i = 0; i < 10_000; i++) a.sendPacket(b.gossipAddress, Uint8Array.of(i & 0xff));
    network.setLinkLoss("a", "c", 1);
    for (let i = 0; i < 100; i++) a.sendPacket(c.gossipAddress, Uint8Array.of(1));
    clock.advance(100);
    const got = received.get("b")?.length ?? 0;
    expect(got).toBeGreaterThan(8800);
    expect(got).toBeLessThan(9200);
    expect(received.get("c")).toEqual([]);
    expect(network.traffic("a").packetsLost).toBe(10_100 - got);
    expect(network.traffic("a").packetsSent).toBe(10_100);
    expect(network.traffic("b").packetsReceived).toBe(got);
  });

  test("jitter reorders packets, and the same seed reorders them the same way", () => {
    const order = (seed: number) => {
      const { clock, received, hosts } = world({ delayMs: 1, jitterMs: 20 }, seed);
      for (let i = 0; i < 50; i++) hosts[0]?.sendPacket("b:18183", Uint8Array.of(i));
      clock.advance(100);
      return received.get("b") as number[];
    };
    const first = order(3);
    expect(first).toHaveLength(50);
    expect(first).not.toEqual([...first].sort((x, y) => x - y));
    expect(order(3)).toEqual(first);
    expect(order(4)).not.toEqual(first);
  });

  test("a cut stops packets both ways, including those in flight; heal restores them", () => {
    const { clock, network, received, hosts } = world({ delayMs: 10, jitterMs: 0 });
    hosts[0]?.sendPacket("b:18183", Uint8Array.of(1)); // in flight when the cut comes
    clock.advance(5);
    network.cut(["a"], ["b", "c"]);
    clock.advance(20);
    hosts[0]?.sendPacket("b:18183", Uint8Array.of(2));
    hosts[1]?.sendPacket("a:18183", Uint8Array.of(3));
    hosts[1]?.sendPacket("c:18183", Uint8Array.of(4)); // b and c are on the same side
    hosts[0]?.sendPacket("d:18183", Uint8Array.of(5)); // d is not in the cut
    clock.advance(20);
    expect(received.get("b")).toEqual([]);
    expect(received.get("a")).toEqual([]);
    expect(received.get("c")).toEqual([4]);
    expect(received.get("d")).toEqual([5]);
    network.heal();
    hosts[0]?.sendPacket("b:18183", Uint8Array.of(6));
    clock.advance(20);
    expect(received.get("b")).toEqual([6]);
  });

  test("a cut breaks open streams; a crash resets them and silences the host", () => {
    const { clock, network, received, hosts } = world();
    const reasons: string[] = [];
    const s = hosts[0]?.openStream("b:18182");
    s?.attach({ frame: () => {}, close: (r) => reasons.push(r) });
    clock.advance(10);
    network.cut(["a"], ["b"]);
    expect(reasons).toEqual(["connection broken by a partition"]);
    network.heal();
    const s2 = hosts[2]?.openStream("d:18182");
    s2?.attach({ frame: () => {}, close: (r) => reasons.push(r) });
    clock.advance(10);
    network.crash("d");
    expect(reasons.at(-1)).toBe("reset");
    hosts[2]?.sendPacket("d:18183", Uint8Array.of(9));
    clock.advance(10);
    expect(received.get("d")).toEqual([]);
    const restarted = network.attach("d");
    expect(restarted.gossipAddress).toBe("d:18183");
    expect(() => network.attach("a")).toThrow(/already attached/);
  });
});
