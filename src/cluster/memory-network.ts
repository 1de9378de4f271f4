/**
 * An in-memory network for tests and the simulator (docs/CLUSTER.md#testing-without-sockets), after
 * memberlist's mock_transport.go, with the faults a real network has: per-link packet loss,
 * delay with jitter (so packets reorder), partitions between sets of hosts, and crashed hosts.
 *
 * Everything runs on the injected clock and draws from the injected random, so a run is a
 * function of its seed. Packets are copied on send (a sender reusing its buffer cannot change
 * what was sent) and checked twice — a partition or crash at send time drops them, and so does
 * one that starts while they are in flight. Streams never lose a frame: they deliver in order
 * or break (a partition breaks them, as a TCP keepalive would, a crash resets them); a connect
 * to a host that is down or cut off fails after `connectTimeoutMs`, as an unanswered SYN does.
 *
 * Each host gets two addresses, `host:18182` (streams) and `host:18183` (packets), the
 * production defaults; faults are set per host. Traffic is counted per host for the
 * simulator's report.
 */
import type { Clock, Random, Timer } from "./env.ts";
import type { Stream, StreamHandlers, Transport, TransportHandlers } from "./transport.ts";

export interface MemoryNetworkOptions {
  /** One-way delay of every packet and frame. */
  delayMs?: number;
  /** A uniform extra delay in [0, jitterMs): packets overtake each other. */
  jitterMs?: number;
  /** The share of packets lost on every link (streams lose nothing). */
  lossRate?: number;
  /** How long a connect to an unreachable host takes to fail. */
  connectTimeoutMs?: number;
}

export interface HostTraffic {
  packetsSent: number;
  packetBytesSent: number;
  packetsReceived: number;
  packetBytesReceived: number;
  /** Packets this host sent that the network dropped (loss, partition, a crashed peer). */
  packetsLost: number;
  streamFramesSent: number;
  streamBytesSent: number;
  streamsOpened: number;
}

export const streamPort = 18182;
export const packetPort = 18183;

/** The host part of "host:port". */
export function hostOf(address: string): string {
  const colon = address.lastIndexOf(":");
  return colon < 0 ? address : address.slice(0, colon);
}

function emptyTraffic(): HostTraffic {
  return {
    packetsSent: 0,
    packetBytesSent: 0,
    packetsReceived: 0,
    packetBytesReceived: 0,
    packetsLost: 0,
    streamFramesSent: 0,
    streamBytesSent: 0,
    streamsOpened: 0,
  };
}

export class MemoryNetwork {
  private readonly hosts = new Map<string, MemoryTransport>();
  private readonly traffics = new Map<string, HostTraffic>();
  private readonly linkLoss = new Map<string, number>();
  private readonly cuts = new Set<string>();
  private readonly crashed = new Set<string>();
  readonly delayMs: number;
  readonly jitterMs: number;
  lossRate: number;
  readonly connectTimeoutMs: number;
  /** Sees every packet sent (before loss): packet capture for tests and debugging. */
  tap: ((from: string, to: string, bytes: Uint8Array) => void) | null = null;

  constructor(
    readonly clock: Clock,
    private readonly random: Random,
    options: MemoryNetworkOptions = {},
  ) {
    this.delayMs = options.delayMs ?? 1;
    this.jitterMs = options.jitterMs ?? 1;
    this.lossRate = options.lossRate ?? 0;
    this.connectTimeoutMs = options.connectTimeoutMs ?? 1000;
    if (!(this.lossRate >= 0 && this.lossRate <= 1)) throw new RangeError(`lossRate: expected 0..1, got ${this.lossRate}`);
  }

  /** A transport for `host` (a fresh one replaces a crashed one: a restart). */
  attach(host: string): MemoryTransport {
    const existing = this.hosts.get(host);
    if (existing && !this.crashed.has(host)) throw new RangeError(`host ${host} is already attached`);
    this.crashed.delete(host);
    const transport = new MemoryTransport(this, host);
    this.hosts.set(host, transport);
    if (!this.traffics.has(host)) this.traffics.set(host, emptyTraffic());
    return transport;
  }

  /** Loss on the link from → to (one direction); overrides the network's rate. */
  setLinkLoss(from: string, to: string, rate: number): void {
    this.linkLoss.set(`${from}>${to}`, rate);
  }

  /** No packet or frame passes between a host in `a` and one in `b`, either way. */
  cut(a: readonly string[], b: readonly string[]): void {
    for (const x of a)
      for (const y of b) {
        this.cuts.add(`${x}>${y}`);
        this.cuts.add(`${y}>${x}`);
      }
    for (const t of this.hosts.values()) t.breakStreamsAcrossCuts();
  }

  /** Removes every cut. */
  heal(): void {
    this.cuts.clear();
  }

  /** The host stops: its packets vanish, its streams reset, its timers are the caller's to stop. */
  crash(host: string): void {
    const t = this.hosts.get(host);
    if (!t) return;
    this.crashed.add(host);
    t.dropAll("reset");
  }

  reachable(from: string, to: string): boolean {
    return this.hosts.has(to) && !this.crashed.has(to) && !this.crashed.has(from) && !this.cuts.has(`${from}>${to}`);
  }

  traffic(host: string): HostTraffic {
    return this.traffics.get(host) ?? emptyTraffic();
  }

  /** A one-way delay drawn for one packet or frame. */
  delay(): number {
    return this.delayMs + (this.jitterMs > 0 ? this.random.float() * this.jitterMs : 0);
  }

  /** @internal Moves one packet. */
  deliverPacket(from: string, to: string, bytes: Uint8Array, fromAddress: string): void {
    this.tap?.(from, to, bytes);
    const sent = this.traffic(from);
    sent.packetsSent++;
    sent.packetBytesSent += bytes.length;
    const rate = this.linkLoss.get(`${from}>${to}`) ?? this.lossRate;
    if (!this.reachable(from, to) || (rate > 0 && this.random.float() < rate)) {
      sent.packetsLost++;
      return;
    }
    const copy = bytes.slice();
    this.clock.setTimeout(() => {
      const target = this.hosts.get(to);
      if (!target || !this.reachable(from, to)) {
        sent.packetsLost++;
        return;
      }
      const received = this.traffic(to);
      received.packetsReceived++;
      received.packetBytesReceived += copy.length;
      target.receivePacket(copy, fromAddress);
    }, this.delay());
  }

  /** @internal Opens a stream from `from` to the host of `toAddress`. */
  connect(from: MemoryTransport, toAddress: string): Stream {
    const to = hostOf(toAddress);
    this.traffic(from.host).streamsOpened++;
    const client = new MemoryStreamEnd(this, from, toAddress);
    const target = this.hosts.get(to);
    if (!target || !this.reachable(from.host, to) || !toAddress.endsWith(`:${streamPort}`)) {
      this.clock.setTimeout(() => client.broken("connect timed out: unreachable"), this.connectTimeoutMs);
      return client;
    }
    const server = new MemoryStreamEnd(this, target, from.clusterAddress);
    client.peer = server;
    server.peer = client;
    client.lastDueMs = server.lastDueMs = this.clock.now() + this.delay();
    this.clock.setTimeout(() => {
      if (server.closed) return;
      if (!this.reachable(from.host, to)) return client.breakBoth("connect timed out: unreachable");
      target.acceptStream(server);
    }, client.lastDueMs - this.clock.now());
    return client;
  }
}

export class MemoryTransport implements Transport {
  readonly gossipAddress: string;
  readonly clusterAddress: string;
  private handlers: TransportHandlers | null = null;
  private readonly streams = new Set<MemoryStreamEnd>();
  private closed = false;

  constructor(
    private readonly network: MemoryNetwork,
    readonly host: string,
  ) {
    this.gossipAddress = `${host}:${packetPort}`;
    this.clusterAddress = `${host}:${streamPort}`;
  }

  listen(handlers: TransportHandlers): void {
    this.handlers = handlers;
  }

  sendPacket(to: string, bytes: Uint8Array): void {
    if (this.closed) return;
    this.network.deliverPacket(this.host, hostOf(to), bytes, this.gossipAddress);
  }

  openStream(to: string): Stream {
    const stream = this.network.connect(this, to);
    if (stream instanceof MemoryStreamEnd) this.streams.add(stream);
    return stream;
  }

  close(): void {
    this.closed = true;
    this.dropAll("closed");
  }

  /** @internal */
  receivePacket(bytes: Uint8Array, from: string): void {
    if (!this.closed) this.handlers?.packet(bytes, from);
  }

  /** @internal */
  acceptStream(stream: MemoryStreamEnd): void {
    if (this.closed || !this.handlers) {
      stream.breakBoth("connection refused");
      return;
    }
    this.streams.add(stream);
    this.handlers.stream(stream);
  }

  /** @internal */
  forget(stream: MemoryStreamEnd): void {
    this.streams.delete(stream);
  }

  /** @internal */
  dropAll(reason: string): void {
    for (const s of [...this.streams]) s.breakBoth(reason);
  }

  /** @internal */
  breakStreamsAcrossCuts(): void {
    for (const s of [...this.streams])
      if (!this.network.reachable(this.host, hostOf(s.remote))) s.breakBoth("connection broken by a partition");
  }
}

/** One end of an in-memory stream. */
class MemoryStreamEnd implements Stream {
  peer: MemoryStreamEnd | null = null;
  closed = false;
  /** When the last frame sent from this end is due at the peer: frames never overtake. */
  lastDueMs = 0;
  private handlers: StreamHandlers | null = null;
  private held: Uint8Array[] = [];
  private closeReason: string | null = null;
  private locallyClosed = false;
  private timers: Timer[] = [];

  constructor(
    private readonly network: MemoryNetwork,
    private readonly owner: MemoryTransport,
    readonly remote: string,
  ) {}

  attach(handlers: StreamHandlers): void {
    this.handlers = handlers;
    for (const frame of this.held) handlers.frame(frame);
    this.held = [];
    if (this.closeReason !== null) handlers.close(this.closeReason);
  }

  send(frame: Uint8Array): void {
    const peer = this.peer;
    if (this.closed || !peer) return;
    if (!this.network.reachable(this.owner.host, hostOf(this.remote))) {
      this.breakBoth("connection broken by a partition");
      return;
    }
    const traffic = this.network.traffic(this.owner.host);
    traffic.streamFramesSent++;
    traffic.streamBytesSent += frame.length;
    const copy = frame.slice();
    this.lastDueMs = Math.max(this.network.clock.now() + this.network.delay(), this.lastDueMs);
    this.timers.push(this.network.clock.setTimeout(() => peer.receive(copy), this.lastDueMs - this.network.clock.now()));
  }

  /** Closes this end; the peer hears of it after the frames already sent. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.locallyClosed = true;
    this.owner.forget(this);
    const peer = this.peer;
    if (!peer) return;
    const dueMs = Math.max(this.network.clock.now() + this.network.delay(), this.lastDueMs);
    this.network.clock.setTimeout(() => peer.ended("closed by peer"), dueMs - this.network.clock.now());
  }

  /** @internal Both ends close now; frames in flight are lost. */
  breakBoth(reason: string): void {
    this.broken(reason);
    this.peer?.broken(reason);
  }

  /** @internal */
  broken(reason: string): void {
    for (const t of this.timers) t.cancel();
    this.timers = [];
    this.owner.forget(this);
    this.ended(reason);
  }

  private receive(frame: Uint8Array): void {
    if (this.closed) return;
    if (this.handlers) this.handlers.frame(frame);
    else this.held.push(frame);
  }

  /** The stream ended from the other side or the network; a local `close()` is not reported back. */
  private ended(reason: string): void {
    if (this.closeReason !== null) return;
    const closedHere = this.closed && this.locallyClosed;
    this.closeReason = reason;
    this.closed = true;
    this.owner.forget(this);
    if (!closedHere) this.handlers?.close(reason);
  }
}
