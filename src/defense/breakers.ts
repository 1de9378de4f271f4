/**
 * The per-agent circuit breakers of a node (docs/DEFENSE.md#circuit-breakers), one `CircuitBreaker` per agent key that
 * has written lately. Authorities have none: their records are the node's own decisions.
 *
 * Memory is bounded: past `agentsMax` breakers, the idle ones (closed, nothing in their
 * windows) are forgotten — forgetting one loses nothing, it would be created empty again. An
 * open or busy breaker is never dropped, so a sybil swarm cannot flush a tripped agent out.
 */
import {
  type BreakerAdmission,
  type BreakerOptions,
  type BreakerSnapshot,
  type BreakerState,
  CircuitBreaker,
  type WriteOutcome,
} from "./breaker.ts";

export interface BreakersOptions extends BreakerOptions {
  /** Breakers held before idle ones are dropped. */
  agentsMax?: number;
}

export const breakerAgentsMaxDefault = 100_000;

export class Breakers {
  private readonly byAgent = new Map<string, CircuitBreaker>();
  private readonly agentsMax: number;
  /** Size at which the next prune runs (raised when a prune finds too few idle breakers). */
  private pruneAt: number;
  /** Writes refused because their agent's breaker was open, since start. */
  rejections = 0;

  constructor(private readonly options: BreakersOptions) {
    this.agentsMax = options.agentsMax ?? breakerAgentsMaxDefault;
    this.pruneAt = this.agentsMax;
    new CircuitBreaker(options); // validates the options now rather than at the first write
  }

  admit(agent: string, nowMs: number): BreakerAdmission {
    const breaker = this.byAgent.get(agent);
    if (!breaker) return { ok: true, probe: false };
    const admission = breaker.admit(nowMs);
    if (!admission.ok) this.rejections++;
    return admission;
  }

  record(agent: string, outcome: WriteOutcome, nowMs: number, probe: boolean): void {
    if (outcome === "void" && !probe) return; // no evidence, nothing to hold
    const breaker = this.of(agent, nowMs);
    breaker.record(outcome, nowMs, probe);
    this.noteIfOpen(breaker, nowMs);
  }

  recordRejection(agent: string, nowMs: number): void {
    const breaker = this.of(agent, nowMs);
    breaker.recordRejection(nowMs);
    this.noteIfOpen(breaker, nowMs);
  }

  /**
   * Whether any breaker may be open at `nowMs`: false once every cool-down begun so far has
   * passed. Lets the write path skip looking for refused agents when none can be.
   */
  anyOpen(nowMs: number): boolean {
    return nowMs < this.openUntilMs;
  }

  private openUntilMs = 0;

  private noteIfOpen(breaker: CircuitBreaker, nowMs: number): void {
    if (breaker.stateAt(nowMs) === "open") this.openUntilMs = Math.max(this.openUntilMs, nowMs + this.options.coolDownMs);
  }

  /** Closes the agent's breaker; false when it had none. */
  reset(agent: string): boolean {
    const breaker = this.byAgent.get(agent);
    if (!breaker) return false;
    breaker.reset();
    return true;
  }

  /** The state of an agent's breaker (null: none), without building a snapshot: asked per record. */
  stateOf(agent: string, nowMs: number): BreakerState | null {
    return this.byAgent.get(agent)?.stateAt(nowMs) ?? null;
  }

  get(agent: string, nowMs: number): BreakerSnapshot | null {
    return this.byAgent.get(agent)?.snapshot(nowMs) ?? null;
  }

  /** Every breaker that is not idle, worst first (open, half-open, then by bad and write counts). */
  list(nowMs: number): Array<BreakerSnapshot & { agent: string }> {
    const rank = { open: 0, half_open: 1, closed: 2 } as const;
    const out: Array<BreakerSnapshot & { agent: string }> = [];
    for (const [agent, breaker] of this.byAgent)
      if (!breaker.idle(nowMs) || breaker.snapshot(nowMs).trips > 0) out.push({ agent, ...breaker.snapshot(nowMs) });
    return out.sort(
      (a, b) => rank[a.state] - rank[b.state] || b.bad - a.bad || b.writes - a.writes || (a.agent < b.agent ? -1 : 1),
    );
  }

  /** How many breakers are in each state (for `stemedb_breakers{state}`). */
  counts(nowMs: number): Record<"closed" | "open" | "half_open", number> {
    const out = { closed: 0, open: 0, half_open: 0 };
    for (const breaker of this.byAgent.values()) out[breaker.stateAt(nowMs)]++;
    return out;
  }

  get size(): number {
    return this.byAgent.size;
  }

  private of(agent: string, nowMs: number): CircuitBreaker {
    let breaker = this.byAgent.get(agent);
    if (breaker) return breaker;
    if (this.byAgent.size >= this.pruneAt) this.prune(nowMs);
    breaker = new CircuitBreaker(this.options);
    this.byAgent.set(agent, breaker);
    return breaker;
  }

  /** Drops idle breakers; when too few were idle, waits for a tenth more agents before scanning again. */
  private prune(nowMs: number): void {
    for (const [agent, breaker] of this.byAgent) if (breaker.idle(nowMs)) this.byAgent.delete(agent);
    this.pruneAt = Math.max(this.agentsMax, this.byAgent.size + Math.ceil(this.agentsMax / 10));
  }
}
