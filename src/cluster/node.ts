/**
 * A cluster node: the control plane a server runs when it is started with `--cluster-bind`
 * (docs/CLUSTER.md#the-cluster-node). It owns the transport, the keyring, the membership and
 * the placement, and gives the data plane what it builds on:
 *
 * - `members()`, `member(name)`, `self`: who is in the cluster, in what state;
 * - `placement()`: shard → replicas for the live members, recomputed at each change, with the
 *   meta version; `onChange(listener)` hears every member change and whether replicas moved;
 * - `openSession(nodeId, channel, handlers)` and `serve(channel, acceptor)`: authenticated,
 *   ordered, long-lived sessions to a member's cluster port, one channel each (channels.ts);
 * - `start()` (listen, probe, join through the seeds, retrying), `leave()`, `shutdown()`.
 *
 * **Joining.** Before the push-pull that joins, the node asks each seed on the `info` channel
 * for its cluster parameters: a seed with another shard count, or one that holds our name under
 * another node id, refuses us — loudly: `start()` throws `cluster_refused` on the first attempt
 * (the server does not start); a refusal on a later attempt is logged as an error and stops
 * the retries. When no seed answers, the node serves as a one-node cluster and tries again
 * with backoff (1 s doubling to 30 s, logged), until one answers or someone joins through it.
 *
 * Like the protocol below it, this runs as callbacks on one thread with an injected clock,
 * randomness and transport, so the tests drive whole clusters of nodes on the memory network.
 */
import { decodeCanonical, encodeCanonical, type Value } from "../core/cbor.ts";
import { StemeError } from "../core/errors.ts";
import type { Logger } from "../core/logger.ts";
import type { Kind } from "../core/record.ts";
import {
  type ChannelAcceptor,
  type ChannelHandlers,
  type ChannelName,
  Channels,
  type ChannelSession,
  type ChannelStats,
} from "./channels.ts";
import { type MembershipConfig, retransmitLimit } from "./config.ts";
import type { Clock, Random } from "./env.ts";
import type { Keyring } from "./keyring.ts";
import { Membership } from "./membership.ts";
import { Placement, type RecordPlace, shardOf } from "./placement.ts";
import type { Member, MemberState } from "./state.ts";
import type { MembershipStats } from "./stats.ts";
import type { Transport } from "./transport.ts";

export interface ClusterNodeOptions {
  /** Unique in the cluster; shown by the endpoints and the admin CLI. */
  name: string;
  /** The data directory's node id (meta.json): placement's identity, stable across renames and restarts. */
  nodeId: string;
  /** The HTTP API's address (host:port), published to the other members. */
  api: string;
  transport: Transport;
  clock: Clock;
  random: Random;
  keyring: Keyring;
  config: MembershipConfig;
  /** Fixed at cluster creation: a seed with another count refuses us. */
  shardCount: number;
  replicationFactor: number;
  /** Stream addresses (HOST:CPORT) to join through; our own is skipped. */
  seeds: readonly string[];
  logger: Logger;
  /** A probe was answered after `ms` (the metrics' histogram). */
  onProbeRtt?: (ms: number) => void;
  /** Join retries: the first delay and the most, ms (1 s and 30 s). */
  joinRetryMs?: { first: number; max: number };
}

/** A member as the endpoints and the data plane see it. */
export type ClusterMember = Readonly<Member>;

/** The shard map now. */
export interface PlacementView {
  /** Goes up by one each time a membership change moved a replica (per node). */
  readonly metaVersion: number;
  readonly shardCount: number;
  readonly replicationFactor: number;
  /** Node ids of the replicas of `shard`, highest rendezvous weight first. */
  replicas(shard: number): readonly string[];
  /** The shards `nodeId` holds a replica of. */
  shardsOf(nodeId: string): number[];
  shardOf(subject: string): number;
  /** Where a record of `kind` about `subject` goes: everywhere (global kinds) or a shard's replicas. */
  place(kind: Kind, subject: string): RecordPlace;
}

/** One membership change, as `onChange` listeners hear it. */
export interface ClusterChange {
  member: ClusterMember;
  previous: MemberState | null;
  /** Whether the change moved a shard replica (the placement was recomputed either way). */
  moved: boolean;
  metaVersion: number;
}

/** How the first join attempt went (`start()`); a refusal throws instead. */
export type JoinOutcome =
  | { state: "first"; detail: string }
  | { state: "joined"; detail: string }
  | { state: "retrying"; detail: string };

/** Counted state changes of other members, by the state they went to: flapping shows here. */
export type StateChanges = Record<MemberState, number>;

const infoVersion = 1;

export class ClusterNode {
  readonly membership: Membership;
  readonly channels: Channels;
  readonly stateChanges: StateChanges = { alive: 0, suspect: 0, dead: 0, left: 0 };
  private readonly placementNow: Placement;
  private readonly listeners = new Set<(change: ClusterChange) => void>();
  private joinTimer: { cancel(): void } | null = null;
  private stopped = false;
  /** Why joining was refused (a later attempt), for status answers; null when it was not. */
  refusal: string | null = null;
  joined = false;

  constructor(private readonly options: ClusterNodeOptions) {
    this.placementNow = new Placement(options.shardCount, options.replicationFactor);
    this.membership = new Membership({
      name: options.name,
      nodeId: options.nodeId,
      api: options.api,
      transport: options.transport,
      clock: options.clock,
      random: options.random,
      keyring: options.keyring,
      config: options.config,
      onChange: (member, previous) => this.changed(member, previous),
      onReaped: (member) => {
        options.logger.info("cluster: forgot a member gone longer than the reconnect timeout", {
          member: member.name,
          state: member.state,
          reconnect_timeout_ms: options.config.reconnectTimeoutMs,
        });
        this.notify(member, member.state);
      },
      acceptStream: (stream) => this.channels.accept(stream),
      ...(options.onProbeRtt ? { onProbeRtt: options.onProbeRtt } : {}),
    });
    this.channels = new Channels({
      transport: options.transport,
      keyring: () => this.membership.keyring,
      random: options.random,
      clock: options.clock,
      timeoutMs: options.config.streamTimeoutMs,
      nodeId: options.nodeId,
      servePushPull: (message, session) => this.membership.servePushPull(message, session),
      sessionCounts: this.membership.stats,
      bug: (err) => options.logger.error("cluster channel handler failed", { err, stack: (err as Error)?.stack }),
    });
    this.channels.serve("info", (session) => this.answerInfo(session), options.config.streamTimeoutMs);
  }

  get name(): string {
    return this.options.name;
  }

  get nodeId(): string {
    return this.options.nodeId;
  }

  get config(): MembershipConfig {
    return this.options.config;
  }

  /** The clock the node runs on (the data plane's timers use it too). */
  get clock(): Clock {
    return this.options.clock;
  }

  get stats(): MembershipStats {
    return this.membership.stats;
  }

  get channelStats(): ChannelStats {
    return this.channels.stats;
  }

  /** Lifeguard's local health score: 0 is healthy. */
  get health(): number {
    return this.membership.health;
  }

  get keyring(): Keyring {
    return this.membership.keyring;
  }

  /** Key rotation without a restart: the next packet and session use the new ring. */
  set keyring(keyring: Keyring) {
    this.membership.keyring = keyring;
  }

  get self(): ClusterMember {
    return this.membership.member(this.options.name) as ClusterMember;
  }

  members(): ClusterMember[] {
    return this.membership.members();
  }

  member(name: string): ClusterMember | undefined {
    return this.membership.member(name);
  }

  /** The live member with `nodeId` (alive or suspect), if any. */
  memberById(nodeId: string): ClusterMember | undefined {
    return this.membership.members().find((m) => m.nodeId === nodeId && (m.state === "alive" || m.state === "suspect"));
  }

  placement(): PlacementView {
    const p = this.placementNow;
    return {
      metaVersion: p.version,
      shardCount: p.shardCount,
      replicationFactor: p.replicationFactor,
      replicas: (shard) => p.replicas(shard),
      shardsOf: (nodeId) => p.shardsOf(nodeId),
      shardOf: (subject) => shardOf(subject, p.shardCount),
      place: (kind, subject) => p.place(kind, subject),
    };
  }

  /** Hears every membership change; returns the function that stops listening. */
  onChange(listener: (change: ClusterChange) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Serves a channel: sessions peers open on it go to `accept` (docs/CLUSTER.md#channels). */
  serve(channel: ChannelName, accept: ChannelAcceptor, idleTimeoutMs: number | null = null): void {
    this.channels.serve(channel, accept, idleTimeoutMs);
  }

  /**
   * A channel session to the live member with `nodeId`; rejects when there is none, or when the
   * session cannot be made (unreachable, another cluster key, timeout).
   */
  openSession(
    nodeId: string,
    channel: ChannelName,
    handlers: ChannelHandlers,
    idleTimeoutMs: number | null = null,
  ): Promise<ChannelSession> {
    const member = this.memberById(nodeId);
    if (!member) return Promise.reject(new Error(`no live member has node id ${nodeId}`));
    return this.channels.open(member.cluster, nodeId, channel, handlers, idleTimeoutMs);
  }

  /**
   * Listens, starts probing and gossip, and makes the first join attempt through the seeds.
   * Throws `cluster_refused` when a seed refuses us (another shard count, our name taken).
   */
  async start(): Promise<JoinOutcome> {
    this.membership.start();
    const seeds = this.seeds();
    if (seeds.length === 0) {
      this.joined = true;
      return { state: "first", detail: "no seed to join: this node starts the cluster" };
    }
    const outcome = await this.attempt(seeds);
    if (outcome.refused) throw refusedError(outcome.refused);
    if (outcome.joined) return { state: "joined", detail: outcome.detail };
    this.retryJoin(seeds, this.options.joinRetryMs?.first ?? 1000, 1);
    return { state: "retrying", detail: outcome.detail };
  }

  /**
   * Leaves gracefully: we become `left`, say so, and wait while the news spreads (one gossip
   * budget, at most 5 s). The process may stop after; `shutdown()` closes the transport.
   */
  async leave(): Promise<void> {
    if (this.membership.hasLeft || !this.membership.isRunning) return;
    this.joinTimer?.cancel();
    this.membership.leave();
    const { config } = this.options;
    const spreadMs = Math.min(5000, retransmitLimit(config, this.members().length) * config.gossipIntervalMs);
    await new Promise<void>((resolve) => this.options.clock.setTimeout(resolve, spreadMs));
  }

  get hasLeft(): boolean {
    return this.membership.hasLeft;
  }

  /** Stops every timer and closes the transport (no leave: others will find us dead). */
  shutdown(): void {
    if (this.stopped) return;
    this.stopped = true;
    this.joinTimer?.cancel();
    this.membership.shutdown();
  }

  /** The seeds but ourselves. */
  private seeds(): string[] {
    const own = this.options.transport.clusterAddress;
    return [...new Set(this.options.seeds)].filter((s) => s !== own);
  }

  private retryJoin(seeds: string[], delayMs: number, attempt: number): void {
    const maxMs = this.options.joinRetryMs?.max ?? 30_000;
    this.joinTimer = this.options.clock.setTimeout(async () => {
      if (this.stopped || this.membership.hasLeft) return;
      // Someone joined through us meanwhile: we are in a cluster; push-pull does the rest.
      if (this.othersAlive()) {
        this.joined = true;
        this.options.logger.info("cluster joined: another member reached us", { members: this.members().length });
        return;
      }
      const outcome = await this.attempt(seeds);
      if (this.stopped) return;
      if (outcome.refused) {
        this.refusal = outcome.refused;
        this.options.logger.error("cluster join refused; no more attempts (fix the configuration and restart)", {
          reason: outcome.refused,
        });
        return;
      }
      if (outcome.joined) {
        this.options.logger.info("cluster joined", { attempt, detail: outcome.detail });
        return;
      }
      const next = Math.min(maxMs, delayMs * 2);
      this.options.logger.warn("cluster join: no seed answered; serving as a one-node cluster and trying again", {
        attempt,
        seeds,
        detail: outcome.detail,
        retry_in_ms: next,
      });
      this.retryJoin(seeds, next, attempt + 1);
    }, delayMs);
  }

  private othersAlive(): boolean {
    return this.members().some((m) => m.name !== this.name && m.state === "alive");
  }

  /** One join attempt: the info check with every seed, then a push-pull with those that passed. */
  private async attempt(seeds: string[]): Promise<{ joined: boolean; refused: string | null; detail: string }> {
    const checks = await Promise.all(seeds.map((seed) => this.checkSeed(seed)));
    const refused = checks.find((c) => c.verdict === "refused");
    if (refused) return { joined: false, refused: `${refused.seed}: ${refused.detail}`, detail: refused.detail };
    const good = checks.filter((c) => c.verdict === "ok").map((c) => c.seed);
    const failures = checks.filter((c) => c.verdict === "unreachable").map((c) => `${c.seed}: ${c.detail}`);
    if (good.length === 0) return { joined: false, refused: null, detail: failures.join("; ") };
    const joined = await new Promise<number>((resolve) =>
      this.membership.join(good, (n, f) => {
        failures.push(...f);
        resolve(n);
      }),
    );
    if (joined > 0) this.joined = true;
    return { joined: joined > 0, refused: null, detail: joined > 0 ? `through ${good.join(", ")}` : failures.join("; ") };
  }

  /** Asks a seed for its cluster parameters on the info channel. */
  private checkSeed(seed: string): Promise<{ seed: string; verdict: "ok" | "refused" | "unreachable"; detail: string }> {
    return new Promise((resolve) => {
      const done = (verdict: "ok" | "refused" | "unreachable", detail: string) => resolve({ seed, verdict, detail });
      const request = this.infoOf();
      this.channels
        .open(
          seed,
          "",
          "info",
          {
            message: (payload, session) => {
              session.close();
              const answer = readInfo(payload);
              if (answer === null) return done("unreachable", "the seed's info answer does not decode");
              const problem = this.judge(answer);
              if (problem) return done("refused", problem);
              done("ok", `${answer.name} (${answer.node_id})`);
            },
            end: (reason) => done("unreachable", reason),
          },
          this.options.config.streamTimeoutMs,
        )
        .then(
          (session) => session.send(encodeCanonical(request as unknown as Value)),
          (err: Error) => done("unreachable", err.message),
        );
    });
  }

  /** Why a seed's answer refuses us, or null. */
  private judge(answer: Info): string | null {
    if (answer.shards !== this.options.shardCount)
      return `the cluster has ${answer.shards} shards; this node was started with --shards ${this.options.shardCount} (the shard count is fixed when a cluster is created)`;
    if (answer.name_taken_by)
      return `the name ${this.name} is held by another live node (node id ${answer.name_taken_by}); give this node another --node-name`;
    if (answer.replication_factor !== this.options.replicationFactor)
      this.options.logger.warn("cluster: the seed has another replication factor; every node should have the same", {
        seed: answer.name,
        theirs: answer.replication_factor,
        ours: this.options.replicationFactor,
      });
    return null;
  }

  private infoOf(asker?: Info): Info {
    const holder = asker ? this.membership.member(asker.name) : undefined;
    const taken =
      holder && holder.nodeId !== asker?.node_id && (holder.state === "alive" || holder.state === "suspect") ? holder.nodeId : "";
    return {
      version: infoVersion,
      name: this.name,
      node_id: this.nodeId,
      shards: this.options.shardCount,
      replication_factor: this.options.replicationFactor,
      name_taken_by: taken,
    };
  }

  /** The seed's side of the info channel: one answer, then the asker closes. */
  private answerInfo(session: ChannelSession): ChannelHandlers {
    return {
      message: (payload) => {
        const asker = readInfo(payload);
        if (asker === null) return session.close();
        if (asker.shards !== this.options.shardCount)
          this.options.logger.warn("cluster: a node with another shard count tried to join; it is refused", {
            node: asker.name,
            theirs: asker.shards,
            ours: this.options.shardCount,
          });
        session.send(encodeCanonical(this.infoOf(asker) as unknown as Value));
      },
      end: () => {},
    };
  }

  private changed(member: Member, previous: MemberState | null): void {
    if (member.name !== this.name && previous !== null) this.stateChanges[member.state]++;
    this.notify(member, previous);
  }

  /** Recomputes the placement and tells the listeners (a member changed, or was forgotten). */
  private notify(member: Member, previous: MemberState | null): void {
    const live = this.membership
      .members()
      .filter((m) => m.state === "alive" || m.state === "suspect")
      .map((m) => m.nodeId);
    const moved = this.placementNow.update(live);
    const change: ClusterChange = { member, previous, moved, metaVersion: this.placementNow.version };
    for (const listener of this.listeners) {
      try {
        listener(change);
      } catch (err) {
        this.options.logger.error("cluster change listener failed", { err, stack: (err as Error)?.stack });
      }
    }
  }
}

/** The info channel's message, each way (canonical CBOR map). */
interface Info {
  version: number;
  name: string;
  node_id: string;
  shards: number;
  replication_factor: number;
  /** In an answer: the node id that holds the asker's name, or "" when it is free. */
  name_taken_by: string;
}

function readInfo(payload: Uint8Array): Info | null {
  let v: Value;
  try {
    v = decodeCanonical(payload);
  } catch {
    return null;
  }
  if (v === null || typeof v !== "object" || Array.isArray(v) || v instanceof Uint8Array) return null;
  const m = v as Record<string, Value>;
  const text = (x: Value | undefined) => typeof x === "string";
  const uint = (x: Value | undefined) => typeof x === "number" && Number.isSafeInteger(x) && x >= 0;
  if (!text(m.name) || !text(m.node_id) || !uint(m.shards) || !uint(m.replication_factor)) return null;
  return {
    version: uint(m.version) ? (m.version as number) : 0,
    name: m.name as string,
    node_id: m.node_id as string,
    shards: m.shards as number,
    replication_factor: m.replication_factor as number,
    name_taken_by: text(m.name_taken_by) ? (m.name_taken_by as string) : "",
  };
}

function refusedError(reason: string): StemeError {
  return new StemeError("cluster_refused", `cannot join the cluster: ${reason}`);
}
