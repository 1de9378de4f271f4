/**
 * One follower of the change feed: its position, its bounded buffer, and the event stream it
 * reads (docs/API.md#change-feed).
 *
 * The stream is pulled: the HTTP server asks for more only when the socket can take it, so
 * what a follower has not read waits here, in `queue`, and nowhere else grows. While the
 * follower catches up on past records it reads them a page per pull, at its own pace (nothing
 * buffers); once live, the feed pushes each new event into the queue. A queue still past its
 * bound (events or bytes) when new events come means the follower cannot keep up: it is cut
 * off — the queue is dropped at once, a last `cutoff` event names the last position it was
 * sent, and the stream ends. It is never skipped silently: everything up to that position was
 * handed to it, in order.
 *
 * Positions: `position` is the LSN up to which every record was considered for this follower
 * (sent if its filter takes it); ids go out in increasing order, on record events and on
 * id-only blocks (the first block, heartbeats) that move a filtered follower's resume point
 * past records it skipped.
 */
import { invariant } from "../core/errors.ts";
import type { FeedFilter } from "./filter.ts";
import { encodeSse } from "./sse.ts";

export interface FollowerLimits {
  /** Events a follower may have waiting; past it, it is cut off. */
  bufferEventsMax: number;
  /** Bytes a follower may have waiting; past it, it is cut off. */
  bufferBytesMax: number;
  /** The reconnection delay the stream suggests to EventSource clients (`retry:`), ms. */
  retryMs: number;
  /** After a cut-off or shutdown, how long a follower that reads nothing keeps its connection, s. */
  lingerSecs: number;
}

/** What a follower needs of the feed that serves it (hub.ts). */
export interface FollowerHost {
  /** One synchronous step of catching up: record events past `f.position`; `live` once the feed took it over. */
  catchUp(f: Follower): { events: Uint8Array[]; lastId: number | null; live: boolean };
  /** The follower is gone (cut off, disconnected, ended): forget it. */
  detached(f: Follower, why: DetachReason): void;
  /** Catching up failed (the log or index could not be read): the follower is cut off with `read_failed`. */
  failed(f: Follower, err: unknown): void;
}

export type FollowerState = "catching_up" | "live" | "ended";

/** Why a follower was cut off: it could not keep up, or the node could not read a record for it (retry later). */
export type CutoffReason = "slow_consumer" | "read_failed";

export type DetachReason = CutoffReason | "disconnect" | "shutdown";

/** The queue is flushed to the stream in chunks of about this size. */
const flushBytesMax = 256 * 1024;
const encoder = new TextEncoder();

interface Queued {
  bytes: Uint8Array;
  /** The SSE id the event carries, or -1. */
  id: number;
}

export class Follower {
  state: FollowerState = "catching_up";
  /** Every record up to this LSN was considered for this follower. */
  position: number;
  readonly stream: ReadableStream<Uint8Array>;
  /** The last id handed to the stream: what the client resumes from once it has read it all. */
  private sentId: number;
  /** The last id handed to the stream or queued. */
  private lastId: number;
  private queue: Queued[] = [];
  private head = 0;
  private queuedBytes = 0;
  private controller: ReadableStreamDefaultController<Uint8Array> | null = null;
  /** The fan-out the last pushed event came with (see `push`). */
  private burst = -1;
  private wake: (() => void) | null = null;

  constructor(
    readonly filter: FeedFilter,
    startLsn: number,
    private readonly host: FollowerHost,
    private readonly limits: FollowerLimits,
    /** Re-arms the connection's idle timeout (seconds), so a follower that never reads is let go. */
    private readonly linger: (secs: number) => void = () => {},
  ) {
    this.position = startLsn;
    this.sentId = startLsn;
    this.lastId = startLsn;
    this.stream = new ReadableStream<Uint8Array>(
      {
        start: (controller) => {
          this.controller = controller;
          // The first block sets an EventSource's last event ID: a reconnect before any record
          // still resumes from here, not from "now".
          controller.enqueue(encoder.encode(encodeSse({ retry: limits.retryMs, id: startLsn })));
        },
        pull: (controller) => this.pull(controller),
        cancel: () => this.end("disconnect"),
      },
      { highWaterMark: 0 },
    );
  }

  /** Events waiting for the client. */
  get bufferedEvents(): number {
    return this.queue.length - this.head;
  }

  get bufferedBytes(): number {
    return this.queuedBytes;
  }

  /**
   * Queue one event (`id` when it carries one). Returns false once the follower has ended.
   *
   * The bound applies to what still waits from earlier bursts when a new one arrives: one
   * fan-out (`burst`, the feed's turn number; events without one are a burst each) hands over
   * a group commit's records in one synchronous go, with no chance for anyone to read between
   * them, so a burst alone may pass the bound — a follower that reads keeps up — while a
   * follower that has not read the last bursts when the next comes is too slow: cut off.
   * (A burst's size is bounded by the log's group commit, and its bytes are shared by every
   * follower.)
   */
  push(bytes: Uint8Array, id = -1, burst = -1): boolean {
    if (this.state === "ended") return false;
    if (burst < 0 || burst !== this.burst) {
      this.burst = burst;
      if (this.bufferedEvents >= this.limits.bufferEventsMax || this.queuedBytes >= this.limits.bufferBytesMax) {
        this.cutOff("slow_consumer");
        return false;
      }
    }
    if (id >= 0) {
      invariant(id >= this.lastId, `SSE ids go up (${id} after ${this.lastId})`);
      this.lastId = id;
    }
    this.queue.push({ bytes, id });
    this.queuedBytes += bytes.length;
    this.wake?.();
    return true;
  }

  /** A heartbeat comment, carrying the position when it moved past the last id sent. */
  heartbeat(): void {
    const id = this.position > this.lastId ? this.position : undefined;
    this.push(encoder.encode(encodeSse({ comment: "heartbeat", ...(id !== undefined ? { id } : {}) })), id ?? -1);
  }

  /**
   * Too slow (or a record could not be read for it): drop what waits, tell the client where it
   * got to, end the stream. A client that reads nothing more loses the connection after
   * `lingerSecs`.
   */
  cutOff(reason: CutoffReason): void {
    if (this.state === "ended") return;
    const data = JSON.stringify({ last_lsn: this.sentId, reason });
    this.finish(reason, encodeSse({ event: "cutoff", data }));
  }

  /** The server is stopping: hand over what waits, then end the stream. */
  shutdown(): void {
    if (this.state === "ended") return;
    this.flush(Number.POSITIVE_INFINITY);
    this.finish("shutdown", encodeSse({ comment: "server shutting down" }));
  }

  private finish(why: CutoffReason | "shutdown", last: string): void {
    this.dropQueue();
    const controller = this.controller;
    this.end(why);
    if (!controller) return;
    try {
      controller.enqueue(encoder.encode(last));
      controller.close();
    } catch {
      return; // the client went away in the meantime: nothing to close
    }
    this.linger(this.limits.lingerSecs);
  }

  private end(why: DetachReason): void {
    if (this.state === "ended") return;
    this.state = "ended";
    this.dropQueue();
    this.host.detached(this, why);
    this.wake?.();
  }

  private dropQueue(): void {
    this.queue = [];
    this.head = 0;
    this.queuedBytes = 0;
  }

  private async pull(controller: ReadableStreamDefaultController<Uint8Array>): Promise<void> {
    for (;;) {
      if (this.state === "ended") return;
      if (this.bufferedEvents > 0) {
        this.flush(flushBytesMax);
        return;
      }
      if (this.state === "catching_up") {
        let step: ReturnType<FollowerHost["catchUp"]>;
        try {
          step = this.host.catchUp(this);
        } catch (err) {
          this.host.failed(this, err);
          this.cutOff("read_failed");
          return;
        }
        if (step.live) this.state = "live";
        if (step.events.length > 0) {
          controller.enqueue(concat(step.events));
          if (step.lastId !== null) this.sent(step.lastId);
          return;
        }
        continue;
      }
      await new Promise<void>((resolve) => {
        this.wake = resolve;
      });
      this.wake = null;
    }
  }

  /** Hands queued events to the stream, about `bytesMax` at a time. */
  private flush(bytesMax: number): void {
    const controller = this.controller;
    if (!controller || this.bufferedEvents === 0) return;
    const parts: Uint8Array[] = [];
    let bytes = 0;
    let id = -1;
    while (this.head < this.queue.length && bytes < bytesMax) {
      const q = this.queue[this.head++] as Queued;
      parts.push(q.bytes);
      bytes += q.bytes.length;
      if (q.id >= 0) id = q.id;
    }
    this.queuedBytes -= bytes;
    if (this.head === this.queue.length) this.dropQueue();
    else if (this.head > 1024 && this.head * 2 > this.queue.length) {
      this.queue = this.queue.slice(this.head);
      this.head = 0;
    }
    controller.enqueue(concat(parts));
    if (id >= 0) this.sent(id);
  }

  private sent(id: number): void {
    this.sentId = id;
    if (id > this.lastId) this.lastId = id;
  }
}

function concat(parts: Uint8Array[]): Uint8Array {
  if (parts.length === 1) return parts[0] as Uint8Array;
  let n = 0;
  for (const p of parts) n += p.length;
  const out = new Uint8Array(n);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}
