/**
 * The demo's generator: deterministic from its seed, self-consistent (every cited source
 * registered, every depends_on pointing back, nothing in the future), and the fixed scenario
 * shaped as the moments need it whatever the seed.
 */
import { describe, expect, test } from "bun:test";
import { toHex } from "../../src/client/index.ts";
import type { Assertion, Source } from "../../src/core/record.ts";
import { verifyId } from "../../src/crypto/verify.ts";
import { demoDrugs, demoPrefix, generateDataset } from "../../src/demo/dataset.ts";

describe("generateDataset", () => {
  test("the same seed gives byte-identical records; another seed, other keys and another namespace", () => {
    const a = generateDataset(7);
    const b = generateDataset(7);
    const c = generateDataset(8);
    expect(a.records.map((r) => toHex(r.id))).toEqual(b.records.map((r) => toHex(r.id)));
    expect(a.records.map((r) => toHex(r.sig))).toEqual(b.records.map((r) => toHex(r.sig)));
    expect(a.prefix).toBe(demoPrefix(7));
    expect(c.prefix).not.toBe(a.prefix);
    const keysA = new Set(a.agents.map((x) => x.agent));
    expect(c.agents.some((x) => keysA.has(x.agent))).toBe(false);
  });

  for (const seed of [1, 42, 0xdeadbeef]) {
    test(`seed ${seed}: consistent records and the fixed scenario`, () => {
      const d = generateDataset(seed);
      expect(d.records.length).toBeGreaterThan(500);
      expect(d.records.length).toBeLessThan(5000);
      const now = Date.now();
      const seen = new Set<string>();
      const registered = new Set(d.records.filter((r) => r.record.kind === "source").map((r) => (r.record as Source).source_id));
      const tiers = new Set(d.sources.map((s) => s.tier));
      expect([...tiers].sort()).toEqual([1, 2, 3, 4, 5]);
      for (const r of d.records) {
        expect(r.record.ts).toBeLessThan(now);
        expect(r.record.ts).toBeGreaterThanOrEqual(Date.UTC(2021, 0, 1));
        expect(verifyId(r.sig, r.id, r.record.agent)).toBe(true);
        if (r.record.kind === "assertion") {
          const a = r.record as Assertion;
          expect(a.subject.startsWith(`${d.prefix}/drug/`)).toBe(true);
          expect(registered.has(a.source ?? "")).toBe(true);
          for (const dep of a.depends_on ?? []) expect(seen.has(toHex(dep))).toBe(true);
        }
        seen.add(toHex(r.id));
      }
      const subjects = new Set(
        d.records.filter((r) => r.record.kind === "assertion").map((r) => (r.record as Assertion).subject),
      );
      expect(subjects.size).toBe(demoDrugs.length);
      const { mega, contradiction, timeTravel } = d.scenario;
      expect(mega.citing).toHaveLength(24);
      expect(mega.dependants.map((level) => level.length)).toEqual([72, 24, 12, 12]);
      expect(mega.dependants.flat().length).toBeGreaterThanOrEqual(110);
      expect(contradiction.anecdoteClaims).toHaveLength(3);
      const superseding = d.records.find((r) => toHex(r.id) === timeTravel.label2025)?.record as Assertion;
      expect(toHex(superseding.supersedes as Uint8Array)).toBe(timeTravel.label2023);
      expect(new Date(superseding.ts).getUTCFullYear()).toBe(2025);
    });
  }
});
