/**
 * The suspicion timer with Lifeguard's dynamic timeout (docs/CLUSTER.md#lifeguard),
 * Lifeguard §4.2 "Local Health Aware Suspicion" and memberlist's suspicion.go.
 *
 * SWIM waits a fixed time before declaring a suspect dead. Lifeguard starts the timer at a
 * maximum and shrinks it toward a minimum as other members independently suspect the same
 * member: one node's bad link alone must wait long (the suspect has time to refute), while a
 * member that everyone finds silent is declared dead quickly. With `n` distinct confirmations
 * out of the `k` wanted, the timeout is
 *
 *     max − (max − min) · log(n + 1) / log(k + 1)     (never below min),
 *
 * measured from when the suspicion began. The member that started the suspicion does not
 * count as a confirmation (its own suspect message comes back to it by gossip), nor does any
 * member twice. With k = 0 (too few members to expect confirmations) the timer runs the minimum.
 */
import type { Clock, Timer } from "./env.ts";

/** The time left on a suspicion: memberlist's remainingSuspicionTime; may be negative (fire now). */
export function remainingSuspicionMs(confirmations: number, k: number, elapsedMs: number, minMs: number, maxMs: number): number {
  const fraction = k > 0 ? Math.log(confirmations + 1) / Math.log(k + 1) : 1;
  const timeout = Math.max(minMs, Math.floor(maxMs - fraction * (maxMs - minMs)));
  return timeout - elapsedMs;
}

export class Suspicion {
  private readonly confirmedBy = new Set<string>();
  private confirmations = 0;
  private readonly startMs: number;
  private timer: Timer;
  private fired = false;

  /** Starts the timer; `onTimeout` gets the number of confirmations seen. */
  constructor(
    private readonly clock: Clock,
    from: string,
    private readonly k: number,
    private readonly minMs: number,
    private readonly maxMs: number,
    private readonly onTimeout: (confirmations: number) => void,
  ) {
    this.confirmedBy.add(from);
    this.startMs = clock.now();
    this.timer = clock.setTimeout(() => this.fire(), k < 1 ? minMs : maxMs);
  }

  get confirmationCount(): number {
    return this.confirmations;
  }

  /** The deadline as it stands now. */
  get timeoutMs(): number {
    return remainingSuspicionMs(this.confirmations, this.k, 0, this.minMs, this.maxMs);
  }

  /**
   * Counts an independent confirmation from `from`; returns true when it was new (the caller
   * then re-gossips the suspicion), false for a repeat or once k confirmations are in.
   */
  confirm(from: string): boolean {
    if (this.fired || this.confirmations >= this.k || this.confirmedBy.has(from)) return false;
    this.confirmedBy.add(from);
    this.confirmations++;
    const remaining = remainingSuspicionMs(this.confirmations, this.k, this.clock.now() - this.startMs, this.minMs, this.maxMs);
    this.timer.cancel();
    this.timer = this.clock.setTimeout(() => this.fire(), Math.max(0, remaining));
    return true;
  }

  cancel(): void {
    this.fired = true;
    this.timer.cancel();
  }

  private fire(): void {
    if (this.fired) return;
    this.fired = true;
    this.onTimeout(this.confirmations);
  }
}
