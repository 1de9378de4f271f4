/**
 * Channels: the data plane's protocols over authenticated stream sessions
 * (docs/CLUSTER.md#channels, docs/CLUSTER-WIRE.md#channels).
 *
 * Every stream to a member's cluster port starts with the session handshake (handshake.ts). The
 * first sealed message then says what the session is for:
 *
 * - `push_pull`: membership's full state exchange (push-pull.ts), answered and closed;
 * - `open {channel, from}`: a **channel** session, long-lived, whose every later message is
 *   `data {payload}` — bytes of the channel's own protocol, which this layer does not read.
 *
 * One session carries one channel; a node opens as many sessions as it needs (the data plane
 * keeps a `push` and an `rpc` session per peer), all on the one TCP port, all
 * authenticated by the cluster key, each frame MACed in order. memberlist multiplexes its
 * stream types the same way, by the first message. Channel numbers are **append-only**, like
 * message types: a number keeps its meaning forever; a node that gets a channel it does not
 * serve closes the session (counted), so a newer member can talk to an older one.
 *
 * The session handlers here are plain callbacks on the protocol's thread; a handler that throws
 * is a bug in the channel's code: it is reported (`bug`) and ends that session, never the
 * node's stream loop.
 */
import type { Clock, Random } from "./env.ts";
import type { Keyring } from "./keyring.ts";
import { Session, type SessionOptions } from "./session.ts";
import type { Stream, Transport } from "./transport.ts";
import { channelPayloadBytesMax, type Message, type MessageOf } from "./wire.ts";

/**
 * The channel table. Append-only: never renumber, never reuse a number. 0 is not used (a
 * missing field must not read as a channel).
 */
export const channelIds = {
  /** The node's identity and cluster parameters: the join check (node.ts), one request and one answer. */
  info: 1,
  /** The data plane's replication: new records pushed to the other replicas. */
  push: 2,
  /** The data plane's everything else: Merkle comparisons, fetches, forwarded requests, shard states. */
  rpc: 3,
} as const;

export type ChannelName = keyof typeof channelIds;
const channelNames = new Map<number, ChannelName>(Object.entries(channelIds).map(([n, id]) => [id, n as ChannelName]));

/** One end of a channel session. */
export interface ChannelSession {
  readonly channel: ChannelName;
  /** The node id of the member at the other end (the opener says who it is in `open`). */
  readonly peer: string;
  /** The other end's stream address as the transport knows it. */
  readonly remote: string;
  readonly closed: boolean;
  /** Sends one message of the channel's protocol (at most `channelPayloadBytesMax` bytes; more is a bug: throws). */
  send(payload: Uint8Array): void;
  /** Ends the session; our own `end` handler is not called. */
  close(): void;
  /** Bytes sent and not yet written to the network: a sender's backpressure signal. */
  bufferedBytes(): number;
}

export interface ChannelHandlers {
  /** One message from the peer, in order. */
  message(payload: Uint8Array, session: ChannelSession): void;
  /** The session ended: the peer closed it, the stream broke, a frame failed, it was idle too long. Not after our own close(). */
  end(reason: string): void;
}

/** What the accepting side does with a new channel session: the handlers for its messages. */
export type ChannelAcceptor = (session: ChannelSession) => ChannelHandlers;

export interface ChannelStats {
  /** Channel sessions we opened and accepted, by channel. */
  opened: Record<ChannelName, number>;
  accepted: Record<ChannelName, number>;
  /** Sessions opened for a channel this node does not serve (or after it stopped serving). */
  refused: number;
  /** Handlers that threw (a bug in a channel's code): the session was ended. */
  handlerErrors: number;
}

export function newChannelStats(): ChannelStats {
  const zero = () => Object.fromEntries(Object.keys(channelIds).map((n) => [n, 0])) as Record<ChannelName, number>;
  return { opened: zero(), accepted: zero(), refused: 0, handlerErrors: 0 };
}

class ChannelEnd implements ChannelSession {
  handlers: ChannelHandlers | null = null;

  constructor(
    private readonly session: Session,
    readonly channel: ChannelName,
    readonly peer: string,
    private readonly onBug: (err: unknown) => void,
  ) {}

  get remote(): string {
    return this.session.remote;
  }

  get closed(): boolean {
    return this.session.closed;
  }

  send(payload: Uint8Array): void {
    if (payload.length > channelPayloadBytesMax)
      throw new RangeError(`a channel message is at most ${channelPayloadBytesMax} bytes, this one ${payload.length}`);
    this.session.send({ type: "data", payload });
  }

  close(): void {
    this.session.close();
  }

  bufferedBytes(): number {
    return this.session.bufferedBytes();
  }

  /** A sealed message of this session, after `open`: only `data` belongs here. */
  deliver(message: Message): void {
    if (message.type !== "data") {
      this.session.close();
      this.ended(`${message.type} in a ${this.channel} channel`);
      return;
    }
    try {
      this.handlers?.message(message.payload, this);
    } catch (err) {
      this.session.close();
      this.onBug(err);
      this.ended(`the ${this.channel} handler failed: ${(err as Error).message}`);
    }
  }

  ended(reason: string): void {
    const handlers = this.handlers;
    this.handlers = null;
    try {
      handlers?.end(reason);
    } catch (err) {
      this.onBug(err);
    }
  }
}

export interface ChannelContext {
  transport: Transport;
  keyring: () => Keyring;
  random: Random;
  clock: Clock;
  /** The handshake (and a push-pull) must finish within this. */
  timeoutMs: number;
  /** Our node id, said in `open`. */
  nodeId: string;
  /** A push-pull that came in on an accepted session (Membership.servePushPull). */
  servePushPull(message: MessageOf<"push_pull">, session: Session): void;
  /** Membership's session counters: accepted, failed. */
  sessionCounts: { sessionsAccepted: number; sessionsFailed: number };
  /** A channel handler threw: a bug, to be logged with its stack. */
  bug(err: unknown): void;
}

/** Opens channel sessions and serves the streams peers open to us. */
export class Channels {
  readonly stats = newChannelStats();
  private readonly acceptors = new Map<ChannelName, { accept: ChannelAcceptor; idleTimeoutMs: number | null }>();

  constructor(private readonly ctx: ChannelContext) {}

  private readonly bug = (err: unknown): void => {
    this.stats.handlerErrors++;
    this.ctx.bug(err);
  };

  private sessionOptions(): SessionOptions {
    const { random, clock, timeoutMs } = this.ctx;
    return { keyring: this.ctx.keyring(), random, clock, timeoutMs };
  }

  /**
   * Serves `channel`: each session a peer opens on it is handed to `accept`. With
   * `idleTimeoutMs`, a session that hears nothing from its peer for that long ends.
   */
  serve(channel: ChannelName, accept: ChannelAcceptor, idleTimeoutMs: number | null = null): void {
    if (this.acceptors.has(channel)) throw new Error(`channel ${channel} is already served`);
    this.acceptors.set(channel, { accept, idleTimeoutMs });
  }

  /**
   * A channel session to the member whose stream address is `address` (its `cluster`). It
   * resolves once the handshake is done (we may send at once) and rejects with the reason the
   * session could not be made: nobody listens, the peer does not hold the cluster key, timeout.
   */
  open(
    address: string,
    peer: string,
    channel: ChannelName,
    handlers: ChannelHandlers,
    idleTimeoutMs: number | null = null,
  ): Promise<ChannelSession> {
    return new Promise((resolve, reject) => {
      let end: ChannelEnd | null = null;
      Session.open(this.ctx.transport, address, this.sessionOptions(), {
        ready: (session) => {
          session.keepOpen(idleTimeoutMs);
          session.send({ type: "open", channel: channelIds[channel], from: this.ctx.nodeId });
          end = new ChannelEnd(session, channel, peer, this.bug);
          end.handlers = handlers;
          this.stats.opened[channel]++;
          resolve(end);
        },
        message: (message) => end?.deliver(message),
        end: (reason) => {
          if (end) end.ended(reason);
          else {
            this.ctx.sessionCounts.sessionsFailed++;
            reject(new Error(`${channel} session to ${address}: ${reason}`));
          }
        },
      });
    });
  }

  /** A stream a peer opened: the handshake, then push-pull or a channel by the first message. */
  accept(stream: Stream): void {
    const counts = this.ctx.sessionCounts;
    counts.sessionsAccepted++;
    let end: ChannelEnd | null = null;
    Session.accept(stream, this.sessionOptions(), {
      ready: () => {},
      message: (message, session) => {
        if (end) end.deliver(message);
        else if (message.type === "push_pull") this.ctx.servePushPull(message, session);
        else if (message.type === "open") end = this.start(message, session);
        else session.close();
      },
      end: (reason) => {
        if (end) end.ended(reason);
        else counts.sessionsFailed++;
      },
    });
  }

  private start(open: MessageOf<"open">, session: Session): ChannelEnd | null {
    const name = channelNames.get(open.channel);
    const served = name === undefined ? undefined : this.acceptors.get(name);
    if (name === undefined || served === undefined) {
      this.stats.refused++;
      session.close();
      return null;
    }
    session.keepOpen(served.idleTimeoutMs);
    const end = new ChannelEnd(session, name, open.from, this.bug);
    this.stats.accepted[name]++;
    try {
      end.handlers = served.accept(end);
    } catch (err) {
      session.close();
      this.bug(err);
      return null;
    }
    return end;
  }
}
