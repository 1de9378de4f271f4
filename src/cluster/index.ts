/**
 * The cluster layer's face (docs/CLUSTER.md): membership (SWIM + Lifeguard), the wire format
 * and its keyring, stream sessions, placement, Merkle anti-entropy, and the deterministic
 * simulator with its in-memory network. Not wired into `serve` yet.
 */
export * from "./config.ts";
export * from "./env.ts";
export * from "./fake-clock.ts";
export * from "./keyring.ts";
export * from "./membership.ts";
export * from "./memory-network.ts";
export * from "./merkle.ts";
export * from "./placement.ts";
export * from "./random.ts";
export * from "./session.ts";
export * from "./sim.ts";
export type { Member, MemberState } from "./state.ts";
export * from "./stats.ts";
export type { Stream, Transport } from "./transport.ts";
export { type Message, packetBytesMax } from "./wire.ts";
