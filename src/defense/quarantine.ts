/**
 * The quarantine book: which assertions are held right now, by the same rule the lifecycle
 * flags use (`state/flags.ts` `reviews()`): the latest (ts, id) authority review of the
 * quarantine kind — `hold`, `approve`, `reject` — targeting an assertion decides. Latest is
 * `hold` → held (`quarantined`), `reject` → `rejected`, `approve` → visible.
 *
 * The book is a cache of decisions that are records: it is filled from the index at start and
 * kept current from acknowledged records, so it answers "is this held?" on the write path and
 * pages the review queue without reading the log. Per target it keeps only the latest
 * decision and the hold that put it in quarantine (its id and log position; the reasons are in
 * the hold's note, read from the log when listed).
 */
import { toHex } from "../core/hex.ts";
import type { Review } from "../core/record.ts";

export type QuarantineAction = "hold" | "approve" | "reject";

export interface QuarantineDecision {
  /** The review's id. */
  id: string;
  ts: number;
  lsn: number;
  action: QuarantineAction;
}

export type QuarantineState = "held" | "approved" | "rejected";

const stateOf: Record<QuarantineAction, QuarantineState> = { hold: "held", approve: "approved", reject: "rejected" };

export const quarantineActions: ReadonlySet<string> = new Set(["hold", "approve", "reject"]);

export class Quarantine {
  private readonly latestOf = new Map<string, QuarantineDecision>();
  /** Target → the hold it is held under, for targets whose latest decision is a hold. */
  private readonly holds = new Map<string, QuarantineDecision>();
  /**
   * Every hold in log order (records are observed in LSN order: the index at start, then
   * acknowledged batches), including ones no longer current — skipped when paging, compacted
   * when they are most of the list. Paging is a binary search and a short walk.
   */
  private byLsn: Array<{ target: string; hold: QuarantineDecision }> = [];

  /**
   * A review by an authority (the caller checks the signer). Returns the decision when it is
   * now the latest for its target, null when it is not a quarantine decision or an older one.
   */
  observe(id: string, lsn: number, review: Review): QuarantineDecision | null {
    if (!quarantineActions.has(review.action)) return null;
    const target = toHex(review.target);
    const decision: QuarantineDecision = { id, ts: review.ts, lsn, action: review.action as QuarantineAction };
    const before = this.latestOf.get(target);
    if (before && (before.ts > decision.ts || (before.ts === decision.ts && before.id >= decision.id))) return null;
    this.latestOf.set(target, decision);
    if (decision.action === "hold") {
      this.holds.set(target, decision);
      this.enlist(target, decision);
    } else this.holds.delete(target);
    return decision;
  }

  /** Whether the assertion is held now. */
  held(target: string): boolean {
    return this.holds.has(target);
  }

  /** Held, approved or rejected — or null for an assertion no authority has decided on. */
  state(target: string): QuarantineState | null {
    const latest = this.latestOf.get(target);
    return latest ? stateOf[latest.action] : null;
  }

  latest(target: string): QuarantineDecision | undefined {
    return this.latestOf.get(target);
  }

  /** Assertions held now. */
  get size(): number {
    return this.holds.size;
  }

  /** Held assertions in the order they were held (the hold's log position), after `afterLsn`. */
  page(afterLsn: number, limit: number): { items: Array<{ target: string; hold: QuarantineDecision }>; more: boolean } {
    if (this.byLsn.length > 2 * this.holds.size + 1024) this.compact();
    let lo = 0;
    let hi = this.byLsn.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if ((this.byLsn[mid] as { hold: QuarantineDecision }).hold.lsn <= afterLsn) lo = mid + 1;
      else hi = mid;
    }
    const items: Array<{ target: string; hold: QuarantineDecision }> = [];
    for (let i = lo; i < this.byLsn.length; i++) {
      const entry = this.byLsn[i] as { target: string; hold: QuarantineDecision };
      if (this.holds.get(entry.target) !== entry.hold) continue; // decided since, or held again later
      if (items.length === limit) return { items, more: true };
      items.push(entry);
    }
    return { items, more: false };
  }

  private enlist(target: string, hold: QuarantineDecision): void {
    const last = this.byLsn.at(-1);
    this.byLsn.push({ target, hold });
    // Out of log order only if fed out of order (tests); keep the list sorted all the same.
    if (last && last.hold.lsn > hold.lsn) this.byLsn.sort((a, b) => a.hold.lsn - b.hold.lsn);
  }

  private compact(): void {
    this.byLsn = this.byLsn.filter((e) => this.holds.get(e.target) === e.hold);
  }
}
