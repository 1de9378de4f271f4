/** Candidate selection, agreement, grouping and κ. */
import { describe, expect, test } from "bun:test";
import { conflictScore, verdictFor } from "../../src/lens/conflict.ts";
import { agree, byTime, groupCandidates, oneVoicePerAgent } from "../../src/lens/select.ts";
import { numericOutliers, weightedMedian } from "../../src/lens/skeptic.ts";
import { prng } from "../support/prng.ts";
import { cand, shuffle, T0 } from "./fixtures.ts";

describe("agree", () => {
  test("equal canonical bytes agree, whatever the JS shape", () => {
    expect(agree({ a: 1, b: [1, "x"] }, { b: [1, "x"], a: 1 })).toBe(true);
    expect(agree(1, 1.0)).toBe(true);
    expect(agree(0, -0)).toBe(true);
    expect(agree(new Uint8Array([1, 2]), new Uint8Array([1, 2]))).toBe(true);
    expect(agree("1", 1)).toBe(false);
    expect(agree({ a: 1 }, { a: 1, b: null })).toBe(false);
    expect(agree(new Uint8Array([1, 2]), [1, 2])).toBe(false);
  });

  test("numbers agree within a relative tolerance, and only numbers", () => {
    expect(agree(0.2, 0.201, 0.01)).toBe(true);
    expect(agree(0.2, 0.201, 0.001)).toBe(false);
    expect(agree(100, 101, 0.01)).toBe(true); // |1| ≤ 0.01 × 101
    expect(agree(100, 102, 0.01)).toBe(false);
    expect(agree(-5, 5, 0.5)).toBe(false);
    expect(agree(0.2, 0.201)).toBe(false);
    expect(agree("0.2", "0.201", 0.5)).toBe(false);
  });
});

describe("oneVoicePerAgent", () => {
  test("keeps each agent's latest by (ts, id), sorted earliest first", () => {
    const a1 = cand({ agent: "a1", ts: T0 + 5 });
    const a2 = cand({ agent: "a1", ts: T0 + 9 });
    const b1 = cand({ agent: "b1", ts: T0 + 7, id: "ff".repeat(32) });
    const b2 = cand({ agent: "b1", ts: T0 + 7, id: "0f".repeat(32) });
    const c1 = cand({ agent: "c1", ts: T0 });
    const { kept, setAside } = oneVoicePerAgent([a2, b2, c1, a1, b1]);
    expect(kept).toEqual([c1, b1, a2]);
    expect(setAside).toBe(2);
  });

  test("a malformed candidate is a bug and throws loudly", () => {
    expect(() => oneVoicePerAgent([cand({ agent: "a1", confidence: 1.5 })])).toThrow(/invariant violated/);
    expect(() => oneVoicePerAgent([cand({ agent: "a1", tier: 0 })])).toThrow(/invariant violated/);
  });
});

describe("groupCandidates", () => {
  test("tolerance groups anchor on the earliest member, so chains do not drift", () => {
    // 100 ~ 100.8 and 100.8 ~ 101.6 at 1 %, but 100 ≁ 101.6.
    const x = cand({ agent: "a1", ts: T0, object: 100 });
    const y = cand({ agent: "b1", ts: T0 + 1, object: 100.8 });
    const z = cand({ agent: "c1", ts: T0 + 2, object: 101.6 });
    const groups = groupCandidates([x, y, z].sort(byTime), 0.01);
    expect(groups.map((g) => g.members)).toEqual([[x, y], [z]]);
    expect(groups.map((g) => g.value)).toEqual([100, 101.6]);
  });

  test("grouping does not depend on input order", () => {
    const random = prng(7);
    const set = Array.from({ length: 10 }, (_, i) =>
      cand({ agent: `g${i}`, ts: T0 + Math.floor(random() * 4), object: 1 + Math.floor(random() * 5) * 0.006 }),
    );
    const reference = groupCandidates(oneVoicePerAgent(set).kept, 0.01);
    for (let i = 0; i < 20; i++) expect(groupCandidates(oneVoicePerAgent(shuffle(set, random)).kept, 0.01)).toEqual(reference);
  });
});

describe("conflictScore", () => {
  test("follows the formula", () => {
    expect(conflictScore([])).toBe(0);
    expect(conflictScore([3])).toBe(0);
    expect(conflictScore([0, 0])).toBe(0);
    expect(conflictScore([1, 1])).toBe(1);
    expect(conflictScore([0.1, 0.1, 0.1])).toBe(1);
    expect(conflictScore([1, 0])).toBe(0);
    expect(conflictScore([3, 1])).toBeCloseTo((1 - 3 / 4) / (1 - 1 / 2), 12);
    expect(conflictScore([2, 1, 1])).toBeCloseTo((1 - 2 / 4) / (1 - 1 / 3), 12);
  });

  test("verdicts at their edges", () => {
    expect(verdictFor(0)).toBe("settled");
    expect(verdictFor(0.1999)).toBe("settled");
    expect(verdictFor(0.2)).toBe("disputed");
    expect(verdictFor(0.4999)).toBe("disputed");
    expect(verdictFor(0.5)).toBe("contested");
    expect(verdictFor(1)).toBe("contested");
  });
});

describe("numeric outliers (skeptic)", () => {
  test("weighted median is the value where half the weight is reached", () => {
    expect(
      weightedMedian([
        { x: 1, w: 1, id: "a" },
        { x: 2, w: 1, id: "b" },
        { x: 3, w: 1, id: "c" },
      ]),
    ).toBe(2);
    expect(
      weightedMedian([
        { x: 1, w: 5, id: "a" },
        { x: 2, w: 1, id: "b" },
        { x: 3, w: 1, id: "c" },
      ]),
    ).toBe(1);
    expect(
      weightedMedian([
        { x: 3, w: 1, id: "c" },
        { x: 1, w: 1, id: "a" },
        { x: 2, w: 3, id: "b" },
      ]),
    ).toBe(2);
  });

  test("flags values beyond 3 MAD of the weighted median", () => {
    const values = [10, 11, 12, 13, 14, 40];
    const set = values.map((object, i) => cand({ agent: `n${i}`, ts: T0 + i, object, confidence: 0.5 }));
    const r = numericOutliers(set, undefined);
    // median 12, deviations 2,1,0,1,2,28 → MAD 1 (lower weighted median); 40 is 28 MAD out, 14 only 2
    expect(r.median).toBe(12);
    expect(r.mad).toBe(1);
    expect(r.outliers).toEqual([{ id: set[5]!.id, agent: set[5]!.agent, value: 40, distanceMads: 28 }]);
  });

  test("with MAD 0, the query's tolerance spares near values", () => {
    const set = [0.2, 0.2, 0.2, 0.201, 5].map((object, i) => cand({ agent: `m${i}`, ts: T0 + i, object }));
    expect(numericOutliers(set, undefined).outliers.map((o) => o.value)).toEqual([0.201, 5]);
    expect(numericOutliers(set, 0.01).outliers.map((o) => o.value)).toEqual([5]);
  });

  test("fewer than 3 numbers give no median and no outliers", () => {
    const set = [cand({ agent: "a1", object: 1 }), cand({ agent: "b1", object: 100 }), cand({ agent: "c1", object: "x" })];
    expect(numericOutliers(set, undefined)).toEqual({ outliers: [], median: null, mad: null });
  });
});
