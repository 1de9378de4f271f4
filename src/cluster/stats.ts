/**
 * What a membership node counts (docs/CLUSTER.md#what-a-node-counts): the simulator reports
 * from these, and the metrics layer will export them. Counters only grow; a dropped packet is
 * counted here rather than logged one by one, so a flood of garbage costs a counter, not a disk.
 */
import { type DropReason, dropReasons, type MessageType, messageSpecs } from "./wire.ts";

/** A count per message type. */
export type ByMessageType = Record<MessageType, number>;

function byType(): ByMessageType {
  return Object.fromEntries(Object.keys(messageSpecs).map((t) => [t, 0])) as ByMessageType;
}

export interface MembershipStats {
  packetsSent: number;
  packetBytesSent: number;
  packetsReceived: number;
  packetBytesReceived: number;
  /** Messages in packets that passed their checks, and those we sent, by type (piggybacked gossip included). */
  messagesReceived: ByMessageType;
  messagesSent: ByMessageType;
  /** Bytes of those packets by the type of their first message, the packet's purpose (a ping, an ack, gossip). */
  packetBytesReceivedByType: ByMessageType;
  packetBytesSentByType: ByMessageType;
  /** Packets (or, for unknown_type, malformed and wrong_channel, single messages) dropped, by reason. */
  dropped: Record<DropReason, number>;
  /** Probe rounds started, and those that ended without an ack. */
  probes: number;
  probesFailed: number;
  /** Rounds that asked relays to probe indirectly. */
  indirectProbes: number;
  /** Indirect probes this node ran for others. */
  relayedProbes: number;
  nacksReceived: number;
  /** Pings addressed to a name that is not ours (a stale address). */
  misdirectedPings: number;
  /** Sum and count of direct probe round trips, for a mean. */
  probeRttMsSum: number;
  probeRttCount: number;
  suspicionsStarted: number;
  /** Last checks run before declaring a suspect dead, and those the suspect answered (a death averted). */
  lastChecks: number;
  lastChecksAnswered: number;
  /** Suspicions that this node's own timer turned into a death. */
  deathsDeclared: number;
  /** Times this node refuted a suspicion or death of itself. */
  refutations: number;
  /** Alive messages refused because another node claims the name with other addresses. */
  conflicts: number;
  pushPulls: number;
  pushPullFailures: number;
  sessionsAccepted: number;
  /** Sessions that ended badly, either side: a failed handshake or MAC, a timeout, a broken stream. */
  sessionsFailed: number;
}

export function newStats(): MembershipStats {
  return {
    packetsSent: 0,
    packetBytesSent: 0,
    packetsReceived: 0,
    packetBytesReceived: 0,
    messagesReceived: byType(),
    messagesSent: byType(),
    packetBytesReceivedByType: byType(),
    packetBytesSentByType: byType(),
    dropped: Object.fromEntries(dropReasons.map((r) => [r, 0])) as Record<DropReason, number>,
    probes: 0,
    probesFailed: 0,
    indirectProbes: 0,
    relayedProbes: 0,
    nacksReceived: 0,
    misdirectedPings: 0,
    probeRttMsSum: 0,
    probeRttCount: 0,
    suspicionsStarted: 0,
    lastChecks: 0,
    lastChecksAnswered: 0,
    deathsDeclared: 0,
    refutations: 0,
    conflicts: 0,
    pushPulls: 0,
    pushPullFailures: 0,
    sessionsAccepted: 0,
    sessionsFailed: 0,
  };
}

/** All packets and messages dropped, whatever the reason. */
export function droppedTotal(stats: MembershipStats): number {
  return Object.values(stats.dropped).reduce((a, b) => a + b, 0);
}
