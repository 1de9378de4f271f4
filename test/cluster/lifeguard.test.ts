/** Lifeguard's two timers: local health awareness and the dynamic suspicion timeout. */
import { describe, expect, test } from "bun:test";
import { Awareness } from "../../src/cluster/awareness.ts";
import { presets, suspicionTimeoutMs } from "../../src/cluster/config.ts";
import { FakeClock } from "../../src/cluster/fake-clock.ts";
import { remainingSuspicionMs, Suspicion } from "../../src/cluster/suspicion.ts";

describe("Awareness", () => {
  test("the score stays in [0, max − 1] and scales timeouts by score + 1", () => {
    const a = new Awareness(8);
    expect(a.scale(500)).toBe(500);
    a.applyDelta(-3);
    expect(a.score).toBe(0);
    a.applyDelta(3);
    expect(a.scale(500)).toBe(2000);
    a.applyDelta(100);
    expect(a.score).toBe(7);
    expect(a.scale(1000)).toBe(8000);
    expect(() => new Awareness(0)).toThrow(RangeError);
  });
});

describe("remainingSuspicionMs", () => {
  // max − (max − min)·log(n+1)/log(k+1), floored to the millisecond, less the time elapsed.
  const cases: Array<[number, number, number, number]> = [
    // confirmations, k, elapsed, expected (min 2 s, max 30 s)
    [0, 3, 0, 30_000],
    [1, 3, 2000, 14_000],
    [2, 3, 3000, 4810],
    [3, 3, 4000, -2000],
    [4, 3, 5000, -3000],
    [5, 3, 10_000, -8000],
  ];
  for (const [n, k, elapsed, expected] of cases)
    test(`${n} of ${k} confirmations after ${elapsed} ms → ${expected} ms`, () => {
      expect(remainingSuspicionMs(n, k, elapsed, 2000, 30_000)).toBe(expected);
    });
});

describe("Suspicion", () => {
  test("without confirmations it runs the maximum", () => {
    const clock = new FakeClock();
    let firedAt = -1;
    new Suspicion(clock, "a", 3, 500, 2000, () => {
      firedAt = clock.now();
    });
    clock.advance(1999);
    expect(firedAt).toBe(-1);
    clock.advance(1);
    expect(firedAt).toBe(2000);
  });

  test("each independent confirmation shortens it, toward the minimum; the accuser and repeats do not count", () => {
    const clock = new FakeClock();
    let fired: { at: number; confirmations: number } | null = null;
    const s = new Suspicion(clock, "a", 3, 500, 2000, (confirmations) => {
      fired = { at: clock.now(), confirmations };
    });
    expect(s.confirm("a")).toBe(false); // the accuser's own gossip coming back
    expect(s.confirm("b")).toBe(true);
    expect(s.confirm("b")).toBe(false);
    expect(s.timeoutMs).toBe(1250); // 2000 − 1500·log 2 / log 4
    expect(s.confirm("c")).toBe(true);
    expect(s.timeoutMs).toBe(811);
    expect(s.confirm("d")).toBe(true);
    expect(s.timeoutMs).toBe(500);
    expect(s.confirm("e")).toBe(false); // k reached
    clock.advance(499);
    expect(fired).toBeNull();
    clock.advance(1);
    expect(fired as unknown).toEqual({ at: 500, confirmations: 3 });
  });

  test("a confirmation after the new deadline has passed fires at once", () => {
    const clock = new FakeClock();
    let firedAt = -1;
    const s = new Suspicion(clock, "a", 1, 500, 2000, () => {
      firedAt = clock.now();
    });
    clock.advance(800);
    s.confirm("b"); // deadline is now the minimum, 500 ms, already past
    clock.advance(0);
    expect(firedAt).toBe(800);
  });

  test("with k = 0 it runs the minimum; cancel stops it", () => {
    const clock = new FakeClock();
    let fired = 0;
    new Suspicion(clock, "a", 0, 500, 2000, () => fired++);
    const cancelled = new Suspicion(clock, "a", 0, 500, 2000, () => fired++);
    cancelled.cancel();
    clock.advance(500);
    expect(fired).toBe(1);
  });

  test("the minimum grows with log10 of the cluster size", () => {
    const lan = presets.lan;
    expect(suspicionTimeoutMs(lan, 1)).toBe(4000);
    expect(suspicionTimeoutMs(lan, 10)).toBe(4000);
    expect(suspicionTimeoutMs(lan, 100)).toBe(8000);
    expect(suspicionTimeoutMs(lan, 1000)).toBe(12_000);
  });
});
