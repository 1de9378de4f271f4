/**
 * An authenticated session over a stream (docs/CLUSTER-WIRE.md#stream-sessions): the
 * handshake of handshake.ts, then messages in MACed frames, all within one deadline.
 *
 * The client may send as soon as it has sent its proof (the server reads the proof first, as
 * frames arrive in order), which saves a round trip on every push-pull. Anything wrong — a
 * frame that does not decode, a failed proof or MAC, a message of the wrong kind, the
 * deadline — ends the session: the stream is closed and `end` says why. `end` is not called
 * after the owner's own `close()`.
 */
import type { Clock, Random, Timer } from "./env.ts";
import { ClientHandshake, ServerHandshake, SessionSeal, type Step } from "./handshake.ts";
import type { Keyring } from "./keyring.ts";
import type { Stream, Transport } from "./transport.ts";
import { channelOf, decodeMessage, encodeMessage, type Message, WireError } from "./wire.ts";

export interface SessionOptions {
  keyring: Keyring;
  random: Random;
  clock: Clock;
  /** The whole session, handshake included, must finish within this. */
  timeoutMs: number;
}

export interface SessionHandlers {
  /** The handshake is done; `send` may be used. */
  ready(session: Session): void;
  message(message: Message, session: Session): void;
  end(reason: string): void;
}

export class Session {
  private seal: SessionSeal | null = null;
  private finished = false;
  private timer: Timer;
  private readonly clock: Clock;
  /** Set by `keepOpen`: the session ends after this long without a frame from the peer. */
  private idleTimeoutMs: number | null = null;

  private constructor(
    private readonly stream: Stream,
    private readonly role: "client" | "server",
    private readonly handshake: ClientHandshake | ServerHandshake,
    private readonly handlers: SessionHandlers,
    options: SessionOptions,
  ) {
    this.clock = options.clock;
    this.timer = options.clock.setTimeout(() => this.fail(`timed out after ${options.timeoutMs} ms`), options.timeoutMs);
    stream.attach({ frame: (bytes) => this.onFrame(bytes), close: (reason) => this.fail(reason) });
  }

  /** Opens a stream to `address` and starts the handshake. */
  static open(transport: Transport, address: string, options: SessionOptions, handlers: SessionHandlers): Session {
    const handshake = new ClientHandshake(options.keyring, options.random);
    const session = new Session(transport.openStream(address), "client", handshake, handlers, options);
    session.stream.send(encodeMessage(handshake.start()));
    return session;
  }

  /** Answers the handshake on a stream a peer opened. */
  static accept(stream: Stream, options: SessionOptions, handlers: SessionHandlers): Session {
    return new Session(stream, "server", new ServerHandshake(options.keyring, options.random), handlers, options);
  }

  get remote(): string {
    return this.stream.remote;
  }

  get closed(): boolean {
    return this.finished;
  }

  /** Bytes handed to the stream and not yet written to the network (backpressure). */
  bufferedBytes(): number {
    return this.stream.bufferedBytes?.() ?? 0;
  }

  /**
   * A long-lived session (a channel: replication, anti-entropy): the whole-session deadline is
   * lifted; with `idleTimeoutMs` the session ends after that long without a frame from the peer,
   * else it lasts until either side closes it or the stream breaks.
   */
  keepOpen(idleTimeoutMs: number | null): void {
    if (this.finished) return;
    this.timer.cancel();
    this.idleTimeoutMs = idleTimeoutMs;
    this.armIdle();
  }

  private armIdle(): void {
    if (this.idleTimeoutMs === null) return;
    this.timer.cancel();
    const ms = this.idleTimeoutMs;
    this.timer = this.clock.setTimeout(() => this.fail(`idle for ${ms} ms`), ms);
  }

  send(message: Message): void {
    if (this.finished) return;
    if (!this.seal) throw new Error("Session.send before the handshake finished");
    this.stream.send(this.seal.seal(encodeMessage(message)));
  }

  close(): void {
    if (this.finished) return;
    this.finished = true;
    this.timer.cancel();
    this.stream.close();
  }

  private onFrame(bytes: Uint8Array): void {
    if (this.finished) return;
    this.armIdle();
    try {
      if (this.seal) {
        this.onSealed(this.seal, bytes);
        return;
      }
      const message = decodeMessage(bytes);
      if (channelOf(message.type) !== "handshake") {
        this.fail(`${message.type} before the handshake finished`);
        return;
      }
      this.onStep(this.handshake.receive(message));
    } catch (err) {
      if (err instanceof WireError) {
        this.fail(`bad frame: ${err.message}`);
        return;
      }
      throw err;
    }
  }

  private onSealed(seal: SessionSeal, bytes: Uint8Array): void {
    const payload = seal.open(bytes);
    if (payload === null) {
      this.fail("a frame failed its MAC");
      return;
    }
    const message = decodeMessage(payload);
    if (channelOf(message.type) !== "session") {
      this.fail(`${message.type} is not a session message`);
      return;
    }
    this.handlers.message(message, this);
  }

  private onStep(step: Step): void {
    if (step.kind === "fail") {
      this.fail(step.reason);
      return;
    }
    if (step.kind === "send") this.stream.send(encodeMessage(step.message));
    if (step.sessionKey) {
      this.seal = new SessionSeal(step.sessionKey, this.role);
      this.handlers.ready(this);
    }
  }

  private fail(reason: string): void {
    if (this.finished) return;
    this.finished = true;
    this.timer.cancel();
    this.stream.close();
    this.handlers.end(reason);
  }
}
