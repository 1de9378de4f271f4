/** One suite every lens passes (STYLE.md: one shared suite per interface). */
import { describe, expect, test } from "bun:test";
import { lenses } from "../../src/lens/index.ts";
import type { Candidate, LensParams } from "../../src/lens/types.ts";
import { prng } from "../support/prng.ts";
import { cand, shuffle, T0 } from "./fixtures.ts";

/** 9 claims from 7 agents: two agents restate, values split three ways, tiers, votes and trust vary. */
function mixedSet(): Candidate[] {
  return [
    cand({ agent: "a1", ts: T0 + 1, object: 0.2, confidence: 0.95, tier: 1, source: "FDA-label", trust: 0.9, netVotes: 2 }),
    cand({ agent: "a2", ts: T0 + 2, object: 12, confidence: 0.6, tier: 5, trust: 0.1, netVotes: -0.5 }),
    cand({ agent: "a3", ts: T0 + 3, object: 12, confidence: 0.6, tier: 5, trust: 0.1 }),
    cand({ agent: "a4", ts: T0 + 3, object: 12.05, confidence: 0.7, tier: 4, trust: 0.3, netVotes: 1 }),
    cand({ agent: "a5", ts: T0 + 5, object: "unknown", confidence: 0.3, tier: 6 }),
    cand({ agent: "a6", ts: T0 + 5, object: 0.201, confidence: 0.8, tier: 2, trust: 0.7 }),
    cand({ agent: "a7", ts: T0 + 7, object: { value: 0.2, unit: "%" }, confidence: 0.5, tier: 3, trust: 0.5 }),
    // Older claims the same agents later replaced: one agent, one voice drops them.
    cand({ agent: "a2", ts: T0, object: 99, confidence: 1, tier: 1 }),
    cand({ agent: "a5", ts: T0 + 4, object: 99, confidence: 1, tier: 1 }),
  ];
}

const paramSets: LensParams[] = [{}, { tolerance: 0.01 }];

for (const [name, lens] of Object.entries(lenses)) {
  describe(`lens conformance: ${name}`, () => {
    test("reports its own name", () => {
      expect(lens.name).toBe(name);
      expect(lens.resolve([], {}).lens).toBe(name);
    });

    test("empty input: no winner, κ 0, no groups", () => {
      const r = lens.resolve([], {});
      expect(r.winner).toBeNull();
      expect(r.value).toBeNull();
      expect(r.conflict).toBe(0);
      expect(r.support).toBe(0);
      expect(r.groups).toEqual([]);
      expect(r.candidates).toBe(0);
      expect(r.explain.length).toBeGreaterThan(0);
    });

    test("a single candidate wins with support 1 and κ 0", () => {
      const only = cand({ agent: "b1", object: 42, confidence: 0.7, tier: 3 });
      const r = lens.resolve([only], {});
      expect(r.winner).toBe(only);
      expect(r.value).toBe(42);
      expect(r.support).toBe(1);
      expect(r.conflict).toBe(0);
      expect(r.groups).toHaveLength(1);
      expect(r.groups[0]!.ids).toEqual([only.id]);
      expect(r.candidates).toBe(1);
    });

    for (const params of paramSets) {
      test(`the same candidates in 50 orders give identical results ${JSON.stringify(params)}`, () => {
        const set = mixedSet();
        const reference = lens.resolve(set, params);
        const random = prng(0x5eed + set.length);
        for (let i = 0; i < 50; i++) expect(lens.resolve(shuffle(set, random), params)).toEqual(reference);
      });

      test(`bounds and bookkeeping hold ${JSON.stringify(params)}`, () => {
        const set = mixedSet();
        const r = lens.resolve(set, params);
        expect(r.support).toBeGreaterThanOrEqual(0);
        expect(r.support).toBeLessThanOrEqual(1);
        expect(r.conflict).toBeGreaterThanOrEqual(0);
        expect(r.conflict).toBeLessThanOrEqual(1);
        expect(r.candidates).toBe(7); // 9 claims, 7 agents
        expect(r.groups.reduce((s, g) => s + g.count, 0)).toBe(7);
        const ids = r.groups.flatMap((g) => g.ids);
        expect(new Set(ids).size).toBe(7);
        for (const g of r.groups) expect(g.ids).toHaveLength(g.count);
        // The replaced claims (object 99) never count.
        expect(r.groups.some((g) => g.value === 99)).toBe(false);
        expect(r.winner).not.toBeNull();
        expect(ids).toContain(r.winner!.id);
        expect(r.value).toEqual(r.winner!.object);
        expect(r.explain.length).toBeGreaterThan(0);
        for (const line of r.explain) expect(line.length).toBeGreaterThan(0);
        expect(r.params).toMatchObject(params);
        // Groups come heaviest first.
        for (let i = 1; i < r.groups.length; i++) expect(r.groups[i - 1]!.weight).toBeGreaterThanOrEqual(r.groups[i]!.weight);
      });
    }

    test("a bad tolerance is a 400 invalid_query", () => {
      for (const tolerance of [-0.1, 2, Number.NaN, Number.POSITIVE_INFINITY]) {
        expect(() => lens.resolve([cand({ agent: "b1" })], { tolerance })).toThrow(
          expect.objectContaining({ code: "invalid_query", status: 400 }),
        );
      }
    });
  });
}
