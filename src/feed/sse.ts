/**
 * Writing server-sent events (WHATWG HTML, "Server-sent events", §9.2.6 "Interpreting an event
 * stream"): an event is a block of `field: value` lines ended by a blank line. `data` may span
 * lines (one `data:` line each; the reader joins them with LF); `id` sets the reader's last
 * event ID even in a block without data, which dispatches nothing; a line starting with `:` is
 * a comment, ignored by readers and useful to keep proxies from closing a quiet connection.
 *
 * The change feed writes LF only; readers must accept CR, LF and CRLF (src/client/sse.ts does).
 */
import { invariant } from "../core/errors.ts";

export interface SseEvent {
  /** The event type; readers default to "message" without it. */
  event?: string;
  /** The last event ID a reader resumes from (`Last-Event-ID`). */
  id?: string | number;
  /** The payload; line breaks in it become separate `data:` lines. */
  data?: string;
  /** The reconnection delay a reader should use, ms. */
  retry?: number;
  /** A comment line (`: text`), e.g. a heartbeat. */
  comment?: string;
}

const lineBreak = /\r\n|\r|\n/;

/** One event block, ending in the blank line that dispatches it. */
export function encodeSse(e: SseEvent): string {
  let out = "";
  if (e.comment !== undefined) for (const line of e.comment.split(lineBreak)) out += `: ${line}\n`;
  if (e.event !== undefined) {
    invariant(!lineBreak.test(e.event) && e.event.length > 0, "an SSE event type is one non-empty line");
    out += `event: ${e.event}\n`;
  }
  if (e.id !== undefined) {
    const id = String(e.id);
    invariant(!lineBreak.test(id) && !id.includes("\0"), "an SSE id holds no line break or NUL");
    out += `id: ${id}\n`;
  }
  if (e.retry !== undefined) {
    invariant(Number.isSafeInteger(e.retry) && e.retry >= 0, "an SSE retry is a non-negative integer");
    out += `retry: ${e.retry}\n`;
  }
  if (e.data !== undefined) {
    // Most data is one line (JSON never holds a raw CR or LF): no split for it.
    if (e.data.indexOf("\n") < 0 && e.data.indexOf("\r") < 0) out += `data: ${e.data}\n`;
    else for (const line of e.data.split(lineBreak)) out += `data: ${line}\n`;
  }
  return `${out}\n`;
}
