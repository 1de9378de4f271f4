/**
 * The circuit breakers' state machines with a fake clock: per agent (closed → open →
 * half-open → closed), the per-node registry, the sliding window they count in, and the
 * global breaker on fsync latency.
 */
import { describe, expect, test } from "bun:test";
import { type BreakerOptions, CircuitBreaker } from "../../src/defense/breaker.ts";
import { Breakers } from "../../src/defense/breakers.ts";
import { GlobalBreaker } from "../../src/defense/global-breaker.ts";
import { SlidingCount } from "../../src/defense/window.ts";
import { prng } from "../support/prng.ts";

const t0 = 1_800_000_000_000;
const options: BreakerOptions = { windowMs: 1000, badMax: 3, rateMax: 5, coolDownMs: 10_000 };

function admitted(b: CircuitBreaker, now: number): boolean {
  return b.admit(now).ok;
}

describe("SlidingCount", () => {
  test("counts what is inside the window and forgets what slid out", () => {
    const w = new SlidingCount(1000);
    w.add(t0, 2);
    w.add(t0 + 450);
    expect(w.total(t0 + 450)).toBe(3);
    expect(w.total(t0 + 999)).toBe(3);
    expect(w.total(t0 + 1000)).toBe(1); // the first bucket left the window
    expect(w.total(t0 + 1450)).toBe(0);
    expect(w.idle(t0 + 1450)).toBe(true);
  });

  test("a slot reused after a full turn starts from zero", () => {
    const w = new SlidingCount(1000);
    w.add(t0, 7);
    w.add(t0 + 1000); // the same slot, ten buckets later
    expect(w.total(t0 + 1000)).toBe(1);
  });

  test("refuses a window narrower than its buckets", () => {
    expect(() => new SlidingCount(5)).toThrow(RangeError);
  });
});

describe("CircuitBreaker", () => {
  test("starts closed and lets writes through", () => {
    const b = new CircuitBreaker(options);
    expect(b.stateAt(t0)).toBe("closed");
    expect(b.admit(t0)).toEqual({ ok: true, probe: false });
    expect(b.snapshot(t0)).toMatchObject({ state: "closed", writes: 0, bad: 0, opened_at: null, retry_after_s: null });
  });

  test("more than rateMax verified writes in the window open it; open refuses with the cool-down left", () => {
    const b = new CircuitBreaker(options);
    for (let i = 0; i < 5; i++) b.record("accepted", t0 + i, false);
    expect(b.stateAt(t0 + 5)).toBe("closed");
    b.record("duplicate", t0 + 6, false);
    expect(b.stateAt(t0 + 6)).toBe("open");
    expect(b.admit(t0 + 1006)).toEqual({ ok: false, retryAfterMs: 9000 });
    const s = b.snapshot(t0 + 1006);
    expect(s).toMatchObject({ state: "open", retry_after_s: 9, trips: 1, opened_at: new Date(t0 + 6).toISOString() });
    expect(s.reason).toContain("6 writes in 1000 ms");
  });

  test("writes spread wider than the window never open it", () => {
    const b = new CircuitBreaker(options);
    for (let i = 0; i < 50; i++) b.record("accepted", t0 + i * 300, false);
    expect(b.stateAt(t0 + 50 * 300)).toBe("closed");
  });

  test("badMax quarantined or rejected writes open it", () => {
    const b = new CircuitBreaker({ ...options, rateMax: 0 });
    b.record("quarantined", t0, false);
    b.record("rejected", t0 + 1, false);
    b.record("accepted", t0 + 2, false);
    expect(b.stateAt(t0 + 2)).toBe("closed");
    b.record("quarantined", t0 + 3, false);
    expect(b.stateAt(t0 + 3)).toBe("open");
    expect(b.snapshot(t0 + 3).reason).toContain("3 quarantined or rejected writes");
  });

  test("an authority's later rejection counts as a bad write", () => {
    const b = new CircuitBreaker(options);
    b.recordRejection(t0);
    b.recordRejection(t0 + 1);
    b.recordRejection(t0 + 2);
    expect(b.stateAt(t0 + 2)).toBe("open");
  });

  test("void outcomes (failed signatures, node failures) are no evidence: a forger cannot trip it", () => {
    const b = new CircuitBreaker(options);
    for (let i = 0; i < 100; i++) b.record("void", t0, false);
    expect(b.stateAt(t0)).toBe("closed");
    expect(b.snapshot(t0).writes).toBe(0);
  });

  test("0 turns a bound off", () => {
    const b = new CircuitBreaker({ ...options, badMax: 0, rateMax: 0 });
    for (let i = 0; i < 100; i++) b.record("quarantined", t0, false);
    expect(b.stateAt(t0)).toBe("closed");
  });

  test("after the cool-down it half-opens: exactly one probe passes; a good probe closes it with empty windows", () => {
    const b = new CircuitBreaker(options);
    for (let i = 0; i < 6; i++) b.record("accepted", t0, false);
    expect(admitted(b, t0 + 9_999)).toBe(false);
    expect(b.stateAt(t0 + 10_000)).toBe("half_open");
    expect(b.admit(t0 + 10_000)).toEqual({ ok: true, probe: true });
    expect(b.admit(t0 + 10_001)).toEqual({ ok: false, retryAfterMs: 1000 });
    expect(b.snapshot(t0 + 10_001)).toMatchObject({ state: "half_open", retry_after_s: 1 });
    b.record("accepted", t0 + 10_002, true);
    expect(b.stateAt(t0 + 10_002)).toBe("closed");
    expect(b.snapshot(t0 + 10_002)).toMatchObject({ writes: 0, bad: 0, opened_at: null, trips: 1 });
    expect(b.admit(t0 + 10_003)).toEqual({ ok: true, probe: false });
  });

  test("a bad probe opens it again for a whole cool-down", () => {
    const b = new CircuitBreaker(options);
    for (let i = 0; i < 3; i++) b.record("quarantined", t0, false);
    expect(b.admit(t0 + 10_000)).toEqual({ ok: true, probe: true });
    b.record("quarantined", t0 + 10_050, true);
    expect(b.stateAt(t0 + 10_050)).toBe("open");
    expect(b.admit(t0 + 10_050)).toEqual({ ok: false, retryAfterMs: 10_000 });
    expect(b.snapshot(t0 + 10_050)).toMatchObject({ trips: 2 });
    expect(b.snapshot(t0 + 10_050).reason).toContain("probe");
    expect(b.admit(t0 + 20_050).ok).toBe(true);
  });

  test("a probe that proves nothing (void) frees the slot for the next", () => {
    const b = new CircuitBreaker(options);
    for (let i = 0; i < 6; i++) b.record("accepted", t0, false);
    expect(b.admit(t0 + 10_000)).toEqual({ ok: true, probe: true });
    b.record("void", t0 + 10_001, true);
    expect(b.stateAt(t0 + 10_001)).toBe("half_open");
    expect(b.admit(t0 + 10_002)).toEqual({ ok: true, probe: true });
  });

  test("a probe whose answer never comes stops blocking after a cool-down", () => {
    const b = new CircuitBreaker(options);
    for (let i = 0; i < 6; i++) b.record("accepted", t0, false);
    expect(b.admit(t0 + 10_000).ok).toBe(true);
    expect(b.admit(t0 + 19_999).ok).toBe(false);
    expect(b.admit(t0 + 20_000)).toEqual({ ok: true, probe: true });
  });

  test("writes admitted before it opened and answered after do not close it", () => {
    const b = new CircuitBreaker(options);
    for (let i = 0; i < 6; i++) b.record("accepted", t0, false);
    b.record("accepted", t0 + 1, false); // a slow write from the flood, not a probe
    expect(b.stateAt(t0 + 1)).toBe("open");
  });

  test("reset closes it and forgets its counts", () => {
    const b = new CircuitBreaker(options);
    for (let i = 0; i < 6; i++) b.record("accepted", t0, false);
    b.reset();
    expect(b.snapshot(t0)).toMatchObject({ state: "closed", writes: 0, trips: 0 });
    expect(b.admit(t0)).toEqual({ ok: true, probe: false });
    expect(b.idle(t0)).toBe(true);
  });
});

describe("Breakers", () => {
  test("one breaker per agent: a flood from one leaves the others closed", () => {
    const all = new Breakers(options);
    for (let i = 0; i < 6; i++) all.record("aa", "accepted", t0, false);
    all.record("bb", "accepted", t0, false);
    expect(all.admit("aa", t0 + 1).ok).toBe(false);
    expect(all.admit("bb", t0 + 1)).toEqual({ ok: true, probe: false });
    expect(all.admit("cc", t0 + 1)).toEqual({ ok: true, probe: false }); // never wrote: no breaker
    expect(all.rejections).toBe(1);
    expect(all.counts(t0 + 1)).toEqual({ closed: 1, open: 1, half_open: 0 });
    expect(all.list(t0 + 1).map((b) => [b.agent, b.state])).toEqual([
      ["aa", "open"],
      ["bb", "closed"],
    ]);
    expect(all.counts(t0 + 10_000)).toEqual({ closed: 1, open: 0, half_open: 1 });
  });

  test("anyOpen: false until a breaker opens, true through its cool-down, false after", () => {
    const all = new Breakers(options);
    all.record("bb", "accepted", t0, false);
    expect(all.anyOpen(t0)).toBe(false);
    for (let i = 0; i < 6; i++) all.record("aa", "accepted", t0, false);
    expect(all.anyOpen(t0 + 1)).toBe(true);
    expect(all.anyOpen(t0 + 9_999)).toBe(true);
    expect(all.anyOpen(t0 + 10_000)).toBe(false);
  });

  test("reset of an agent with no breaker says so", () => {
    const all = new Breakers(options);
    expect(all.reset("aa")).toBe(false);
    all.record("aa", "quarantined", t0, false);
    expect(all.reset("aa")).toBe(true);
  });

  test("void outcomes create no breaker; past agentsMax idle breakers are dropped, open ones kept", () => {
    const all = new Breakers({ ...options, agentsMax: 3 });
    all.record("forged", "void", t0, false);
    expect(all.size).toBe(0);
    for (let i = 0; i < 6; i++) all.record("troll", "accepted", t0, false);
    all.record("a", "accepted", t0, false);
    all.record("b", "accepted", t0, false);
    all.record("c", "accepted", t0 + 5000, false); // a and b are idle by now
    expect(all.size).toBe(2);
    expect(all.get("troll", t0 + 5000)?.state).toBe("open");
    expect(all.get("a", t0 + 5000)).toBeNull();
  });
});

describe("GlobalBreaker (fsync latency)", () => {
  const bound = { fsyncP99MsMax: 50, windowMs: 10_000, samplesMin: 5, coolDownMs: 3000 };

  test("fast syncs keep it closed; too few slow ones are not enough evidence", () => {
    const g = new GlobalBreaker(bound);
    for (let i = 0; i < 100; i++) g.observeSync(2, t0 + i);
    expect(g.check(t0 + 100)).toBeNull();
    const h = new GlobalBreaker(bound);
    for (let i = 0; i < 4; i++) h.observeSync(500, t0 + i);
    expect(h.check(t0 + 4)).toBeNull();
    expect(h.snapshot(t0 + 4)).toMatchObject({ state: "closed", fsync_p99_ms: null, samples: 4 });
  });

  test("a p99 above the bound sheds writes for the cool-down, then judges afresh", () => {
    const g = new GlobalBreaker(bound);
    for (let i = 0; i < 5; i++) g.observeSync(i === 4 ? 80 : 3, t0 + i);
    const open = g.check(t0 + 1000);
    expect(open?.retryAfterMs).toBe(2004);
    expect(open?.reason).toContain("p99 80 ms");
    expect(g.snapshot(t0 + 1000)).toMatchObject({ state: "open", retry_after_s: 3, bound_ms: 50 });
    expect(g.check(t0 + 3004)).toBeNull(); // half-open: samples forgotten, writes go on
    expect(g.snapshot(t0 + 3004)).toMatchObject({ state: "closed", samples: 0 });
    for (let i = 0; i < 5; i++) g.observeSync(3, t0 + 3010 + i);
    expect(g.check(t0 + 3100)).toBeNull();
    expect(g.trips).toBe(1);
  });

  test("slow samples older than the window do not count", () => {
    const g = new GlobalBreaker({ ...bound, samplesMin: 1 });
    g.observeSync(3, t0);
    expect(g.check(t0)).toBeNull();
    const h = new GlobalBreaker({ ...bound, samplesMin: 2 });
    h.observeSync(500, t0);
    h.observeSync(3, t0 + 20_000); // the slow one left the window
    expect(h.check(t0 + 20_000)).toBeNull();
  });

  test("it opens on exactly the sync whose window's nearest-rank p99 first exceeds the bound (checked without a sort)", () => {
    for (let seed = 1; seed <= 50; seed++) {
      const random = prng(seed);
      const opts = { fsyncP99MsMax: 50, windowMs: 2000, samplesMin: 1 + Math.floor(random() * 30), coolDownMs: 1000 };
      const g = new GlobalBreaker(opts);
      const seen: Array<{ at: number; ms: number }> = [];
      let expectedTrip: number | null = null;
      for (let i = 0; i < 1500 && expectedTrip === null; i++) {
        const at = t0 + i * 7;
        const ms = random() < 0.006 ? 60 + random() * 100 : random() * 50;
        g.observeSync(ms, at);
        seen.push({ at, ms });
        const xs = seen
          .slice(-512)
          .filter((s) => s.at > at - opts.windowMs)
          .map((s) => s.ms)
          .sort((a, b) => a - b);
        const p99 = xs.length >= opts.samplesMin ? (xs[Math.ceil(0.99 * xs.length) - 1] as number) : null;
        if (p99 !== null && p99 > opts.fsyncP99MsMax) expectedTrip = i;
        expect({ seed, i, open: g.check(at) !== null }).toEqual({ seed, i, open: expectedTrip !== null });
      }
    }
  });

  test("0 turns it off", () => {
    const g = new GlobalBreaker({ ...bound, fsyncP99MsMax: 0 });
    for (let i = 0; i < 50; i++) g.observeSync(5000, t0 + i);
    expect(g.check(t0 + 50)).toBeNull();
  });
});
