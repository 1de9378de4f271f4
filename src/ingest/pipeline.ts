/**
 * The ingest pipeline: validate → admit → verify → de-duplicate → clock-skew check → (hold) →
 * append → index.
 *
 * Each stage's failure is per item: one bad record in a batch gets its own error and the
 * others go on. A record is acknowledged only when it is in the log on stable storage (the
 * log's group commit) and in the index (so a read right after the acknowledgement finds it).
 *
 * Throughput comes from batching at every stage without waiting on purpose:
 * - signatures are verified on libuv's thread pool, many in flight at once;
 * - the log coalesces every append queued while an fdatasync is in flight into the next one;
 * - the index applies what was acknowledged in batches, in one SQLite transaction each.
 *
 * Content defense (docs/DEFENSE.md) plugs in through an `IngestGate` (implemented in `src/defense`):
 * - the global breaker sheds a whole submission with 503 before anything is parsed;
 * - each parsed record's agent is **admitted** by its circuit breaker *before* its signature is
 *   checked, so a flood from a tripped agent costs no verification. That is safe because a
 *   breaker opens only on verified records (what each admitted record came to is reported
 *   back, `settle`): a forgery in someone's name is refused at worst, never counted;
 * - a new assertion the quarantine policy holds gets its `hold` review, signed by the node,
 *   appended right *before* it in the same group commit. Every prefix of the log that holds
 *   the assertion holds its hold — a crash cannot leave it visible — and the write answers
 *   `"status": "quarantined"`.
 */
import { invariant, StemeError } from "../core/errors.ts";
import { toHex } from "../core/hex.ts";
import { type Logger, silentLogger } from "../core/logger.ts";
import type { Kind } from "../core/record.ts";
import { fromCborSubmission, fromJsonSubmission, type SignedRecord } from "../crypto/signed.ts";
import { verifyIdAsync } from "../crypto/verify.ts";
import type { LogPosition } from "../log/index.ts";
import type { Metrics } from "../metrics/index.ts";
import type { Store } from "../store/store.ts";

/** One item as it arrived: a JSON record with `sig`, or a CBOR `{body, sig}` pair. */
export type Submission =
  | { shape: "json"; value: unknown }
  | { shape: "cbor"; body: unknown; sig: unknown }
  /** An item that failed to parse; it fails in its own slot of a batch. */
  | { shape: "error"; error: StemeError }
  /** A record already parsed and hashed (not verified) by the caller: a cluster node routing it (src/cluster/data). */
  | { shape: "signed"; signed: SignedRecord };

export interface WriteResult {
  id: string;
  lsn: number;
  status: "accepted" | "quarantined";
  duplicate: boolean;
  /** In a cluster: the replicas of the record's shard known durable when the write was answered. */
  replicas_acked?: number;
}

export interface SubmitOptions {
  /** Endpoints for one kind of record refuse the others. */
  kinds?: readonly Kind[];
  /**
   * Records a cluster peer replicates to this node (src/cluster/data): verified and
   * de-duplicated like any, but not subject to this node's content defense (the node that took
   * the write applied its own, and its `hold` review travels with the record) nor to its clock
   * (a `ts` the first node accepted must be stored everywhere, whatever this clock says).
   */
  replicated?: boolean;
  /** The cluster ack level a client asked for (`?ack=`); a single node is its own quorum and ignores it. */
  ack?: "one" | "quorum";
}

/** What the write routes need of ingest: the pipeline itself on a single node, a cluster's writer (src/cluster/data) in a cluster. */
export interface Submitter {
  submit(items: readonly Submission[], options?: SubmitOptions): Promise<ItemResult[]>;
}

export type ItemResult = { ok: true; result: WriteResult } | { ok: false; error: StemeError };

/** An admitted write, to report back: whose it is and whether it is its breaker's half-open probe. */
export interface GateTicket {
  readonly agent: string;
  readonly probe: boolean;
}

/**
 * What an admitted write came to: `void` says nothing about the agent (its signature failed —
 * anyone can claim a key — or the node failed to store it).
 */
export type GateOutcome = "accepted" | "duplicate" | "quarantined" | "rejected" | "void";

/** Content defense's hooks into the pipeline (see the top of this file). */
export interface IngestGate {
  /** A 503 `overloaded` problem when writes are being shed, else null. */
  shed(nowMs: number): StemeError | null;
  /** May `agent` (hex) write now? A ticket (null: not tracked), or the refusal. */
  admit(agent: string, nowMs: number): GateTicket | null | StemeError;
  /**
   * The refusal for an agent whose breaker is open, or null — asked before a record is parsed,
   * with the agent peeked from the raw submission, so a flood an open breaker refuses costs
   * no decoding, validation or hashing. Changes nothing (a half-open probe is `admit`'s).
   */
  refuses?(agent: string, nowMs: number): StemeError | null;
  /** Whether any agent's breaker may be open now (when none can be, `refuses` is not asked). */
  anyOpen?(nowMs: number): boolean;
  /** For a new, verified assertion: the hold review to append before it, or null. */
  hold(signed: SignedRecord, idHex: string): SignedRecord | null;
  /** Whether a stored assertion is held now (the status a duplicate answers with). */
  held(idHex: string): boolean;
  settle(ticket: GateTicket, outcome: GateOutcome, nowMs: number): void;
}

export interface IngestOptions {
  /** A `ts` further than this ahead of the node's clock is refused (docs/RECORDS.md#clock-skew). */
  clockSkewMs: number;
  /** Records admitted into the pipeline and not yet acknowledged; past it, 503. */
  queueRecordsMax: number;
  now: () => number;
  logger?: Logger;
  metrics?: Metrics;
  /** Signature check; defaults to the runtime's pool (the server passes a VerifyPool). */
  verify?: (sig: Uint8Array, id: Uint8Array, agent: Uint8Array) => Promise<boolean>;
  /** Content defense: breakers and the quarantine policy (none: every valid record goes in). */
  gate?: IngestGate;
}

/**
 * How many acknowledged-but-unindexed records are normal: the index applies in batches of up
 * to 5,000 (see Store); only a backlog past this eats into the queue bound.
 */
export const indexBacklogAllowance = 10_000;

export class Ingest {
  private depth = 0;
  private readonly inflight = new Map<string, Promise<ItemResult>>();
  private readonly logger: Logger;
  private readonly fault: Fault;

  constructor(
    private readonly store: Store,
    private readonly options: IngestOptions,
  ) {
    this.logger = options.logger ?? silentLogger;
    this.fault = faultOf(this.logger);
  }

  /** Records in the pipeline now. */
  get queueDepth(): number {
    return this.depth;
  }

  /**
   * Submit items; results come back in input order. Throws `overloaded` (503) without
   * touching anything when the pipeline is full.
   */
  async submit(items: readonly Submission[], options: SubmitOptions = {}): Promise<ItemResult[]> {
    const backlog = this.store.indexBacklog;
    let full: string | null = null;
    if (this.depth + items.length > this.options.queueRecordsMax) {
      full = `ingest queue is full (${this.depth} records waiting, limit ${this.options.queueRecordsMax})`;
    } else if (backlog > this.options.queueRecordsMax + indexBacklogAllowance) {
      // While the index fails (disk full, say) acknowledged records wait for it in memory;
      // refusing new writes is what keeps that bounded.
      full = `the index is ${backlog} records behind the log`;
    }
    if (full !== null) {
      this.options.metrics?.ingestRejectedOverloadTotal.inc();
      throw new StemeError("overloaded", full, {
        hint: "retry after the Retry-After interval",
        extra: { retry_after_s: 1 },
      });
    }
    const gate = options.replicated ? undefined : this.options.gate;
    const shed = gate?.shed(this.options.now());
    if (shed) throw shed;
    this.depth += items.length;
    this.options.metrics?.ingestQueueDepth.set(this.depth);
    const tickets: Array<GateTicket | null> = [];
    let verified: Array<SignedRecord | StemeError> = [];
    let results: ItemResult[] = [];
    try {
      const nowMs = this.options.now();
      const early = gate?.refuses !== undefined && (gate.anyOpen?.(nowMs) ?? true);
      const parsed = items.map((item) => {
        const agent = early ? peekAgent(item) : null;
        const refused = agent ? (gate?.refuses?.(agent, nowMs) ?? null) : null;
        return refused ?? onlyKinds(prepare(item, this.fault), options.kinds);
      });
      const prepared = gate ? parsed.map((p) => admit(gate, p, tickets, this.options.now())) : parsed;
      const check = this.options.verify ?? verifyIdAsync;
      verified = await Promise.all(prepared.map((p) => (p instanceof StemeError ? p : verify(p, check, this.fault))));
      results = await this.commit(verified, gate, options.replicated === true);
      this.count(verified, results);
      return results;
    } finally {
      if (gate) settle(gate, tickets, verified, results, this.options.now());
      this.depth -= items.length;
      this.options.metrics?.ingestQueueDepth.set(this.depth);
    }
  }

  /** De-duplicate, check the clock, then append and index what is new. */
  private commit(
    verified: Array<SignedRecord | StemeError>,
    gate: IngestGate | undefined,
    replicated: boolean,
  ): Promise<ItemResult[]> {
    const results: Array<ItemResult | Promise<ItemResult>> = [];
    const fresh: Array<{ signed: SignedRecord; idHex: string; slot: number }> = [];
    const firstSlotOf = new Map<string, number>();
    const repeats: Array<{ slot: number; of: number }> = [];
    const now = this.options.now();
    for (const v of verified) {
      if (v instanceof StemeError) {
        results.push({ ok: false, error: v });
        continue;
      }
      const idHex = toHex(v.id);
      const earlier = firstSlotOf.get(idHex);
      if (earlier !== undefined) {
        repeats.push({ slot: results.length, of: earlier });
        results.push(unfilled);
        continue;
      }
      firstSlotOf.set(idHex, results.length);
      const pending = this.inflight.get(idHex);
      if (pending) {
        results.push(pending.then((r) => (r.ok ? { ok: true, result: { ...r.result, duplicate: true } } : r)));
        continue;
      }
      const existing = this.store.lookupId(v.id);
      if (existing) {
        const status = gate?.held(idHex) ? "quarantined" : "accepted";
        results.push({ ok: true, result: { id: idHex, lsn: existing.lsn, status, duplicate: true } });
        continue;
      }
      if (!replicated && v.record.ts > now + this.options.clockSkewMs) {
        results.push({ ok: false, error: clockSkew(v.record.ts, now, this.options.clockSkewMs) });
        continue;
      }
      fresh.push({ signed: v, idHex, slot: results.length });
      results.push(unfilled);
    }
    if (fresh.length > 0) {
      // A held assertion's hold goes right before it (see the top of this file).
      const records: SignedRecord[] = [];
      const at: number[] = [];
      const held: boolean[] = [];
      for (const f of fresh) {
        const hold = f.signed.record.kind === "assertion" ? (gate?.hold(f.signed, f.idHex) ?? null) : null;
        if (hold) records.push(hold);
        held.push(hold !== null);
        at.push(records.length);
        records.push(f.signed);
      }
      const written = this.appendAndIndex(records, replicated);
      fresh.forEach((f, i) => {
        const status = held[i] ? "quarantined" : "accepted";
        const p: Promise<ItemResult> = written.then(
          (positions) => ({
            ok: true,
            result: { id: f.idHex, lsn: (positions[at[i] as number] as LogPosition).lsn, status, duplicate: false },
          }),
          (err) => ({ ok: false, error: this.fault(err, "append") }),
        );
        this.inflight.set(f.idHex, p);
        p.finally(() => this.inflight.delete(f.idHex));
        results[f.slot] = p;
      });
    }
    // The same record twice in one submission: the later copies answer as duplicates.
    for (const { slot, of } of repeats) {
      results[slot] = Promise.resolve(results[of] as ItemResult | Promise<ItemResult>).then((r) =>
        r.ok ? { ok: true, result: { ...r.result, duplicate: true } } : r,
      );
    }
    invariant(!results.includes(unfilled), "every result slot is filled");
    return Promise.all(results);
  }

  private async appendAndIndex(records: SignedRecord[], replicated: boolean): Promise<LogPosition[]> {
    const recordedAtMs = this.options.now();
    const positions = await this.store.log.append(records.map((r) => ({ body: r.body, sig: r.sig, recordedAtMs })));
    this.store.enqueueIndex(
      records.map((r, i) => {
        const pos = positions[i] as LogPosition;
        return {
          lsn: pos.lsn,
          id: r.id,
          record: r.record,
          segment: pos.segment,
          offset: pos.offset,
          recordedAtMs,
          body: r.body,
          sig: r.sig,
          replicated,
        };
      }),
    );
    return positions;
  }

  /** Counter children by label, looked up once: prom-client hashes a label object on every `inc` otherwise. */
  private readonly counted = new Map<string, { inc(): void }>();

  private count(verified: Array<SignedRecord | StemeError>, results: ItemResult[]): void {
    const m = this.options.metrics;
    if (!m) return;
    results.forEach((r, i) => {
      const v = verified[i];
      const kind: Kind | "unknown" = v instanceof StemeError || v === undefined ? "unknown" : v.record.kind;
      const outcome = r.ok ? (r.result.duplicate ? "duplicate" : r.result.status) : "rejected";
      const key = `${kind} ${outcome}`;
      let child = this.counted.get(key);
      if (!child) {
        child = m.ingestRecordsTotal.labels(kind, outcome);
        this.counted.set(key, child);
      }
      child.inc();
      if ((outcome === "accepted" || outcome === "quarantined") && kind === "assertion") m.assertionsIngestedTotal.inc();
      if (!r.ok) m.errorsTotal.inc({ code: r.error.code, layer: "ingest" });
    });
  }
}

/** "agent" as a canonical CBOR map key, then the head of a 32-byte byte string. */
const agentKeyBytes = Uint8Array.of(0x65, 0x61, 0x67, 0x65, 0x6e, 0x74, 0x58, 0x20);

/**
 * The agent a raw submission claims, without parsing it: the JSON `agent` field, or the bytes
 * after the "agent" key in a canonical CBOR body (its keys sort by length, so only "v", "ts" and
 * "kind" come before it: the key is within the first bytes). Only a hint for refusing early; a
 * record that is let through is parsed and checked in full.
 */
/** @internal exported for tests */
export function peekAgent(item: Submission): string | null {
  if (item.shape === "json") {
    const a = (item.value as { agent?: unknown } | null)?.agent;
    return typeof a === "string" && a.length === 64 ? a.toLowerCase() : null;
  }
  if (item.shape !== "cbor" || !(item.body instanceof Uint8Array)) return null;
  const body = item.body;
  const end = Math.min(body.length - 32, 64);
  outer: for (let i = 0; i + agentKeyBytes.length <= end; i++) {
    for (let k = 0; k < agentKeyBytes.length; k++) if (body[i + k] !== agentKeyBytes[k]) continue outer;
    const at = i + agentKeyBytes.length;
    return Buffer.from(body.buffer, body.byteOffset + at, 32).toString("hex");
  }
  return null;
}

/** Asks the gate about a parsed record's agent; a refused record fails in its slot, unverified. */
function admit(
  gate: IngestGate,
  p: SignedRecord | StemeError,
  tickets: Array<GateTicket | null>,
  nowMs: number,
): SignedRecord | StemeError {
  if (p instanceof StemeError) {
    tickets.push(null);
    return p;
  }
  const ticket = gate.admit(toHex(p.record.agent), nowMs);
  if (ticket instanceof StemeError) {
    tickets.push(null);
    return ticket;
  }
  tickets.push(ticket);
  return p;
}

/** Reports what each admitted record came to (always, even when the batch failed). */
function settle(
  gate: IngestGate,
  tickets: ReadonlyArray<GateTicket | null>,
  verified: ReadonlyArray<SignedRecord | StemeError>,
  results: readonly ItemResult[],
  nowMs: number,
): void {
  tickets.forEach((ticket, i) => {
    if (!ticket) return;
    const r = results[i];
    let outcome: GateOutcome = "void";
    if (verified[i] instanceof StemeError || r === undefined) outcome = "void";
    else if (r.ok) outcome = r.result.duplicate ? "duplicate" : r.result.status;
    else if (r.error.status < 500) outcome = "rejected";
    gate.settle(ticket, outcome, nowMs);
  });
}

/**
 * An item parsed and hashed as the pipeline would (not verified): the record, or the error that
 * fails its slot. A cluster node reads a record's subject this way before it routes it.
 */
export function prepareSubmission(item: Submission, kinds: readonly Kind[] | undefined, fault: Fault): SignedRecord | StemeError {
  return onlyKinds(prepare(item, fault), kinds);
}

/** Endpoints for one kind of record (`/v1/vote`, `/v1/retract`) refuse the others. */
function onlyKinds(p: SignedRecord | StemeError, kinds: readonly Kind[] | undefined): SignedRecord | StemeError {
  if (p instanceof StemeError || kinds === undefined || kinds.includes(p.record.kind)) return p;
  return new StemeError(
    "wrong_kind",
    `this endpoint takes ${kinds.join(" or ")} records, not ${p.record.kind}; use POST /v1/assert`,
    {
      extra: { field: "kind" },
    },
  );
}

/** Marks a result slot filled in later in `commit`; never returned (checked there). */
const unfilled: ItemResult = { ok: false, error: new StemeError("internal", "result slot not filled") };

/** Turns what a step threw into an item's error; a bug (anything but a StemeError) is logged with its stack. */
export type Fault = (err: unknown, step: string) => StemeError;

function prepare(item: Submission, fault: Fault): SignedRecord | StemeError {
  if (item.shape === "error") return item.error;
  if (item.shape === "signed") return item.signed;
  try {
    return item.shape === "json" ? fromJsonSubmission(item.value) : fromCborSubmission(item.body, item.sig);
  } catch (err) {
    return fault(err, "decode");
  }
}

async function verify(
  signed: SignedRecord,
  check: NonNullable<IngestOptions["verify"]>,
  fault: Fault,
): Promise<SignedRecord | StemeError> {
  let valid: boolean;
  try {
    valid = await check(signed.sig, signed.id, signed.record.agent);
  } catch (err) {
    return fault(err, "verify");
  }
  if (valid) return signed;
  const id = toHex(signed.id);
  return new StemeError("bad_signature", `signature does not verify for the record whose id the server computed as ${id}`, {
    hint: "sign the 32 id bytes (BLAKE3 of the canonical CBOR body) with the agent's key; compare this id with your client's to find a canonicalisation bug",
    extra: { computed_id: id },
  });
}

function clockSkew(ts: number, now: number, skewMs: number): StemeError {
  return new StemeError("clock_skew", `ts ${ts} is ${ts - now} ms ahead of the server clock (at most ${skewMs} ms allowed)`, {
    hint: "check the agent's clock (NTP); ts is milliseconds since the Unix epoch",
    extra: { field: "ts", server_time: now },
  });
}

/**
 * A StemeError is an operating error and passes as it is. Anything else is a bug: it is logged
 * with its stack (one line per occurrence) and answered `internal`, never swallowed.
 */
export function faultOf(logger: Logger): Fault {
  return (err, step) => {
    if (err instanceof StemeError) return err;
    logger.error("bug in the write path", { step, err: err as Error, stack: (err as Error)?.stack });
    return new StemeError("internal", `internal error while ingesting (${step}); see the server log`, { cause: err });
  };
}
