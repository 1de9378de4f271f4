/**
 * A clock that moves only when told to (docs/CLUSTER.md#testing-without-sockets): the simulator's
 * and the unit tests' time.
 *
 * Timers sit in a binary heap ordered by (due time, creation order), so two timers due at the
 * same millisecond fire in the order they were set — the property that makes a run depend on
 * nothing but its seed. `advance(ms)` fires every timer due within the window, moving `now()` to
 * each one's due time before running it, then to the end of the window; a timer set by a
 * callback fires in the same `advance` if it falls inside the window.
 */
import type { Clock, Timer } from "./env.ts";

interface Entry {
  due: number;
  order: number;
  fn: () => void;
  cancelled: boolean;
}

export class FakeClock implements Clock {
  private time: number;
  private order = 0;
  private readonly heap: Entry[] = [];
  /** Timers fired so far: a measure of how much a simulated run did. */
  fired = 0;

  constructor(startMs = 0) {
    this.time = startMs;
  }

  now(): number {
    return this.time;
  }

  setTimeout(fn: () => void, delayMs: number): Timer {
    const entry: Entry = { due: this.time + Math.max(0, delayMs), order: this.order++, fn, cancelled: false };
    this.push(entry);
    return {
      cancel: () => {
        entry.cancelled = true;
      },
    };
  }

  /** Runs every timer due up to `now + ms`, in order; then `now()` is `now + ms`. */
  advance(ms: number): void {
    if (!(ms >= 0)) throw new RangeError(`advance: expected milliseconds ≥ 0, got ${ms}`);
    const end = this.time + ms;
    for (;;) {
      const top = this.heap[0];
      if (top === undefined || top.due > end) break;
      this.pop();
      if (top.cancelled) continue;
      this.time = top.due;
      this.fired++;
      top.fn();
    }
    this.time = end;
  }

  /**
   * Advances in steps of `stepMs` until `done()` holds or `limitMs` has passed; returns the time
   * taken, or null when the limit came first.
   */
  runUntil(done: () => boolean, limitMs: number, stepMs = 10): number | null {
    const start = this.time;
    while (!done()) {
      if (this.time - start >= limitMs) return null;
      this.advance(stepMs);
    }
    return this.time - start;
  }

  /** Timers not yet fired (cancelled ones included until they reach the top). */
  get pending(): number {
    return this.heap.length;
  }

  private before(a: Entry, b: Entry): boolean {
    return a.due < b.due || (a.due === b.due && a.order < b.order);
  }

  private push(entry: Entry): void {
    const h = this.heap;
    h.push(entry);
    let i = h.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!this.before(h[i] as Entry, h[parent] as Entry)) break;
      [h[i], h[parent]] = [h[parent] as Entry, h[i] as Entry];
      i = parent;
    }
  }

  private pop(): void {
    const h = this.heap;
    const last = h.pop() as Entry;
    if (h.length === 0) return;
    h[0] = last;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let smallest = i;
      if (l < h.length && this.before(h[l] as Entry, h[smallest] as Entry)) smallest = l;
      if (r < h.length && this.before(h[r] as Entry, h[smallest] as Entry)) smallest = r;
      if (smallest === i) return;
      [h[i], h[smallest]] = [h[smallest] as Entry, h[i] as Entry];
      i = smallest;
    }
  }
}
