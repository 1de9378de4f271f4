/**
 * Stream sessions: the mutual challenge as a pure state machine (both sides prove the key,
 * replays and reflections fail), the per-frame MACs, and a session over the in-memory network.
 */
import { describe, expect, test } from "bun:test";
import { FakeClock } from "../../src/cluster/fake-clock.ts";
import { ClientHandshake, ServerHandshake, SessionSeal, type Step } from "../../src/cluster/handshake.ts";
import { Keyring } from "../../src/cluster/keyring.ts";
import { MemoryNetwork } from "../../src/cluster/memory-network.ts";
import { seededRandom } from "../../src/cluster/random.ts";
import { Session } from "../../src/cluster/session.ts";
import { encodeMessage, type Message } from "../../src/cluster/wire.ts";
import { samples } from "./samples.ts";

const k1 = new Keyring([new Uint8Array(32).fill(1)]);
const k2 = new Keyring([new Uint8Array(32).fill(2)]);
const sent = (step: Step): Message => {
  if (step.kind !== "send") throw new Error(`expected a message to send, got ${JSON.stringify(step)}`);
  return step.message;
};

/** Runs a handshake to the end: the client's and server's session keys (or the failure). */
function handshake(clientRing: Keyring, serverRing: Keyring, seed = 1) {
  const random = seededRandom(seed);
  const client = new ClientHandshake(clientRing, random);
  const server = new ServerHandshake(serverRing, random);
  const challenge = server.receive(client.start());
  if (challenge.kind === "fail") return { failed: `server: ${challenge.reason}` };
  const proof = client.receive(sent(challenge));
  if (proof.kind === "fail") return { failed: `client: ${proof.reason}` };
  const done = server.receive(sent(proof));
  if (done.kind === "fail") return { failed: `server: ${done.reason}` };
  return {
    client: proof.kind === "send" ? proof.sessionKey : undefined,
    server: done.kind === "done" ? done.sessionKey : undefined,
  };
}

describe("the handshake", () => {
  test("both sides holding the key agree on a session key; each session's key differs", () => {
    const a = handshake(k1, k1, 1);
    expect(a.client).toBeInstanceOf(Uint8Array);
    expect(a.client).toEqual(a.server as Uint8Array);
    expect(handshake(k1, k1, 2).client).not.toEqual(a.client as Uint8Array);
  });

  test("a client without the key is refused, and so is a server without it", () => {
    expect(handshake(k2, k1).failed).toBe("client: the server did not prove the cluster key");
    const ring = new Keyring([new Uint8Array(32).fill(1)]);
    expect(handshake(ring, k2).failed).toBe("client: the server did not prove the cluster key");
  });

  test("during a rotation the client answers under whichever of its keys the server proved", () => {
    const rotated = new Keyring([new Uint8Array(32).fill(2), new Uint8Array(32).fill(1)]);
    const r = handshake(k1, rotated.withPrimary(new Uint8Array(32).fill(1)));
    expect(r.client).toEqual(r.server as Uint8Array);
    const r2 = handshake(rotated, k2);
    expect(r2.client).toEqual(r2.server as Uint8Array);
  });

  test("a recorded client (hello, proof) replayed to a new server is refused: the server's nonce is fresh", () => {
    const random = seededRandom(5);
    const client = new ClientHandshake(k1, random);
    const server = new ServerHandshake(k1, random);
    const hello = client.start();
    const proof = sent(client.receive(sent(server.receive(hello))));
    const fresh = new ServerHandshake(k1, seededRandom(6));
    expect(fresh.receive(hello).kind).toBe("send");
    expect(fresh.receive(proof)).toEqual({ kind: "fail", reason: "the client did not prove the cluster key" });
  });

  test("a recorded challenge replayed to a new client is refused: the client's nonce is fresh", () => {
    const random = seededRandom(7);
    const server = new ServerHandshake(k1, random);
    const challenge = sent(server.receive(new ClientHandshake(k1, random).start()));
    const victim = new ClientHandshake(k1, seededRandom(8));
    victim.start();
    expect(victim.receive(challenge)).toEqual({ kind: "fail", reason: "the server did not prove the cluster key" });
  });

  test("reflection: a server's proof played back as a client's proof fails (distinct labels)", () => {
    const random = seededRandom(9);
    const server = new ServerHandshake(k1, random);
    const challenge = sent(server.receive(new ClientHandshake(k1, random).start()));
    if (challenge.type !== "challenge") throw new Error("expected a challenge");
    expect(server.receive({ type: "proof", proof: challenge.proof }).kind).toBe("fail");
  });

  test("messages out of order fail", () => {
    const server = new ServerHandshake(k1, seededRandom(1));
    expect(server.receive(samples.proof).kind).toBe("fail");
    const client = new ClientHandshake(k1, seededRandom(1));
    expect(client.receive(samples.challenge).kind).toBe("fail"); // before start
    expect(new ServerHandshake(k1, seededRandom(1)).receive({ ...samples.hello, version: 2 })).toMatchObject({ kind: "fail" });
  });
});

describe("the frame seal", () => {
  const key = new Uint8Array(32).fill(7);
  const payloads = [1, 2, 3].map((n) => encodeMessage({ type: "ack", seq: n }));

  test("frames open in order; a replayed, reordered, reflected or altered frame does not", () => {
    const client = new SessionSeal(key, "client");
    const frames = payloads.map((p) => client.seal(p));
    const server = new SessionSeal(key, "server");
    expect(server.open(frames[0] as Uint8Array)).toEqual(payloads[0] as Uint8Array);
    expect(server.open(frames[0] as Uint8Array)).toBeNull(); // replay
    expect(server.open(frames[2] as Uint8Array)).toBeNull(); // skipped one
    expect(server.open(frames[1] as Uint8Array)).toEqual(payloads[1] as Uint8Array);
    expect(new SessionSeal(key, "client").open(frames[0] as Uint8Array)).toBeNull(); // reflected to its sender
    const altered = (frames[2] as Uint8Array).slice();
    altered[0] = (altered[0] as number) ^ 1;
    expect(server.open(altered)).toBeNull();
    expect(server.open(new Uint8Array(5))).toBeNull();
  });
});

describe("a session over the in-memory network", () => {
  function setup(serverRing: Keyring) {
    const clock = new FakeClock();
    const random = seededRandom(11);
    const network = new MemoryNetwork(clock, random);
    const a = network.attach("a");
    const b = network.attach("b");
    const log: string[] = [];
    const options = (keyring: Keyring) => ({ keyring, random, clock, timeoutMs: 1000 });
    b.listen({
      packet: () => {},
      stream: (stream) =>
        Session.accept(stream, options(serverRing), {
          ready: () => log.push("server ready"),
          message: (m, s) => {
            log.push(`server got ${m.type}`);
            s.send({ ...samples.push_pull, join: false });
            s.close();
          },
          end: (reason) => log.push(`server end: ${reason}`),
        }),
    });
    return { clock, a, b, log, options };
  }

  test("handshake, one exchange each way, close", () => {
    const { clock, a, log, options } = setup(k1);
    Session.open(a, "b:18182", options(k1), {
      ready: (s) => {
        log.push("client ready");
        s.send(samples.push_pull);
      },
      message: (m, s) => {
        log.push(`client got ${m.type}`);
        s.close();
      },
      end: (reason) => log.push(`client end: ${reason}`),
    });
    clock.advance(100);
    expect(log).toEqual(["client ready", "server ready", "server got push_pull", "client got push_pull"]);
  });

  test("a peer that accepts but never answers: the session's deadline ends it", () => {
    const clock = new FakeClock();
    const random = seededRandom(12);
    const network = new MemoryNetwork(clock, random);
    const a = network.attach("a");
    network.attach("mute").listen({ packet: () => {}, stream: () => {} });
    const log: string[] = [];
    Session.open(
      a,
      "mute:18182",
      { keyring: k1, random, clock, timeoutMs: 300 },
      {
        ready: () => log.push("ready"),
        message: () => log.push("message"),
        end: (reason) => log.push(reason),
      },
    );
    clock.advance(1000);
    expect(log).toEqual(["timed out after 300 ms"]);
  });

  test("a wrong key ends both sides with a reason; an unreachable peer fails to connect", () => {
    const { clock, a, log, options } = setup(k2);
    const handlers = {
      ready: () => log.push("client ready"),
      message: () => log.push("client message"),
      end: (reason: string) => log.push(`client end: ${reason}`),
    };
    Session.open(a, "b:18182", options(k1), handlers);
    clock.advance(100);
    expect(log).toEqual(["client end: the server did not prove the cluster key", "server end: closed by peer"]);
    log.length = 0;
    Session.open(a, "nowhere:18182", options(k1), handlers);
    clock.advance(2000);
    expect(log).toEqual(["client end: connect timed out: unreachable"]);
  });
});
