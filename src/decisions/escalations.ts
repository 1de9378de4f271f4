/**
 * Escalations (docs/SEMANTICS.md#escalations, issue 4): a query may ask to escalate when κ reaches a threshold; that
 * opens an item for human review, once per (subject, predicate) while one is open. Decisions
 * are records (docs/SEMANTICS.md#decisions-are-records): opening writes an `escalate` review and resolving a `resolve` review,
 * both signed by the node's authority key and targeting the contested answer's winning
 * assertion. The latest of the two per target (ts, then id) says whether the item is open, so
 * every replica agrees. Resolving may also mark a gold standard (a `gold` review).
 *
 * The `note` of an `escalate` review is JSON — subject, predicate, lens, κ, the request id,
 * the API key that asked — so the item reads well without the query that opened it.
 */
import { StemeError } from "../core/errors.ts";
import { toHex } from "../core/hex.ts";
import type { Review } from "../core/record.ts";
import { listRecords } from "../index/list.ts";
import type { IndexEntry } from "../index/store.ts";
import type { WriteResult } from "../ingest/pipeline.ts";
import type { Store } from "../store/store.ts";
import { type Decider, decisionNote, parseNote } from "./decider.ts";

export interface EscalationContext {
  subject: string;
  predicate: string;
  lens: string;
  conflict: number;
  threshold: number;
  requestId?: string | undefined;
  apiKey?: string | null;
}

interface Decision {
  id: string;
  ts: number;
  action: "escalate" | "resolve";
  note: string | undefined;
}

export interface Escalation {
  /** The id of the `escalate` review that opened it. */
  id: string;
  /** The assertion under review. */
  target: string;
  status: "open" | "resolved";
  opened_at: string;
  context: Record<string, unknown> | string | null;
  resolution?: { id: string; at: string; note: string | null };
}

export class Escalations {
  /** target → its escalate/resolve decisions by authorities, in (ts, id) order. */
  private readonly byTarget = new Map<string, Decision[]>();
  private readonly opening = new Map<string, Promise<{ id: string; opened: boolean }>>();
  private readonly authorities: ReadonlySet<string>;

  constructor(
    private readonly store: Store,
    private readonly decider: Decider,
  ) {
    this.authorities = new Set(store.dataDir.authorities);
    store.onAcknowledged((entries) => this.observe(entries));
    this.load();
  }

  /** Opens an escalation on `target` unless one is open for the same (subject, predicate); answers its id. */
  async open(target: string, context: EscalationContext): Promise<{ id: string; opened: boolean }> {
    const sp = `${context.subject}\0${context.predicate}`;
    const current = this.openFor(sp);
    if (current) return { id: current.id, opened: false };
    const inflight = this.opening.get(sp);
    if (inflight) return { ...(await inflight), opened: false };
    const note = decisionNote(
      {
        subject: context.subject,
        predicate: context.predicate,
        lens: context.lens,
        conflict: Math.round(context.conflict * 1000) / 1000,
        threshold: context.threshold,
        ...(context.requestId ? { request_id: context.requestId } : {}),
      },
      context.apiKey ?? null,
    );
    const pending = this.write("escalate", target, note).then((r) => ({ id: r.id, opened: true }));
    this.opening.set(sp, pending);
    try {
      return await pending;
    } finally {
      this.opening.delete(sp);
    }
  }

  /** The open escalation on a (subject, predicate), if any. */
  private openFor(sp: string): Escalation | null {
    for (const target of this.byTarget.keys()) {
      const e = this.describe(target);
      if (e?.status !== "open" || typeof e.context !== "object" || e.context === null) continue;
      if (`${e.context.subject}\0${e.context.predicate}` === sp) return e;
    }
    return null;
  }

  /**
   * Resolves the escalation with this id (or on this target); `gold` (an assertion id) also
   * marks that assertion a gold standard.
   */
  async resolve(
    idOrTarget: string,
    note: string | undefined,
    options: { gold?: string; apiKey?: string | null } = {},
  ): Promise<{ escalation: Escalation; write: WriteResult; gold?: WriteResult }> {
    const found = this.find(idOrTarget);
    if (!found) throw new StemeError("not_found", `no escalation ${idOrTarget}`);
    if (found.status === "resolved")
      throw new StemeError("already_resolved", `escalation ${found.id} is already resolved`, {
        hint: "GET /v1/escalations?status=open lists the open ones",
      });
    if (options.gold !== undefined) {
      const loc = this.store.lookupId(Buffer.from(options.gold, "hex"));
      if (!loc || this.store.read(loc).record.kind !== "assertion")
        throw new StemeError("not_found", `gold: no assertion ${options.gold}`);
    }
    const text = decisionNote({ ...(note !== undefined ? { note } : {}) }, options.apiKey ?? null);
    const write = await this.write("resolve", found.target, text);
    const gold =
      options.gold !== undefined
        ? await this.decider.write({
            kind: "review",
            action: "gold",
            target: options.gold,
            note: decisionNote({ escalation: found.id }, options.apiKey ?? null),
          })
        : undefined;
    return { escalation: this.find(found.id) as Escalation, write, ...(gold ? { gold } : {}) };
  }

  list(status: "open" | "resolved" | "all"): Escalation[] {
    const out: Escalation[] = [];
    for (const target of this.byTarget.keys()) {
      const e = this.describe(target);
      if (e && (status === "all" || e.status === status)) out.push(e);
    }
    return out.sort((a, b) => (a.opened_at > b.opened_at ? -1 : a.opened_at < b.opened_at ? 1 : a.id < b.id ? -1 : 1));
  }

  find(idOrTarget: string): Escalation | null {
    if (this.byTarget.has(idOrTarget)) return this.describe(idOrTarget);
    for (const [target, decisions] of this.byTarget)
      if (decisions.some((d) => d.id === idOrTarget && d.action === "escalate")) return this.describe(target);
    return null;
  }

  private describe(target: string): Escalation | null {
    const decisions = this.byTarget.get(target) ?? [];
    const lastOpen = decisions.findLast((d) => d.action === "escalate");
    if (!lastOpen) return null;
    const latest = decisions.at(-1) as Decision;
    const e: Escalation = {
      id: lastOpen.id,
      target,
      status: latest.action === "escalate" ? "open" : "resolved",
      opened_at: new Date(lastOpen.ts).toISOString(),
      context: parseNote(lastOpen.note),
    };
    if (latest.action === "resolve") {
      const parsed = parseNote(latest.note);
      const text = typeof parsed === "object" && parsed !== null && typeof parsed.note === "string" ? parsed.note : null;
      e.resolution = { id: latest.id, at: new Date(latest.ts).toISOString(), note: typeof parsed === "string" ? parsed : text };
    }
    return e;
  }

  private latest(target: string): Decision | undefined {
    return this.byTarget.get(target)?.at(-1);
  }

  private write(action: "escalate" | "resolve", target: string, note: string): Promise<WriteResult> {
    // After the decision it follows, so (ts, id) order never puts a resolve before its escalate.
    return this.decider.write({ kind: "review", action, target, note }, this.latest(target)?.ts ?? 0);
  }

  private load(): void {
    let afterLsn: number | undefined;
    for (;;) {
      const page = listRecords(this.store.index, { kinds: ["review"], limit: 1000, ...(afterLsn ? { afterLsn } : {}) });
      for (const loc of page.items) this.add(toHex(loc.id), this.store.read(loc).record as Review);
      if (page.next === null) return;
      afterLsn = page.next;
    }
  }

  private observe(entries: readonly IndexEntry[]): void {
    for (const e of entries) if (e.record.kind === "review") this.add(toHex(e.id), e.record);
  }

  private add(id: string, r: Review): void {
    if (r.action !== "escalate" && r.action !== "resolve") return;
    if (!this.authorities.has(toHex(r.agent))) return;
    const target = toHex(r.target);
    const list = this.byTarget.get(target) ?? [];
    if (list.some((d) => d.id === id)) return;
    list.push({ id, ts: r.ts, action: r.action, note: r.note });
    list.sort((a, b) => a.ts - b.ts || (a.id < b.id ? -1 : 1));
    this.byTarget.set(target, list);
  }
}
