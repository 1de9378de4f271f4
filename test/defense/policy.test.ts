/**
 * The quarantine policy as a pure function of an assertion and the node's facts, and the two
 * record-fed books it reads: gold standards and quarantine decisions.
 */
import { describe, expect, test } from "bun:test";
import type { Value } from "../../src/core/cbor.ts";
import { fromHex } from "../../src/core/hex.ts";
import type { Assertion, Review } from "../../src/core/record.ts";
import { GoldStandards } from "../../src/defense/gold.ts";
import {
  type PolicyFacts,
  policyActive,
  type QuarantinePolicyOptions,
  quarantinePolicyOff,
  quarantineReasons,
} from "../../src/defense/policy.ts";
import { Quarantine } from "../../src/defense/quarantine.ts";

const agent = "a1".repeat(32);
const authority = "f0".repeat(32);
const goldId = "9".repeat(64);

function claim(object: Value, confidence = 0.9, extra: Partial<Assertion> = {}): Assertion {
  return {
    v: 1,
    kind: "assertion",
    agent: fromHex(agent, "agent", 32),
    ts: 1000,
    subject: "pharma/drug/aspirin",
    predicate: "bleeding_risk_pct",
    object,
    confidence,
    ...extra,
  } as Assertion;
}

function review(action: string, target: string, ts: number): Review {
  return {
    v: 1,
    kind: "review",
    agent: fromHex(authority, "agent", 32),
    ts,
    action,
    target: fromHex(target, "target", 32),
  } as Review;
}

function facts(over: Partial<PolicyFacts> = {}): PolicyFacts {
  const gold = new GoldStandards();
  gold.observeReview("e".repeat(64), review("gold", goldId, 5));
  gold.observeAssertion(goldId, claim(0.2));
  return {
    isAuthority: (a) => a === authority,
    isKnown: () => true,
    trustOf: () => 0.5,
    goldContradiction: (s, p, o) => gold.contradiction(s, p, o),
    ...over,
  };
}

const all: QuarantinePolicyOptions = { unknownAgents: true, trustBelow: 0.3, gold: true, goldConfidence: 0.8 };

describe("quarantineReasons", () => {
  test("every rule off: nothing is held, whatever the facts", () => {
    expect(policyActive(quarantinePolicyOff)).toBe(false);
    const f = facts({ isKnown: () => false, trustOf: () => 0.01 });
    expect(quarantineReasons(claim(12), agent, f, quarantinePolicyOff)).toEqual([]);
  });

  test("unknown_agent fires for an agent the node does not know, only when on", () => {
    const f = facts({ isKnown: () => false });
    const on = { ...quarantinePolicyOff, unknownAgents: true };
    expect(policyActive(on)).toBe(true);
    expect(quarantineReasons(claim(0.2), agent, f, on).map((r) => r.rule)).toEqual(["unknown_agent"]);
    expect(quarantineReasons(claim(0.2), agent, facts(), on)).toEqual([]);
  });

  test("trust_below compares τ with the threshold (strictly below) and says both", () => {
    const on = { ...quarantinePolicyOff, trustBelow: 0.3 };
    const low = quarantineReasons(claim(0.2), agent, facts({ trustOf: () => 0.01 }), on);
    expect(low).toEqual([{ rule: "trust_below", detail: "the agent's trust 0.01 is below 0.3", trust: 0.01, threshold: 0.3 }]);
    expect(quarantineReasons(claim(0.2), agent, facts({ trustOf: () => 0.3 }), on)).toEqual([]);
  });

  test("gold_contradiction: same subject and predicate, a different object, confident enough", () => {
    const on = { ...quarantinePolicyOff, gold: true, goldConfidence: 0.8 };
    const held = quarantineReasons(claim(12, 0.95), agent, facts(), on);
    expect(held.map((r) => r.rule)).toEqual(["gold_contradiction"]);
    expect(held[0]).toMatchObject({ gold: goldId, confidence: 0.95, threshold: 0.8 });
    expect(held[0]?.detail).toContain("(0.2)");
    // Agreeing (1.0 and 1 are one canonical value; so are 0.2 and 0.2), hedged, or elsewhere: through.
    expect(quarantineReasons(claim(0.2, 0.99), agent, facts(), on)).toEqual([]);
    expect(quarantineReasons(claim(12, 0.79), agent, facts(), on)).toEqual([]);
    expect(quarantineReasons(claim(12, 0.8), agent, facts(), on)).toHaveLength(1);
    expect(quarantineReasons(claim(12, 0.95, { predicate: "other" }), agent, facts(), on)).toEqual([]);
  });

  test("every rule that fires is listed; an authority is never held", () => {
    const f = facts({ isKnown: () => false, trustOf: () => 0.01 });
    expect(quarantineReasons(claim(12), agent, f, all).map((r) => r.rule)).toEqual([
      "unknown_agent",
      "trust_below",
      "gold_contradiction",
    ]);
    expect(quarantineReasons(claim(12), authority, f, all)).toEqual([]);
  });
});

describe("GoldStandards", () => {
  test("the latest gold/ungold mark of an authority decides, in (ts, id) order, whatever the arrival order", () => {
    const g = new GoldStandards();
    g.observeAssertion(goldId, claim(0.2)); // not marked yet: ignored
    expect(g.covers("pharma/drug/aspirin", "bleeding_risk_pct")).toBe(false);
    g.observeReview("b".repeat(64), review("ungold", goldId, 20));
    g.observeReview("a".repeat(64), review("gold", goldId, 10)); // older: loses
    expect(g.wants(goldId)).toBe(true);
    g.observeAssertion(goldId, claim(0.2));
    expect(g.covers("pharma/drug/aspirin", "bleeding_risk_pct")).toBe(false);
    g.observeReview("c".repeat(64), review("gold", goldId, 30));
    expect(g.covers("pharma/drug/aspirin", "bleeding_risk_pct")).toBe(true);
    expect(g.contradiction("pharma/drug/aspirin", "bleeding_risk_pct", 12)).toEqual({ gold: goldId, goldObject: 0.2 });
  });

  test("a gold review may come before its assertion", () => {
    const g = new GoldStandards();
    g.observeReview("a".repeat(64), review("gold", goldId, 10));
    expect(g.missing()).toEqual([goldId]);
    expect(g.contradiction("pharma/drug/aspirin", "bleeding_risk_pct", 12)).toBeNull();
    g.observeAssertion(goldId, claim(0.2));
    expect(g.contradiction("pharma/drug/aspirin", "bleeding_risk_pct", 12)?.gold).toBe(goldId);
    expect(g.size).toBe(1);
  });

  test("with two gold answers on a pair, agreeing with either is no contradiction", () => {
    const g = new GoldStandards();
    const other = "8".repeat(64);
    g.observeReview("a".repeat(64), review("gold", goldId, 10));
    g.observeReview("b".repeat(64), review("gold", other, 10));
    g.observeAssertion(goldId, claim(0.2));
    g.observeAssertion(other, claim("0.2 %"));
    expect(g.contradiction("pharma/drug/aspirin", "bleeding_risk_pct", "0.2 %")).toBeNull();
    expect(g.contradiction("pharma/drug/aspirin", "bleeding_risk_pct", 3)?.gold).toBe(other); // the smaller id
  });
});

describe("Quarantine book", () => {
  const target = "7".repeat(64);

  test("the latest (ts, id) decision wins, as in the lifecycle flags", () => {
    const q = new Quarantine();
    expect(q.state(target)).toBeNull();
    q.observe("b".repeat(64), 10, review("hold", target, 100));
    expect(q.state(target)).toBe("held");
    expect(q.held(target)).toBe(true);
    expect(q.observe("a".repeat(64), 11, review("approve", target, 100))).toBeNull(); // same ts, smaller id: older
    expect(q.state(target)).toBe("held");
    q.observe("c".repeat(64), 12, review("reject", target, 101));
    expect(q.state(target)).toBe("rejected");
    expect(q.size).toBe(0);
    expect(q.observe("d".repeat(64), 13, review("gold", target, 200))).toBeNull(); // another kind of decision
    expect(q.latest(target)?.action).toBe("reject");
  });

  test("pages held assertions by the hold's log position", () => {
    const q = new Quarantine();
    const ids = ["1", "2", "3"].map((c) => c.repeat(64)) as [string, string, string];
    q.observe("c".repeat(64), 30, review("hold", ids[0], 1));
    q.observe("a".repeat(64), 10, review("hold", ids[1], 1));
    q.observe("b".repeat(64), 20, review("hold", ids[2], 1));
    const first = q.page(0, 2);
    expect(first.items.map((i) => i.target)).toEqual([ids[1], ids[2]]);
    expect(first.more).toBe(true);
    const rest = q.page(20, 2);
    expect(rest.items.map((i) => i.target)).toEqual([ids[0]]);
    expect(rest.more).toBe(false);
    // Decided since: gone from the queue; held again later: listed at its new hold.
    q.observe("d".repeat(64), 40, review("approve", ids[1], 2));
    q.observe("e".repeat(64), 50, review("hold", ids[2], 3));
    expect(q.page(0, 10).items.map((i) => [i.target, i.hold.lsn])).toEqual([
      [ids[0], 30],
      [ids[2], 50],
    ]);
    expect(q.size).toBe(2);
  });
});
