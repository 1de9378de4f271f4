/**
 * Reading server-sent events, as the WHATWG HTML standard says an EventSource does (§9.2.6,
 * "Interpreting an event stream"), for the change feed's `follow()`. Web-standard only: no
 * Node APIs, so the client runs in browsers, Deno, Bun and Node alike.
 *
 * Text arrives in chunks split anywhere — inside a line, between a CR and its LF, inside a
 * UTF-8 sequence (the caller decodes with `TextDecoder`'s `stream: true`). Lines end in CRLF,
 * LF or CR. A line `:…` is a comment; `field: value` (one space after the colon dropped) sets
 * `event`, appends to `data` (joined by LF), sets the last event ID (`id`, unless it holds NUL)
 * or the reconnection time (`retry`, digits only); other fields are ignored. A blank line
 * dispatches: the last event ID is kept even by a block without data, which dispatches
 * nothing. An unfinished block at the end of the stream is dropped.
 */

export interface SseMessage {
  /** The event type; "message" when the block named none. */
  type: string;
  data: string;
  /** The last event ID when this event was dispatched. */
  lastEventId: string;
}

const lineEnd = /[\r\n]/g;

export class SseParser {
  /** The last event ID so far (what a reconnect sends as `Last-Event-ID`). */
  lastEventId = "";
  /** The reconnection time the stream asked for, ms, or null. */
  retryMs: number | null = null;
  private pending = "";
  private started = false;
  /** The last chunk ended in CR: an LF opening the next one belongs to it. */
  private afterCr = false;
  private idBuffer = "";
  private eventType = "";
  private data = "";
  private hasData = false;

  /**
   * A new connection: what an unfinished block of the last one held is dropped (an id it named
   * was never dispatched, so it does not count); the last event ID and retry stay.
   */
  reset(): void {
    this.pending = "";
    this.started = false;
    this.afterCr = false;
    this.idBuffer = this.lastEventId;
    this.eventType = "";
    this.data = "";
    this.hasData = false;
  }

  /** Feeds decoded text; returns the events it completed, in order. */
  push(text: string): SseMessage[] {
    let chunk = text;
    if (!this.started && chunk.length > 0) {
      this.started = true;
      if (chunk.charCodeAt(0) === 0xfeff) chunk = chunk.slice(1);
    }
    if (this.afterCr && chunk.length > 0) {
      if (chunk.charCodeAt(0) === 10) chunk = chunk.slice(1);
      this.afterCr = false;
    }
    const out: SseMessage[] = [];
    let start = 0;
    lineEnd.lastIndex = 0;
    for (let m = lineEnd.exec(chunk); m !== null; m = lineEnd.exec(chunk)) {
      const at = m.index;
      const line = this.pending + chunk.slice(start, at);
      this.pending = "";
      this.line(line, out);
      start = at + 1;
      if (chunk.charCodeAt(at) === 13) {
        if (at + 1 < chunk.length) {
          if (chunk.charCodeAt(at + 1) === 10) start = at + 2;
        } else this.afterCr = true;
      }
      lineEnd.lastIndex = start;
    }
    this.pending += chunk.slice(start);
    return out;
  }

  private line(line: string, out: SseMessage[]): void {
    if (line === "") {
      this.dispatch(out);
      return;
    }
    if (line.charCodeAt(0) === 58) return; // ":" a comment
    const colon = line.indexOf(":");
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? "" : line.slice(colon + 1);
    if (value.charCodeAt(0) === 32) value = value.slice(1);
    switch (field) {
      case "event":
        this.eventType = value;
        break;
      case "data":
        this.data += this.hasData ? `\n${value}` : value;
        this.hasData = true;
        break;
      case "id":
        if (!value.includes("\0")) this.idBuffer = value;
        break;
      case "retry":
        if (/^\d+$/.test(value)) this.retryMs = Number(value);
        break;
    }
  }

  private dispatch(out: SseMessage[]): void {
    this.lastEventId = this.idBuffer;
    if (this.hasData) out.push({ type: this.eventType || "message", data: this.data, lastEventId: this.lastEventId });
    this.data = "";
    this.hasData = false;
    this.eventType = "";
  }
}
