/**
 * Gathering what a query needs from the store: the assertions about (subject, predicate) and
 * every record their lifecycle depends on — votes, retractions and reviews that target them,
 * assertions that supersede them, their whole `depends_on` closure (and what targets that),
 * the sources they cite with those sources' registrations, confirmations and retractions, and
 * the epochs. Each record carries its `recordedAt` (node-local), for `known_at`.
 *
 * Derived state is then a pure function of this set (src/state), so two nodes holding the
 * same records answer the same.
 */
import { StemeError } from "../core/errors.ts";
import { toHex } from "../core/hex.ts";
import type { StemeRecord } from "../core/record.ts";
import { type ListFilter, listRecords } from "../index/list.ts";
import { mismatchOf } from "../index/match.ts";
import { kindCodes, relCodes } from "../index/schema.ts";
import type { RecordLocation } from "../index/store.ts";
import type { StoredRecord } from "../state/index.ts";
import type { ReadStore, StoredRead } from "../store/checked-read.ts";
import type { Store } from "../store/store.ts";
import { Doorkeeper } from "./doorkeeper.ts";

/** A query reads at most this many records; past it, the answer would be too slow to give. */
export const queryRecordsMax = 50_000;

const pageRecords = 1000;

export interface Gathered {
  /** The assertions about (subject, predicate). */
  assertions: StoredRecord[];
  /** Where each gathered record read from the index lives (for the winner's record view). */
  locations: Map<string, RecordLocation>;
  /** Assertions read from the log by this query, with body and signature (the rest came from the cache). */
  reads: Map<string, StoredRead>;
  /** Everything, the assertions included, that derived state is computed from. */
  records: StoredRecord[];
  /** The log position the answer reflects. */
  lsn: number;
}

/**
 * Memory the decoded records may hold, by their estimated size (`decodedBytes`). Full, the
 * oldest half is dropped. A query of a busy pair rereads its few thousand votes and claims,
 * and cold queries of other pairs would otherwise push the cache to its bound and keep it
 * there (≈ 60 MB of heap at the 100,000 records it once counted).
 */
export const recordCacheBytesMaxDefault = 32 * 1024 * 1024;

/**
 * A decoded record's size in memory, estimated from its canonical body: the record object with
 * its strings and byte arrays (≈ 2 bytes for each byte of body), its hex id and the map slot.
 * Calibrated against the JS heap after a full collection: 575 bytes for a 140-byte assertion.
 */
export function decodedBytes(bodyBytes: number): number {
  return 300 + 2 * bodyBytes;
}

/**
 * Records decoded from the log, by LSN: a query of a busy pair reads the same few thousand
 * votes and claims again at every ask, and reading one (a pread, CBOR decoding, BLAKE3 of the
 * body) cost more than all the rest of its answer. Records never change, so a decoded one
 * stays right; it is served only when the index row that led to it agrees with it — id, kind,
 * and what selected it (match.ts) — as a read from the log is checked, else the log is read and
 * its checks report the damage.
 */
export class DecodedRecords {
  private readonly byLsn = new Map<number, { stored: StoredRecord; bytes: number }>();
  private held = 0;
  private readonly door = new Doorkeeper();
  hits = 0;
  misses = 0;

  constructor(private readonly bytesMax = recordCacheBytesMaxDefault) {}

  get size(): number {
    return this.byLsn.size;
  }

  /** Estimated bytes held (`decodedBytes`), at most `bytesMax`. */
  get bytes(): number {
    return this.held;
  }

  /** `onRead` is given the whole read (body and signature) when the record came from the log. */
  read(store: ReadStore, loc: RecordLocation, id: string, onRead?: (read: StoredRead) => void): StoredRecord {
    const hit = this.byLsn.get(loc.lsn)?.stored;
    if (
      hit !== undefined &&
      hit.id === id &&
      kindCodes[hit.record.kind] === loc.kind &&
      (loc.selectedBy === undefined || mismatchOf(hit.record, loc.selectedBy) === null)
    ) {
      store.index.assertSound();
      this.hits++;
      return hit;
    }
    this.misses++;
    const read = store.read(loc);
    const stored = { id, record: read.record, recordedAt: read.recordedAt };
    this.keep(loc.lsn, stored, decodedBytes(read.body.length));
    onRead?.(read);
    return stored;
  }

  private keep(lsn: number, stored: StoredRecord, bytes: number): void {
    if (bytes > this.bytesMax || !this.door.offer(lsn)) return; // kept at its second read (doorkeeper.ts)
    const old = this.byLsn.get(lsn);
    if (old !== undefined) {
      this.byLsn.delete(lsn);
      this.held -= old.bytes;
    }
    if (this.held + bytes > this.bytesMax) {
      // Full: the oldest half goes (a Map iterates in insertion order).
      for (const [k, v] of this.byLsn) {
        if (this.held <= this.bytesMax / 2) break;
        this.byLsn.delete(k);
        this.held -= v.bytes;
      }
    }
    this.byLsn.set(lsn, { stored, bytes });
    this.held += bytes;
  }
}

class Collector {
  readonly byId = new Map<string, StoredRecord>();
  readonly locations = new Map<string, RecordLocation>();
  /** Assertions read from the log by this query, whole: the winner's record view is made from its read. */
  readonly reads = new Map<string, StoredRead>();
  constructor(
    private readonly store: ReadStore,
    private readonly decoded?: DecodedRecords,
  ) {}

  /** Records known without the index (from the cache). */
  addKnown(records: readonly StoredRecord[]): void {
    for (const r of records) if (!this.byId.has(r.id)) this.byId.set(r.id, r);
  }

  add(loc: RecordLocation): StoredRecord | null {
    const id = toHex(loc.id);
    if (this.byId.has(id)) return null;
    if (this.byId.size >= queryRecordsMax) {
      throw new StemeError("query_too_large", `the query needs more than ${queryRecordsMax} records`, {
        hint: "narrow it (as_of, a more specific subject), or wait for materialized views",
      });
    }
    let stored: StoredRecord;
    const keepRead = (read: StoredRead) => {
      if (read.record.kind === "assertion") this.reads.set(id, read);
    };
    if (this.decoded) stored = this.decoded.read(this.store, loc, id, keepRead);
    else {
      const read = this.store.read(loc);
      keepRead(read);
      stored = { id, record: read.record, recordedAt: read.recordedAt };
    }
    this.byId.set(id, stored);
    this.locations.set(id, loc);
    return stored;
  }

  addAll(filter: Omit<ListFilter, "limit" | "afterLsn">): StoredRecord[] {
    const added: StoredRecord[] = [];
    let afterLsn: number | undefined;
    for (;;) {
      const page = listRecords(this.store.index, {
        ...filter,
        limit: pageRecords,
        ...(afterLsn !== undefined ? { afterLsn } : {}),
      });
      for (const loc of page.items) {
        const s = this.add(loc);
        if (s) added.push(s);
      }
      if (page.next === null) return added;
      afterLsn = page.next;
    }
  }

  /**
   * Records that decide the lifecycle of `ids` (hex): votes, retractions, reviews and
   * superseders. Their dependants are left out: a cascade flows from a dependency to its
   * dependants, not back.
   */
  addDeciders(ids: readonly string[]): StoredRecord[] {
    const added: StoredRecord[] = [];
    const targets = ids.map((id) => Buffer.from(id, "hex"));
    for (const loc of this.store.index.referrerLocationsOf(targets)) {
      if (loc.rel === relCodes.depends_on) continue;
      // Found by its reference to the target: the record read must make it (the read checks).
      const s = this.add(loc);
      if (s) added.push(s);
    }
    return added;
  }

  byIdBytes(id: Uint8Array): StoredRecord | null {
    const hex = toHex(id);
    const known = this.byId.get(hex);
    if (known) return known;
    const loc = this.store.lookupId(id);
    return loc ? this.add(loc) : null;
  }
}

/**
 * The records every query of a cited source, or any query at all, reads again: a source's
 * registrations, their confirmations and the source's retractions, and the epochs. Kept
 * decoded, dropped when a record of that kind is acknowledged (any `confirm_source` review
 * drops every source: it names a record, not a source id, and is rare); filled only when the
 * index holds every such record acknowledged so far (`settledLsn`), so a fill never misses one
 * still on its way to the index.
 */
export class GatherCache {
  private readonly sources = new Map<string, StoredRecord[]>();
  private epochs: StoredRecord[] | null = null;
  readonly decoded: DecodedRecords;
  /** The LSN of the last acknowledged source, source retraction or epoch. */
  private settledLsn = 0;
  private static readonly sourcesMax = 100_000;

  /**
   * `store` tells the cache of each acknowledged record when it is the node's own store; a
   * query worker's cache is told by the node instead (`acknowledged`, in the order the node saw them).
   */
  constructor(
    private readonly store: ReadStore & { onAcknowledged?: Store["onAcknowledged"] },
    recordCacheBytesMax = recordCacheBytesMaxDefault,
  ) {
    this.decoded = new DecodedRecords(recordCacheBytesMax);
    store.onAcknowledged?.((entries) => {
      for (const e of entries) this.acknowledged(e);
    });
  }

  /** Whether an acknowledged record concerns this cache (what `acknowledged` looks at is all a worker is sent). */
  static concerns(r: StemeRecord): boolean {
    return (
      r.kind === "source" ||
      r.kind === "source_retraction" ||
      r.kind === "epoch" ||
      (r.kind === "review" && r.action === "confirm_source")
    );
  }

  /** Drops what an acknowledged record changes. */
  acknowledged(e: { lsn: number; record: StemeRecord }): void {
    const r = e.record;
    if (!GatherCache.concerns(r)) return;
    this.settledLsn = Math.max(this.settledLsn, e.lsn);
    if (r.kind === "source" || r.kind === "source_retraction") this.sources.delete(r.source_id);
    else if (r.kind === "epoch") this.epochs = null;
    else this.sources.clear(); // a confirm_source review names a record, not a source id (and is rare)
  }

  private get fillable(): boolean {
    return this.store.index.checkpointLsn >= this.settledLsn;
  }

  source(sourceId: string, load: () => StoredRecord[]): StoredRecord[] {
    const known = this.sources.get(sourceId);
    if (known) return known;
    const loaded = load();
    if (this.fillable) {
      if (this.sources.size >= GatherCache.sourcesMax) this.sources.clear();
      this.sources.set(sourceId, loaded);
    }
    return loaded;
  }

  epochRecords(load: () => StoredRecord[]): StoredRecord[] {
    if (this.epochs) return this.epochs;
    const loaded = load();
    if (this.fillable) this.epochs = loaded;
    return loaded;
  }
}

function loadAll(store: ReadStore, filter: Omit<ListFilter, "limit" | "afterLsn">): StoredRecord[] {
  const out: StoredRecord[] = [];
  let afterLsn: number | undefined;
  for (;;) {
    const page = listRecords(store.index, { ...filter, limit: pageRecords, ...(afterLsn !== undefined ? { afterLsn } : {}) });
    for (const loc of page.items) {
      const read = store.read(loc);
      out.push({ id: toHex(loc.id), record: read.record, recordedAt: read.recordedAt });
    }
    if (page.next === null) return out;
    afterLsn = page.next;
  }
}

/** A source's registrations and retractions, and the reviews (confirmations) of its registrations. */
export function loadSource(store: ReadStore, source: string): StoredRecord[] {
  const out = loadAll(store, { source, kinds: ["source", "source_retraction"] });
  for (const s of [...out]) {
    if (s.record.kind !== "source") continue;
    const id = Buffer.from(s.id, "hex");
    for (const ref of store.index.referrers(id, relCodes.review)) {
      const loc = store.index.locationByLsn(ref.lsn, { refersTo: { target: id, rel: ref.rel } });
      if (!loc) continue;
      const read = store.read(loc);
      out.push({ id: toHex(loc.id), record: read.record, recordedAt: read.recordedAt });
    }
  }
  return out;
}

/** Synchronous: the caller waits for the index first, so the answer reflects `lsn` exactly. */
export function gather(store: ReadStore, subject: string, predicate: string, cache?: GatherCache): Gathered {
  const lsn = store.index.checkpointLsn;
  const c = new Collector(store, cache?.decoded);
  const assertions = c.addAll({ subject, predicate, kinds: ["assertion"] });
  const sources = new Set<string>();
  // Walk assertions: what targets them, and what they depend on, to the end of every chain (the
  // collector adds a record once, so cycles end; queryRecordsMax bounds the whole walk).
  let frontier = assertions;
  while (frontier.length > 0) {
    const claims = frontier.filter((s) => s.record.kind === "assertion");
    const next = c.addDeciders(claims.map((s) => s.id)).filter((x) => x.record.kind === "assertion");
    for (const s of claims) {
      const r = s.record as Extract<StemeRecord, { kind: "assertion" }>;
      if (r.source !== undefined) sources.add(r.source);
      for (const dep of r.depends_on ?? []) {
        const d = c.byIdBytes(dep);
        if (d) next.push(d);
      }
    }
    frontier = next;
  }
  // Sources and their retractions; epochs (few, and any of them may supersede another).
  for (const source of sources) {
    const load = () => loadSource(store, source);
    c.addKnown(cache ? cache.source(source, load) : load());
  }
  const loadEpochs = () => loadAll(store, { kinds: ["epoch"] });
  c.addKnown(cache ? cache.epochRecords(loadEpochs) : loadEpochs());
  return { assertions, locations: c.locations, reads: c.reads, records: [...c.byId.values()], lsn };
}

export function isAssertion(r: StemeRecord): r is Extract<StemeRecord, { kind: "assertion" }> {
  return r.kind === "assertion";
}
