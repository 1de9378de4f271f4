/** The injected world: the fake clock's ordering and the seeded random's determinism. */
import { describe, expect, test } from "bun:test";
import { pickRandom, shuffle } from "../../src/cluster/env.ts";
import { FakeClock } from "../../src/cluster/fake-clock.ts";
import { seededRandom } from "../../src/cluster/random.ts";

describe("FakeClock", () => {
  test("fires timers in due order, and equal due times in the order they were set", () => {
    const clock = new FakeClock();
    const fired: string[] = [];
    clock.setTimeout(() => fired.push("b@20"), 20);
    clock.setTimeout(() => fired.push("a@10"), 10);
    clock.setTimeout(() => fired.push("c@20"), 20);
    clock.setTimeout(() => fired.push("d@30"), 30);
    clock.advance(20);
    expect(fired).toEqual(["a@10", "b@20", "c@20"]);
    expect(clock.now()).toBe(20);
    clock.advance(100);
    expect(fired).toEqual(["a@10", "b@20", "c@20", "d@30"]);
    expect(clock.now()).toBe(120);
  });

  test("a callback sees its own due time, and timers it sets inside the window fire in the same advance", () => {
    const clock = new FakeClock();
    const seen: number[] = [];
    clock.setTimeout(() => {
      seen.push(clock.now());
      clock.setTimeout(() => seen.push(clock.now()), 5);
      clock.setTimeout(() => seen.push(clock.now()), 500);
    }, 7);
    clock.advance(100);
    expect(seen).toEqual([7, 12]);
    clock.advance(1000);
    expect(seen).toEqual([7, 12, 507]);
  });

  test("a cancelled timer never fires; runUntil reports the time taken or null", () => {
    const clock = new FakeClock();
    let fired = false;
    const t = clock.setTimeout(() => {
      fired = true;
    }, 10);
    t.cancel();
    clock.advance(50);
    expect(fired).toBe(false);
    let flag = false;
    clock.setTimeout(() => {
      flag = true;
    }, 35);
    expect(clock.runUntil(() => flag, 1000, 10)).toBe(40);
    expect(clock.runUntil(() => false, 100, 10)).toBeNull();
    expect(() => clock.advance(-1)).toThrow(RangeError);
  });

  test("many timers in random order come out sorted (the heap)", () => {
    const clock = new FakeClock();
    const random = seededRandom(9);
    const out: number[] = [];
    for (let i = 0; i < 2000; i++) {
      const due = random.int(1000);
      clock.setTimeout(() => out.push(due), due);
    }
    clock.advance(1000);
    expect(out).toHaveLength(2000);
    expect(out).toEqual([...out].sort((a, b) => a - b));
  });
});

describe("seededRandom", () => {
  test("the same seed gives the same stream; other seeds and forks give other streams", () => {
    const a = seededRandom(42);
    const b = seededRandom(42);
    const xs = Array.from({ length: 20 }, () => a.float());
    expect(Array.from({ length: 20 }, () => b.float())).toEqual(xs);
    const c = seededRandom(43);
    expect(Array.from({ length: 20 }, () => c.float())).not.toEqual(xs);
    const f1 = seededRandom(42).fork("node 1");
    const f2 = seededRandom(42).fork("node 2");
    expect(f1.bytes(16)).not.toEqual(f2.bytes(16));
    expect(seededRandom(42).fork("node 1").bytes(16)).toEqual(seededRandom(42).fork("node 1").bytes(16));
  });

  test("floats are in [0, 1) and roughly uniform; ints stay in range", () => {
    const r = seededRandom(7);
    const buckets = new Array(10).fill(0);
    for (let i = 0; i < 100_000; i++) {
      const x = r.float();
      expect(x >= 0 && x < 1).toBe(true);
      buckets[Math.floor(x * 10)]++;
    }
    for (const b of buckets) expect(Math.abs(b - 10_000)).toBeLessThan(500);
    for (let i = 0; i < 1000; i++) {
      const n = r.int(7);
      expect(Number.isInteger(n) && n >= 0 && n < 7).toBe(true);
    }
  });

  test("shuffle is a permutation; pickRandom takes distinct items that pass the filter", () => {
    const r = seededRandom(3);
    const items = Array.from({ length: 50 }, (_, i) => i);
    expect([...shuffle([...items], r)].sort((a, b) => a - b)).toEqual(items);
    const picked = pickRandom(items, 5, r, (x) => x % 2 === 0);
    expect(new Set(picked).size).toBe(5);
    for (const x of picked) expect(x % 2).toBe(0);
    expect(pickRandom(items, 5, r, () => false)).toEqual([]);
  });
});
