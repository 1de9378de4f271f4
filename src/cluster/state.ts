/**
 * Members, their states and the rules for news about them (docs/CLUSTER.md#member-states), after
 * SWIM §4.2 (suspicion, incarnation numbers) and memberlist's aliveNode / suspectNode /
 * deadNode / refute / mergeState (state.go).
 *
 * Each member has a state — alive, suspect, dead, left — and an incarnation number that only
 * the member itself raises. News about a member is an alive, suspect or dead message at some
 * incarnation, and the rules are what make gossip converge whatever order it arrives in:
 *
 * - **alive(i)** wins over anything at an incarnation below i (a new member is always taken);
 * - **suspect(i)** turns an alive member at incarnation ≤ i into a suspect and starts a
 *   suspicion timer (suspicion.ts); more suspect messages from other members confirm it;
 * - **dead(i)** wins over alive and suspect at incarnation ≤ i; sent by the member itself it
 *   means it **left** (a graceful stop), which is final for that incarnation.
 *
 * News that a node hears about **itself** being suspect or dead is refuted: it raises its
 * incarnation past the accusation and gossips alive — and Lifeguard counts a refutation
 * against its own health (awareness.ts). A member whose suspicion times out is declared dead
 * by the node that timed out, after one last probe of it fails (probe.ts, `lastCheck`: our
 * addition; the refutation may have been lost on its way to us). Every accepted change is gossiped on, so news spreads from
 * whoever hears it first. A name claimed with other addresses or another node id while the
 * holder is alive is a conflict: counted and ignored (memberlist refuses it the same way).
 */
import { suspicionTimeoutMs, type MembershipConfig } from "./config.ts";
import type { Clock } from "./env.ts";
import { Suspicion } from "./suspicion.ts";
import { type MemberRecord, type Message, type MessageOf, memberStateCodes } from "./wire.ts";

export type MemberState = (typeof memberStateCodes)[number];

/** Where a member is reached. */
export interface MemberAddresses {
  /** The HTTP API (host:port). */
  api: string;
  /** Streams: push-pull, later replication (TCP, CPORT). */
  cluster: string;
  /** Packets: probes and gossip (UDP, CPORT + 1). */
  gossip: string;
}

export interface MemberIdentity extends MemberAddresses {
  name: string;
  nodeId: string;
}

export interface Member extends MemberIdentity {
  state: MemberState;
  incarnation: number;
  /** The clock's time of the last state change. */
  stateChangedMs: number;
}

export interface MemberStatesHooks {
  /** Gossip `message`, replacing anything queued about `about`. */
  broadcast(about: string, message: Message): void;
  /** A member appeared (`previous` null) or changed state. */
  changed(member: Member, previous: MemberState | null): void;
  /** We refuted news about ourselves (Lifeguard: a sign of our own ill health). */
  refuted(): void;
  /** Our suspicion timer declared `name` dead. */
  declaredDead(name: string): void;
  /** A name was claimed by another identity. */
  conflict(name: string): void;
  /** A suspicion started here. */
  suspected(name: string): void;
  /** A suspicion ran out: probe the member once more; `done(true)` if it answered. */
  lastCheck(member: Member, done: (answered: boolean) => void): void;
}

export function aliveMessage(m: MemberIdentity, incarnation: number): MessageOf<"alive"> {
  return { type: "alive", name: m.name, node_id: m.nodeId, api: m.api, cluster: m.cluster, gossip: m.gossip, inc: incarnation };
}

function sameIdentity(m: MemberIdentity, a: MessageOf<"alive">): boolean {
  return m.nodeId === a.node_id && m.api === a.api && m.cluster === a.cluster && m.gossip === a.gossip;
}

export class MemberStates {
  private readonly byName = new Map<string, Member>();
  private readonly suspicions = new Map<string, Suspicion>();
  /** Set by `leave()`: news of our death is then ours, not to be refuted. */
  private leaving = false;

  constructor(
    private readonly self: MemberIdentity,
    private readonly clock: Clock,
    private readonly config: MembershipConfig,
    private readonly hooks: MemberStatesHooks,
  ) {}

  /** Puts ourselves in the table, alive at incarnation 1, and gossips it. */
  start(): void {
    this.onAlive(aliveMessage(this.self, 1), true);
  }

  get selfName(): string {
    return this.self.name;
  }

  get(name: string): Member | undefined {
    return this.byName.get(name);
  }

  all(): Member[] {
    return [...this.byName.values()];
  }

  /** Alive and suspect members, ourselves included: the cluster size the formulas scale with. */
  liveCount(): number {
    let n = 0;
    for (const m of this.byName.values()) if (m.state === "alive" || m.state === "suspect") n++;
    return n;
  }

  get hasLeft(): boolean {
    return this.leaving;
  }

  onAlive(a: MessageOf<"alive">, bootstrap = false): void {
    const isSelf = a.name === this.self.name;
    if (isSelf && this.leaving) return;
    const known = this.byName.get(a.name);
    if (known && !isSelf && a.inc <= known.incarnation) return;
    if (known && isSelf && a.inc < known.incarnation) return;
    if (known && !isSelf && !sameIdentity(known, a) && known.state !== "dead" && known.state !== "left") {
      this.hooks.conflict(a.name);
      return;
    }
    this.cancelSuspicion(a.name);
    if (known && isSelf && !bootstrap) {
      if (a.inc === known.incarnation && sameIdentity(known, a)) return;
      this.refute(known, a.inc);
      return;
    }
    this.hooks.broadcast(a.name, a);
    const member: Member = known ?? {
      name: a.name,
      nodeId: a.node_id,
      api: a.api,
      cluster: a.cluster,
      gossip: a.gossip,
      state: "alive",
      incarnation: a.inc,
      stateChangedMs: this.clock.now(),
    };
    const previous = known ? known.state : null;
    Object.assign(member, { nodeId: a.node_id, api: a.api, cluster: a.cluster, gossip: a.gossip, incarnation: a.inc });
    if (!known) this.byName.set(a.name, member);
    if (previous !== "alive") this.setState(member, "alive", previous);
  }

  onSuspect(s: MessageOf<"suspect">): void {
    const member = this.byName.get(s.name);
    if (!member || s.inc < member.incarnation) return;
    const running = this.suspicions.get(s.name);
    if (running) {
      if (running.confirm(s.from)) this.hooks.broadcast(s.name, s);
      return;
    }
    if (member.state !== "alive") return;
    if (s.name === this.self.name) {
      this.refute(member, s.inc);
      return;
    }
    this.hooks.broadcast(s.name, s);
    member.incarnation = s.inc;
    this.setState(member, "suspect", "alive");
    this.hooks.suspected(s.name);
    this.startSuspicion(member, s.from);
  }

  onDead(d: MessageOf<"dead">): void {
    const member = this.byName.get(d.name);
    if (!member || d.inc < member.incarnation) return;
    this.cancelSuspicion(d.name);
    if (member.state === "dead" || member.state === "left") return;
    if (d.name === this.self.name && !this.leaving) {
      this.refute(member, d.inc);
      return;
    }
    this.hooks.broadcast(d.name, d);
    const previous = member.state;
    member.incarnation = d.inc;
    this.setState(member, d.from === d.name ? "left" : "dead", previous);
  }

  /** A peer's full state from push-pull: dead reports become suspicions here (memberlist's mergeState). */
  merge(records: readonly MemberRecord[]): void {
    for (const r of records) {
      const state = memberStateCodes[r.state];
      if (state === "alive")
        this.onAlive({
          type: "alive",
          name: r.name,
          node_id: r.node_id,
          api: r.api,
          cluster: r.cluster,
          gossip: r.gossip,
          inc: r.inc,
        });
      else if (state === "left") this.onDead({ type: "dead", name: r.name, inc: r.inc, from: r.name });
      else this.onSuspect({ type: "suspect", name: r.name, inc: r.inc, from: this.self.name });
    }
  }

  /** Our full state for push-pull. */
  records(): MemberRecord[] {
    return this.all().map((m) => ({
      name: m.name,
      node_id: m.nodeId,
      api: m.api,
      cluster: m.cluster,
      gossip: m.gossip,
      inc: m.incarnation,
      state: memberStateCodes.indexOf(m.state),
    }));
  }

  /**
   * Forgets the members dead or left for `afterMs` or longer (Serf's reaping of failed members
   * and tombstones): they leave the table, the members endpoint and the metrics. A message about
   * a member we do not know is ignored unless it is an `alive` one, so a reaped member stays
   * gone until it (or a node taking its name) joins again. Returns the members forgotten.
   */
  reap(now: number, afterMs: number): Member[] {
    const gone: Member[] = [];
    for (const m of this.byName.values())
      if (m.name !== this.self.name && (m.state === "dead" || m.state === "left") && now - m.stateChangedMs >= afterMs)
        gone.push(m);
    for (const m of gone) this.byName.delete(m.name);
    return gone;
  }

  /** We stop gracefully: we are `left`, and a dead message from ourselves spreads it. */
  leave(): MessageOf<"dead"> {
    const me = this.byName.get(this.self.name) as Member;
    this.leaving = true;
    const d: MessageOf<"dead"> = { type: "dead", name: me.name, inc: me.incarnation, from: me.name };
    this.onDead(d);
    return d;
  }

  /** Stops every suspicion timer. */
  stop(): void {
    for (const s of this.suspicions.values()) s.cancel();
    this.suspicions.clear();
  }

  private refute(me: Member, accused: number): void {
    me.incarnation = Math.max(me.incarnation + 1, accused + 1);
    this.hooks.refuted();
    this.hooks.broadcast(me.name, aliveMessage(me, me.incarnation));
  }

  private setState(member: Member, state: MemberState, previous: MemberState | null): void {
    member.state = state;
    member.stateChangedMs = this.clock.now();
    this.hooks.changed(member, previous);
  }

  /**
   * k confirmations are wanted so that the nominal timeout is reached two probe periods short
   * of suspicionMult; with too few other members to give them, none are wanted (memberlist).
   */
  private startSuspicion(member: Member, from: string): void {
    const n = this.liveCount();
    const k = n - 2 < this.config.suspicionMult - 2 ? 0 : this.config.suspicionMult - 2;
    const minMs = suspicionTimeoutMs(this.config, n);
    const maxMs = this.config.suspicionMaxTimeoutMult * minMs;
    const since = member.stateChangedMs;
    const stillSuspect = () => member.state === "suspect" && member.stateChangedMs === since;
    const suspicion = new Suspicion(this.clock, from, k, minMs, maxMs, () => {
      this.suspicions.delete(member.name);
      if (!stillSuspect()) return;
      this.hooks.lastCheck(member, (answered) => {
        if (!stillSuspect() || this.suspicions.has(member.name)) return;
        if (answered) return this.startSuspicion(member, this.self.name);
        this.hooks.declaredDead(member.name);
        this.onDead({ type: "dead", name: member.name, inc: member.incarnation, from: this.self.name });
      });
    });
    this.suspicions.set(member.name, suspicion);
  }

  /** Our own alive message as it stands. */
  selfAlive(): MessageOf<"alive"> {
    const me = this.byName.get(this.self.name) as Member;
    return aliveMessage(me, me.incarnation);
  }

  private cancelSuspicion(name: string): void {
    this.suspicions.get(name)?.cancel();
    this.suspicions.delete(name);
  }
}
