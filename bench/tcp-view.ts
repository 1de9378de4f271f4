/**
 * A `ClusterView` over plain TCP for benchmarks only (bench/cluster-node.ts): the data plane on
 * real sockets and real processes before the control plane's node exists. Not the production
 * transport — no sessions (no handshake, no MACs), no SWIM: the member list is given on the
 * command line, and a member counts as alive while a TCP connect to it succeeds (a check every
 * `checkMs`). Frames are length-prefixed (u32 big-endian); a channel opens with one frame naming
 * it and the opener, as the memory view's do.
 */
import type { Socket } from "bun";
import type { Clock } from "../src/cluster/env.ts";
import type { Channel, ChannelHandlers, ClusterMember, ClusterView } from "../src/cluster/data/view.ts";

const text = new TextEncoder();
const untext = new TextDecoder();

interface Peer {
  name: string;
  host: string;
  port: number;
  api: string;
}

/** Reassembles length-prefixed frames from a byte stream. */
class Framer {
  private buf: Buffer = Buffer.alloc(0);
  constructor(private readonly onFrame: (frame: Uint8Array) => void) {}
  push(chunk: Uint8Array): void {
    this.buf = this.buf.length === 0 ? Buffer.from(chunk) : Buffer.concat([this.buf, chunk]);
    while (this.buf.length >= 4) {
      const n = this.buf.readUInt32BE(0);
      if (this.buf.length < 4 + n) return;
      const frame = new Uint8Array(this.buf.subarray(4, 4 + n));
      this.buf = this.buf.subarray(4 + n);
      this.onFrame(frame);
    }
  }
}

function framed(payload: Uint8Array): Uint8Array {
  const out = new Uint8Array(4 + payload.length);
  new DataView(out.buffer).setUint32(0, payload.length);
  out.set(payload, 4);
  return out;
}

/** One end of a TCP channel: writes wait for the connect and for the socket's buffer to drain. */
class TcpChannel implements Channel {
  private socket: Socket<undefined> | null = null;
  private queue: Uint8Array[] = [];
  private handlers: ChannelHandlers | null = null;
  private held: Uint8Array[] = [];
  private closedWith: string | null = null;
  private closedHere = false;

  constructor(readonly peer: string) {}

  attach(handlers: ChannelHandlers): void {
    this.handlers = handlers;
    for (const f of this.held.splice(0)) handlers.frame(f);
    if (this.closedWith !== null) handlers.close(this.closedWith);
  }

  send(frame: Uint8Array): void {
    if (this.closedWith !== null || this.closedHere) return;
    this.queue.push(framed(frame));
    this.flush();
  }

  close(): void {
    this.closedHere = true;
    this.socket?.end();
  }

  /** @internal */
  connected(socket: Socket<undefined>): void {
    this.socket = socket;
    this.flush();
  }

  /** @internal */
  flush(): void {
    const s = this.socket;
    if (!s) return;
    while (this.queue.length > 0) {
      const next = this.queue[0] as Uint8Array;
      const n = s.write(next);
      if (n === next.length) this.queue.shift();
      else {
        this.queue[0] = next.subarray(Math.max(0, n));
        return; // the drain handler calls flush again
      }
    }
  }

  /** @internal */
  received(frame: Uint8Array): void {
    if (this.handlers) this.handlers.frame(frame);
    else this.held.push(frame);
  }

  /** @internal */
  ended(reason: string): void {
    if (this.closedWith !== null) return;
    this.closedWith = reason;
    if (!this.closedHere) this.handlers?.close(reason);
  }
}

export class TcpClusterView implements ClusterView {
  readonly clock: Clock = {
    now: () => performance.now(),
    setTimeout(fn, delayMs) {
      const h = setTimeout(fn, Math.max(0, delayMs));
      return { cancel: () => clearTimeout(h) };
    },
  };
  private readonly alive = new Map<string, boolean>();
  private readonly listeners = new Set<() => void>();
  private readonly handlers = new Map<string, (channel: Channel) => void>();
  private timer: ReturnType<typeof setInterval> | null = null;

  constructor(
    readonly selfId: string,
    private readonly peers: Map<string, Peer>,
    private readonly checkMs = 500,
  ) {
    for (const id of peers.keys()) this.alive.set(id, id === selfId);
  }

  /** Listens for channels on `port` and starts checking the peers. */
  async listen(host: string, port: number): Promise<void> {
    Bun.listen<{ channel: TcpChannel | null; framer: Framer }>({
      hostname: host,
      port,
      socket: {
        open: (socket) => {
          socket.data = { channel: null, framer: new Framer((f) => this.onServerFrame(socket, f)) };
        },
        data: (socket, chunk) => socket.data.framer.push(chunk),
        drain: (socket) => socket.data.channel?.flush(),
        close: (socket) => socket.data.channel?.ended("closed by peer"),
        error: (socket, err) => socket.data.channel?.ended(err.message),
      },
    });
    await this.check();
    this.timer = setInterval(() => void this.check(), this.checkMs);
  }

  private onServerFrame(socket: Socket<{ channel: TcpChannel | null; framer: Framer }>, frame: Uint8Array): void {
    if (socket.data.channel) {
      socket.data.channel.received(frame);
      return;
    }
    const [name, peer] = untext.decode(frame).split("\0");
    const handler = this.handlers.get(name ?? "");
    if (!handler || !peer) {
      socket.end();
      return;
    }
    const channel = new TcpChannel(peer);
    socket.data.channel = channel;
    channel.connected(socket as unknown as Socket<undefined>);
    handler(channel);
  }

  private async check(): Promise<void> {
    let changed = false;
    await Promise.all(
      [...this.peers].map(async ([id, p]) => {
        if (id === this.selfId) return;
        const up = await new Promise<boolean>((resolve) => {
          Bun.connect({
            hostname: p.host,
            port: p.port,
            socket: {
              open: (s) => {
                s.end();
                resolve(true);
              },
              data: () => {},
              connectError: () => resolve(false),
              error: () => resolve(false),
            },
          }).catch(() => resolve(false));
        });
        if (this.alive.get(id) !== up) changed = true;
        this.alive.set(id, up);
      }),
    );
    if (changed) for (const l of [...this.listeners]) l();
  }

  members(): readonly ClusterMember[] {
    return [...this.peers].map(([id, p]) => ({
      name: p.name,
      nodeId: id,
      api: p.api,
      cluster: `${p.host}:${p.port}`,
      state: this.alive.get(id) ? "alive" : "dead",
    }));
  }

  onChange(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  openChannel(nodeId: string, name: string): Channel {
    const p = this.peers.get(nodeId);
    const channel = new TcpChannel(nodeId);
    if (!p) {
      queueMicrotask(() => channel.ended("unknown member"));
      return channel;
    }
    const framer = new Framer((f) => channel.received(f));
    Bun.connect({
      hostname: p.host,
      port: p.port,
      socket: {
        open: (socket) => {
          socket.write(framed(text.encode(`${name}\0${this.selfId}`)));
          channel.connected(socket);
        },
        data: (_s, chunk) => framer.push(chunk),
        drain: () => channel.flush(),
        close: () => channel.ended("closed by peer"),
        connectError: (_s, err) => channel.ended(`connect failed: ${err.message}`),
        error: (_s, err) => channel.ended(err.message),
      },
    }).catch((err: Error) => channel.ended(`connect failed: ${err.message}`));
    return channel;
  }

  onChannel(name: string, handler: (channel: Channel) => void): void {
    this.handlers.set(name, handler);
  }

  close(): void {
    if (this.timer) clearInterval(this.timer);
  }
}

/** `name=host:port@apiPort,…` → the peer table (node ids are the names). */
export function parsePeers(spec: string): Map<string, Peer> {
  const out = new Map<string, Peer>();
  for (const item of spec.split(",")) {
    const m = /^([^=]+)=([^:]+):(\d+)@(\d+)$/.exec(item.trim());
    if (!m) throw new Error(`peer: expected name=host:port@apiPort, got ${item}`);
    out.set(m[1] as string, { name: m[1] as string, host: m[2] as string, port: Number(m[3]), api: `${m[2]}:${m[4]}` });
  }
  return out;
}
