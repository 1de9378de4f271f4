/**
 * The cluster node as the data plane sees it (docs/CLUSTER.md#the-data-plane-contract): its id
 * and clock, the members, a change signal, and named channels to members — the `ClusterView` the
 * data plane is written against (src/cluster/data/view.ts on its side; the shapes here match it
 * structurally, so neither side imports the other).
 *
 * A view channel is a stream of frames to one member, usable at once: frames sent before the
 * session's handshake is done wait and go once it is; frames that arrive before `attach` are
 * held, in order; a session that cannot be made, breaks, or fails a MAC closes the channel and
 * its `close` handler says why, once (never after our own `close()`). Underneath, each channel is
 * one authenticated session on the node's stream port (channels.ts), named by the channel table.
 */
import { type ChannelName, type ChannelSession, channelIds } from "./channels.ts";
import type { Clock } from "./env.ts";
import type { ClusterNode } from "./node.ts";
import type { MemberState } from "./state.ts";

export interface ViewMember {
  name: string;
  nodeId: string;
  api: string;
  cluster: string;
  state: MemberState;
}

export interface ViewChannelHandlers {
  frame(bytes: Uint8Array): void;
  close(reason: string): void;
}

export interface ViewChannel {
  /** The node id at the other end. */
  readonly peer: string;
  attach(handlers: ViewChannelHandlers): void;
  send(frame: Uint8Array): void;
  close(): void;
}

export interface NodeView {
  readonly selfId: string;
  readonly clock: Clock;
  members(): readonly ViewMember[];
  onChange(listener: () => void): () => void;
  openChannel(nodeId: string, name: string): ViewChannel;
  onChannel(name: string, handler: (channel: ViewChannel) => void): void;
}

function channelName(name: string): ChannelName {
  if (!Object.hasOwn(channelIds, name))
    throw new RangeError(`no channel named ${JSON.stringify(name)} (channels.ts: ${Object.keys(channelIds).join(", ")})`);
  return name as ChannelName;
}

/** A channel over a session that may not be ready yet. */
class SessionChannel implements ViewChannel {
  private session: ChannelSession | null = null;
  private handlers: ViewChannelHandlers | null = null;
  private readonly held: Uint8Array[] = [];
  private heldClose: string | null = null;
  private readonly waiting: Uint8Array[] = [];
  private closedByUs = false;
  private over = false;

  constructor(readonly peer: string) {}

  attach(handlers: ViewChannelHandlers): void {
    if (this.handlers) throw new Error("channel handlers are already attached");
    this.handlers = handlers;
    for (const frame of this.held.splice(0)) handlers.frame(frame);
    if (this.heldClose !== null) handlers.close(this.heldClose);
  }

  send(frame: Uint8Array): void {
    if (this.closedByUs || this.over) return;
    if (this.session) this.session.send(frame);
    else this.waiting.push(frame);
  }

  close(): void {
    if (this.closedByUs) return;
    this.closedByUs = true;
    this.waiting.length = 0;
    this.session?.close();
  }

  /** The session is ready: what waited goes now. */
  bind(session: ChannelSession): void {
    if (this.closedByUs || this.over) {
      session.close();
      return;
    }
    this.session = session;
    for (const frame of this.waiting.splice(0)) session.send(frame);
  }

  deliver(frame: Uint8Array): void {
    if (this.closedByUs || this.over) return;
    if (this.handlers) this.handlers.frame(frame);
    else this.held.push(frame);
  }

  ended(reason: string): void {
    if (this.over) return;
    this.over = true;
    this.waiting.length = 0;
    if (this.closedByUs) return;
    if (this.handlers) this.handlers.close(reason);
    else this.heldClose = reason;
  }
}

/** The data plane's view of `node`. */
export function viewOf(node: ClusterNode): NodeView {
  return {
    selfId: node.nodeId,
    clock: node.clock,
    members: () =>
      node.members().map((m) => ({ name: m.name, nodeId: m.nodeId, api: m.api, cluster: m.cluster, state: m.state })),
    onChange: (listener) => node.onChange(() => listener()),
    openChannel(nodeId, name) {
      const channel = new SessionChannel(nodeId);
      node
        .openSession(nodeId, channelName(name), {
          message: (payload) => channel.deliver(payload),
          end: (reason) => channel.ended(reason),
        })
        .then(
          (session) => channel.bind(session),
          (err: Error) => channel.ended(err.message),
        );
      return channel;
    },
    onChannel(name, handler) {
      node.serve(channelName(name), (session) => {
        const channel = new SessionChannel(session.peer);
        channel.bind(session);
        handler(channel);
        return { message: (payload) => channel.deliver(payload), end: (reason) => channel.ended(reason) };
      });
    },
  };
}
