/**
 * Puts acknowledged records back in log order. The log acknowledges in LSN order today (see
 * change-feed.ts), so the fast path is one comparison; a record that arrives ahead of a gap
 * waits here until the gap fills, which it does: every LSN the log assigns is acknowledged (a
 * failed group commit assigns none).
 */
import type { IndexEntry } from "../index/store.ts";

export class LsnOrder {
  /** Records that arrived ahead of a gap, by LSN. */
  private readonly held = new Map<number, IndexEntry>();

  constructor(
    /** Every record up to this LSN has been passed on. */
    public position: number,
  ) {}

  /** Records waiting for a gap to fill. */
  get waiting(): number {
    return this.held.size;
  }

  /** Takes one record; passes it on, with any it unblocks, in LSN order. False for one already passed. */
  accept(e: IndexEntry, next: (e: IndexEntry) => void): boolean {
    if (e.lsn <= this.position || this.held.has(e.lsn)) return false;
    if (e.lsn !== this.position + 1) {
      this.held.set(e.lsn, e);
      return true;
    }
    this.position = e.lsn;
    next(e);
    for (let r = this.held.get(this.position + 1); r; r = this.held.get(this.position + 1)) {
      this.held.delete(r.lsn);
      this.position = r.lsn;
      next(r);
    }
    return true;
  }

  /** Skips a whole in-order batch without looking at each record (nobody listens). False when it is not next in order. */
  skip(entries: readonly IndexEntry[]): boolean {
    const first = entries[0];
    const last = entries[entries.length - 1];
    if (!first || !last || this.held.size > 0) return false;
    if (first.lsn !== this.position + 1 || last.lsn - first.lsn !== entries.length - 1) return false;
    this.position = last.lsn;
    return true;
  }
}
