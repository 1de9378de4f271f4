/**
 * One TCP connection as a `Stream` (transport.ts): length-prefixed frames (frames.ts) over a
 * Bun socket, accepted or connected, plain or TLS.
 *
 * What the interface promises and how it is kept here:
 * - frames that arrive before `attach` are held, in order, and so is a close;
 * - `send` never blocks: what the socket does not take now waits in an outbox that the socket's
 *   `drain` empties (`bufferedBytes` tells the sender how much waits);
 * - `close` ends the connection after the outbox is written (a push-pull answer followed by a
 *   close arrives whole), and our own close is never reported back to us;
 * - a peer's close, a broken connection, a bad length or a TLS failure is reported once, with
 *   its reason.
 */
import type { Socket } from "bun";
import type { Stream, StreamHandlers } from "../transport.ts";
import { encodeFrame, FrameReader } from "./frames.ts";

/** What a stream reports to its transport (counted there). */
export interface StreamEvents {
  badLength(stream: TcpStream, length: number): void;
  bytesSent(n: number): void;
  bytesReceived(n: number): void;
  gone(stream: TcpStream): void;
}

/** How long a closing stream may take to write what it still holds before it is cut. */
const closeFlushMs = 10_000;

export class TcpStream implements Stream {
  private socket: Socket<TcpStream> | null = null;
  /** Set once the socket may carry frames: connected, and with TLS the handshake done. */
  private ready = false;
  private handlers: StreamHandlers | null = null;
  private readonly held: Uint8Array[] = [];
  private heldClose: string | null = null;
  private readonly outbox: Uint8Array[] = [];
  private outboxBytes = 0;
  private readonly reader: FrameReader;
  /** We closed it: nothing more is delivered or reported. */
  private closedByUs = false;
  /** Reported closed (to the handlers, or held for them). */
  private over = false;

  constructor(
    public remote: string,
    frameBytesMax: number,
    private readonly events: StreamEvents,
  ) {
    this.reader = new FrameReader(frameBytesMax);
  }

  attach(handlers: StreamHandlers): void {
    if (this.handlers) throw new Error("stream handlers are already attached");
    this.handlers = handlers;
    for (const frame of this.held.splice(0)) if (!this.closedByUs) handlers.frame(frame);
    if (this.heldClose !== null && !this.closedByUs) handlers.close(this.heldClose);
  }

  send(frame: Uint8Array): void {
    if (this.closedByUs || this.over) return;
    const bytes = encodeFrame(frame);
    this.outbox.push(bytes);
    this.outboxBytes += bytes.length;
    this.flush();
  }

  bufferedBytes(): number {
    return this.outboxBytes;
  }

  close(): void {
    if (this.closedByUs) return;
    this.closedByUs = true;
    this.held.length = 0;
    if (this.socket === null) return; // still connecting: `connected` ends it
    if (this.outboxBytes === 0 || !this.ready) this.endSocket();
    else setTimeout(() => this.endSocket(), closeFlushMs).unref?.(); // the last drain ends it sooner (flush)
  }

  /** The socket is up (and with TLS, authenticated): frames may flow. */
  connected(socket: Socket<TcpStream>): void {
    this.socket = socket;
    if (this.closedByUs) {
      this.endSocket();
      return;
    }
    this.ready = true;
    this.flush();
  }

  /** The socket exists but is not ready yet (a TLS handshake to come). */
  opened(socket: Socket<TcpStream>): void {
    this.socket = socket;
    if (this.closedByUs) this.endSocket();
  }

  data(chunk: Uint8Array): void {
    if (this.over || this.closedByUs) return;
    this.events.bytesReceived(chunk.length);
    const read = this.reader.push(chunk);
    if (!read.ok) {
      this.events.badLength(this, read.length);
      this.ended(`bad frame length ${read.length}`);
      this.endSocket();
      return;
    }
    for (const frame of read.frames) {
      if (this.closedByUs || this.over) return;
      if (this.handlers) this.handlers.frame(frame);
      else this.held.push(frame);
    }
  }

  drain(): void {
    this.flush();
  }

  /** The connection is gone (closed by the peer, broken, refused, or a failed TLS handshake). */
  ended(reason: string): void {
    if (this.over) return;
    this.over = true;
    this.outbox.length = 0;
    this.outboxBytes = 0;
    this.events.gone(this);
    if (this.closedByUs) return;
    if (this.handlers) this.handlers.close(reason);
    else this.heldClose = reason;
  }

  private flush(): void {
    const socket = this.socket;
    if (!socket || !this.ready) return;
    while (this.outbox.length > 0) {
      const next = this.outbox[0] as Uint8Array;
      const written = socket.write(next);
      if (written > 0) this.events.bytesSent(written);
      if (written < next.length) {
        this.outbox[0] = next.subarray(Math.max(0, written));
        this.outboxBytes -= Math.max(0, written);
        return; // the socket's drain handler calls again
      }
      this.outbox.shift();
      this.outboxBytes -= next.length;
    }
    if (this.closedByUs) this.endSocket();
  }

  /** Ends the connection; the socket's close event then calls `ended`. */
  private endSocket(): void {
    const socket = this.socket;
    this.socket = null;
    this.ready = false;
    if (socket && socket.readyState > 0) socket.end();
  }
}
