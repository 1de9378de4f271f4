/**
 * Push-pull: a full exchange of membership state over an authenticated stream
 * (docs/CLUSTER.md#push-pull), SWIM's complement from memberlist (pushPullNode,
 * handleConn / sendAndReceiveState in net.go).
 *
 * Gossip is probabilistic: a message can run out of retransmissions before it reaches
 * everyone, and a node that was cut off misses what happened meanwhile. So each node
 * periodically (and on join) opens a session to one random member, sends its whole table and
 * gets the other's; both merge what they receive by the ordinary rules (state.ts), so the
 * exchange can only bring news, never roll it back. A joining node learns the whole cluster in
 * one exchange, and the member it joined through gossips the newcomer to the rest.
 *
 * The server merges the client's state before it answers (memberlist answers first): if the
 * client brought news that the server is suspect or dead, the server has refuted it by then, and
 * the answer carries its new incarnation. A reconnect after a partition (membership.ts) then
 * heals both views in one exchange instead of two. The server closes the stream once its answer
 * is written.
 */
import type { Clock, Random } from "./env.ts";
import type { Keyring } from "./keyring.ts";
import { Session } from "./session.ts";
import type { MembershipStats } from "./stats.ts";
import type { Stream, Transport } from "./transport.ts";
import type { MemberRecord, MessageOf } from "./wire.ts";

export interface PushPullContext {
  transport: Transport;
  keyring: () => Keyring;
  random: Random;
  clock: Clock;
  timeoutMs: number;
  stats: MembershipStats;
  /** Our full state. */
  records(): MemberRecord[];
  merge(records: readonly MemberRecord[]): void;
}

export class PushPull {
  constructor(private readonly ctx: PushPullContext) {}

  private sessionOptions() {
    const { random, clock, timeoutMs } = this.ctx;
    return { keyring: this.ctx.keyring(), random, clock, timeoutMs };
  }

  /** Exchanges state with the node at the stream address `address`; `done` gets null or why it failed. */
  exchange(address: string, join: boolean, done: (failure: string | null) => void = () => {}): void {
    const { ctx } = this;
    ctx.stats.pushPulls++;
    let finished = false;
    const finish = (failure: string | null) => {
      if (finished) return;
      finished = true;
      if (failure !== null) {
        ctx.stats.pushPullFailures++;
        ctx.stats.sessionsFailed++;
      }
      done(failure);
    };
    Session.open(ctx.transport, address, this.sessionOptions(), {
      ready: (session) => session.send({ type: "push_pull", join, members: ctx.records() }),
      message: (message, session) => {
        if (message.type !== "push_pull") return;
        session.close();
        ctx.merge(message.members);
        finish(null);
      },
      end: (reason) => finish(reason),
    });
  }

  /** Serves one push-pull on a stream a peer opened. */
  accept(stream: Stream): void {
    const { ctx } = this;
    ctx.stats.sessionsAccepted++;
    Session.accept(stream, this.sessionOptions(), {
      ready: () => {},
      message: (message, session) => {
        if (message.type === "push_pull") this.serve(message, session);
      },
      end: () => {
        ctx.stats.sessionsFailed++;
      },
    });
  }

  /**
   * Answers a push-pull that arrived on an accepted session and closes it: `accept`'s answer,
   * for a caller that accepted the session itself (channels.ts, which also serves channels).
   */
  serve(message: MessageOf<"push_pull">, session: Session): void {
    this.ctx.merge(message.members);
    session.send({ type: "push_pull", join: false, members: this.ctx.records() });
    session.close();
  }
}
