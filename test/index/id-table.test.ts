import { describe, expect, test } from "bun:test";
import { checkArrays, IdTable } from "../../src/index/id-table.ts";

function id(seed: number): Uint8Array {
  const b = new Uint8Array(32);
  let x = seed * 2654435761 + 1;
  for (let i = 0; i < 32; i++) {
    x = (Math.imul(x ^ (x >>> 15), 0x2c1b3c6d) + i) >>> 0;
    b[i] = x & 0xff;
  }
  return b;
}

/** An id whose first 4 bytes are `tag` (big-endian) and the rest from `seed`. */
function tagged(tag: number, seed: number): Uint8Array {
  const b = id(seed);
  new DataView(b.buffer).setUint32(0, tag >>> 0);
  return b;
}

const sorted = (xs: number[]) => [...xs].sort((a, b) => a - b);

/** A tiny deterministic generator (xorshift32), so a failing case can be replayed. */
function rng(seed: number) {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x;
  };
}

describe("IdTable", () => {
  test("finds every id it holds across many growths, and nothing it does not", () => {
    const table = new IdTable(16);
    const n = 200_000;
    for (let i = 1; i <= n; i++) table.add(id(i), i);
    expect(table.size).toBe(n);
    for (let i = 1; i <= n; i += 7) expect(table.candidates(id(i))).toEqual([i]);
    for (let i = n + 1; i <= n + 5000; i++) expect(table.candidates(id(i))).toEqual([]);
    expect(checkArrays(table.arrays())).toBeNull();
  });

  test("the prefix is exactly the first 4 bytes: ids sharing them are all candidates, one differing inside them is not", () => {
    const table = new IdTable();
    const a = id(1);
    const atByte4 = new Uint8Array(a);
    atByte4[4] = (atByte4[4] as number) ^ 1;
    const atByte31 = new Uint8Array(a);
    atByte31[31] = (atByte31[31] as number) ^ 0x80;
    table.add(a, 5);
    table.add(atByte4, 9);
    table.add(atByte31, 12);
    expect(sorted(table.candidates(a))).toEqual([5, 9, 12]);
    expect(sorted(table.candidates(atByte4))).toEqual([5, 9, 12]);
    for (const byte of [0, 1, 2, 3]) {
      const d = new Uint8Array(a);
      d[byte] = (d[byte] as number) ^ 1;
      expect(table.candidates(d)).toEqual([]);
    }
  });

  test("colliding tags, tags at both ends of the range and runs longer than the tail", () => {
    const table = new IdTable();
    // 1,000 entries whose home is the last slot: the run must pass the initial tail (256 slots).
    for (let i = 1; i <= 1000; i++) table.add(tagged(0xffffffff, i), i);
    for (let i = 1001; i <= 1300; i++) table.add(tagged(0, i), i);
    for (let i = 1301; i <= 1400; i++) table.add(tagged(0x80000000, i), i);
    expect(table.size).toBe(1400);
    expect(sorted(table.candidates(tagged(0xffffffff, 0)))).toEqual(Array.from({ length: 1000 }, (_, i) => i + 1));
    expect(table.candidates(tagged(0, 0)).length).toBe(300);
    expect(table.candidates(tagged(0x80000000, 0)).length).toBe(100);
    expect(table.candidates(tagged(0xfffffffe, 0))).toEqual([]);
    expect(table.candidates(tagged(1, 0))).toEqual([]);
    expect(checkArrays(table.arrays())).toBeNull();
  });

  test("dropAfter forgets entries past an LSN and keeps the rest findable", () => {
    const table = new IdTable();
    for (let i = 1; i <= 1000; i++) table.add(id(i), i);
    table.dropAfter(600);
    expect(table.size).toBe(600);
    expect(table.candidates(id(600))).toEqual([600]);
    expect(table.candidates(id(601))).toEqual([]);
    table.add(id(601), 601);
    expect(table.candidates(id(601))).toEqual([601]);
    table.dropAfter(0);
    expect(table.size).toBe(0);
    expect(table.candidates(id(1))).toEqual([]);
  });

  test("LSNs are 40 bits: 0 is refused (it marks empty slots), 2^32 and 2^40 - 1 come back exactly", () => {
    expect(() => new IdTable().add(id(1), 0)).toThrow(/invariant/);
    expect(() => new IdTable().add(id(1), 2 ** 40)).toThrow(/invariant/);
    expect(() => new IdTable().add(id(1), 1.5)).toThrow(/invariant/);
    const table = new IdTable();
    table.add(id(1), 2 ** 32);
    table.add(id(2), 2 ** 40 - 1);
    table.add(id(3), 2 ** 32 - 1);
    expect(table.candidates(id(1))).toEqual([2 ** 32]);
    expect(table.candidates(id(2))).toEqual([2 ** 40 - 1]);
    expect(table.candidates(id(3))).toEqual([2 ** 32 - 1]);
  });

  test("about 9 bytes a slot: 1M records built for fit in 12.1 MB", () => {
    const table = new IdTable(1_000_000);
    expect(table.bytes).toBeLessThan(12.1e6);
    for (let i = 1; i <= 1_000_000; i++) table.add(id(i), i);
    expect(table.bytes).toBeLessThan(12.1e6); // no growth below the build's load factor
  });

  test("against a Map, random adds, lookups and drops over few tags (long runs) and many", () => {
    for (const [seed, tagBits] of [
      [1, 32],
      [2, 12],
      [3, 6],
    ] as const) {
      const next = rng(seed);
      const table = new IdTable();
      const model = new Map<number, number[]>(); // tag → LSNs
      const tagOf = () => (tagBits === 32 ? next() : (next() >>> (32 - tagBits)) * (2 ** (32 - tagBits) - 1));
      let lsn = 0;
      for (let step = 0; step < 30_000; step++) {
        const op = next() % 100;
        if (op < 70) {
          const tag = tagOf() >>> 0;
          lsn++;
          table.add(tagged(tag, lsn), lsn);
          model.set(tag, [...(model.get(tag) ?? []), lsn]);
        } else if (op < 99) {
          const tag = (next() % 2 === 0 && model.size > 0 ? [...model.keys()][next() % model.size] : tagOf() >>> 0) as number;
          expect(sorted(table.candidates(tagged(tag, 0)))).toEqual(model.get(tag) ?? []);
        } else {
          lsn = Math.floor(lsn * 0.9);
          table.dropAfter(lsn);
          for (const [tag, lsns] of model) {
            const kept = lsns.filter((v) => v <= lsn);
            if (kept.length === 0) model.delete(tag);
            else model.set(tag, kept);
          }
        }
      }
      let total = 0;
      for (const [tag, lsns] of model) {
        total += lsns.length;
        expect(sorted(table.candidates(tagged(tag, 0)))).toEqual(lsns);
      }
      expect(table.size).toBe(total);
      expect(checkArrays(table.arrays())).toBeNull();
    }
  });

  test("checkArrays finds an entry out of its run, a broken order and a wrong count", () => {
    const fresh = () => {
      const t = new IdTable();
      for (let i = 1; i <= 3000; i++) t.add(id(i), i);
      return t.arrays();
    };
    const a = fresh();
    expect(checkArrays(a)).toBeNull();
    expect(checkArrays({ ...a, size: a.size + 1 })).toMatch(/entries/);
    // An occupied slot whose tag's home is after it.
    const b = fresh();
    const first = b.lsnLo.findIndex((v) => v !== 0);
    b.tags[first] = 0xffffffff;
    expect(checkArrays(b)).toMatch(/home/);
    // Two neighbours swapped: the run is no longer sorted.
    const c = fresh();
    let i = 0;
    while (!(c.lsnLo[i] !== 0 && c.lsnLo[i + 1] !== 0 && (c.tags[i] as number) < (c.tags[i + 1] as number))) i++;
    [c.tags[i], c.tags[i + 1]] = [c.tags[i + 1] as number, c.tags[i] as number];
    expect(checkArrays(c)).not.toBeNull();
  });
});
