/**
 * Escalations (SPEC §4): a query may ask to escalate when κ reaches a threshold; that opens an
 * item for human review. Decisions are records (SPEC §3): opening writes an `escalate` review
 * and resolving a `resolve` review, both signed by the node's authority key and targeting the
 * contested answer's winning assertion. The latest of the two per target (ts, then id) says
 * whether the item is open, so every replica agrees.
 *
 * The `note` of an `escalate` review is JSON — subject, predicate, lens, κ, the request id —
 * so the item reads well without the query that opened it.
 */
import { StemeError } from "../core/errors.ts";
import { fromHex, toHex } from "../core/hex.ts";
import { listRecords } from "../index/list.ts";
import type { IndexEntry } from "../index/store.ts";
import type { Ingest, WriteResult } from "../ingest/pipeline.ts";
import type { Review } from "../core/record.ts";
import type { Store } from "../store/store.ts";
import { signRecord } from "../crypto/signed.ts";

export interface EscalationContext {
  subject: string;
  predicate: string;
  lens: string;
  conflict: number;
  threshold: number;
  requestId?: string | undefined;
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
    private readonly ingest: Ingest,
    private readonly now: () => number = Date.now,
  ) {
    this.authorities = new Set(store.dataDir.authorities);
    store.onAcknowledged((entries) => this.observe(entries));
    this.load();
  }

  /** Opens an escalation on `target` unless one is open; answers its id. */
  async open(target: string, context: EscalationContext): Promise<{ id: string; opened: boolean }> {
    const current = this.latest(target);
    if (current?.action === "escalate") return { id: current.id, opened: false };
    const inflight = this.opening.get(target);
    if (inflight) return { ...(await inflight), opened: false };
    const note = JSON.stringify({
      subject: context.subject,
      predicate: context.predicate,
      lens: context.lens,
      conflict: Math.round(context.conflict * 1000) / 1000,
      threshold: context.threshold,
      ...(context.requestId ? { request_id: context.requestId } : {}),
    });
    const pending = this.write("escalate", target, note).then((r) => ({ id: r.id, opened: true }));
    this.opening.set(target, pending);
    try {
      return await pending;
    } finally {
      this.opening.delete(target);
    }
  }

  /** Resolves the escalation with this id (or on this target). */
  async resolve(idOrTarget: string, note: string | undefined): Promise<{ escalation: Escalation; write: WriteResult }> {
    const found = this.find(idOrTarget);
    if (!found) throw new StemeError("not_found", 404, `no escalation ${idOrTarget}`);
    if (found.status === "resolved")
      throw new StemeError("already_resolved", 409, `escalation ${found.id} is already resolved`, {
        hint: "GET /v1/escalations?status=open lists the open ones",
      });
    const write = await this.write("resolve", found.target, note);
    return { escalation: this.find(found.id) as Escalation, write };
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
    if (latest.action === "resolve")
      e.resolution = { id: latest.id, at: new Date(latest.ts).toISOString(), note: latest.note ?? null };
    return e;
  }

  private latest(target: string): Decision | undefined {
    return this.byTarget.get(target)?.at(-1);
  }

  private async write(action: "escalate" | "resolve", target: string, note: string | undefined): Promise<WriteResult> {
    const key = this.store.dataDir.nodeKey;
    // After the decision it follows, so (ts, id) order never puts a resolve before its escalate.
    const ts = Math.max(this.now(), (this.latest(target)?.ts ?? 0) + 1);
    const signed = signRecord(
      {
        v: 1,
        kind: "review",
        agent: key.publicKey,
        ts,
        action,
        target: fromHex(target, "target", 32),
        ...(note ? { note } : {}),
      },
      key.secretKey,
      "cbor",
    );
    const [result] = await this.ingest.submit([{ shape: "cbor", body: signed.body, sig: signed.sig }]);
    if (!result?.ok) throw result?.error ?? new StemeError("internal", 500, "no result");
    return result.result;
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

function parseNote(note: string | undefined): Record<string, unknown> | string | null {
  if (note === undefined) return null;
  try {
    const v = JSON.parse(note);
    return v !== null && typeof v === "object" ? (v as Record<string, unknown>) : note;
  } catch {
    return note;
  }
}
