/**
 * Local health awareness (docs/CLUSTER.md#lifeguard), Lifeguard §4.1 "Local Health Aware
 * Probe" (Dadgar, Phillips, Currey, "Lifeguard: Local Health Awareness for More Accurate
 * Failure Detection", arXiv:1707.00788) and memberlist's awareness.go.
 *
 * A node that is itself slow — CPU starved, GC paused, its receive queue backed up — misses
 * acks that were sent to it and would accuse healthy members. SWIM cannot tell "they are
 * dead" from "I am sick"; Lifeguard adds a score that counts the evidence for "I am sick":
 *
 *   +1  a probe failed and the relays asked for nacks did not all send one (nacks prove the
 *       relays could reach us; missing nacks point at us), or, without relays, any failed probe;
 *   +1  we had to refute a suspicion of ourselves;
 *   −1  a probe round succeeded.
 *
 * The score stays in [0, max − 1]; the probe interval and the probe timeout are multiplied by
 * score + 1, so a sick node probes less often and waits longer before accusing anyone, and its
 * accusations (which start suspicion elsewhere) slow down with it.
 */

export class Awareness {
  private current = 0;

  constructor(private readonly max: number) {
    if (!(Number.isSafeInteger(max) && max >= 1)) throw new RangeError(`awareness max: expected an integer ≥ 1, got ${max}`);
  }

  /** 0 is healthy. */
  get score(): number {
    return this.current;
  }

  applyDelta(delta: number): void {
    this.current = Math.min(this.max - 1, Math.max(0, this.current + delta));
  }

  /** `ms` stretched by the score: `ms · (score + 1)`. */
  scale(ms: number): number {
    return ms * (this.current + 1);
  }
}
