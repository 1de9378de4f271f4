/**
 * The quarantine policy (docs/DEFENSE.md#quarantine): which new assertions a node holds at ingest.
 *
 * A held assertion is stored like any other — signed, in the log, indexed, replicated — and a
 * `hold` review signed by the node's authority key is written right before it, in the same
 * group commit. The lifecycle flag `quarantined` then hides it from every lens until an
 * authority approves it (or rejects it, which flags it `rejected`). Nothing quarantined is
 * lost, and because the hold is a record, every replica sees the same quarantine.
 *
 * Three rules, each off unless the operator turns it on; an assertion is held when any fires,
 * and the hold's note lists every rule that fired:
 *
 * - **`unknown_agent`** (`--quarantine-unknown-agents`): the agent is not known to this node —
 *   not an authority, not trust-seeded, and with no assertion here that is visible (see
 *   `known.ts`). For deployments where every writer is vetted: a newcomer's claims wait for a
 *   person until one of them is approved.
 * - **`trust_below`** (`--quarantine-trust-below X`): the agent's TrustRank τ, in the running
 *   node's current snapshot, is below X. τ is recomputed in the background and never on the
 *   write path, so the rule reads the latest snapshot — it may lag the last second of votes.
 *   New agents sit at the floor (0.01), so any X above it also holds newcomers.
 * - **`gold_contradiction`** (`--quarantine-gold`, `--quarantine-gold-confidence C`, default
 *   0.8): the assertion has the subject and predicate of an assertion an authority marked gold,
 *   a different canonical object (no tolerance: the same equality TrustRank's gold agreement
 *   uses), and confidence ≥ C. A confident contradiction of the reference answer is the
 *   cheapest way to poison a lens; a hedged one (low confidence) is let through, where the
 *   lenses weigh it for what it is.
 *
 * Never held: records other than assertions (quarantine is an assertion's lifecycle flag),
 * and anything an authority signs (its word is the decision).
 *
 * Why off by default: a policy judges a record against what the node knows *when it arrives*,
 * so two nodes ingesting the same records in different orders can hold different ones (a claim
 * that arrived before its gold standard was not held). Replicas still agree — the holds are
 * records they exchange — but the property "same records in, same answers out, in any order"
 * holds only for the records including the holds. Operators who want the guard turn it on.
 */
import type { Value } from "../core/cbor.ts";
import type { Assertion } from "../core/record.ts";
import type { GoldContradiction } from "./gold.ts";

export interface QuarantinePolicyOptions {
  /** Hold assertions from agents the node does not know. */
  unknownAgents: boolean;
  /** Hold assertions from agents whose τ is below this; 0: off. */
  trustBelow: number;
  /** Hold confident contradictions of gold standards. */
  gold: boolean;
  /** Confidence from which a contradiction of a gold standard is held. */
  goldConfidence: number;
}

export const quarantinePolicyOff: QuarantinePolicyOptions = {
  unknownAgents: false,
  trustBelow: 0,
  gold: false,
  goldConfidence: 0.8,
};

/** What the policy needs to know about the node's state, as functions (cheap lookups). */
export interface PolicyFacts {
  isAuthority(agent: string): boolean;
  isKnown(agent: string): boolean;
  trustOf(agent: string): number;
  goldContradiction(subject: string, predicate: string, object: Value): GoldContradiction | null;
}

export type HoldRule = "unknown_agent" | "trust_below" | "gold_contradiction";

/** One rule that fired, with what it saw: the hold's note carries these. */
export interface HoldReason {
  rule: HoldRule;
  detail: string;
  trust?: number;
  threshold?: number;
  gold?: string;
  confidence?: number;
}

/** True when at least one rule is on (the pipeline skips the policy otherwise). */
export function policyActive(options: QuarantinePolicyOptions): boolean {
  return options.unknownAgents || options.trustBelow > 0 || options.gold;
}

/** The rules that hold this assertion by `agent` (hex); empty when it goes through. */
export function quarantineReasons(
  a: Assertion,
  agent: string,
  facts: PolicyFacts,
  options: QuarantinePolicyOptions,
): HoldReason[] {
  if (facts.isAuthority(agent)) return [];
  const reasons: HoldReason[] = [];
  if (options.unknownAgents && !facts.isKnown(agent))
    reasons.push({
      rule: "unknown_agent",
      detail: "the agent is unknown to this node: no trust seed and no visible assertion",
    });
  if (options.trustBelow > 0) {
    const trust = facts.trustOf(agent);
    if (trust < options.trustBelow)
      reasons.push({
        rule: "trust_below",
        detail: `the agent's trust ${round(trust)} is below ${options.trustBelow}`,
        trust: round(trust),
        threshold: options.trustBelow,
      });
  }
  if (options.gold && a.confidence >= options.goldConfidence) {
    const c = facts.goldContradiction(a.subject, a.predicate, a.object as Value);
    if (c)
      reasons.push({
        rule: "gold_contradiction",
        detail: `contradicts the gold standard ${c.gold.slice(0, 12)}… (${preview(c.goldObject)}) at confidence ${a.confidence} ≥ ${options.goldConfidence}`,
        gold: c.gold,
        confidence: a.confidence,
        threshold: options.goldConfidence,
      });
  }
  return reasons;
}

/** A value as short JSON for a note (notes are bounded; objects are not). */
function preview(value: unknown): string {
  const text = JSON.stringify(value) ?? "null";
  return text.length <= 80 ? text : `${text.slice(0, 79)}…`;
}

function round(x: number): number {
  return Math.round(x * 1e6) / 1e6;
}
