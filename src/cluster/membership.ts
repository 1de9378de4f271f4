/**
 * A cluster member: SWIM with Lifeguard over an injected transport, clock and randomness
 * (docs/CLUSTER.md#membership). This file composes the parts — the member table and its rules
 * (state.ts), probing (probe.ts), the gossip queue (broadcast-queue.ts), local health
 * (awareness.ts), push-pull (push-pull.ts) — and owns the packet loop and the timers.
 *
 * The packet loop is memberlist's (net.go) habit: a packet that is too short, of another
 * version, fails its MAC or does not decode is counted under its reason and dropped; it never
 * throws and never stops the loop (wire.ts). Every packet we send carries, after its own
 * message, as much queued gossip as fits (piggybacking, SWIM §4.1); a gossip round every
 * `gossipIntervalMs` sends what is still queued to a few random members, including members
 * recently declared dead, so that a live one wrongly declared dead hears it and refutes.
 */
import { Awareness } from "./awareness.ts";
import { BroadcastQueue } from "./broadcast-queue.ts";
import { type MembershipConfig, pushPullIntervalFor, retransmitLimit } from "./config.ts";
import { type Clock, pickRandom, type Random, type Timer } from "./env.ts";
import type { Keyring } from "./keyring.ts";
import { Prober } from "./probe.ts";
import { PushPull } from "./push-pull.ts";
import { type Member, type MemberIdentity, type MemberState, MemberStates } from "./state.ts";
import { type MembershipStats, newStats } from "./stats.ts";
import type { Session } from "./session.ts";
import type { Stream, Transport } from "./transport.ts";
import {
  addressBytesMax,
  encodeMessage,
  type Message,
  type MessageOf,
  nameBytesMax,
  openPacket,
  packetBytesMax,
  packetOverheadBytes,
  sealPacket,
  typeOfEncoded,
} from "./wire.ts";

export interface MembershipOptions {
  name: string;
  nodeId: string;
  /** The HTTP API's address, published to the other members. */
  api: string;
  transport: Transport;
  clock: Clock;
  random: Random;
  keyring: Keyring;
  config: MembershipConfig;
  /** A member appeared or changed state (placement listens here). */
  onChange?: (member: Member, previous: MemberState | null) => void;
  /**
   * Takes the streams peers open to us instead of the push-pull server, which then serves only
   * what the taker hands to `servePushPull` (channels.ts: push-pull and channels share the port).
   */
  acceptStream?: (stream: Stream) => void;
  /** A member dead or left for longer than the reconnect timeout was forgotten. */
  onReaped?: (member: Member) => void;
  /** A probe was answered after `ms`: the metrics' histogram. */
  onProbeRtt?: (ms: number) => void;
}

/** What we publish about ourselves must pass every member's wire checks (wire.ts). */
function checkIdentity(name: string, nodeId: string, addresses: string[]): void {
  for (const [what, value, max] of [
    ["node name", name, nameBytesMax],
    ["node id", nodeId, nameBytesMax],
    ...addresses.map((a) => ["address", a, addressBytesMax] as const),
  ] as const) {
    if (typeof value !== "string") throw new TypeError(`${what}: expected text, got ${typeof value}`);
    const bytes = Buffer.byteLength(value);
    if (bytes === 0 || bytes > max)
      throw new RangeError(`${what}: expected 1 to ${max} bytes of UTF-8, got ${bytes} (${JSON.stringify(value.slice(0, 40))})`);
  }
}

export class Membership {
  readonly stats: MembershipStats = newStats();
  readonly config: MembershipConfig;
  private keys: Keyring;
  private readonly clock: Clock;
  private readonly random: Random;
  private readonly transport: Transport;
  private readonly states: MemberStates;
  private readonly queue = new BroadcastQueue();
  private readonly awareness: Awareness;
  private readonly prober: Prober;
  private readonly pushPull: PushPull;
  private gossipTimer: Timer | null = null;
  private pushPullTimer: Timer | null = null;
  private reconnectTimer: Timer | null = null;
  private running = false;

  constructor(private readonly options: MembershipOptions) {
    const { transport, clock, random, config } = options;
    checkIdentity(options.name, options.nodeId, [options.api, transport.clusterAddress, transport.gossipAddress]);
    this.config = config;
    this.keys = options.keyring;
    this.clock = clock;
    this.random = random;
    this.transport = transport;
    this.awareness = new Awareness(config.awarenessMax);
    const self: MemberIdentity = {
      name: options.name,
      nodeId: options.nodeId,
      api: options.api,
      cluster: transport.clusterAddress,
      gossip: transport.gossipAddress,
    };
    this.states = new MemberStates(self, clock, config, {
      broadcast: (about, message) => this.queue.enqueue(about, encodeMessage(message)),
      changed: (member, previous) => this.changed(member, previous),
      refuted: () => {
        this.stats.refutations++;
        this.awareness.applyDelta(1);
      },
      declaredDead: () => this.stats.deathsDeclared++,
      conflict: () => this.stats.conflicts++,
      suspected: () => this.stats.suspicionsStarted++,
      lastCheck: (member, done) => this.prober.lastCheck(member, done),
    });
    const send = (to: string, messages: Message[]) => this.send(to, messages);
    this.prober = new Prober({
      config,
      clock,
      random,
      members: this.states,
      awareness: this.awareness,
      stats: this.stats,
      send,
      ...(options.onProbeRtt ? { onProbeRtt: options.onProbeRtt } : {}),
    });
    this.pushPull = new PushPull({
      transport,
      keyring: () => this.keys,
      random,
      clock,
      timeoutMs: config.streamTimeoutMs,
      stats: this.stats,
      records: () => this.states.records(),
      merge: (records) => this.states.merge(records),
    });
  }

  get name(): string {
    return this.options.name;
  }

  get keyring(): Keyring {
    return this.keys;
  }

  /** Key rotation: the new keyring takes effect for the next packet and session. */
  set keyring(keyring: Keyring) {
    this.keys = keyring;
  }

  /** Our health score (0 is healthy; Lifeguard). */
  get health(): number {
    return this.awareness.score;
  }

  members(): Member[] {
    return this.states.all();
  }

  member(name: string): Member | undefined {
    return this.states.get(name);
  }

  /** Listens, puts ourselves in the table and starts probing, gossip and periodic push-pull. */
  start(): void {
    if (this.running) throw new Error(`membership ${this.name} already started`);
    this.running = true;
    const accept = this.options.acceptStream ?? ((stream: Stream) => this.pushPull.accept(stream));
    this.transport.listen({
      packet: (bytes, from) => this.receive(bytes, from),
      stream: (stream) => (this.running ? accept(stream) : stream.close()),
    });
    this.states.start();
    this.prober.start();
    this.gossipTimer = this.clock.setTimeout(() => this.gossipRound(), this.random.float() * this.config.gossipIntervalMs);
    this.schedulePushPull(this.random.float() * this.config.pushPullIntervalMs);
    this.scheduleReconnect(this.config.reconnectIntervalMs * (0.5 + this.random.float()));
  }

  /**
   * Push-pull with each of `addresses` (stream addresses); `done` gets how many answered and
   * the failures. Once joined, one more push-pull follows with a random member when the join's
   * gossip has had time to spread (a retransmission budget of gossip rounds): members that
   * joined at the same time through other seeds, or whose news the gossip lost, are learned
   * then rather than at the first periodic push-pull, up to a period later.
   */
  join(addresses: readonly string[], done: (joined: number, failures: string[]) => void = () => {}): void {
    let pending = addresses.length;
    let joined = 0;
    const failures: string[] = [];
    if (pending === 0) {
      done(0, []);
      return;
    }
    for (const address of addresses)
      this.pushPull.exchange(address, true, (failure) => {
        if (failure === null) joined++;
        else failures.push(`${address}: ${failure}`);
        if (--pending > 0) return;
        if (joined > 0) this.clock.setTimeout(() => this.pushPullWithRandomMember(), this.settleDelayMs());
        done(joined, failures);
      });
  }

  /** How long a burst of gossip takes to run its course: every broadcast's sends, one gossip round each. */
  private settleDelayMs(): number {
    return retransmitLimit(this.config, this.states.liveCount()) * this.config.gossipIntervalMs;
  }

  private pushPullWithRandomMember(): void {
    if (!this.running || this.states.hasLeft) return;
    const peer = pickRandom(this.states.all(), 1, this.random, (m) => m.name !== this.name && m.state === "alive")[0];
    if (peer) this.pushPull.exchange(peer.cluster, false);
  }

  /** Answers a push-pull that arrived on a session `acceptStream` accepted, and closes the session. */
  servePushPull(message: MessageOf<"push_pull">, session: Session): void {
    if (this.running) this.pushPull.serve(message, session);
    else session.close();
  }

  /** Whether we are probing, gossiping and answering (between `start` and `shutdown`). */
  get isRunning(): boolean {
    return this.running;
  }

  /** Whether we left (`leave`). */
  get hasLeft(): boolean {
    return this.states.hasLeft;
  }

  /** Leaves gracefully: we become `left` and say so; probing stops, gossip goes on until `shutdown()`. */
  leave(): void {
    const dead = this.states.leave();
    this.prober.stop();
    this.pushPullTimer?.cancel();
    this.reconnectTimer?.cancel();
    const targets = pickRandom(
      this.states.all(),
      this.config.gossipNodes,
      this.random,
      (m) => m.name !== this.name && m.state === "alive",
    );
    for (const m of targets) this.send(m.gossip, [dead]);
  }

  /** Stops every timer and closes the transport. */
  shutdown(): void {
    this.running = false;
    this.prober.stop();
    this.states.stop();
    this.gossipTimer?.cancel();
    this.pushPullTimer?.cancel();
    this.reconnectTimer?.cancel();
    this.transport.close();
  }

  /** The packet loop: never throws on what the network brings. */
  receive(bytes: Uint8Array, from: string): void {
    if (!this.running) return;
    this.stats.packetsReceived++;
    this.stats.packetBytesReceived += bytes.length;
    const opened = openPacket(this.keys, bytes);
    if (!opened.ok) {
      this.stats.dropped[opened.reason]++;
      return;
    }
    for (const reason of opened.skipped) this.stats.dropped[reason]++;
    const purpose = opened.messages[0];
    if (purpose) this.stats.packetBytesReceivedByType[purpose.type] += bytes.length;
    for (const message of opened.messages) {
      this.stats.messagesReceived[message.type]++;
      this.handle(message, from);
    }
  }

  private handle(message: Message, from: string): void {
    switch (message.type) {
      case "ping":
        this.prober.onPing(message, from);
        break;
      case "indirect_ping":
        this.prober.onIndirectPing(message, from);
        break;
      case "ack":
        this.prober.onAck(message.seq);
        break;
      case "nack":
        this.prober.onNack(message.seq);
        break;
      case "alive":
        this.states.onAlive(message);
        break;
      case "suspect":
        this.states.onSuspect(message);
        this.answerNewsAboutUs(message.name, from);
        break;
      case "dead":
        this.states.onDead(message);
        this.answerNewsAboutUs(message.name, from);
        break;
      default:
        this.stats.dropped.wrong_channel++;
    }
  }

  /**
   * Whoever tells us that we are suspect or dead holds that view; we answer it directly with
   * our alive message (refuted by now if the news was current, our standing incarnation if it
   * was stale), so it does not wait for the gossip to reach it. This extends Lifeguard's buddy
   * system from "the suspect hears first" to "and the accuser hears back first".
   */
  private answerNewsAboutUs(name: string, from: string): void {
    if (name !== this.name || this.states.hasLeft) return;
    this.send(from, [this.states.selfAlive()]);
  }

  /** One packet: `messages`, then as much queued gossip as fits. */
  private send(to: string, messages: Message[]): void {
    if (!this.running) return;
    const encoded = messages.map(encodeMessage);
    let used = packetOverheadBytes;
    for (const m of encoded) used += m.length;
    encoded.push(...this.queue.take(packetBytesMax - used, 0, retransmitLimit(this.config, this.states.liveCount())));
    this.sendEncoded(to, encoded);
  }

  private sendEncoded(to: string, encoded: Uint8Array[]): void {
    const packet = sealPacket(this.keys, encoded);
    this.stats.packetsSent++;
    this.stats.packetBytesSent += packet.length;
    for (let i = 0; i < encoded.length; i++) {
      const type = typeOfEncoded(encoded[i] as Uint8Array);
      if (type === undefined) continue;
      this.stats.messagesSent[type]++;
      if (i === 0) this.stats.packetBytesSentByType[type] += packet.length;
    }
    this.transport.sendPacket(to, packet);
  }

  private gossipRound(): void {
    if (!this.running) return;
    this.gossipTimer = this.clock.setTimeout(() => this.gossipRound(), this.config.gossipIntervalMs);
    if (this.queue.length === 0) return;
    const now = this.clock.now();
    const targets = pickRandom(this.states.all(), this.config.gossipNodes, this.random, (m) => {
      if (m.name === this.name) return false;
      if (m.state === "alive" || m.state === "suspect") return true;
      return m.state === "dead" && now - m.stateChangedMs < this.config.gossipToTheDeadMs;
    });
    const limit = retransmitLimit(this.config, this.states.liveCount());
    for (const m of targets) {
      const messages = this.queue.take(packetBytesMax - packetOverheadBytes, 0, limit);
      if (messages.length === 0) return;
      this.sendEncoded(m.gossip, messages);
    }
  }

  private schedulePushPull(delayMs: number): void {
    this.pushPullTimer = this.clock.setTimeout(() => {
      if (!this.running || this.states.hasLeft) return;
      this.pushPullWithRandomMember();
      this.schedulePushPull(pushPullIntervalFor(this.config, this.states.liveCount()));
    }, delayMs);
  }

  /**
   * Serf's reconnect: a member we hold dead may only have been cut off. Trying one of them now
   * and then is how two halves of a healed partition find each other again — neither probes
   * nor gossips to the other any more. A successful exchange carries each side's refutation
   * (push-pull.ts), and gossip takes it from there.
   */
  private scheduleReconnect(delayMs: number): void {
    this.reconnectTimer = this.clock.setTimeout(() => {
      if (!this.running || this.states.hasLeft) return;
      const now = this.clock.now();
      const dead = pickRandom(
        this.states.all(),
        1,
        this.random,
        (m) => m.state === "dead" && now - m.stateChangedMs < this.config.reconnectTimeoutMs,
      )[0];
      if (dead) this.pushPull.exchange(dead.cluster, false);
      // Past the reconnect timeout a dead member is gone (and a left one's tombstone too): forget it.
      for (const m of this.states.reap(now, this.config.reconnectTimeoutMs)) this.options.onReaped?.(m);
      this.scheduleReconnect(this.config.reconnectIntervalMs);
    }, delayMs);
  }

  private changed(member: Member, previous: MemberState | null): void {
    if (previous === null && member.name !== this.name) this.prober.added(member.name);
    this.options.onChange?.(member, previous);
  }
}
