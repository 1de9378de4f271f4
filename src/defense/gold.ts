/**
 * Gold standards as the quarantine policy sees them: for each (subject, predicate), the
 * canonical objects of the assertions an authority currently marks gold. A gold mark is the
 * authority's latest `gold` / `ungold` review of that assertion in (ts, id) order — the same
 * rule TrustRank's gold agreement uses (`trust/rank.ts`). Fed with reviews and assertions as
 * they are acknowledged; a gold review may arrive before its assertion, and counts once the
 * assertion is here.
 */
import { encodeCanonical, type Value } from "../core/cbor.ts";
import { toHex } from "../core/hex.ts";
import type { Assertion, Review } from "../core/record.ts";

interface Mark {
  id: string;
  ts: number;
  gold: boolean;
}

interface Claim {
  sp: string;
  /** Hex of the canonical object. */
  object: string;
}

export interface GoldContradiction {
  /** The gold assertion the claim disagrees with. */
  gold: string;
  /** Its object, as JSON would show it. */
  goldObject: unknown;
}

const spKey = (subject: string, predicate: string) => `${subject}\0${predicate}`;

export class GoldStandards {
  /** Assertion id → the latest gold/ungold mark by an authority. */
  private readonly marks = new Map<string, Mark>();
  /** Marked assertions we hold the fields of. */
  private readonly claims = new Map<string, Claim & { value: unknown }>();
  /** sp → gold assertion id → canonical object hex, for assertions currently gold. */
  private readonly bySp = new Map<string, Map<string, string>>();

  /** A `gold` or `ungold` review by an authority (the caller checks the signer). */
  observeReview(id: string, review: Review): void {
    if (review.action !== "gold" && review.action !== "ungold") return;
    const target = toHex(review.target);
    const mark = { id, ts: review.ts, gold: review.action === "gold" };
    const before = this.marks.get(target);
    if (before && (before.ts > mark.ts || (before.ts === mark.ts && before.id >= mark.id))) return;
    this.marks.set(target, mark);
    this.update(target);
  }

  /** Whether an assertion is the target of a gold mark whose fields are still unknown. */
  wants(id: string): boolean {
    return this.marks.has(id) && !this.claims.has(id);
  }

  /** Ids marked but not yet seen as assertions (to look up in the store). */
  missing(): string[] {
    return [...this.marks.keys()].filter((id) => !this.claims.has(id));
  }

  observeAssertion(id: string, a: Assertion): void {
    if (!this.wants(id)) return;
    this.claims.set(id, { sp: spKey(a.subject, a.predicate), object: toHex(encodeCanonical(a.object)), value: a.object });
    this.update(id);
  }

  /** Whether any gold standard exists on (subject, predicate): a map lookup, for the write path. */
  covers(subject: string, predicate: string): boolean {
    return this.bySp.has(spKey(subject, predicate));
  }

  /**
   * A gold assertion on the same (subject, predicate) whose object differs from `object`, when
   * no gold one there agrees with it; null otherwise.
   */
  contradiction(subject: string, predicate: string, object: Value): GoldContradiction | null {
    const golds = this.bySp.get(spKey(subject, predicate));
    if (!golds) return null;
    const mine = toHex(encodeCanonical(object));
    let differs: string | null = null;
    for (const [id, gold] of golds) {
      if (gold === mine) return null;
      if (differs === null || id < differs) differs = id;
    }
    if (differs === null) return null;
    return { gold: differs, goldObject: this.claims.get(differs)?.value ?? null };
  }

  get size(): number {
    let n = 0;
    for (const golds of this.bySp.values()) n += golds.size;
    return n;
  }

  private update(id: string): void {
    const claim = this.claims.get(id);
    const mark = this.marks.get(id);
    if (!claim || !mark) return;
    const golds = this.bySp.get(claim.sp) ?? new Map<string, string>();
    if (mark.gold) golds.set(id, claim.object);
    else golds.delete(id);
    if (golds.size > 0) this.bySp.set(claim.sp, golds);
    else this.bySp.delete(claim.sp);
  }
}
