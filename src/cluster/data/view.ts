/**
 * What the data plane needs of a cluster node (docs/CLUSTER.md#the-data-plane): who it is, who
 * the other members are and how they fare, and authenticated channels to them. Nothing more —
 * placement, shard states and drains are the data plane's own (shards.ts), computed from the
 * members listed here.
 *
 * The control plane's `ClusterNode` (src/cluster/node.ts: SWIM membership, the keyring, TCP
 * sessions) satisfies it in production; `MemoryClusterView` (memory-view.ts) does on the
 * in-memory network for the tests. Keep it small: every method here is one the node must
 * provide and the tests must fake.
 *
 * Channels are how the data plane talks to a peer: ordered, reliable frames in both directions
 * over one authenticated session (docs/CLUSTER-WIRE.md#data-channels), multiplexed by name —
 * `"push"` for replication, `"rpc"` for everything else (Merkle comparisons, fetches,
 * forwarded requests, shard-state news), so a large answer never holds up replication. A
 * channel that cannot connect, breaks, or whose session fails its MACs is closed, and its
 * `close` handler says why; the data plane opens another when it needs one.
 */
import type { Clock } from "../env.ts";

export type MemberState = "alive" | "suspect" | "dead" | "left";

export interface ClusterMember {
  /** The member's name (unique in the cluster; for people and metric labels). */
  name: string;
  /** Its stable id: placement hashes it, channels are opened to it. */
  nodeId: string;
  /** Its HTTP API, host:port. */
  api: string;
  /** Its cluster (stream) address, host:port. */
  cluster: string;
  state: MemberState;
}

export interface ChannelHandlers {
  /** One whole frame, in the order the peer sent it. */
  frame(bytes: Uint8Array): void;
  /** Once: the peer closed, the session broke, or the connect failed (not after our own `close()`). */
  close(reason: string): void;
}

export interface Channel {
  /** The node id at the other end. */
  readonly peer: string;
  /** Sets the handlers; frames that arrive before this are held, in order. */
  attach(handlers: ChannelHandlers): void;
  /** Queues a frame; frames sent before the session is ready go once it is. Never throws for a broken channel. */
  send(frame: Uint8Array): void;
  close(): void;
}

export interface ClusterView {
  /** This node's own id (a member of `members()`). */
  readonly selfId: string;
  /** Time, for the data plane's timers (the fake clock in tests). */
  readonly clock: Clock;
  /** Every member this node knows, itself included, in any order. */
  members(): readonly ClusterMember[];
  /** Called after `members()` changed (a join, a state change, an address change). Returns an unsubscribe. */
  onChange(listener: () => void): () => void;
  /** A channel named `name` to the member `nodeId`. */
  openChannel(nodeId: string, name: string): Channel;
  /** Channels named `name` that peers open to us go to `handler`. One handler per name. */
  onChannel(name: string, handler: (channel: Channel) => void): void;
}

/** Alive or suspect: placement counts it (a suspicion alone moves nothing, docs/CLUSTER.md#placement). */
export function isLive(member: ClusterMember): boolean {
  return member.state === "alive" || member.state === "suspect";
}
