/**
 * Membership timings as named presets (docs/CLUSTER.md#presets), after memberlist's
 * DefaultLANConfig / DefaultWANConfig / DefaultLocalConfig (config.go), whose values have
 * years of production behind them; where we keep one, the comment says why it is right for
 * us too. Pick the preset by the network between the nodes, not by cluster size: sizes are
 * handled by formulas that scale with log(n) (suspicion timeouts, retransmissions, push-pull
 * spacing).
 */

export interface MembershipConfig {
  /** How often a node probes one other member (SWIM's protocol period). */
  probeIntervalMs: number;
  /** How long a direct probe waits for its ack before asking others to probe indirectly. */
  probeTimeoutMs: number;
  /** How many members are asked to probe a silent member indirectly (SWIM's k). */
  indirectChecks: number;
  /** A broadcast is sent `retransmitMult · ⌈log10(n + 1)⌉` times before it is dropped. */
  retransmitMult: number;
  /** The minimum suspicion timeout is `suspicionMult · max(1, log10(n)) · probeIntervalMs`. */
  suspicionMult: number;
  /** The maximum suspicion timeout (no confirmations) is this many times the minimum (Lifeguard). */
  suspicionMaxTimeoutMult: number;
  /** Local health: timeouts and the probe interval stretch up to this factor when the node itself is slow (Lifeguard). */
  awarenessMax: number;
  /** How often pending gossip is sent to a few random members, besides riding on probes and acks. */
  gossipIntervalMs: number;
  /** How many members each gossip round goes to. */
  gossipNodes: number;
  /** A dead member still gets gossip for this long, so it can learn it was declared dead and refute. */
  gossipToTheDeadMs: number;
  /** How often a node exchanges its full state with a random member over a stream (scaled up past 32 members). */
  pushPullIntervalMs: number;
  /** A stream session (handshake and exchange) must finish within this. */
  streamTimeoutMs: number;
  /** How often a node tries a push-pull with one member it holds dead (not left): how a healed partition rejoins. */
  reconnectIntervalMs: number;
  /** A member dead for longer than this is no longer tried, and is forgotten (a left one too). */
  reconnectTimeoutMs: number;
}

export type PresetName = "lan" | "wan" | "local";
export const presetNames: readonly PresetName[] = ["lan", "wan", "local"];

/** Nodes in one data centre: sub-millisecond round trips, rare loss. */
const lan: MembershipConfig = {
  probeIntervalMs: 1000, // a failure is noticed within about a second of the next probe; one small packet a second per node is cheap
  probeTimeoutMs: 500, // a LAN round trip is < 1 ms; 500 ms leaves room for a GC pause or a busy core before going indirect
  indirectChecks: 3, // three independent paths make a false suspicion from one bad link unlikely (SWIM §3.1), at 6 packets
  retransmitMult: 4, // 4·⌈log10(n+1)⌉ sends reach every member with high probability (epidemic spread, SWIM §4.1)
  suspicionMult: 4, // a suspect has ≥ 4 probe periods to hear of it (buddy system) and refute before it is declared dead
  suspicionMaxTimeoutMult: 6, // without confirmations a suspicion waits 6× longer: one node's bad view cannot kill quickly
  awarenessMax: 8, // an overloaded node slows to at most one probe per 8 s rather than accusing everyone
  gossipIntervalMs: 200, // news spreads in a few hundred milliseconds without waiting for the next probe
  gossipNodes: 3, // three targets a round: logarithmic spread with little redundancy
  gossipToTheDeadMs: 30_000, // as long as a push-pull period: a node wrongly declared dead hears of it either way
  pushPullIntervalMs: 30_000, // full-state sync is a safety net behind gossip, so it can be rare
  streamTimeoutMs: 10_000, // a push-pull of thousands of members over TCP finishes well within 10 s on a LAN
  reconnectIntervalMs: 30_000, // Serf's default: one connect attempt per node per 30 s costs nothing, and a healed partition rejoins within a minute or two
  reconnectTimeoutMs: 24 * 3600_000, // Serf's default: a node gone for a day is gone; an operator who restores it can join it again
};

/** Nodes across regions: 50-300 ms round trips, more loss and jitter. */
const wan: MembershipConfig = {
  ...lan,
  probeIntervalMs: 5000, // probes cost more and round trips are longer: detect in seconds, not one second
  probeTimeoutMs: 3000, // covers intercontinental round trips with jitter before going indirect
  suspicionMult: 6, // more time to refute over a lossy path
  gossipIntervalMs: 500, // slower rounds …
  gossipNodes: 4, // … to one more member each, so spread time stays similar
  gossipToTheDeadMs: 60_000, // matches the longer push-pull period
  pushPullIntervalMs: 60_000, // full-state exchanges cross expensive links
  streamTimeoutMs: 30_000, // TCP over long fat pipes with loss needs longer
  reconnectIntervalMs: 60_000, // connect attempts cross expensive links; partitions between regions last longer anyway
};

/** Nodes on one machine or loopback (tests, the simulator's default run): tighter timings. */
const local: MembershipConfig = {
  ...lan,
  probeTimeoutMs: 200, // loopback answers in microseconds; 200 ms still absorbs a GC pause
  indirectChecks: 1, // every path is the same kernel: more relays add nothing
  retransmitMult: 2, // no loss to speak of, so fewer repeats
  suspicionMult: 3, // refutation arrives fast
  gossipIntervalMs: 100, // spread quickly; packets are nearly free
  gossipToTheDeadMs: 15_000, // matches push-pull
  pushPullIntervalMs: 15_000, // cheap, and shortens convergence after a restart
  streamTimeoutMs: 1000, // a local TCP exchange that takes a second is broken
  reconnectIntervalMs: 5000, // a restarted local node is back within seconds
};

export const presets: Readonly<Record<PresetName, Readonly<MembershipConfig>>> = { lan, wan, local };

/** memberlist's suspicionTimeout (util.go): the minimum time a suspect has to refute, growing with log10(n). */
export function suspicionTimeoutMs(config: MembershipConfig, members: number): number {
  const nodeScale = Math.max(1, Math.log10(Math.max(1, members)));
  return Math.floor(config.suspicionMult * nodeScale * config.probeIntervalMs);
}

/** memberlist's retransmitLimit (util.go): how many times one broadcast is sent. */
export function retransmitLimit(config: MembershipConfig, members: number): number {
  return config.retransmitMult * Math.ceil(Math.log10(members + 1));
}

/** Above 32 members the push-pull period grows with log2(n), so the cluster's TCP load stays flat (memberlist's pushPullScale). */
export function pushPullIntervalFor(config: MembershipConfig, members: number): number {
  const threshold = 32;
  if (members <= threshold) return config.pushPullIntervalMs;
  return (Math.ceil(Math.log2(members) - Math.log2(threshold)) + 1) * config.pushPullIntervalMs;
}

/**
 * An upper bound on how long every member takes to mark a crashed member dead, on a network
 * that delivers: a prober reaches the crashed member within two passes over its shuffled list
 * (round robin), its probe round ends one interval later, the suspicion runs its maximum
 * (no confirmations), the last check takes one more round, and the dead message spreads for a
 * full retransmission budget of gossip rounds. Typical detection is far quicker
 * (docs/CLUSTER.md#failure-detection).
 */
export function failureDetectionBoundMs(config: MembershipConfig, members: number): number {
  const toProbe = 2 * Math.max(1, members - 1) * config.probeIntervalMs;
  const suspicionMax = config.suspicionMaxTimeoutMult * suspicionTimeoutMs(config, members);
  const spread = retransmitLimit(config, members) * config.gossipIntervalMs;
  return toProbe + config.probeIntervalMs + suspicionMax + config.probeIntervalMs + spread;
}
