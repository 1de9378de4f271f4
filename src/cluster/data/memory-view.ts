/**
 * A `ClusterView` on the in-memory network (memory-network.ts), for the data plane's tests and
 * benchmarks: channels are the network's streams — so partitions break them and crashes reset
 * them — and membership is a shared directory the test edits (who joined, who is suspect, dead
 * or left), instead of SWIM. Membership's own behaviour is tested with SWIM itself
 * (test/cluster/membership.test.ts); the data plane only needs to see its outcome.
 *
 * A channel opens with one frame naming it and the opener (`name \0 nodeId`); the production
 * node authenticates the session before that (docs/CLUSTER-WIRE.md#stream-sessions), which the
 * memory view leaves out.
 */
import type { Clock } from "../env.ts";
import type { MemoryNetwork, MemoryTransport } from "../memory-network.ts";
import type { Stream } from "../transport.ts";
import type { Channel, ChannelHandlers, ClusterMember, ClusterView, MemberState } from "./view.ts";

const text = new TextEncoder();
const untext = new TextDecoder();

/** The members every view in a test sees; edits reach every view at once. */
export class MemoryDirectory {
  private readonly byId = new Map<string, ClusterMember>();
  private readonly views = new Set<MemoryClusterView>();

  add(member: ClusterMember): void {
    this.byId.set(member.nodeId, { ...member });
    this.changed();
  }

  setState(nodeId: string, state: MemberState): void {
    const m = this.byId.get(nodeId);
    if (!m) throw new RangeError(`no member ${nodeId}`);
    m.state = state;
    this.changed();
  }

  members(): ClusterMember[] {
    return [...this.byId.values()].map((m) => ({ ...m }));
  }

  get(nodeId: string): ClusterMember | undefined {
    return this.byId.get(nodeId);
  }

  /** @internal */
  register(view: MemoryClusterView): void {
    this.views.add(view);
  }

  /** @internal */
  unregister(view: MemoryClusterView): void {
    this.views.delete(view);
  }

  private changed(): void {
    for (const v of [...this.views]) v.notify();
  }
}

/** One channel: a stream whose first frame named it. */
class MemoryChannel implements Channel {
  constructor(
    readonly peer: string,
    private readonly stream: Stream,
  ) {}

  attach(handlers: ChannelHandlers): void {
    this.stream.attach(handlers);
  }

  send(frame: Uint8Array): void {
    this.stream.send(frame);
  }

  close(): void {
    this.stream.close();
  }
}

export class MemoryClusterView implements ClusterView {
  readonly clock: Clock;
  private readonly listeners = new Set<() => void>();
  private readonly handlers = new Map<string, (channel: Channel) => void>();
  private closed = false;

  constructor(
    readonly selfId: string,
    private readonly transport: MemoryTransport,
    network: MemoryNetwork,
    private readonly directory: MemoryDirectory,
  ) {
    this.clock = network.clock;
    directory.register(this);
    transport.listen({ packet: () => {}, stream: (stream) => this.accept(stream) });
  }

  members(): readonly ClusterMember[] {
    return this.directory.members();
  }

  onChange(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  openChannel(nodeId: string, name: string): Channel {
    const address = this.directory.get(nodeId)?.cluster ?? `${nodeId}:0`;
    const stream = this.transport.openStream(address);
    stream.send(text.encode(`${name}\0${this.selfId}`));
    return new MemoryChannel(nodeId, stream);
  }

  onChannel(name: string, handler: (channel: Channel) => void): void {
    this.handlers.set(name, handler);
  }

  /** Stops listening (a crash: the network's `crash` resets the streams). */
  close(): void {
    this.closed = true;
    this.directory.unregister(this);
    this.transport.close();
  }

  /** @internal */
  notify(): void {
    if (this.closed) return;
    for (const l of [...this.listeners]) l();
  }

  private accept(stream: Stream): void {
    let named = false;
    const held: Uint8Array[] = [];
    let downstream: ChannelHandlers | null = null;
    let closedWith: string | null = null;
    stream.attach({
      frame: (bytes) => {
        if (named) {
          if (downstream) downstream.frame(bytes);
          else held.push(bytes);
          return;
        }
        named = true;
        const [name, peer] = untext.decode(bytes).split("\0");
        const handler = this.handlers.get(name ?? "");
        if (!handler || !peer) {
          stream.close();
          return;
        }
        handler({
          peer,
          attach: (h) => {
            downstream = h;
            for (const f of held.splice(0)) h.frame(f);
            if (closedWith !== null) h.close(closedWith);
          },
          send: (f) => stream.send(f),
          close: () => stream.close(),
        });
      },
      close: (reason) => {
        if (downstream) downstream.close(reason);
        else closedWith = reason;
      },
    });
  }
}
