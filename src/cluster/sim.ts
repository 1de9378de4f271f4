/**
 * A deterministic cluster simulator (docs/CLUSTER.md#the-simulator): N members on the
 * in-memory network (memory-network.ts) under one fake clock (fake-clock.ts), every random
 * choice drawn from streams forked from one seed (random.ts). Same seed, same run — event for
 * event — which is what TigerBeetle's VOPR taught: a failure found once can be replayed and
 * stepped through forever.
 *
 * The unit tests drive a `ClusterSim` through scenarios (loss, partitions, crashes, leaves);
 * `stemedb sim cluster` calls `simulateCluster` and prints its report: how long the cluster
 * took to converge after everyone joined, how many times a member declared a live member dead
 * (false deaths: the number Lifeguard exists to push to zero), how long a crash took to be
 * seen everywhere, and the traffic each node sent.
 */
import { toHex } from "../core/hex.ts";
import { type MembershipConfig, type PresetName, presets } from "./config.ts";
import { FakeClock } from "./fake-clock.ts";
import { Keyring } from "./keyring.ts";
import { MemoryNetwork } from "./memory-network.ts";
import { Membership } from "./membership.ts";
import { type SeededRandom, seededRandom } from "./random.ts";
import type { MemberState } from "./state.ts";
import { droppedTotal } from "./stats.ts";

export interface SimOptions {
  nodes: number;
  seed: number;
  /** Packet loss on every link, 0..1. */
  lossRate?: number;
  preset?: PresetName;
  /** Overrides the preset. */
  config?: MembershipConfig;
  delayMs?: number;
  jitterMs?: number;
}

export interface SimEvent {
  atMs: number;
  observer: string;
  subject: string;
  from: MemberState | null;
  to: MemberState;
}

export interface SimNode {
  index: number;
  name: string;
  membership: Membership;
  /** Running: neither crashed nor shut down after a leave. */
  up: boolean;
  left: boolean;
}

export class ClusterSim {
  readonly clock = new FakeClock();
  readonly network: MemoryNetwork;
  readonly nodes: SimNode[] = [];
  readonly keyring: Keyring;
  readonly config: MembershipConfig;
  /** Times a running member saw another running member turn dead. */
  falseDeaths = 0;
  /** Suspicions of running members: distinct (member, incarnation) pairs suspected by anyone. */
  private readonly suspicions = new Set<string>();
  private readonly random: SeededRandom;
  /** Every state change any running member saw, when `record()` is on. */
  readonly events: SimEvent[] = [];
  private recording = false;

  /** Starts keeping `events`. */
  record(): void {
    this.recording = true;
  }

  constructor(readonly options: SimOptions) {
    if (!(Number.isSafeInteger(options.nodes) && options.nodes >= 1))
      throw new RangeError(`nodes: expected an integer ≥ 1, got ${options.nodes}`);
    this.random = seededRandom(options.seed);
    this.config = options.config ?? presets[options.preset ?? "lan"];
    this.network = new MemoryNetwork(this.clock, this.random.fork("network"), {
      lossRate: options.lossRate ?? 0,
      delayMs: options.delayMs ?? 1,
      jitterMs: options.jitterMs ?? 2,
    });
    this.keyring = new Keyring([this.random.fork("key").bytes(32)]);
    for (let i = 0; i < options.nodes; i++) this.nodes.push(this.makeNode(i));
  }

  private makeNode(index: number): SimNode {
    const name = `n${String(index + 1).padStart(2, "0")}`;
    const random = this.random.fork(`node ${index}`);
    const node: SimNode = { index, name, up: false, left: false, membership: null as unknown as Membership };
    node.membership = new Membership({
      name,
      nodeId: toHex(random.bytes(16)),
      api: `${name}:18180`,
      transport: this.network.attach(name),
      clock: this.clock,
      random,
      keyring: this.keyring,
      config: this.config,
      onChange: (member, previous) => this.observe(node, member.name, member.state, previous),
    });
    return node;
  }

  /** Counts deaths and suspicions of members that are in fact running. */
  private observe(observer: SimNode, subject: string, state: MemberState, previous: MemberState | null): void {
    if (!observer.up || previous === state) return;
    if (this.recording) this.events.push({ atMs: this.clock.now(), observer: observer.name, subject, from: previous, to: state });
    const target = this.nodes.find((n) => n.name === subject);
    if (!target?.up || target.left) return;
    if (state === "dead") this.falseDeaths++;
    if (state === "suspect") this.suspicions.add(`${subject}@${observer.membership.member(subject)?.incarnation}`);
  }

  get falseSuspicions(): number {
    return this.suspicions.size;
  }

  /** Starts every node; each but the first joins through the first, `spacingMs` apart. */
  startAll(spacingMs = 0): void {
    for (const node of this.nodes) this.start(node.index);
    for (let i = 1; i < this.nodes.length; i++) this.clock.setTimeout(() => this.join(i, 0), (i - 1) * spacingMs);
  }

  start(index: number): void {
    const node = this.nodes[index] as SimNode;
    node.membership.start();
    node.up = true;
  }

  /** Node `index` joins through node `via`. */
  join(index: number, via: number, done?: (joined: number, failures: string[]) => void): void {
    (this.nodes[index] as SimNode).membership.join([`${(this.nodes[via] as SimNode).name}:18182`], done);
  }

  get up(): SimNode[] {
    return this.nodes.filter((n) => n.up && !n.left);
  }

  /**
   * Every running member holds every running member as a member (alive, or suspect: a
   * suspicion is not a verdict) and no one else: the membership has converged.
   */
  converged(): boolean {
    const up = this.up;
    const names = new Set(up.map((n) => n.name));
    for (const n of up) {
      let live = 0;
      for (const m of n.membership.members()) {
        if (m.state !== "alive" && m.state !== "suspect") continue;
        if (!names.has(m.name)) return false;
        live++;
      }
      if (live !== names.size) return false;
    }
    return true;
  }

  /** Every running member sees `name` in `state`. */
  allSee(name: string, state: MemberState): boolean {
    return this.up.every((n) => n.name === name || n.membership.member(name)?.state === state);
  }

  crash(index: number): void {
    const node = this.nodes[index] as SimNode;
    node.up = false;
    this.network.crash(node.name);
    node.membership.shutdown();
  }

  leave(index: number): void {
    const node = this.nodes[index] as SimNode;
    node.left = true;
    node.membership.leave();
  }

  /** Stops a node that left (its process ends). */
  stop(index: number): void {
    const node = this.nodes[index] as SimNode;
    node.up = false;
    node.membership.shutdown();
  }

  run(ms: number): void {
    this.clock.advance(ms);
  }

  /** Runs until `done()` (checked every `stepMs`); the time taken, or null after `limitMs`. */
  runUntil(done: () => boolean, limitMs: number, stepMs = 50): number | null {
    return this.clock.runUntil(done, limitMs, stepMs);
  }
}

export interface SimRunOptions extends SimOptions {
  /** Virtual time to run after the start. */
  durationMs: number;
  /** Crash this many nodes (the last ones) halfway through, to measure detection. */
  crash?: number;
}

export interface SimReport {
  nodes: number;
  seed: number;
  lossRate: number;
  preset: string;
  durationMs: number;
  /** From the start until every member saw every member alive; null if it never did. */
  convergenceMs: number | null;
  falseDeaths: number;
  falseSuspicions: number;
  /** Members crashed at half time. */
  crashed: number;
  /** From the crash until every running member saw the crashed ones dead. */
  detectionMs: number | null;
  /** Per running node, over the whole run. */
  traffic: { packetsPerSecond: number; bytesPerSecond: number; maxBytesPerSecond: number; streamBytesPerSecond: number };
  probes: number;
  probesFailed: number;
  refutations: number;
  dropped: number;
  timersFired: number;
}

/** Runs one scenario and reports on it. */
export function simulateCluster(options: SimRunOptions): SimReport {
  const sim = new ClusterSim(options);
  sim.startAll(10);
  const half = options.durationMs / 2;
  const convergenceMs = sim.runUntil(() => sim.converged(), half);
  if (convergenceMs === null || sim.clock.now() < half) sim.run(Math.max(0, half - sim.clock.now()));
  let detectionMs: number | null = null;
  const crashed = Math.min(options.crash ?? 0, options.nodes - 1);
  const crashedNames: string[] = [];
  for (let i = 0; i < crashed; i++) {
    const index = options.nodes - 1 - i;
    crashedNames.push(sim.nodes[index]?.name as string);
    sim.crash(index);
  }
  const remaining = options.durationMs - sim.clock.now();
  if (crashed > 0) detectionMs = sim.runUntil(() => crashedNames.every((n) => sim.allSee(n, "dead")), remaining);
  sim.run(Math.max(0, options.durationMs - sim.clock.now()));
  return report(sim, options, convergenceMs, crashed, detectionMs);
}

function report(
  sim: ClusterSim,
  options: SimRunOptions,
  convergenceMs: number | null,
  crashed: number,
  detectionMs: number | null,
): SimReport {
  const seconds = options.durationMs / 1000;
  const perNode = sim.nodes.map((n) => sim.network.traffic(n.name));
  const count = Math.max(1, perNode.length);
  const sum = (f: (t: (typeof perNode)[number]) => number) => perNode.reduce((a, t) => a + f(t), 0);
  const stats = sim.nodes.map((n) => n.membership.stats);
  return {
    nodes: options.nodes,
    seed: options.seed,
    lossRate: options.lossRate ?? 0,
    preset: options.config ? "custom" : (options.preset ?? "lan"),
    durationMs: options.durationMs,
    convergenceMs,
    falseDeaths: sim.falseDeaths,
    falseSuspicions: sim.falseSuspicions,
    crashed,
    detectionMs,
    traffic: {
      packetsPerSecond: sum((t) => t.packetsSent) / count / seconds,
      bytesPerSecond: sum((t) => t.packetBytesSent + t.streamBytesSent) / count / seconds,
      maxBytesPerSecond: Math.max(...perNode.map((t) => t.packetBytesSent + t.streamBytesSent)) / seconds,
      streamBytesPerSecond: sum((t) => t.streamBytesSent) / count / seconds,
    },
    probes: stats.reduce((a, s) => a + s.probes, 0),
    probesFailed: stats.reduce((a, s) => a + s.probesFailed, 0),
    refutations: stats.reduce((a, s) => a + s.refutations, 0),
    dropped: stats.reduce((a, s) => a + droppedTotal(s), 0),
    timersFired: sim.clock.fired,
  };
}
