/**
 * Per-shard Merkle trees and their diff: the hash depends only on the set, the diff finds
 * exactly the symmetric difference both ways, and its cost stays within O(k · log n).
 */
import { describe, expect, test } from "bun:test";
import { answerMerkle, bucketIdsMax, diffTrees, MerkleDiff, ShardTree } from "../../src/cluster/merkle.ts";
import { seededRandom } from "../../src/cluster/random.ts";
import { toHex } from "../../src/core/hex.ts";
import { blake3_256 } from "../../src/crypto/blake3.ts";
import { compareIds } from "../../src/crypto/merkle.ts";

const randomIds = (n: number, r: ReturnType<typeof seededRandom>) => Array.from({ length: n }, () => r.bytes(32));
const hexes = (ids: readonly Uint8Array[]) => ids.map(toHex).sort();

describe("the tree", () => {
  test("a bucket's hash is BLAKE3(0x00 ‖ its ids in order); the empty tree's is BLAKE3(0x00)", () => {
    expect(new ShardTree().root()).toEqual(blake3_256(Uint8Array.of(0)));
    const r = seededRandom(1);
    const ids = randomIds(bucketIdsMax, r);
    const sorted = [...ids].sort(compareIds);
    const input = new Uint8Array(1 + 32 * sorted.length);
    for (const [i, id] of sorted.entries()) input.set(id, 1 + 32 * i);
    expect(new ShardTree(ids).root()).toEqual(blake3_256(input));
  });

  test("above a bucket the root hashes its 16 children, and each child covers the ids with that first hex digit", () => {
    const r = seededRandom(2);
    const tree = new ShardTree(randomIds(500, r));
    const children = tree.children("");
    const input = new Uint8Array(1 + 32 * 16);
    input[0] = 1;
    for (const [i, c] of children.entries()) input.set(c.hash, 1 + 32 * i);
    expect(tree.root()).toEqual(blake3_256(input));
    expect(children.reduce((a, c) => a + c.count, 0)).toBe(500);
    for (const id of tree.idsUnder("a")) expect(toHex(id).startsWith("a")).toBe(true);
    expect(tree.idsUnder("a").length).toBe(tree.summary("a").count);
  });

  test("the hash depends only on the set: any order, duplicates, or ids added one by one give the same root", () => {
    const r = seededRandom(3);
    const ids = randomIds(3000, r);
    const a = new ShardTree(ids);
    const b = new ShardTree([...ids].reverse().concat(ids.slice(0, 100)));
    const c = new ShardTree();
    c.root(); // memoised summaries must be forgotten as ids arrive
    for (const [i, id] of ids.entries()) {
      expect(c.add(id)).toBe(true);
      if (i % 500 === 0) c.summary(toHex(id).slice(0, 2));
    }
    expect(c.add(ids[0] as Uint8Array)).toBe(false);
    expect(b.root()).toEqual(a.root());
    expect(c.root()).toEqual(a.root());
    expect(c.size).toBe(3000);
    const d = new ShardTree(ids.slice(1));
    expect(d.root()).not.toEqual(a.root());
  });

  test("bad prefixes and ids are refused", () => {
    const tree = new ShardTree();
    expect(() => tree.summary("G")).toThrow(RangeError);
    expect(() => tree.summary("A")).toThrow(RangeError);
    expect(() => tree.children("0".repeat(64))).toThrow(RangeError);
    expect(() => tree.add(new Uint8Array(31))).toThrow(RangeError);
    expect(() => answerMerkle(tree, { summaries: ["x"], children: [], ids: [] })).toThrow(RangeError);
  });
});

describe("the diff", () => {
  test("equal trees: one round, one summary, nothing to fetch", () => {
    const r = seededRandom(4);
    const ids = randomIds(10_000, r);
    const diff = diffTrees(new ShardTree(ids), new ShardTree([...ids].reverse()));
    expect(diff.cost).toEqual({ rounds: 1, summaries: 1, ids: 0 });
    expect(diff.localLacks).toEqual([]);
    expect(diff.remoteLacks).toEqual([]);
  });

  test("random sets with random differences: exactly the symmetric difference, both ways, within O(k log n)", () => {
    const r = seededRandom(5);
    for (let trial = 0; trial < 60; trial++) {
      const common = randomIds([0, 1, 15, 17, 100, 1000, 5000, 20_000][trial % 8] as number, r);
      const onlyLocal = randomIds(r.int(trial % 3 === 0 ? 3 : 40), r);
      const onlyRemote = randomIds(r.int(trial % 4 === 0 ? 2 : 40), r);
      const local = new ShardTree([...common, ...onlyLocal]);
      const remote = new ShardTree([...common, ...onlyRemote]);
      const diff = diffTrees(local, remote);
      expect(hexes(diff.localLacks)).toEqual(hexes(onlyRemote));
      expect(hexes(diff.remoteLacks)).toEqual(hexes(onlyLocal));
      const k = onlyLocal.length + onlyRemote.length;
      const n = Math.max(local.size, remote.size, 1);
      const depth = Math.max(1, Math.ceil(Math.log(n / bucketIdsMax) / Math.log(16)) + 1);
      if (k === 0) {
        expect(diff.cost.rounds).toBe(1);
        continue;
      }
      expect(diff.cost.rounds).toBeLessThanOrEqual(depth + 2);
      expect(diff.cost.summaries).toBeLessThanOrEqual(1 + 16 * k * (depth + 1));
      expect(diff.cost.ids).toBeLessThanOrEqual((bucketIdsMax + 1) * k);
    }
  });

  test("one id missing among 100,000: a handful of rounds and a few hundred summaries, not 100,000 ids", () => {
    const r = seededRandom(6);
    const ids = randomIds(100_000, r);
    const diff = diffTrees(new ShardTree(ids.slice(1)), new ShardTree(ids));
    expect(hexes(diff.localLacks)).toEqual(hexes([ids[0] as Uint8Array]));
    expect(diff.remoteLacks).toEqual([]);
    // Levels over a bucket: 100,000 → ~6,250 → ~390 → ~24 ids; the fifth holds buckets.
    expect(diff.cost.rounds).toBeLessThanOrEqual(6);
    expect(diff.cost.summaries).toBeLessThanOrEqual(16 * 4 + 1);
    expect(diff.cost.ids).toBeLessThanOrEqual(bucketIdsMax + 1);
  });

  test("a peer that holds nothing costs one round; the initiator holding nothing fetches every id", () => {
    const r = seededRandom(7);
    const ids = randomIds(500, r);
    const toEmpty = diffTrees(new ShardTree(ids), new ShardTree());
    expect(toEmpty.cost.rounds).toBe(1);
    expect(hexes(toEmpty.remoteLacks)).toEqual(hexes(ids));
    const fromEmpty = diffTrees(new ShardTree(), new ShardTree(ids));
    expect(hexes(fromEmpty.localLacks)).toEqual(hexes(ids));
    expect(fromEmpty.cost.rounds).toBe(2);
  });

  test("a response that does not match its request is refused", () => {
    const diff = new MerkleDiff(new ShardTree());
    expect(() => diff.receive({ summaries: [], children: [], ids: [] })).toThrow(/does not match/);
  });
});
