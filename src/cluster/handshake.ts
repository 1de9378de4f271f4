/**
 * Mutual challenge–response for stream sessions, and the MACs on a session's frames
 * (docs/CLUSTER-WIRE.md#stream-sessions).
 *
 * A stream (push-pull now, replication later) opens with three messages:
 *
 *     client → server  hello     {version, nonce: Nc}
 *     server → client  challenge {nonce: Ns, proof: HMAC(K, "stemedb session server v1" ‖ Nc ‖ Ns)}
 *     client → server  proof     {proof: HMAC(K, "stemedb session client v1" ‖ Nc ‖ Ns)}
 *
 * Both sides have then shown they hold K without sending it, and both derive the session key
 * `Ks = HMAC(K, "stemedb session key v1" ‖ Nc ‖ Ns)`. Why it holds:
 *
 * - **Replay.** Each side's proof covers the other side's fresh 32-byte nonce, so a proof
 *   recorded from one session is worthless in the next: a replayed hello meets a new Ns.
 * - **Reflection.** The two proofs carry different labels, so a server's proof cannot be
 *   played back as a client's; the client only answers after checking the server's proof.
 * - **Rotation.** The server proves with its primary key; the client tries every key of its
 *   keyring and answers with the one that matched, which the server then checks.
 *
 * After the handshake every frame is `payload ‖ HMAC(Ks, direction ‖ seq ‖ payload)`, with a
 * per-direction counter `seq` (u64, big-endian) the receiver expects in order, so a frame cannot
 * be injected, replayed, reordered, dropped unnoticed or reflected to its sender. Frames are
 * authenticated, not encrypted: the cluster's traffic is membership and signed, public records;
 * confidentiality is TLS's job (optional on the TCP port, docs/CLUSTER.md#tls-on-the-cluster-port).
 *
 * Both machines are pure: they take messages and return what to send, so the tests drive them
 * without a network, and session.ts wires them to a stream and a timeout.
 */
import { type Keyring, macBytes, macEqual, hmacSha256 } from "./keyring.ts";
import type { Random } from "./env.ts";
import { type Message, type MessageOf, nonceBytes } from "./wire.ts";

export const handshakeVersion = 1;
const text = new TextEncoder();
const serverLabel = text.encode("stemedb session server v1");
const clientLabel = text.encode("stemedb session client v1");
const keyLabel = text.encode("stemedb session key v1");

/** What a step produced: a message to send, the session key once done, or why it failed. */
export type Step =
  | { kind: "send"; message: Message; sessionKey?: Uint8Array }
  | { kind: "done"; sessionKey: Uint8Array }
  | { kind: "fail"; reason: string };

function sessionKeyOf(key: Uint8Array, nc: Uint8Array, ns: Uint8Array): Uint8Array {
  return hmacSha256(key, keyLabel, nc, ns);
}

/** The connecting side. */
export class ClientHandshake {
  private readonly nonce: Uint8Array;
  private state: "start" | "sent" | "done" | "failed" = "start";

  constructor(
    private readonly keyring: Keyring,
    random: Random,
  ) {
    this.nonce = random.bytes(nonceBytes);
  }

  start(): Message {
    if (this.state !== "start") throw new Error("ClientHandshake.start called twice");
    this.state = "sent";
    return { type: "hello", version: handshakeVersion, nonce: this.nonce };
  }

  receive(message: Message): Step {
    if (this.state !== "sent" || message.type !== "challenge") return this.fail(`unexpected ${message.type} message`);
    const key = this.keyring.verify(message.proof, serverLabel, this.nonce, message.nonce);
    if (key === null) return this.fail("the server did not prove the cluster key");
    this.state = "done";
    return {
      kind: "send",
      message: { type: "proof", proof: hmacSha256(key, clientLabel, this.nonce, message.nonce) },
      sessionKey: sessionKeyOf(key, this.nonce, message.nonce),
    };
  }

  private fail(reason: string): Step {
    this.state = "failed";
    return { kind: "fail", reason };
  }
}

/** The accepting side. */
export class ServerHandshake {
  private readonly nonce: Uint8Array;
  private clientNonce: Uint8Array | null = null;
  private state: "start" | "challenged" | "done" | "failed" = "start";

  constructor(
    private readonly keyring: Keyring,
    random: Random,
  ) {
    this.nonce = random.bytes(nonceBytes);
  }

  receive(message: Message): Step {
    if (this.state === "start" && message.type === "hello") return this.challenge(message);
    if (this.state === "challenged" && message.type === "proof") return this.check(message);
    this.state = "failed";
    return { kind: "fail", reason: `unexpected ${message.type} message` };
  }

  private challenge(hello: MessageOf<"hello">): Step {
    if (hello.version !== handshakeVersion) {
      this.state = "failed";
      return { kind: "fail", reason: `handshake version ${hello.version}; this node speaks ${handshakeVersion}` };
    }
    this.clientNonce = hello.nonce;
    this.state = "challenged";
    const proof = hmacSha256(this.keyring.primary, serverLabel, hello.nonce, this.nonce);
    return { kind: "send", message: { type: "challenge", nonce: this.nonce, proof } };
  }

  private check(proof: MessageOf<"proof">): Step {
    const nc = this.clientNonce as Uint8Array;
    const key = this.keyring.primary;
    if (!macEqual(hmacSha256(key, clientLabel, nc, this.nonce), proof.proof)) {
      this.state = "failed";
      return { kind: "fail", reason: "the client did not prove the cluster key" };
    }
    this.state = "done";
    return { kind: "done", sessionKey: sessionKeyOf(key, nc, this.nonce) };
  }
}

/** Direction bytes: a frame MACed one way never verifies the other way. */
const clientToServer = 1;
const serverToClient = 2;

/** MACs on a session's frames, with a counter per direction. */
export class SessionSeal {
  private sendSeq = 0;
  private receiveSeq = 0;
  private readonly sendDirection: number;
  private readonly receiveDirection: number;

  constructor(
    private readonly sessionKey: Uint8Array,
    role: "client" | "server",
  ) {
    this.sendDirection = role === "client" ? clientToServer : serverToClient;
    this.receiveDirection = role === "client" ? serverToClient : clientToServer;
  }

  seal(payload: Uint8Array): Uint8Array {
    const mac = this.mac(this.sendDirection, this.sendSeq++, payload);
    const frame = new Uint8Array(payload.length + macBytes);
    frame.set(payload);
    frame.set(mac, payload.length);
    return frame;
  }

  /** The payload of the next frame, or null when its MAC fails (the session must then end). */
  open(frame: Uint8Array): Uint8Array | null {
    if (frame.length < macBytes) return null;
    const payload = frame.subarray(0, frame.length - macBytes);
    const mac = frame.subarray(frame.length - macBytes);
    if (!macEqual(this.mac(this.receiveDirection, this.receiveSeq, payload), mac)) return null;
    this.receiveSeq++;
    return payload;
  }

  private mac(direction: number, seq: number, payload: Uint8Array): Uint8Array {
    const header = new Uint8Array(9);
    header[0] = direction;
    new DataView(header.buffer).setBigUint64(1, BigInt(seq));
    return hmacSha256(this.sessionKey, header, payload);
  }
}
