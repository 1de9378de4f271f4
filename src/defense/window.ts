/**
 * A sliding-window event count: how many events in the last `windowMs`, to one bucket's
 * precision. The window is cut into `bucketsPerWindow` buckets of equal width, keyed by
 * `floor(now / bucketMs)`; the total sums the buckets still inside the window. Memory is fixed
 * (one small array per counter, whatever the rate), every answer is a function of the times
 * passed in — so tests with an injected clock are exact — and the count can lag a true
 * sliding window by at most one bucket (a tenth of the window by default).
 */

/** Buckets per window: precision against memory. */
export const bucketsPerWindow = 10;

export class SlidingCount {
  private readonly bucketMs: number;
  /** Bucket number (floor(ms / bucketMs)) and count, slot = number mod bucketsPerWindow. */
  private readonly slots = new Float64Array(bucketsPerWindow);
  private readonly counts = new Float64Array(bucketsPerWindow);

  constructor(readonly windowMs: number) {
    if (!(Number.isFinite(windowMs) && windowMs >= bucketsPerWindow))
      throw new RangeError(`windowMs must be a number ≥ ${bucketsPerWindow}, got ${windowMs}`);
    this.bucketMs = windowMs / bucketsPerWindow;
    this.slots.fill(Number.NEGATIVE_INFINITY);
  }

  /** Counts `n` events at `nowMs`. */
  add(nowMs: number, n = 1): void {
    const bucket = Math.floor(nowMs / this.bucketMs);
    const slot = mod(bucket, bucketsPerWindow);
    if (this.slots[slot] !== bucket) {
      this.slots[slot] = bucket;
      this.counts[slot] = 0;
    }
    this.counts[slot] = (this.counts[slot] as number) + n;
  }

  /** Events in the window ending at `nowMs` (the current bucket and the ones before it). */
  total(nowMs: number): number {
    const bucket = Math.floor(nowMs / this.bucketMs);
    let sum = 0;
    for (let i = 0; i < bucketsPerWindow; i++) {
      const b = this.slots[i] as number;
      if (b <= bucket && b > bucket - bucketsPerWindow) sum += this.counts[i] as number;
    }
    return sum;
  }

  /** True when nothing in the window ending at `nowMs` was counted. */
  idle(nowMs: number): boolean {
    return this.total(nowMs) === 0;
  }

  clear(): void {
    this.slots.fill(Number.NEGATIVE_INFINITY);
    this.counts.fill(0);
  }
}

function mod(a: number, n: number): number {
  return ((a % n) + n) % n;
}
