/**
 * The global breaker (docs/DEFENSE.md#the-global-breaker): when the disk is slow, shed writes with `503 overloaded` and
 * `Retry-After` instead of letting every client wait on it. (The other bound — the ingest
 * queue — is checked by the pipeline itself.)
 *
 * Evidence is the recent fdatasync latency of group commits: the log reports each sync's
 * duration; the breaker keeps the last `samplesMax` of them with their times. When at least
 * `samplesMin` syncs in the last `windowMs` have a p99 above `fsyncP99MsMax`, it opens: every
 * write is refused for `coolDownMs`. Then it half-opens by forgetting its samples and letting
 * writes through: the next `samplesMin` syncs decide again, so a disk that is still slow trips
 * it again after a handful of writes, and one that recovered closes it for good.
 *
 * Time is passed in, so tests drive it with a fake clock and made-up latencies.
 */

export interface GlobalBreakerOptions {
  /** The p99 fdatasync latency above which writes are shed, ms; 0: never. */
  fsyncP99MsMax: number;
  /** How far back samples count, ms. */
  windowMs?: number;
  /** Fewest samples in the window to judge by (a single slow sync is not a slow disk). */
  samplesMin?: number;
  /** How long writes are shed once open, ms. */
  coolDownMs?: number;
}

export const fsyncWindowMsDefault = 10_000;
export const fsyncSamplesMinDefault = 20;
export const fsyncCoolDownMsDefault = 5_000;
/** Samples kept: enough for a p99 over a busy window, small enough to sort per sync. */
export const fsyncSamplesMax = 512;

export interface GlobalBreakerSnapshot {
  state: "closed" | "open";
  /** p99 of the syncs in the window, ms; null with fewer than the minimum. */
  fsync_p99_ms: number | null;
  samples: number;
  bound_ms: number;
  opened_at: string | null;
  retry_after_s: number | null;
  reason: string | null;
}

export class GlobalBreaker {
  private readonly atMs = new Float64Array(fsyncSamplesMax);
  private readonly latencyMs = new Float64Array(fsyncSamplesMax);
  private next = 0;
  private stored = 0;
  private openedAtMs: number | null = null;
  private retryAtMs = 0;
  private reason: string | null = null;
  /** Times it opened since start. */
  trips = 0;
  private readonly windowMs: number;
  private readonly samplesMin: number;
  private readonly coolDownMs: number;

  constructor(private readonly options: GlobalBreakerOptions) {
    if (!(options.fsyncP99MsMax >= 0)) throw new RangeError(`fsyncP99MsMax must be ≥ 0, got ${options.fsyncP99MsMax}`);
    this.windowMs = options.windowMs ?? fsyncWindowMsDefault;
    this.samplesMin = Math.min(options.samplesMin ?? fsyncSamplesMinDefault, fsyncSamplesMax);
    this.coolDownMs = options.coolDownMs ?? fsyncCoolDownMsDefault;
  }

  /** One group commit's fdatasync took `latencyMs`. */
  observeSync(latencyMs: number, nowMs: number): void {
    if (this.options.fsyncP99MsMax <= 0) return;
    this.atMs[this.next] = nowMs;
    this.latencyMs[this.next] = latencyMs;
    this.next = (this.next + 1) % fsyncSamplesMax;
    this.stored = Math.min(this.stored + 1, fsyncSamplesMax);
    if (this.openedAtMs !== null || !this.p99Above(nowMs)) return;
    const p99 = this.p99(nowMs);
    if (p99 !== null && p99 > this.options.fsyncP99MsMax) {
      this.openedAtMs = nowMs;
      this.retryAtMs = nowMs + this.coolDownMs;
      this.reason = `fdatasync p99 ${round(p99)} ms over the last ${this.inWindow(nowMs).length} syncs (bound ${this.options.fsyncP99MsMax} ms)`;
      this.trips++;
    }
  }

  /** Null when writes may go on; otherwise how long to wait and why. */
  check(nowMs: number): { retryAfterMs: number; reason: string } | null {
    if (this.openedAtMs === null) return null;
    if (nowMs < this.retryAtMs) return { retryAfterMs: this.retryAtMs - nowMs, reason: this.reason ?? "" };
    // Half-open: start judging afresh from the syncs that come next.
    this.openedAtMs = null;
    this.stored = 0;
    this.next = 0;
    return null;
  }

  snapshot(nowMs: number): GlobalBreakerSnapshot {
    const open = this.openedAtMs !== null && nowMs < this.retryAtMs;
    const p99 = this.p99(nowMs);
    return {
      state: open ? "open" : "closed",
      fsync_p99_ms: p99 === null ? null : round(p99),
      samples: this.inWindow(nowMs).length,
      bound_ms: this.options.fsyncP99MsMax,
      opened_at: open ? new Date(this.openedAtMs as number).toISOString() : null,
      retry_after_s: open ? Math.max(1, Math.ceil((this.retryAtMs - nowMs) / 1000)) : null,
      reason: this.reason,
    };
  }

  private inWindow(nowMs: number): number[] {
    const out: number[] = [];
    for (let i = 0; i < this.stored; i++)
      if ((this.atMs[i] as number) > nowMs - this.windowMs) out.push(this.latencyMs[i] as number);
    return out;
  }

  /**
   * Whether the window's p99 is above the bound, without sorting (this runs on every sync):
   * with n samples, the nearest-rank p99 is the (n − ⌊n/100⌋)-th smallest, so it is above the
   * bound exactly when more than ⌊n/100⌋ samples are.
   */
  private p99Above(nowMs: number): boolean {
    const bound = this.options.fsyncP99MsMax;
    const since = nowMs - this.windowMs;
    let n = 0;
    let above = 0;
    for (let i = 0; i < this.stored; i++) {
      if ((this.atMs[i] as number) <= since) continue;
      n++;
      if ((this.latencyMs[i] as number) > bound) above++;
    }
    return n >= this.samplesMin && n > 0 && above > Math.floor(n / 100);
  }

  /** Nearest-rank p99 of the window's samples, or null with too few. */
  private p99(nowMs: number): number | null {
    const xs = this.inWindow(nowMs);
    if (xs.length < this.samplesMin || xs.length === 0) return null;
    xs.sort((a, b) => a - b);
    return xs[Math.min(xs.length - 1, Math.ceil(0.99 * xs.length) - 1)] as number;
  }
}

function round(ms: number): number {
  return Math.round(ms * 1000) / 1000;
}
