/**
 * Failure detection: one probe round per protocol period (docs/CLUSTER.md#failure-detection),
 * SWIM §3 (Das, Gupta, Motivala, "SWIM: Scalable Weakly-consistent Infection-style Process
 * Group Membership Protocol", DSN 2002) with Lifeguard's refinements, after memberlist's
 * probe / probeNode / handleIndirectPing (state.go, net.go).
 *
 * Each round picks the next member of a shuffled list (round robin, reshuffled at each pass,
 * new members inserted at a random place: every member is probed within two passes, SWIM
 * §4.3) and pings it. No ack within the probe timeout → k other members are asked to ping it
 * for us (indirect probe), each answering an ack if it got through and a nack if not. No ack
 * by the end of the round → the member is suspected (state.ts).
 *
 * Lifeguard: the round's length and its timeout stretch with our health score
 * (awareness.ts), the score moves with what the round showed (−1 on success; on failure +1
 * per missing nack, or +1 when no relay was asked), and a ping to a member we already suspect
 * carries the suspicion (the "buddy system", §4.3), so the member hears of it at once and
 * can refute. Unlike memberlist we also stretch the probe timeout (as the paper does), we run
 * one last probe round before a suspicion becomes a death (`lastCheck`, our addition), and we
 * have no TCP fallback ping yet (docs/CLUSTER.md#not-built-yet).
 */
import type { Awareness } from "./awareness.ts";
import type { MembershipConfig } from "./config.ts";
import { type Clock, pickRandom, type Random, shuffle, type Timer } from "./env.ts";
import type { Member, MemberStates } from "./state.ts";
import type { MembershipStats } from "./stats.ts";
import type { Message, MessageOf } from "./wire.ts";

export interface ProberContext {
  config: MembershipConfig;
  clock: Clock;
  random: Random;
  members: MemberStates;
  awareness: Awareness;
  stats: MembershipStats;
  /** Sends messages in one packet to a gossip address (gossip is piggybacked on the way). */
  send(to: string, messages: Message[]): void;
  /** A probe was answered after `ms` (directly or through a relay): the metrics' histogram. */
  onProbeRtt?(ms: number): void;
}

interface Round {
  target: Member;
  incarnation: number;
  seq: number;
  sentMs: number;
  acked: boolean;
  nacks: number;
  expectedNacks: number;
  timers: Timer[];
  /** What the round's end means: a suspicion for a regular round, a verdict for a last check. */
  onEnd(acked: boolean): void;
}

interface AckHandler {
  ack(): void;
  nack(): void;
}

function probeable(m: Member, self: string): boolean {
  return m.name !== self && (m.state === "alive" || m.state === "suspect");
}

export class Prober {
  private order: string[] = [];
  private index = 0;
  private seq = 0;
  private readonly handlers = new Map<number, AckHandler>();
  private round: Round | null = null;
  /** Last checks in progress (lastCheck). */
  private readonly checks = new Set<Round>();
  private next: Timer | null = null;
  private running = false;

  constructor(private readonly ctx: ProberContext) {}

  /** Starts probing after a random part of one interval, so nodes started together do not probe in step. */
  start(): void {
    this.running = true;
    this.next = this.ctx.clock.setTimeout(() => this.tick(), this.ctx.random.float() * this.ctx.config.probeIntervalMs);
  }

  stop(): void {
    this.running = false;
    this.next?.cancel();
    for (const round of [this.round, ...this.checks]) for (const t of round?.timers ?? []) t.cancel();
    this.round = null;
    this.checks.clear();
  }

  /** A member joined: it goes to a random place in this pass. */
  added(name: string): void {
    this.order.splice(this.ctx.random.int(this.order.length + 1), 0, name);
  }

  onPing(ping: MessageOf<"ping">, from: string): void {
    if (ping.target !== this.ctx.members.selfName) {
      this.ctx.stats.misdirectedPings++;
      return;
    }
    this.ctx.send(from, [{ type: "ack", seq: ping.seq }]);
  }

  /** Probes `target` for the member at `from` and reports back: ack, or nack when asked and nothing came. */
  onIndirectPing(req: MessageOf<"indirect_ping">, from: string): void {
    this.ctx.stats.relayedProbes++;
    const seq = ++this.seq;
    let answered = false;
    const timer = this.ctx.clock.setTimeout(() => {
      this.handlers.delete(seq);
      if (!answered && req.nack) this.ctx.send(from, [{ type: "nack", seq: req.seq }]);
    }, this.ctx.config.probeTimeoutMs);
    this.handlers.set(seq, {
      ack: () => {
        answered = true;
        timer.cancel();
        this.handlers.delete(seq);
        this.ctx.send(from, [{ type: "ack", seq: req.seq }]);
      },
      nack: () => {},
    });
    this.ctx.send(req.target_addr, [{ type: "ping", seq, target: req.target }]);
  }

  onAck(seq: number): void {
    this.handlers.get(seq)?.ack();
  }

  onNack(seq: number): void {
    this.handlers.get(seq)?.nack();
  }

  /**
   * A last check before a suspicion becomes a death: one more probe round of `member` (direct,
   * carrying the suspicion, then indirect), outside the round robin. `done(true)` when it
   * answered. The suspicion timer gave the member time to refute; on a lossy network the
   * refutation itself can be lost on its way to us, and this catches that before we accuse.
   */
  lastCheck(member: Member, done: (acked: boolean) => void): void {
    if (!this.running) return;
    this.ctx.stats.lastChecks++;
    const round = this.probe(member, (acked) => {
      if (acked) this.ctx.stats.lastChecksAnswered++;
      done(acked);
    });
    this.checks.add(round);
    round.timers.push(
      this.ctx.clock.setTimeout(() => this.end(round), this.ctx.awareness.scale(this.ctx.config.probeIntervalMs)),
    );
  }

  /** Ends the round in progress, then starts the next one and schedules the one after. */
  private tick(): void {
    if (!this.running) return;
    if (this.round) this.end(this.round);
    const intervalMs = this.ctx.awareness.scale(this.ctx.config.probeIntervalMs);
    const target = this.nextTarget();
    if (target) {
      this.ctx.stats.probes++;
      this.round = this.probe(target, (acked) => {
        if (acked) return;
        this.ctx.stats.probesFailed++;
        this.ctx.members.onSuspect({
          type: "suspect",
          name: target.name,
          inc: target.incarnation,
          from: this.ctx.members.selfName,
        });
      });
    }
    this.next = this.ctx.clock.setTimeout(() => this.tick(), intervalMs);
  }

  /** Pings `target` (with the suspicion, if we suspect it) and goes indirect after the timeout. */
  private probe(target: Member, onEnd: (acked: boolean) => void): Round {
    const { ctx } = this;
    const seq = ++this.seq;
    const round: Round = {
      target,
      incarnation: target.incarnation,
      seq,
      sentMs: ctx.clock.now(),
      acked: false,
      nacks: 0,
      expectedNacks: 0,
      timers: [],
      onEnd,
    };
    this.handlers.set(seq, {
      ack: () => {
        if (round.acked) return;
        round.acked = true;
        const rttMs = ctx.clock.now() - round.sentMs;
        ctx.stats.probeRttMsSum += rttMs;
        ctx.stats.probeRttCount++;
        ctx.onProbeRtt?.(rttMs);
      },
      nack: () => {
        round.nacks++;
        ctx.stats.nacksReceived++;
      },
    });
    // The suspicion goes ahead of the ping, so the member has refuted by the time it acks and
    // the ack carries the refutation back.
    const messages: Message[] = [{ type: "ping", seq, target: target.name }];
    if (target.state === "suspect")
      messages.unshift({ type: "suspect", name: target.name, inc: target.incarnation, from: ctx.members.selfName });
    ctx.send(target.gossip, messages);
    round.timers.push(ctx.clock.setTimeout(() => this.indirect(round), ctx.awareness.scale(ctx.config.probeTimeoutMs)));
    return round;
  }

  private indirect(round: Round): void {
    if (round.acked) return;
    const self = this.ctx.members.selfName;
    const relays = pickRandom(
      this.ctx.members.all(),
      this.ctx.config.indirectChecks,
      this.ctx.random,
      (m) => m.state === "alive" && m.name !== self && m.name !== round.target.name,
    );
    if (relays.length === 0) return;
    this.ctx.stats.indirectProbes++;
    round.expectedNacks = relays.length;
    const req: Message = {
      type: "indirect_ping",
      seq: round.seq,
      target: round.target.name,
      target_addr: round.target.gossip,
      nack: true,
    };
    for (const relay of relays) this.ctx.send(relay.gossip, [req]);
  }

  /** Closes a round: its health evidence (Lifeguard), then what it means. */
  private end(round: Round): void {
    if (this.round === round) this.round = null;
    this.checks.delete(round);
    for (const t of round.timers) t.cancel();
    this.handlers.delete(round.seq);
    if (round.acked) this.ctx.awareness.applyDelta(-1);
    else this.ctx.awareness.applyDelta(round.expectedNacks > 0 ? Math.max(0, round.expectedNacks - round.nacks) : 1);
    round.onEnd(round.acked);
  }

  /** The next probeable member in the shuffled order; reshuffles at the end of a pass. */
  private nextTarget(): Member | null {
    const self = this.ctx.members.selfName;
    for (let checked = 0; checked <= this.order.length; ) {
      if (this.index >= this.order.length) {
        this.order = shuffle(
          this.ctx.members
            .all()
            .filter((m) => probeable(m, self))
            .map((m) => m.name),
          this.ctx.random,
        );
        this.index = 0;
        if (this.order.length === 0) return null;
      }
      const member = this.ctx.members.get(this.order[this.index++] as string);
      checked++;
      if (member && probeable(member, self)) return member;
    }
    return null;
  }
}
