/** Placement properties: the shard function, balance, minimal movement on join and leave, determinism. */
import { describe, expect, test } from "bun:test";
import { isGlobalKind, Placement, replicasOf, shardCountDefault, shardOf } from "../../src/cluster/placement.ts";
import { seededRandom } from "../../src/cluster/random.ts";
import { kinds } from "../../src/core/record.ts";
import { toHex } from "../../src/core/hex.ts";
import { blake3_256 } from "../../src/crypto/blake3.ts";

const nodeIds = (n: number, seed: number) => {
  const r = seededRandom(seed);
  return Array.from({ length: n }, () => toHex(r.bytes(16)));
};

describe("shards", () => {
  test("the shard is the first 8 bytes of BLAKE3(subject), big-endian, mod the shard count (checked with BigInt)", () => {
    const r = seededRandom(1);
    for (let i = 0; i < 2000; i++) {
      const subject = `drug:${toHex(r.bytes(1 + r.int(20)))}`;
      const shards = [1, 7, 256, 1000, 65_536][i % 5] as number;
      const h = blake3_256(new TextEncoder().encode(subject));
      const u64 = BigInt(`0x${toHex(h.subarray(0, 8))}`);
      expect(shardOf(subject, shards)).toBe(Number(u64 % BigInt(shards)));
    }
    expect(shardOf("aspirin")).toBe(shardOf("aspirin", shardCountDefault));
    expect(() => shardOf("x", 0)).toThrow(RangeError);
    expect(() => shardOf("x", 65_537)).toThrow(RangeError);
  });

  test("subjects spread evenly over shards", () => {
    const counts = new Array(256).fill(0);
    for (let i = 0; i < 25_600; i++) counts[shardOf(`subject-${i}`)]++;
    for (const c of counts) expect(Math.abs(c - 100)).toBeLessThan(45); // mean 100, sd 10
  });

  test("every kind but assertion is global", () => {
    expect(kinds.filter((k) => !isGlobalKind(k))).toEqual(["assertion"]);
    const p = new Placement(16, 2);
    p.update(["a", "b", "c"]);
    expect(p.place("vote", "ignored")).toEqual({ global: true });
    const placed = p.place("assertion", "aspirin");
    expect(placed).toEqual({ global: false, shard: shardOf("aspirin", 16), replicas: p.replicas(shardOf("aspirin", 16)) });
  });
});

describe("rendezvous placement", () => {
  test("deterministic: the same live set in any order gives the same assignment", () => {
    const ids = nodeIds(7, 2);
    const a = new Placement(256, 2);
    a.update(ids);
    const b = new Placement(256, 2);
    b.update([...ids].reverse());
    expect(b.shards).toEqual(a.shards);
    for (const replicas of a.shards) expect(new Set(replicas).size).toBe(2);
  });

  test("the replication factor is capped by the live nodes", () => {
    const p = new Placement(8, 3);
    p.update(["x", "y"]);
    for (const replicas of p.shards) expect([...replicas].sort()).toEqual(["x", "y"]);
    p.update([]);
    expect(p.replicas(0)).toEqual([]);
  });

  test("balance: for 3 to 20 nodes every node's share is within [0.25, 1.75] of the mean, and the spread is a fair coin's", () => {
    for (const n of [3, 4, 5, 7, 10, 13, 16, 20]) {
      let squares = 0;
      let samples = 0;
      for (let seed = 1; seed <= 40; seed++) {
        const ids = nodeIds(n, seed * 100 + n);
        const p = new Placement(256, 2);
        p.update(ids);
        const mean = (256 * 2) / n;
        for (const id of ids) {
          const share = p.shardsOf(id).length;
          expect(share / mean).toBeGreaterThan(0.25);
          expect(share / mean).toBeLessThan(1.75);
          squares += (share - mean) ** 2;
          samples++;
        }
      }
      // Rendezvous is as even as choosing each shard's replicas at random: the variance of a
      // node's count is the binomial one, 256 · q · (1 − q) with q = 2/n (within sampling error).
      const q = 2 / n;
      const ratio = squares / samples / (256 * q * (1 - q));
      expect(ratio).toBeGreaterThan(0.7);
      expect(ratio).toBeLessThan(1.4);
    }
  });

  test("a join moves only the replica slots the newcomer wins: one slot per changed shard, and nothing else", () => {
    for (let seed = 1; seed <= 20; seed++) {
      const ids = nodeIds(3 + (seed % 15), seed);
      const [newcomer] = nodeIds(1, seed + 1000) as [string];
      const p = new Placement(256, 2);
      p.update(ids);
      const before = p.shards.map((r) => [...r]);
      const versionBefore = p.version;
      expect(p.update([...ids, newcomer])).toBe(true);
      expect(p.version).toBe(versionBefore + 1);
      let moved = 0;
      for (const [shard, after] of p.shards.entries()) {
        const old = before[shard] as string[];
        const lost = old.filter((id) => !after.includes(id));
        const gained = after.filter((id) => !old.includes(id));
        if (gained.length === 0) {
          expect(after).toEqual(old);
          continue;
        }
        moved++;
        expect(gained).toEqual([newcomer]);
        expect(lost).toHaveLength(1);
      }
      // The newcomer takes about its fair share: 2 · 256 / (n + 1) slots.
      expect(moved).toBe(p.shardsOf(newcomer).length);
    }
  });

  test("a leave moves only the leaver's slots, each to one new replica; an update that moves nothing keeps the version", () => {
    for (let seed = 1; seed <= 20; seed++) {
      const ids = nodeIds(4 + (seed % 15), seed);
      const leaver = ids[seed % ids.length] as string;
      const p = new Placement(256, 2);
      p.update(ids);
      const before = p.shards.map((r) => [...r]);
      p.update(ids.filter((id) => id !== leaver));
      for (const [shard, after] of p.shards.entries()) {
        const old = before[shard] as string[];
        if (!old.includes(leaver)) {
          expect(after).toEqual(old);
          continue;
        }
        const kept = old.filter((id) => id !== leaver);
        expect(after.filter((id) => kept.includes(id))).toEqual(kept);
        expect(after.filter((id) => !kept.includes(id))).toHaveLength(1);
      }
      const version = p.version;
      expect(p.update(ids.filter((id) => id !== leaver).reverse())).toBe(false);
      expect(p.version).toBe(version);
    }
  });

  test("replicasOf ranks by weight: a node's rank never depends on the others", () => {
    const ids = nodeIds(10, 5);
    for (let shard = 0; shard < 64; shard++) {
      const all = replicasOf(shard, ids, 10);
      const some = ids.filter((_, i) => i % 2 === 0);
      expect(replicasOf(shard, some, 10)).toEqual(all.filter((id) => some.includes(id)));
    }
  });
});
