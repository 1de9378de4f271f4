/** One sample of every wire message, fixed, for the golden fixtures and the fuzz tests. */
import type { Message, MessageType } from "../../src/cluster/wire.ts";

const bytes = (fill: number) => new Uint8Array(32).fill(fill);

export const fixtureKey = new Uint8Array(32).fill(0x4b);
/** The session key of the session-frame fixture. */
export const fixtureSessionKey = new Uint8Array(32).fill(0x53);

export const samples: { [T in MessageType]: Extract<Message, { type: T }> } = {
  ping: { type: "ping", seq: 7, target: "n02" },
  indirect_ping: { type: "indirect_ping", seq: 8, target: "n03", target_addr: "10.0.0.3:18183", nack: true },
  ack: { type: "ack", seq: 7 },
  nack: { type: "nack", seq: 8 },
  alive: {
    type: "alive",
    name: "n01",
    node_id: "9f86d081884c7d659a2feaa0c55ad015",
    api: "10.0.0.1:18180",
    cluster: "10.0.0.1:18182",
    gossip: "10.0.0.1:18183",
    inc: 3,
  },
  suspect: { type: "suspect", name: "n03", inc: 2, from: "n01" },
  dead: { type: "dead", name: "n03", inc: 2, from: "n01" },
  hello: { type: "hello", version: 1, nonce: bytes(0xa1) },
  challenge: { type: "challenge", nonce: bytes(0xb2), proof: bytes(0xc3) },
  proof: { type: "proof", proof: bytes(0xd4) },
  push_pull: {
    type: "push_pull",
    join: true,
    members: [
      {
        name: "n01",
        node_id: "9f86d081884c7d659a2feaa0c55ad015",
        api: "10.0.0.1:18180",
        cluster: "10.0.0.1:18182",
        gossip: "10.0.0.1:18183",
        inc: 3,
        state: 0,
      },
      {
        name: "n03",
        node_id: "60303ae22b998861bce3b28f33eec1be",
        api: "10.0.0.3:18180",
        cluster: "10.0.0.3:18182",
        gossip: "10.0.0.3:18183",
        inc: 2,
        state: 2,
      },
    ],
  },
  open: { type: "open", channel: 2, from: "9f86d081884c7d65" },
  data: { type: "data", payload: new Uint8Array([0xa1, 0x61, 0x6b, 0x01]) },
};
