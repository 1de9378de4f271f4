/**
 * One agent's circuit breaker (docs/DEFENSE.md#circuit-breakers): closed → open → half-open → closed.
 *
 * - **Closed**: writes pass. Two sliding windows (`window.ts`) count the agent's *verified*
 *   writes and its *bad* ones — writes the quarantine policy held, writes refused after their
 *   signature checked out (a clock far ahead, say), and assertions an authority rejected later.
 *   More than `rateMax` writes, or `badMax` bad ones, in one window opens the breaker.
 * - **Open**: every write from the agent is refused (429, `Retry-After` = what is left of the
 *   cool-down) without being parsed further, verified or stored.
 * - **Half-open**: once the cool-down has passed, one write — the probe — goes through; the
 *   others are still refused. A good probe (accepted, or a duplicate) closes the breaker with
 *   empty windows; a bad one opens it for another cool-down. A probe that fails verification
 *   proves nothing about the agent (anyone can claim a key), so it frees the slot for the next.
 *
 * Only verified records count as evidence: opening a breaker needs records signed by the
 * agent, so nobody can trip another agent's breaker by sending forgeries in its name. Refusing
 * needs no evidence, which is why the check can run before signatures are verified (see the
 * ingest pipeline) and a flood costs the node no signature checks once the breaker is open.
 *
 * A pure state machine: every method takes the time, so tests drive it with a fake clock.
 */
import { SlidingCount } from "./window.ts";

export interface BreakerOptions {
  /** Width of the sliding windows, ms. */
  windowMs: number;
  /** Bad writes (quarantined, rejected) in one window that open the breaker; 0: never on these. */
  badMax: number;
  /** Verified writes in one window past which the breaker opens; 0: no rate bound. */
  rateMax: number;
  /** How long an open breaker refuses everything before letting a probe through, ms. */
  coolDownMs: number;
}

export type BreakerState = "closed" | "open" | "half_open";

/**
 * What became of one admitted write; `void` says nothing about the agent (the signature did
 * not verify — anyone can claim a key — or the node failed to store it).
 */
export type WriteOutcome = "accepted" | "duplicate" | "quarantined" | "rejected" | "void";

export type BreakerAdmission = { ok: true; probe: boolean } | { ok: false; retryAfterMs: number };

export interface BreakerSnapshot {
  state: BreakerState;
  /** Verified writes and bad writes in the current window. */
  writes: number;
  bad: number;
  opened_at: string | null;
  /** Seconds until a probe may pass (open), or 1 while a probe is out (half-open); null when closed. */
  retry_after_s: number | null;
  /** Why it last opened. */
  reason: string | null;
  /** Times it has opened since the node started (or the last reset). */
  trips: number;
}

/** While a probe is out, the others are told to come back after this long. */
export const probeRetryMs = 1000;

export class CircuitBreaker {
  private current: BreakerState = "closed";
  private openedAtMs: number | null = null;
  private retryAtMs = 0;
  private probeSinceMs: number | null = null;
  private reason: string | null = null;
  private trips = 0;
  private readonly writes: SlidingCount;
  private readonly bad: SlidingCount;

  constructor(private readonly options: BreakerOptions) {
    if (!(options.coolDownMs >= 0)) throw new RangeError(`coolDownMs must be ≥ 0, got ${options.coolDownMs}`);
    if (!(options.badMax >= 0 && options.rateMax >= 0)) throw new RangeError("badMax and rateMax must be ≥ 0");
    this.writes = new SlidingCount(options.windowMs);
    this.bad = new SlidingCount(options.windowMs);
  }

  /** The state at `nowMs`: an open breaker whose cool-down has passed is half-open. */
  stateAt(nowMs: number): BreakerState {
    if (this.current === "open" && nowMs >= this.retryAtMs) return "half_open";
    return this.current;
  }

  /** May a write from this agent go on? A half-open breaker lets exactly one probe through. */
  admit(nowMs: number): BreakerAdmission {
    const state = this.stateAt(nowMs);
    if (state === "closed") return { ok: true, probe: false };
    if (state === "open") return { ok: false, retryAfterMs: this.retryAtMs - nowMs };
    this.current = "half_open";
    // A probe whose answer never came (it should always come) stops blocking after a cool-down.
    const probeLost = this.probeSinceMs !== null && nowMs - this.probeSinceMs >= Math.max(this.options.coolDownMs, probeRetryMs);
    if (this.probeSinceMs !== null && !probeLost) return { ok: false, retryAfterMs: probeRetryMs };
    this.probeSinceMs = nowMs;
    return { ok: true, probe: true };
  }

  /** The outcome of a write `admit` let through (`probe` as `admit` said). */
  record(outcome: WriteOutcome, nowMs: number, probe: boolean): void {
    if (outcome === "void") {
      if (probe) this.probeSinceMs = null;
      return;
    }
    const bad = outcome === "quarantined" || outcome === "rejected";
    this.writes.add(nowMs);
    if (bad) this.bad.add(nowMs);
    if (probe && this.current === "half_open") {
      if (bad) this.trip(nowMs, `the probe after the cool-down was ${outcome}`);
      else this.close();
      return;
    }
    if (this.current === "closed") this.check(nowMs);
  }

  /** An authority rejected one of the agent's assertions (a bad write found out later). */
  recordRejection(nowMs: number): void {
    this.bad.add(nowMs);
    if (this.current === "closed") this.check(nowMs);
  }

  /** Back to closed with empty windows (an operator's reset). */
  reset(): void {
    this.close();
    this.trips = 0;
  }

  /** True when the breaker is closed and nothing is in its windows: it can be forgotten. */
  idle(nowMs: number): boolean {
    return this.current === "closed" && this.writes.idle(nowMs) && this.bad.idle(nowMs);
  }

  snapshot(nowMs: number): BreakerSnapshot {
    const state = this.stateAt(nowMs);
    const retryAfterMs = state === "open" ? this.retryAtMs - nowMs : state === "half_open" ? probeRetryMs : null;
    return {
      state,
      writes: this.writes.total(nowMs),
      bad: this.bad.total(nowMs),
      opened_at: this.openedAtMs === null ? null : new Date(this.openedAtMs).toISOString(),
      retry_after_s: retryAfterMs === null ? null : Math.max(1, Math.ceil(retryAfterMs / 1000)),
      reason: this.reason,
      trips: this.trips,
    };
  }

  private check(nowMs: number): void {
    const { badMax, rateMax, windowMs } = this.options;
    const writes = this.writes.total(nowMs);
    const bad = this.bad.total(nowMs);
    if (rateMax > 0 && writes > rateMax) this.trip(nowMs, `${writes} writes in ${windowMs} ms (at most ${rateMax})`);
    else if (badMax > 0 && bad >= badMax)
      this.trip(nowMs, `${bad} quarantined or rejected writes in ${windowMs} ms (limit ${badMax})`);
  }

  private trip(nowMs: number, reason: string): void {
    this.current = "open";
    this.openedAtMs = nowMs;
    this.retryAtMs = nowMs + this.options.coolDownMs;
    this.probeSinceMs = null;
    this.reason = reason;
    this.trips++;
  }

  private close(): void {
    this.current = "closed";
    this.openedAtMs = null;
    this.probeSinceMs = null;
    this.writes.clear();
    this.bad.clear();
  }
}
