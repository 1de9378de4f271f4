/**
 * Requests and answers over a data channel (wire.ts): one channel per peer and name, opened
 * when first needed and again after it breaks; each request carries a `seq` its answer repeats,
 * so many can be in flight on one channel, and each has a deadline on the view's clock.
 *
 * A channel that breaks fails every request in flight on it (the caller decides whether to
 * try another replica or leave the work to anti-entropy). A frame that does not decode ends the
 * channel: the session is authenticated, so it is a bug or a newer peer, and it is counted.
 */
import { type ProblemCode, problems, StemeError } from "../../core/errors.ts";
import type { Logger } from "../../core/logger.ts";
import type { Timer } from "../env.ts";
import type { Channel, ClusterView } from "./view.ts";
import { type DataMessage, DataWireError, decodeData, encodeData, type MessageOf, type MessageType } from "./wire.ts";

/** A request message without its `seq` (the link numbers it). */
export type Request = DataMessage extends infer M ? (M extends { seq: number } ? Omit<M, "seq"> : never) : never;

/** Why a request to a peer failed: it could not be sent or answered (not the peer's refusal, which is a StemeError). */
export class PeerUnavailable extends Error {}

interface Waiting {
  resolve(message: DataMessage): void;
  reject(err: Error): void;
  timer: Timer;
}

/** One peer's channel of one name, as the side that asks. */
export class PeerLink {
  private channel: Channel | null = null;
  private nextSeq = 1;
  private readonly waiting = new Map<number, Waiting>();
  private closed = false;

  constructor(
    private readonly view: ClusterView,
    readonly peer: string,
    private readonly name: string,
    private readonly onBadFrame: (reason: string) => void,
  ) {}

  /** Requests in flight. */
  get inFlight(): number {
    return this.waiting.size;
  }

  /** Sends `request` and resolves with its answer; an `error` answer rejects with its StemeError. */
  call<T extends MessageType>(request: Request, timeoutMs: number, expect: T): Promise<MessageOf<T>> {
    if (this.closed) return Promise.reject(new PeerUnavailable(`link to ${this.peer} closed`));
    const seq = this.nextSeq++;
    const channel = this.open();
    return new Promise<MessageOf<T>>((resolve, reject) => {
      const timer = this.view.clock.setTimeout(() => {
        if (this.waiting.delete(seq))
          reject(new PeerUnavailable(`${this.peer} did not answer ${request.type} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.waiting.set(seq, {
        timer,
        reject,
        resolve: (m) => {
          if (m.type === "error") reject(peerRefusal(m));
          else if (m.type !== expect) reject(new PeerUnavailable(`${this.peer} answered ${request.type} with ${m.type}`));
          else resolve(m as unknown as MessageOf<T>);
        },
      });
      channel.send(encodeData({ ...request, seq } as DataMessage));
    });
  }

  /** A message without an answer (shard-state news). */
  tell(message: DataMessage): void {
    if (!this.closed) this.open().send(encodeData(message));
  }

  close(): void {
    this.closed = true;
    this.channel?.close();
    this.failAll("link closed");
  }

  private open(): Channel {
    if (this.channel) return this.channel;
    const channel = this.view.openChannel(this.peer, this.name);
    this.channel = channel;
    channel.attach({
      frame: (bytes) => this.onFrame(channel, bytes),
      close: (reason) => this.onClose(channel, reason),
    });
    return channel;
  }

  private onFrame(channel: Channel, bytes: Uint8Array): void {
    let message: DataMessage;
    try {
      message = decodeData(bytes);
    } catch (err) {
      if (!(err instanceof DataWireError)) throw err;
      this.onBadFrame(err.message);
      channel.close();
      this.onClose(channel, `bad frame: ${err.message}`);
      return;
    }
    const seq = (message as { seq?: unknown }).seq;
    const w = typeof seq === "number" ? this.waiting.get(seq) : undefined;
    if (!w) return; // late: its request timed out
    this.waiting.delete(seq as number);
    w.timer.cancel();
    w.resolve(message);
  }

  private onClose(channel: Channel, reason: string): void {
    if (this.channel !== channel) return;
    this.channel = null;
    this.failAll(`channel to ${this.peer} closed: ${reason}`);
  }

  private failAll(reason: string): void {
    for (const [seq, w] of [...this.waiting]) {
      this.waiting.delete(seq);
      w.timer.cancel();
      w.reject(new PeerUnavailable(reason));
    }
  }
}

/** The StemeError a peer's `error` answer stands for. */
function peerRefusal(m: MessageOf<"error">): StemeError {
  const extra: Record<string, unknown> = {};
  if (typeof m.retry_after_s === "number") extra.retry_after_s = m.retry_after_s;
  const known = typeof m.code === "string" && Object.hasOwn(problems, m.code);
  const code = (known ? m.code : "internal") as ProblemCode;
  return new StemeError(code, known ? String(m.message) : `a peer answered ${String(m.code)}: ${String(m.message)}`, { extra });
}

/** What a served request comes to: an answer, or nothing for a one-way message. */
export type Answer = DataMessage | null;

/**
 * Serves channels of one name: each request goes to `handle`, whose answer (or the StemeError it
 * throws, as an `error` message) goes back with the request's `seq`. A bug is logged and
 * answered `internal`; the channel carries on.
 */
export function serveChannel(
  view: ClusterView,
  name: string,
  handle: (message: DataMessage, peer: string) => Answer | Promise<Answer>,
  logger: Logger,
  onBadFrame: (reason: string) => void,
): void {
  view.onChannel(name, (channel) => {
    let open = true;
    channel.attach({
      frame: (bytes) => {
        if (!open) return;
        let message: DataMessage;
        try {
          message = decodeData(bytes);
        } catch (err) {
          if (!(err instanceof DataWireError)) throw err;
          onBadFrame(err.message);
          open = false;
          channel.close();
          return;
        }
        void answer(channel, message, handle, logger, () => open);
      },
      close: () => {
        open = false;
      },
    });
  });
}

async function answer(
  channel: Channel,
  message: DataMessage,
  handle: (message: DataMessage, peer: string) => Answer | Promise<Answer>,
  logger: Logger,
  isOpen: () => boolean,
): Promise<void> {
  const seq = (message as { seq?: unknown }).seq;
  let reply: Answer;
  try {
    reply = await handle(message, channel.peer);
  } catch (err) {
    if (typeof seq !== "number") return;
    const problem =
      err instanceof StemeError
        ? err
        : (() => {
            logger.error("bug serving a data-plane request", {
              type: message.type,
              err: err as Error,
              stack: (err as Error)?.stack,
            });
            return new StemeError("internal", `internal error serving ${message.type}; see the peer's log`);
          })();
    const retry = problem.extra.retry_after_s;
    reply = {
      type: "error",
      seq,
      code: problem.code,
      message: problem.message,
      status: problem.status,
      retry_after_s: typeof retry === "number" ? retry : null,
    };
  }
  if (reply !== null && isOpen()) channel.send(encodeData(reply));
}
