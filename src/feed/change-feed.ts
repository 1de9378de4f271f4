/**
 * The change feed (docs/API.md#change-feed): every acknowledged record, in log order, to each
 * follower whose filter takes it, with nothing lost or repeated across the hand-over from past
 * records to live ones; and `conflict` events for watched pairs (conflicts.ts).
 *
 * **The write path pays O(1) per batch.** The store calls `acknowledged` synchronously with
 * each batch; it is queued and the fan-out (`drain`) runs on a later turn of the event loop,
 * where each record is matched against the followers, encoded once, and its bytes shared by
 * every follower that takes it. With no follower and no watched pair, an in-order batch only
 * moves `position`.
 *
 * **Log order.** The log acknowledges batches in LSN order: a group commit settles its callers
 * in order and each caller's `await` resumes one microtask later, before the next commit can
 * settle (log/writer.ts, ingest/pipeline.ts). The feed does not depend on that: a record that
 * arrives ahead of a gap waits (lsn-order.ts) until the gap fills.
 *
 * **Hand-over.** `position` is the LSN up to which every record was fanned out. A follower
 * catches up in synchronous steps (`catchUp`): pages from the index while it is behind what the
 * index holds, then the store's queue of acknowledged records the index has not applied yet,
 * up to `position` — and in that same step, with no `await` between reading `position` and
 * joining `live`, it joins the followers `drain` serves (which sends only records past each
 * follower's own position). So no record falls between the two, and none is sent twice.
 */
import { StemeError } from "../core/errors.ts";
import { type Logger, silentLogger } from "../core/logger.ts";
import { listRecords } from "../index/list.ts";
import type { IndexEntry, RecordLocation } from "../index/store.ts";
import type { Metrics } from "../metrics/index.ts";
import type { Store } from "../store/store.ts";
import { type ConflictEvent, ConflictWatch, type Resolver, type Watcher } from "./conflicts.ts";
import { type FeedFilter, listFilterOf, matchesFilter } from "./filter.ts";
import { type DetachReason, Follower, type FollowerHost } from "./follower.ts";
import { FollowerIndex } from "./follower-index.ts";
import { LsnOrder } from "./lsn-order.ts";
import { recordJson } from "./record-json.ts";
import { encodeSse } from "./sse.ts";

export interface ChangeFeedOptions {
  /** Followers connected at once; past it, `503 too_many_followers`. */
  followersMax: number;
  /** Events a follower may have waiting before it is cut off. */
  bufferEventsMax: number;
  /** Bytes a follower may have waiting before it is cut off. */
  bufferBytesMax: number;
  /** A heartbeat comment to every follower this often, ms; 0: none. */
  heartbeatMs: number;
  /** Watched pairs are resolved this long after a change at most once (the debounce window), ms. */
  conflictDelayMs?: number;
  /** A cut-off follower that reads nothing keeps its connection this long, s. */
  lingerSecs?: number;
  /** The reconnection delay suggested to clients (`retry:`), ms. */
  retryMs?: number;
  /** Records read per catch-up step (default `catchUpPageRecords`). */
  pageRecords?: number;
  metrics?: Metrics;
  logger?: Logger;
  /** Runs the fan-out after an acknowledgement (default: `setImmediate`; tests run it by hand). */
  schedule?: (fn: () => void) => void;
}

/** A watch list: pairs, one lens, one κ threshold (docs/API.md#conflict-events). */
export interface WatchRequest {
  pairs: ReadonlyArray<{ subject: string; predicate: string }>;
  lens: string;
  layers?: string[];
  threshold: number;
}

export interface FollowRequest {
  filter: FeedFilter;
  /** Start after this LSN; absent: from now (only new records). */
  since?: number;
  watch?: WatchRequest;
  /** Re-arms the connection's idle timeout, s (see Follower). */
  linger?: (secs: number) => void;
}

/** Records read per catch-up step (one pull of the stream). */
export const catchUpPageRecords = 500;
export const conflictDelayMsDefault = 50;
export const retryMsDefault = 1000;
export const lingerSecsDefault = 10;

const encoder = new TextEncoder();

export class ChangeFeed implements FollowerHost {
  /** Puts acknowledged records in LSN order; its position: every record up to it has been fanned out. */
  private readonly order: LsnOrder;
  private readonly inbox: Array<readonly IndexEntry[]> = [];
  private readonly followers = new Set<Follower>();
  /** Followers the fan-out serves (caught up), indexed by their filters. */
  private readonly live = new FollowerIndex();
  private readonly watchers = new Map<Follower, Watcher[]>();
  private scheduled = false;
  /** Fan-outs run (each one a burst for the followers' bounds). */
  private turn = 0;
  private closed = false;
  private readonly heartbeatTimer: ReturnType<typeof setInterval> | null;
  private readonly schedule: (fn: () => void) => void;
  private readonly logger: Logger;
  readonly conflicts: ConflictWatch;
  /** Events handed to followers since start, by type (mirrored to metrics at scrape). */
  readonly sent = { record: 0, conflict: 0 };

  constructor(
    private readonly store: Store,
    resolve: Resolver,
    private readonly options: ChangeFeedOptions,
  ) {
    this.order = new LsnOrder(store.log.lastLsn);
    this.logger = options.logger ?? silentLogger;
    this.schedule = options.schedule ?? ((fn) => setImmediate(fn));
    this.conflicts = new ConflictWatch(resolve, {
      passDelayMs: options.conflictDelayMs ?? conflictDelayMsDefault,
      position: () => this.order.position,
      logger: this.logger,
    });
    store.onAcknowledged((entries) => this.acknowledged(entries));
    this.heartbeatTimer = options.heartbeatMs > 0 ? setInterval(() => this.heartbeat(), options.heartbeatMs) : null;
    this.heartbeatTimer?.unref?.();
  }

  /** Every record up to this LSN has been fanned out to the followers live then. */
  get position(): number {
    return this.order.position;
  }

  get followerCount(): number {
    return this.followers.size;
  }

  /** A new follower; its stream is the response body. */
  follow(req: FollowRequest): Follower {
    if (this.closed) throw new StemeError("unavailable", "the node is shutting down");
    if (this.followers.size >= this.options.followersMax) {
      throw new StemeError("too_many_followers", `the change feed has ${this.followers.size} followers, its limit`, {
        extra: { retry_after_s: 5 },
      });
    }
    const start = req.since ?? this.order.position;
    const follower = new Follower(
      req.filter,
      start,
      this,
      {
        bufferEventsMax: this.options.bufferEventsMax,
        bufferBytesMax: this.options.bufferBytesMax,
        retryMs: this.options.retryMs ?? retryMsDefault,
        lingerSecs: this.options.lingerSecs ?? lingerSecsDefault,
      },
      req.linger,
    );
    this.followers.add(follower);
    if (start >= this.order.position) this.attach(follower);
    if (req.watch) this.watch(follower, req.watch);
    return follower;
  }

  /** One synchronous catch-up step for `f` (FollowerHost). */
  catchUp(f: Follower): { events: Uint8Array[]; lastId: number | null; live: boolean } {
    const target = this.order.position;
    if (this.live.has(f) || f.position >= target) return this.attach(f);
    const indexed = this.store.indexLsn;
    const pageRecords = this.options.pageRecords ?? catchUpPageRecords;
    const events: Uint8Array[] = [];
    let lastId: number | null = null;
    if (f.position < indexed) {
      const bound = Math.min(indexed, target);
      const page = listRecords(this.store.index, {
        ...listFilterOf(f.filter),
        afterLsn: f.position,
        limit: pageRecords,
      });
      const items = page.items.filter((loc) => loc.lsn <= bound);
      for (const loc of items) events.push(this.recordEvent(loc));
      lastId = items.length > 0 ? (items[items.length - 1] as RecordLocation).lsn : null;
      const full = items.length === page.items.length && page.next !== null;
      f.position = full ? (lastId as number) : bound;
      this.sent.record += events.length;
      return { events, lastId, live: false };
    }
    // Past the index: acknowledged records it has not applied yet, all in the store's queue.
    let n = 0;
    for (const e of this.store.pendingAfter(f.position)) {
      if (e.lsn > target) break;
      f.position = e.lsn;
      if (matchesFilter(f.filter, e.record)) {
        events.push(this.entryEvent(e));
        lastId = e.lsn;
      }
      if (++n >= pageRecords) break;
    }
    this.sent.record += events.length;
    if (f.position < target && n >= pageRecords) return { events, lastId, live: false };
    f.position = target;
    return { ...this.attach(f), events, lastId };
  }

  /** FollowerHost: the follower is gone. */
  detached(f: Follower, why: DetachReason): void {
    this.followers.delete(f);
    this.live.delete(f);
    for (const w of this.watchers.get(f) ?? []) this.conflicts.unwatch(w);
    this.watchers.delete(f);
    if (why === "slow_consumer" || why === "read_failed") {
      this.options.metrics?.changesCutoffsTotal.inc({ reason: why });
      this.logger.info("change feed: a follower was cut off", { reason: why, position: f.position });
    }
  }

  /** FollowerHost: catching up failed; it is cut off with `read_failed` (the client retries). */
  failed(f: Follower, err: unknown): void {
    this.logger.error("change feed: reading past records for a follower failed; it is cut off", {
      position: f.position,
      err: err as Error,
    });
  }

  /** For /metrics: followers, what they have waiting, events sent. */
  gauges(): { followers: number; bufferedEvents: number; bufferedBytes: number; sent: { record: number; conflict: number } } {
    let bufferedEvents = 0;
    let bufferedBytes = 0;
    for (const f of this.followers) {
      bufferedEvents += f.bufferedEvents;
      bufferedBytes += f.bufferedBytes;
    }
    return { followers: this.followers.size, bufferedEvents, bufferedBytes, sent: { ...this.sent } };
  }

  /** Ends every stream (the server is stopping); new followers are refused. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.heartbeatTimer) clearInterval(this.heartbeatTimer);
    this.conflicts.close();
    for (const f of [...this.followers]) f.shutdown();
  }

  /** Sends a heartbeat to every follower now (the timer's work; tests call it). */
  heartbeat(): void {
    for (const f of [...this.followers]) {
      // A live follower has considered every record fanned out: the fan-out moves its position
      // only when it sends it one.
      if (f.position < this.position && this.live.has(f)) f.position = this.position;
      f.heartbeat();
    }
  }

  /** Runs the fan-out now if one is pending (tests that schedule by hand). */
  drainNow(): void {
    if (this.scheduled) this.drain();
  }

  private attach(f: Follower): { events: Uint8Array[]; lastId: number | null; live: boolean } {
    if (f.state !== "ended") this.live.add(f);
    return { events: [], lastId: null, live: true };
  }

  private watch(f: Follower, w: WatchRequest): void {
    const sink = {
      conflict: (event: ConflictEvent) => {
        if (f.push(encoder.encode(encodeSse({ event: "conflict", data: JSON.stringify(event) })))) this.sent.conflict++;
      },
    };
    this.watchers.set(
      f,
      w.pairs.map((p) => this.conflicts.watch(sink, p.subject, p.predicate, w.lens, w.layers, w.threshold)),
    );
  }

  /** The store's acknowledgement listener: on the write path, O(1) per batch. */
  private acknowledged(entries: readonly IndexEntry[]): void {
    if (entries.length === 0 || this.closed) return;
    const quiet = this.followers.size === 0 && this.conflicts.idle && !this.scheduled;
    if (quiet && this.order.skip(entries)) return;
    this.inbox.push(entries);
    if (this.scheduled) return;
    this.scheduled = true;
    this.schedule(() => this.drain());
  }

  private drain(): void {
    this.scheduled = false;
    this.turn++;
    const batches = this.inbox.splice(0);
    const deliver = (e: IndexEntry) => this.deliver(e);
    for (const batch of batches)
      for (const e of batch)
        if (!this.order.accept(e, deliver))
          this.logger.error("change feed: a record was acknowledged twice; ignored", { lsn: e.lsn, position: this.position });
  }

  private deliver(e: IndexEntry): void {
    this.conflicts.observe(e);
    let bytes: Uint8Array | null = null;
    let unreadable = false;
    // A follower's position moves when it is sent a record (and at heartbeats): one that
    // started ahead of the fan-out (since= past it) skips what it said it has.
    this.live.forCandidates(e.record, (f) => {
      if (e.lsn <= f.position || !matchesFilter(f.filter, e.record)) return;
      if (bytes === null && !unreadable) {
        try {
          bytes = this.entryEvent(e);
        } catch (err) {
          unreadable = true;
          this.logger.error("change feed: reading an acknowledged record failed", { lsn: e.lsn, err: err as Error });
        }
      }
      if (bytes === null) {
        // Never skipped silently: whoever should get this record is cut off before it, and
        // resumes from there when it reconnects.
        f.cutOff("read_failed");
        return;
      }
      f.position = e.lsn;
      if (f.push(bytes, e.lsn, this.turn)) this.sent.record++;
    });
  }

  /** `record` event of a record read through the index: the record as listings show it (flags not derived: `[]`). */
  private recordEvent(loc: RecordLocation): Uint8Array {
    const view = this.store.view(loc);
    return encoder.encode(encodeSse({ id: loc.lsn, event: "record", data: JSON.stringify(view) }));
  }

  /** The same for an acknowledged record, from what it carries when it can (record-json.ts). */
  private entryEvent(e: IndexEntry): Uint8Array {
    return encoder.encode(encodeSse({ id: e.lsn, event: "record", data: recordJson(this.store, e) }));
  }
}
