/**
 * Content defense on a running node (docs/DEFENSE.md): the quarantine policy, the per-agent circuit
 * breakers and the global breaker, behind the ingest pipeline's `IngestGate`.
 *
 * What it knows — who is held, which answers are gold, who was seeded — comes from records:
 * authority reviews read from the index at start, then every acknowledged batch (before the
 * index applies it, so the write path never waits for SQLite). Breaker windows are node-local
 * and in memory by design: they measure this node's load, and a restart forgives.
 */
import { StemeError } from "../core/errors.ts";
import { toHex } from "../core/hex.ts";
import { type Logger, silentLogger } from "../core/logger.ts";
import type { Review } from "../core/record.ts";
import type { SignedRecord } from "../crypto/signed.ts";
import { decisionNote } from "../decisions/decider.ts";
import { listRecords } from "../index/list.ts";
import type { IndexEntry } from "../index/store.ts";
import type { GateOutcome, GateTicket, IngestGate } from "../ingest/pipeline.ts";
import type { Metrics } from "../metrics/index.ts";
import type { Store } from "../store/store.ts";
import type { BreakerOptions } from "./breaker.ts";
import { Breakers } from "./breakers.ts";
import { GlobalBreaker, type GlobalBreakerOptions } from "./global-breaker.ts";
import { GoldStandards } from "./gold.ts";
import { KnownAgents } from "./known.ts";
import { type PolicyFacts, policyActive, type QuarantinePolicyOptions, quarantineReasons } from "./policy.ts";
import { Quarantine, quarantineActions } from "./quarantine.ts";
import { nativeSigner } from "./signer.ts";

export interface DefenseOptions {
  policy: QuarantinePolicyOptions;
  breaker: BreakerOptions & { agentsMax?: number };
  global: GlobalBreakerOptions;
  /** τ of an agent in the node's current TrustRank snapshot. */
  trustOf: (agent: string) => number;
  now: () => number;
  metrics?: Metrics;
  logger?: Logger;
}

const pageRecords = 1000;

export class Defense implements IngestGate {
  readonly quarantine = new Quarantine();
  readonly gold = new GoldStandards();
  readonly breakers: Breakers;
  readonly global: GlobalBreaker;
  private readonly known: KnownAgents;
  private readonly authorities: ReadonlySet<string>;
  private readonly nodeAgent: string;
  private readonly facts: PolicyFacts;
  private readonly policyOn: boolean;
  private readonly sign: (fields: Record<string, unknown>) => SignedRecord;
  private readonly logger: Logger;
  /** The node's clock (breaker states move with it). */
  readonly now: () => number;

  constructor(
    private readonly store: Store,
    private readonly options: DefenseOptions,
  ) {
    this.authorities = new Set(store.dataDir.authorities);
    this.nodeAgent = toHex(store.dataDir.nodeKey.publicKey);
    this.logger = options.logger ?? silentLogger;
    this.now = options.now;
    this.breakers = new Breakers(options.breaker);
    this.global = new GlobalBreaker(options.global);
    this.known = new KnownAgents(store, this.quarantine, this.authorities);
    this.policyOn = policyActive(options.policy);
    this.sign = nativeSigner(store.dataDir.nodeKey.secretKey);
    this.facts = {
      isAuthority: (agent) => this.authorities.has(agent),
      isKnown: (agent) => this.known.isKnown(agent),
      trustOf: options.trustOf,
      goldContradiction: (s, p, o) => this.gold.contradiction(s, p, o),
    };
    this.load();
    store.onAcknowledged((entries) => this.observe(entries));
    store.log.onSync((ms) => this.global.observeSync(ms, this.now()));
  }

  // ---------- IngestGate ----------

  shed(nowMs: number): StemeError | null {
    const open = this.global.check(nowMs);
    if (!open) return null;
    const retryAfterS = Math.max(1, Math.ceil(open.retryAfterMs / 1000));
    this.options.metrics?.breakerRejectionsTotal.inc({ breaker: "global" });
    return new StemeError("overloaded", `writes are being shed: ${open.reason}`, {
      hint: "the disk is slow; retry after the Retry-After interval",
      extra: { retry_after_s: retryAfterS },
    });
  }

  admit(agent: string, nowMs: number): GateTicket | null | StemeError {
    if (this.authorities.has(agent)) return null;
    const admission = this.breakers.admit(agent, nowMs);
    if (admission.ok) return { agent, probe: admission.probe };
    this.options.metrics?.breakerRejectionsTotal.inc({ breaker: "agent" });
    const retryAfterS = Math.max(1, Math.ceil(admission.retryAfterMs / 1000));
    const reason = this.breakers.get(agent, nowMs)?.reason;
    return new StemeError(
      "breaker_open",
      `writes from agent ${agent.slice(0, 12)}… are refused for ${retryAfterS} s: its circuit breaker is open${reason ? ` (${reason})` : ""}`,
      {
        hint: "slow down and retry after Retry-After; an admin can list breakers (GET /v1/admin/breakers) and reset one",
        extra: { retry_after_s: retryAfterS, agent },
      },
    );
  }

  anyOpen(nowMs: number): boolean {
    return this.breakers.anyOpen(nowMs);
  }

  refuses(agent: string, nowMs: number): StemeError | null {
    if (this.breakers.stateOf(agent, nowMs) !== "open") return null;
    const b = this.breakers.get(agent, nowMs);
    if (!b) return null;
    this.options.metrics?.breakerRejectionsTotal.inc({ breaker: "agent" });
    const retryAfterS = Math.max(1, b.retry_after_s ?? 1);
    return new StemeError(
      "breaker_open",
      `writes from agent ${agent.slice(0, 12)}… are refused for ${retryAfterS} s: its circuit breaker is open${b.reason ? ` (${b.reason})` : ""}`,
      {
        hint: "slow down and retry after Retry-After; an admin can list breakers (GET /v1/admin/breakers) and reset one",
        extra: { retry_after_s: retryAfterS, agent },
      },
    );
  }

  hold(signed: SignedRecord, idHex: string): SignedRecord | null {
    const r = signed.record;
    if (!this.policyOn || r.kind !== "assertion") return null;
    const reasons = quarantineReasons(r, toHex(r.agent), this.facts, this.options.policy);
    if (reasons.length === 0) return null;
    // Stated at the assertion's own time: as of any moment the assertion counts, so does its hold.
    return this.sign({
      v: 1,
      kind: "review",
      agent: this.nodeAgent,
      ts: r.ts,
      action: "hold",
      target: idHex,
      note: decisionNote({ policy: reasons.map((x) => x.rule), reasons }, null),
    });
  }

  held(idHex: string): boolean {
    return this.quarantine.held(idHex);
  }

  settle(ticket: GateTicket, outcome: GateOutcome, nowMs: number): void {
    this.breakers.record(ticket.agent, outcome, nowMs, ticket.probe);
  }

  // ---------- metrics ----------

  /** What the gauges show, read at scrape time (breaker states move with the clock). */
  gauges(): { quarantined: number; breakers: Record<string, number>; globalBreakerOpen: boolean } {
    const nowMs = this.now();
    return {
      quarantined: this.quarantine.size,
      breakers: this.breakers.counts(nowMs),
      globalBreakerOpen: this.global.snapshot(nowMs).state === "open",
    };
  }

  // ---------- feeding from records ----------

  /** Every authority review in the index, then the gold assertions they point at. */
  private load(): void {
    let afterLsn: number | undefined;
    for (;;) {
      const page = listRecords(this.store.index, { kinds: ["review"], limit: pageRecords, ...(afterLsn ? { afterLsn } : {}) });
      for (const loc of page.items) {
        const { record } = this.store.read(loc);
        if (record.kind === "review") this.review(toHex(loc.id), loc.lsn, record, false);
      }
      if (page.next === null) break;
      afterLsn = page.next;
    }
    for (const id of this.gold.missing()) this.goldTarget(Buffer.from(id, "hex"));
    this.logger.debug("content defense loaded", { held: this.quarantine.size, gold: this.gold.size });
  }

  /** A gold mark's assertion, from the store (it may have arrived before its mark, or not yet). */
  private goldTarget(target: Uint8Array): void {
    const loc = this.store.lookupId(target);
    if (!loc) return;
    const { record } = this.store.read(loc);
    if (record.kind === "assertion") this.gold.observeAssertion(toHex(target), record);
  }

  private observe(entries: readonly IndexEntry[]): void {
    for (const e of entries) {
      const r = e.record;
      if (r.kind === "review") this.review(toHex(e.id), e.lsn, r, true);
      else if (r.kind === "assertion") {
        const id = toHex(e.id);
        this.gold.observeAssertion(id, r);
        if (this.options.policy.unknownAgents && this.quarantine.state(id) === null) this.known.markKnown(toHex(r.agent));
      }
    }
  }

  private review(id: string, lsn: number, r: Review, live: boolean): void {
    if (!this.authorities.has(toHex(r.agent))) return;
    if (r.action === "trust_seed") this.known.markKnown(toHex(r.target));
    this.gold.observeReview(id, r);
    if (live && this.gold.wants(toHex(r.target))) this.goldTarget(r.target);
    if (!quarantineActions.has(r.action)) return;
    const decision = this.quarantine.observe(id, lsn, r);
    if (!live) return;
    this.options.metrics?.quarantineDecisionsTotal.inc({ action: r.action });
    if (!decision || decision.action === "hold") return;
    // Approval makes the author known; rejection counts against the author's breaker.
    const target = this.store.lookupId(r.target);
    if (!target) return;
    const author = toHex(this.store.read(target).record.agent);
    if (decision.action === "approve") this.known.markKnown(author);
    else if (!this.authorities.has(author)) this.breakers.recordRejection(author, this.now());
  }
}
