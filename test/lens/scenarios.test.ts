/** The hand-built scenarios of issue 3, one lens at a time. */
import { describe, expect, test } from "bun:test";
import { StemeError } from "../../src/core/errors.ts";
import { authority } from "../../src/lens/authority.ts";
import { consensus } from "../../src/lens/consensus.ts";
import { lenses, resolveLens } from "../../src/lens/index.ts";
import { layered } from "../../src/lens/layered.ts";
import { recency } from "../../src/lens/recency.ts";
import { skeptic } from "../../src/lens/skeptic.ts";
import { trust } from "../../src/lens/trust.ts";
import { vote } from "../../src/lens/vote.ts";
import { cand, T0 } from "./fixtures.ts";

/** Regulator 0.2 % (tier 1, one agent) vs anecdotes 12 % (tier 5, three agents at 0.6). */
function regulatorVsAnecdotes() {
  const regulator = cand({ agent: "f1", ts: T0, object: 0.2, confidence: 0.95, tier: 1, source: "FDA-label" });
  const anecdotes = ["e1", "e2", "e3"].map((agent, i) =>
    cand({ agent, ts: T0 + 1000 * (i + 1), object: 12, confidence: 0.6, tier: 5, source: "forum" }),
  );
  return { regulator, anecdotes, all: [regulator, ...anecdotes] };
}

describe("regulator vs anecdotes", () => {
  const { regulator, anecdotes, all } = regulatorVsAnecdotes();

  test("authority picks the tier-1 regulator and says why", () => {
    const r = authority.resolve(all, {});
    expect(r.winner).toBe(regulator);
    expect(r.value).toBe(0.2);
    // weights: 0.95 × 6 = 5.7 vs 3 × 0.6 × 2 = 3.6
    expect(r.groups.map((g) => [g.value, g.count])).toEqual([
      [0.2, 1],
      [12, 3],
    ]);
    expect(r.groups[0]!.weight).toBeCloseTo(5.7, 12);
    expect(r.groups[1]!.weight).toBeCloseTo(3.6, 12);
    expect(r.support).toBeCloseTo(5.7 / 9.3, 12);
    expect(r.conflict).toBeCloseTo(2 * (1 - 5.7 / 9.3), 12);
    expect(r.conflict).toBeGreaterThan(0.5);
    expect(r.explain).toContain("FDA-label (tier 1) outranks 3 candidates (tier 5)");
    const forged = authority.resolve(
      [
        ...anecdotes,
        cand({
          agent: "x1",
          ts: T0 + 9,
          object: 12,
          confidence: 1,
          tier: 4,
          source: "label",
          tierNote: "source 'label': tier 1 claimed by ab12cd34…, not confirmed: counted as tier 4",
        }),
      ],
      {},
    );
    expect(forged.explain).toContain("source 'label': tier 1 claimed by ab12cd34…, not confirmed: counted as tier 4");
    expect(r.explain).toContain("4 candidates from 4 agents");
  });

  test("consensus picks the anecdotes' 12 (latest of the group stands for it)", () => {
    const r = consensus.resolve(all, {});
    expect(r.value).toBe(12);
    expect(r.winner).toBe(anecdotes[2]!);
    expect(r.groups[0]!.weight).toBeCloseTo(1.8, 12);
    expect(r.groups[1]!.weight).toBeCloseTo(0.95, 12);
    expect(r.support).toBeCloseTo(1.8 / 2.75, 12);
    expect(r.conflict).toBeCloseTo(2 * (1 - 1.8 / 2.75), 12);
    expect(r.conflict).toBeGreaterThan(0.5);
    expect(r.explain.at(-1)).toBe(`κ = ${r.conflict.toFixed(2)}: contested`);
  });

  test("skeptic keeps consensus's answer, says contested, and names the dissent", () => {
    const r = skeptic.resolve(all, {});
    const c = consensus.resolve(all, {});
    expect(r.winner).toBe(c.winner);
    expect(r.conflict).toBe(c.conflict);
    expect(r.verdict).toBe("contested");
    expect(r.dissent!.groups).toEqual([{ value: 0.2, weight: 0.95, count: 1, ids: [regulator.id] }]);
    // Weighted median 12 with MAD 0: the regulator's 0.2 is the numeric outlier.
    expect(r.dissent!.median).toBe(12);
    expect(r.dissent!.mad).toBe(0);
    expect(r.dissent!.outliers).toEqual([{ id: regulator.id, agent: regulator.agent, value: 0.2, distanceMads: null }]);
    expect(r.explain.some((l) => l.startsWith("verdict: contested"))).toBe(true);
  });
});

describe("one agent, one voice", () => {
  test("an agent's newer claim replaces its older one in consensus", () => {
    const oldA = cand({ agent: "a1", ts: T0, object: "red", confidence: 0.9 });
    const b = cand({ agent: "b1", ts: T0 + 1, object: "red", confidence: 0.5 });
    const c = cand({ agent: "c1", ts: T0 + 2, object: "blue", confidence: 0.8 });
    expect(consensus.resolve([oldA, b, c], {}).value).toBe("red"); // 1.4 vs 0.8
    const newA = cand({ agent: "a1", ts: T0 + 3, object: "blue", confidence: 0.9 });
    const r = consensus.resolve([oldA, b, c, newA], {});
    expect(r.value).toBe("blue"); // 1.7 vs 0.5: a1's old "red" no longer counts
    expect(r.winner).toBe(newA);
    expect(r.candidates).toBe(3);
    expect(r.groups.flatMap((g) => g.ids)).not.toContain(oldA.id);
    expect(r.explain[0]).toBe("4 claims from 3 agents; one agent, one voice sets aside 1 older claim");
  });

  test("at equal ts the larger id is the later claim", () => {
    const lo = cand({ agent: "a1", id: "01".repeat(32), ts: T0, object: "x" });
    const hi = cand({ agent: "a1", id: "02".repeat(32), ts: T0, object: "y" });
    expect(consensus.resolve([hi, lo], {}).winner).toBe(hi);
    expect(consensus.resolve([lo, hi], {}).winner).toBe(hi);
  });
});

describe("numeric tolerance", () => {
  const a = cand({ agent: "a1", ts: T0, object: 0.2, confidence: 0.5 });
  const b = cand({ agent: "b1", ts: T0 + 1, object: 0.201, confidence: 0.5 });
  const c = cand({ agent: "c1", ts: T0 + 2, object: 0.3, confidence: 0.6 });

  test("0.20 and 0.201 agree at tolerance 0.01", () => {
    const r = consensus.resolve([a, b, c], { tolerance: 0.01 });
    expect(r.groups.map((g) => g.ids)).toEqual([[a.id, b.id], [c.id]]);
    expect(r.groups[0]!.value).toBe(0.2); // the anchor: the earliest member
    expect(r.value).toBe(0.201); // the group's latest member stands for it
    expect(r.explain).toContain("numbers within 1% of each other agree");
    expect(r.explain).toContain("the answer is the winning claim's own value, 0.201, within tolerance of 0.2");
  });

  test("but not at tolerance 0.001, nor without one", () => {
    for (const params of [{ tolerance: 0.001 }, {}]) {
      const r = consensus.resolve([a, b, c], params);
      expect(r.groups).toHaveLength(3);
      expect(r.value).toBe(0.3);
    }
  });
});

describe("conflict", () => {
  test("two equal camps score κ = 1 (and support ½)", () => {
    const set = [
      cand({ agent: "a1", ts: T0, object: true, confidence: 0.5 }),
      cand({ agent: "b1", ts: T0 + 1, object: false, confidence: 0.5 }),
    ];
    const r = consensus.resolve(set, {});
    expect(r.conflict).toBe(1);
    expect(r.support).toBe(0.5);
    expect(r.value).toBe(false); // the tie goes to the group holding the latest candidate
    expect(r.explain).toContain("2 values tie on Σ confidence 0.5; false holds the latest candidate");
  });

  test("unanimity scores κ = 0", () => {
    const set = ["a1", "b1", "c1"].map((agent, i) => cand({ agent, ts: T0 + i, object: "same" }));
    expect(consensus.resolve(set, {}).conflict).toBe(0);
    expect(skeptic.resolve(set, {}).verdict).toBe("settled");
  });

  test("a mild minority is disputed", () => {
    // weights 0.9+0.9 vs 0.4: κ = 2 × (1 − 1.8/2.2) ≈ 0.364
    const set = [
      cand({ agent: "a1", ts: T0, object: 1, confidence: 0.9 }),
      cand({ agent: "b1", ts: T0 + 1, object: 1, confidence: 0.9 }),
      cand({ agent: "c1", ts: T0 + 2, object: 2, confidence: 0.4 }),
    ];
    const r = skeptic.resolve(set, {});
    expect(r.conflict).toBeCloseTo(2 * (1 - 1.8 / 2.2), 12);
    expect(r.verdict).toBe("disputed");
  });
});

describe("recency", () => {
  test("the latest candidate wins even against a heavier group", () => {
    const set = [
      cand({ agent: "a1", ts: T0, object: 1, confidence: 1 }),
      cand({ agent: "b1", ts: T0 + 1, object: 1, confidence: 1 }),
      cand({ agent: "c1", ts: T0 + 2, object: 2, confidence: 0.1 }),
    ];
    const r = recency.resolve(set, {});
    expect(r.value).toBe(2);
    expect(r.support).toBeCloseTo(0.1 / 2.1, 12);
  });
});

describe("vote", () => {
  test("net votes scale weights by (1 + net), floored at 0", () => {
    const a = cand({ agent: "a1", ts: T0, object: "A", confidence: 0.5, netVotes: 3 }); // 0.5 × 4 = 2
    const b = cand({ agent: "b1", ts: T0 + 1, object: "B", confidence: 0.5 }); // 0.5
    const c = cand({ agent: "c1", ts: T0 + 2, object: "B", confidence: 0.9, netVotes: 0.5 }); // 1.35
    const d = cand({ agent: "d1", ts: T0 + 3, object: "C", confidence: 1, netVotes: -4 }); // floored to 0
    const r = vote.resolve([a, b, c, d], {});
    expect(r.value).toBe("A");
    expect(r.groups.map((g) => g.value)).toEqual(["A", "B", "C"]);
    expect(r.groups[0]!.weight).toBeCloseTo(2, 12);
    expect(r.groups[1]!.weight).toBeCloseTo(1.85, 12);
    expect(r.groups[2]!.weight).toBe(0);
    expect(r.support).toBeCloseTo(2 / 3.85, 12);
    // Without votes, consensus would pick B (1.4 vs 0.5 vs 1).
    expect(consensus.resolve([a, b, c, d], {}).value).toBe("B");
  });
});

describe("trust", () => {
  test("a high-τ minority beats a zero-τ majority", () => {
    const expert = cand({ agent: "a1", ts: T0, object: "true", confidence: 0.6, trust: 0.9 });
    const crowd = ["s1", "s2", "s3", "s4", "s5"].map((agent, i) =>
      cand({ agent, ts: T0 + i + 1, object: "false", confidence: 1, trust: 0 }),
    );
    const r = trust.resolve([expert, ...crowd], {});
    expect(r.winner).toBe(expert);
    expect(r.support).toBe(1);
    expect(r.groups[0]!.weight).toBeCloseTo(0.54, 12);
    expect(r.groups[1]!.weight).toBe(0);
    expect(consensus.resolve([expert, ...crowd], {}).value).toBe("false");
  });

  test("strangers weigh nothing against earned trust: 500 of them lose to one barely-trusted author", () => {
    const honest = cand({ agent: "h1", ts: T0, object: "true", confidence: 0.6, trust: 0.0199, earned: 0.01 });
    const ring = Array.from({ length: 500 }, (_, i) =>
      cand({ agent: `s${i}`, ts: T0 + i + 1, object: "false", confidence: 1, trust: 0.01, earned: 0 }),
    );
    const r = trust.resolve([honest, ...ring], {});
    expect(r.value).toBe("true");
    expect(r.explain).toContain('"true" has the largest Σ confidence × earned τ: 0.006 of 0.006');
    // Weighed by τ itself, the floor would add up: 500 × 0.01 = 5 against 0.012.
    expect(trust.resolve([{ ...honest, earned: undefined }, ...ring.map((c) => ({ ...c, earned: undefined }))], {}).value).toBe(
      "false",
    );
  });

  test("when no author earned trust, the floor τ weighs them alike", () => {
    const set = [
      cand({ agent: "a1", ts: T0, object: 1, confidence: 0.9, trust: 0.01, earned: 0 }),
      cand({ agent: "b1", ts: T0 + 1, object: 2, confidence: 0.5, trust: 0.01, earned: 0 }),
    ];
    const r = trust.resolve(set, {});
    expect(r.value).toBe(1);
    expect(r.explain).toContain("1 has the largest Σ confidence × τ (no author has earned trust): 0.009 of 0.014");
  });

  test("when no one has trust, the latest group wins and support counts heads", () => {
    const set = [
      cand({ agent: "a1", ts: T0, object: 1 }),
      cand({ agent: "b1", ts: T0 + 1, object: 1 }),
      cand({ agent: "c1", ts: T0 + 2, object: 2 }),
    ];
    const r = trust.resolve(set, {});
    expect(r.value).toBe(2);
    expect(r.conflict).toBe(0);
    expect(r.support).toBeCloseTo(1 / 3, 12);
  });
});

describe("layered", () => {
  // Two tier-1 statements (an older, more confident one and a newer label update), and a
  // later tier-5 report that agrees with the newer label.
  const oldLabel = cand({ agent: "f1", ts: T0, object: 0.2, confidence: 0.95, tier: 1, source: "FDA-2019" });
  const newLabel = cand({ agent: "f2", ts: T0 + 10, object: 0.3, confidence: 0.9, tier: 1, source: "FDA-2024" });
  const report = cand({ agent: "r1", ts: T0 + 20, object: 0.3, confidence: 0.6, tier: 5 });
  const all = [oldLabel, newLabel, report];

  test("authority,recency picks the latest among the best tier", () => {
    const r = layered.resolve(all, {});
    expect(r.winner).toBe(newLabel);
    expect(r.params.layers).toEqual(["authority", "recency"]);
    // Neither single lens gives this answer.
    expect(authority.resolve(all, {}).winner).toBe(oldLabel);
    expect(recency.resolve(all, {}).winner).toBe(report);
    expect(r.explain).toContain("authority keeps 2 candidates of 3: tier 1");
  });

  test("κ, groups and support come from the first layer", () => {
    const r = layered.resolve(all, {});
    const first = authority.resolve(all, {});
    expect(r.groups).toEqual(first.groups);
    expect(r.conflict).toBe(first.conflict);
    // 0.3 group: 0.9 × 6 + 0.6 × 2 = 6.6 of 6.6 + 5.7
    expect(r.support).toBeCloseTo(6.6 / 12.3, 12);
  });

  test("layer order matters: recency,authority picks the latest candidate", () => {
    expect(layered.resolve(all, { layers: ["recency", "authority"] }).winner).toBe(report);
  });

  test("consensus as a layer narrows to its winning value group", () => {
    const r = layered.resolve(all, { layers: ["consensus", "authority"] });
    expect(r.winner).toBe(newLabel); // 0.3 group (1.5) beats 0.2 (0.95); best tier in it
  });

  test("bad layers are 400s", () => {
    expect(() => layered.resolve(all, { layers: ["nope"] })).toThrow(expect.objectContaining({ code: "unknown_lens" }));
    expect(() => layered.resolve(all, { layers: ["layered"] })).toThrow(expect.objectContaining({ code: "unknown_lens" }));
    expect(() => layered.resolve(all, { layers: [] })).toThrow(expect.objectContaining({ code: "invalid_query", status: 400 }));
  });
});

describe("resolveLens", () => {
  test("resolves by name", () => {
    const { all } = regulatorVsAnecdotes();
    for (const name of Object.keys(lenses)) expect(resolveLens(name, all, {})).toEqual(lenses[name]!.resolve(all, {}));
  });

  test("an unknown lens is a 400 unknown_lens StemeError", () => {
    for (const name of ["nope", "toString", "__proto__", ""]) {
      let caught: unknown;
      try {
        resolveLens(name, [], {});
      } catch (e) {
        caught = e;
      }
      expect(caught).toBeInstanceOf(StemeError);
      expect((caught as StemeError).code).toBe("unknown_lens");
      expect((caught as StemeError).status).toBe(400);
    }
  });
});

describe("explain", () => {
  test("says when a lens has no weight to measure κ by", () => {
    const set = [cand({ agent: "a1", ts: T0, object: 1 }), cand({ agent: "b1", ts: T0 + 1, object: 2 })];
    expect(trust.resolve(set, {}).explain.at(-1)).toBe("κ = 0: no weight to measure disagreement by");
    expect(consensus.resolve(set, {}).explain.at(-1)).toBe("κ = 1.00: contested");
  });
});
