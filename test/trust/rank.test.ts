import { describe, expect, test } from "bun:test";
import { factsFromRecords } from "../../src/trust/facts.ts";
import { computeTrust, trustFloor, trustOf } from "../../src/trust/rank.ts";
import type { StoredRecord } from "../../src/state/index.ts";
import { type Agent, assertion, newAgent, review, vote } from "../state/helpers.ts";
import { prng } from "../support/prng.ts";

const authority = newAgent();
const authorities = new Set([authority.hex]);
const rank = (records: StoredRecord[], asOf?: number) =>
  computeTrust(factsFromRecords(records), { authorities, ...(asOf !== undefined ? { asOf } : {}) });
const tau = (records: StoredRecord[], agent: Agent, asOf?: number) => trustOf(rank(records, asOf), agent.hex, authorities);

function shuffle<T>(xs: T[], rand: () => number): T[] {
  const out = [...xs];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

describe("TrustRank", () => {
  test("authorities are 1; an agent nobody endorses sits at the floor", () => {
    const loner = newAgent();
    const records = [assertion(loner, 1)];
    expect(tau(records, authority)).toBe(1);
    expect(tau(records, loner)).toBe(trustFloor);
    expect(trustOf(null, newAgent().hex, authorities)).toBe(trustFloor);
  });

  test("an endorsement from an authority lifts an agent; endorsements spread thinner lift less", () => {
    const a = newAgent();
    const claimA = assertion(a, 1);
    const one = [claimA, vote(authority, 2, claimA, 1)];
    const lifted = tau(one, a);
    expect(lifted).toBeGreaterThan(0.5);
    const others = Array.from({ length: 9 }, (_, i) => assertion(newAgent(), 10 + i));
    const spread = [...one, ...others, ...others.map((c, i) => vote(authority, 30 + i, c, 1))];
    expect(tau(spread, a)).toBeLessThan(lifted);
    expect(tau(spread, a)).toBeGreaterThan(trustFloor);
  });

  test("trust flows along endorsements: an agent endorsed by an endorsed agent gains some", () => {
    const a = newAgent();
    const b = newAgent();
    const claimA = assertion(a, 1);
    const claimB = assertion(b, 2);
    const records = [claimA, claimB, vote(authority, 3, claimA, 1), vote(a, 4, claimB, 1)];
    expect(tau(records, b)).toBeGreaterThan(trustFloor);
    expect(tau(records, b)).toBeLessThanOrEqual(tau(records, a));
  });

  test("a 50-agent sybil ring endorsing itself stays at the floor, below an agent one seed endorses", () => {
    const honest = newAgent();
    const honestClaim = assertion(honest, 1);
    const ring = Array.from({ length: 50 }, () => newAgent());
    const ringClaims = ring.map((s, i) => assertion(s, 10 + i));
    const records: StoredRecord[] = [honestClaim, vote(authority, 2, honestClaim, 1), ...ringClaims];
    // Every sybil endorses every other sybil's claim: 2,450 votes.
    ring.forEach((s, i) => {
      ringClaims.forEach((c, j) => {
        if (i !== j) records.push(vote(s, 100 + i, c, 1));
      });
    });
    const result = rank(records);
    const honestTau = trustOf(result, honest.hex, authorities);
    for (const s of ring) {
      const t = trustOf(result, s.hex, authorities);
      expect(t).toBe(trustFloor);
      expect(t).toBeLessThan(honestTau);
    }
  });

  test("a sybil ring that wins one endorsement from a trusted agent shares only that agent's trust", () => {
    const honest = newAgent();
    const honestClaim = assertion(honest, 1);
    const ring = Array.from({ length: 20 }, () => newAgent());
    const ringClaims = ring.map((s, i) => assertion(s, 10 + i));
    const records: StoredRecord[] = [honestClaim, vote(authority, 2, honestClaim, 1), ...ringClaims];
    ring.forEach((s, i) => {
      records.push(vote(s, 100 + i, ringClaims[(i + 1) % ring.length]!, 1));
    });
    records.push(vote(honest, 200, ringClaims[0]!, 1));
    const result = rank(records);
    const honestTau = trustOf(result, honest.hex, authorities);
    for (const s of ring) expect(trustOf(result, s.hex, authorities)).toBeLessThan(honestTau);
  });

  test("seeding by an authority counts; seeding by anyone else does not", () => {
    const a = newAgent();
    const stranger = newAgent();
    const claim = assertion(a, 1);
    expect(tau([claim, review(stranger, 2, "trust_seed", a.hex)], a)).toBe(trustFloor);
    expect(tau([claim, review(authority, 2, "trust_seed", a.hex)], a)).toBe(1);
  });

  test("an agent contradicting gold standards and disputed by trusted agents decays", () => {
    const liar = newAgent();
    const truthful = newAgent();
    const subjects = ["a", "b", "c"].map((s) => `pharma/drug/${s}`);
    const liarClaims = subjects.map((s, i) => assertion(liar, 10 + i, { subject: s, object: 99 }));
    const goldClaims = subjects.map((s, i) => assertion(truthful, 20 + i, { subject: s, object: 1 }));
    const before: StoredRecord[] = [
      ...liarClaims,
      ...goldClaims,
      review(authority, 1, "trust_seed", liar.hex),
      review(authority, 2, "trust_seed", truthful.hex),
    ];
    const start = tau(before, liar);
    expect(start).toBe(1);
    const withGold = [...before, ...goldClaims.map((c, i) => review(authority, 30 + i, "gold", c))];
    const afterGold = tau(withGold, liar);
    expect(afterGold).toBeLessThan(start);
    const withDisputes = [...withGold, ...liarClaims.map((c, i) => vote(truthful, 40 + i, c, -1))];
    const afterDisputes = tau(withDisputes, liar);
    expect(afterDisputes).toBeLessThan(afterGold);
    // Gold agreement does not hurt the agent that agrees.
    expect(tau(withDisputes, truthful)).toBe(1);
    const r = rank(withDisputes).agents.get(liar.hex)!;
    expect(r.goldContradict).toBe(3);
    expect(r.disputedBy).toBe(1);
  });

  test("ungold restores; only each agent's latest vote counts; self-votes carry nothing", () => {
    const a = newAgent();
    const b = newAgent();
    const claimA = assertion(a, 1, { object: 5 });
    const gold = assertion(b, 2, { object: 6 });
    const base = [claimA, gold, review(authority, 3, "trust_seed", a.hex)];
    const golded = [...base, review(authority, 4, "gold", gold)];
    expect(tau(golded, a)).toBeLessThan(1);
    expect(tau([...golded, review(authority, 5, "ungold", gold)], a)).toBe(1);

    const c = newAgent();
    const claimC = assertion(c, 6);
    const endorsed = [claimC, vote(authority, 7, claimC, 1)];
    const changedMind = [...endorsed, vote(authority, 8, claimC, -1)];
    expect(tau(endorsed, c)).toBeGreaterThan(trustFloor);
    expect(tau(changedMind, c)).toBe(trustFloor);
    expect(tau([claimC, vote(c, 7, claimC, 1)], c)).toBe(trustFloor);
  });

  test("asOf counts only facts with ts ≤ asOf", () => {
    const a = newAgent();
    const claim = assertion(a, 1);
    const records = [claim, vote(authority, 50, claim, 1)];
    expect(tau(records, a, 49)).toBe(trustFloor);
    expect(tau(records, a, 50)).toBeGreaterThan(trustFloor);
  });

  test("knownAt counts only facts received by then, whatever their ts", () => {
    const a = newAgent();
    const claim = { ...assertion(a, 1), recordedAt: 100 };
    const late = { ...vote(authority, 2, claim, 1), recordedAt: 200 }; // stated early, received late
    const facts = factsFromRecords([claim, late]);
    expect(trustOf(computeTrust(facts, { authorities, knownAt: 199 }), a.hex, authorities)).toBe(trustFloor);
    expect(trustOf(computeTrust(facts, { authorities, knownAt: 200 }), a.hex, authorities)).toBeGreaterThan(trustFloor);
    expect(trustOf(computeTrust(facts, { authorities, knownAt: 200, asOf: 1 }), a.hex, authorities)).toBe(trustFloor);
  });

  test("a voter's endorsements and disputes of one author net out (EigenTrust's local trust)", () => {
    const seed = newAgent();
    const author = newAgent();
    const [c1, c2, c3] = [assertion(author, 1), assertion(author, 2), assertion(author, 3)];
    const base = [c1, c2, c3, review(authority, 0, "trust_seed", seed.hex)];
    const once = [...base, vote(seed, 5, c1, 1)];
    const even = [...once, vote(seed, 6, c2, -1)];
    const against = [...even, vote(seed, 7, c3, -1)];
    expect(tau(once, author)).toBeGreaterThan(0.5);
    expect(tau(even, author)).toBe(trustFloor); // one each way: no edge at all
    expect(rank(even).agents.get(author.hex)?.endorsedBy).toBe(0);
    expect(rank(against).agents.get(author.hex)?.disputedBy).toBe(1);
  });

  test("reliability: an agent the trusted find right once and wrong three times keeps a quarter of what it earned", () => {
    const seeds = [newAgent(), newAgent(), newAgent(), newAgent()];
    const copier = newAgent();
    const claims = [1, 2, 3, 4].map((ts) => assertion(copier, ts));
    const [right, ...wrong] = claims as [StoredRecord, ...StoredRecord[]];
    // Each judging seed also disputes ten liars, so the one step of disputes takes only a
    // share of its trust from the copier: d × 1 × 1/11.
    const liars = Array.from({ length: 10 }, (_, i) => assertion(newAgent(), 10 + i));
    const records = [...claims, ...liars, ...seeds.map((s) => review(authority, 0, "trust_seed", s.hex))];
    const endorsed = [...records, vote(seeds[0]!, 5, right, 1)];
    const judged = [
      ...endorsed,
      ...wrong.map((w, i) => vote(seeds[i + 1]!, 6, w, -1)),
      ...wrong.flatMap((_, i) => liars.map((l) => vote(seeds[i + 1]!, 7, l, -1))),
    ];
    const raw = (rs: StoredRecord[]) => (tau(rs, copier) - trustFloor) / (1 - trustFloor);
    expect(raw(endorsed)).toBeGreaterThan(0.3);
    expect(raw(judged)).toBeCloseTo((raw(endorsed) - (3 * 0.85) / 11) * 0.25, 9);
    // Strangers' disputes weigh nothing.
    const strangers = [newAgent(), newAgent(), newAgent()];
    const unjudged = [...endorsed, ...wrong.map((w, i) => vote(strangers[i]!, 7, w, -1))];
    expect(tau(unjudged, copier)).toBe(tau(endorsed, copier));
  });

  test("values stay in [0, 1] and recomputation is deterministic over random graphs in any order", () => {
    const rand = prng(7);
    const agents = Array.from({ length: 30 }, () => newAgent());
    const claims = agents.map((a, i) => assertion(a, i, { subject: `s/${i % 5}`, object: i % 3 }));
    const records: StoredRecord[] = [...claims];
    for (let i = 0; i < 200; i++) {
      const voter = rand() < 0.1 ? authority : agents[Math.floor(rand() * agents.length)]!;
      records.push(vote(voter, 100 + i, claims[Math.floor(rand() * claims.length)]!, rand() < 0.7 ? 1 : -1));
    }
    records.push(review(authority, 400, "trust_seed", agents[3]!.hex), review(authority, 401, "gold", claims[7]!));
    const first = rank(records);
    for (const t of first.agents.values()) {
      expect(t.trust).toBeGreaterThanOrEqual(0);
      expect(t.trust).toBeLessThanOrEqual(1);
    }
    for (let k = 0; k < 5; k++) {
      const again = rank(shuffle(records, rand));
      expect([...again.agents.entries()].sort()).toEqual([...first.agents.entries()].sort());
    }
  });
});
