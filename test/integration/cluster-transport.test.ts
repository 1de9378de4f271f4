/**
 * The Bun transport (src/cluster/net/) on real loopback sockets: the transport conformance
 * suite, plain and in mutual TLS; length prefixes (a bad one closes the stream, counted); TLS
 * refusals (another CA, no certificate, plain TCP); and the packet loop under a fuzz of real
 * UDP datagrams — every one counted and dropped, the member still working after.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { presets } from "../../src/cluster/config.ts";
import { systemClock, systemRandom } from "../../src/cluster/env.ts";
import { Keyring } from "../../src/cluster/keyring.ts";
import { BunTransport } from "../../src/cluster/net/bun-transport.ts";
import { type ClusterTls, loadClusterTls } from "../../src/cluster/net/tls.ts";
import { ClusterNode } from "../../src/cluster/node.ts";
import { droppedTotal } from "../../src/cluster/stats.ts";
import type { Stream, Transport } from "../../src/cluster/transport.ts";
import { encodeMessage, sealPacket } from "../../src/cluster/wire.ts";
import { createLogger } from "../../src/core/logger.ts";
import { transportConformance } from "../cluster/transport-conformance.ts";
import { prng } from "../support/prng.ts";
import { cleanupAll, freePort, sleep, tempDir } from "./helpers.ts";
import { makeCa } from "../support/tls.ts";

afterAll(cleanupAll);

const opened: BunTransport[] = [];
afterAll(() => {
  for (const t of opened) t.close();
});

async function open(tls?: ClusterTls): Promise<BunTransport> {
  const t = await BunTransport.open({ bindHost: "127.0.0.1", port: 0, advertiseHost: "127.0.0.1", ...(tls ? { tls } : {}) });
  opened.push(t);
  return t;
}

function harness(tls?: ClusterTls) {
  return () => {
    const mine: Transport[] = [];
    return {
      make: async () => {
        const t = await open(tls);
        mine.push(t);
        return t;
      },
      settle: (ms: number) => sleep(ms),
      nowhere: `127.0.0.1:${freePort()}`,
      close: () => {
        for (const t of mine) t.close();
      },
    };
  };
}

const certDir = tempDir("stemedb-cluster-tls-");
const good = makeCa(certDir, "cluster-ca", ["node-a", "node-b"]);
const other = makeCa(certDir, "other-ca", ["intruder"]);
const tlsOf = (c: { cert: string; key: string; ca: string }) =>
  loadClusterTls({ certPath: c.cert, keyPath: c.key, caPath: c.ca });
const tlsA = tlsOf(good["node-a"] as { cert: string; key: string; ca: string });

transportConformance("bun udp + tcp on loopback", harness());
transportConformance("bun udp + tcp in mutual TLS", harness(tlsA));

/** Frames (or the close) a listening transport's first accepted stream gets. */
function collect(t: BunTransport): { frames: Uint8Array[]; closes: string[] } {
  const got = { frames: [] as Uint8Array[], closes: [] as string[] };
  t.listen({
    packet: () => {},
    stream: (s: Stream) => s.attach({ frame: (f) => got.frames.push(f), close: (r) => got.closes.push(r) }),
  });
  return got;
}

async function until(done: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!done() && Date.now() < end) await sleep(10);
}

describe("length-prefixed frames on TCP", () => {
  test("a frame of 1 MiB, frames split byte by byte and many in one write all arrive whole and in order", async () => {
    const server = await open();
    const got = collect(server);
    const port = Number(server.clusterAddress.split(":")[1]);
    const big = new Uint8Array(1 << 20).map((_, i) => i & 0xff);
    const client = await open();
    client.listen({ packet: () => {}, stream: () => {} });
    const s = client.openStream(server.clusterAddress);
    s.attach({ frame: () => {}, close: () => {} });
    s.send(big);
    await until(() => got.frames.length === 1);
    expect(got.frames[0]).toEqual(big);
    // A raw client: three frames in one write, then one frame a byte at a time.
    const raw = await Bun.connect({ hostname: "127.0.0.1", port, socket: { data() {} } });
    const frame = (text: string) => {
      const body = new TextEncoder().encode(text);
      const out = new Uint8Array(4 + body.length);
      new DataView(out.buffer).setUint32(0, body.length);
      out.set(body, 4);
      return out;
    };
    raw.write(new Uint8Array([...frame("one"), ...frame("two"), ...frame("three")]));
    for (const byte of frame("slow")) {
      raw.write(new Uint8Array([byte]));
      await sleep(1);
    }
    await until(() => got.frames.length === 5);
    expect(got.frames.slice(1).map((f) => new TextDecoder().decode(f))).toEqual(["one", "two", "three", "slow"]);
    raw.end();
  });

  test("a length over the maximum, or 0, closes the stream and is counted", async () => {
    for (const prefix of [
      [0xff, 0xff, 0xff, 0xff],
      [0, 0, 0, 0],
    ]) {
      const server = await open();
      const got = collect(server);
      const port = Number(server.clusterAddress.split(":")[1]);
      let closed = false;
      const raw = await Bun.connect({
        hostname: "127.0.0.1",
        port,
        socket: {
          data() {},
          close() {
            closed = true;
          },
        },
      });
      raw.write(new Uint8Array(prefix));
      await until(() => closed && got.closes.length === 1);
      expect(closed).toBe(true);
      expect(got.closes[0]).toMatch(/^bad frame length (4294967295|0)$/);
      expect(server.stats.badLengths).toBe(1);
    }
  });
});

describe("mutual TLS on the cluster port", () => {
  test("a peer with a certificate from another CA is refused, and so is one without a certificate or plain TCP", async () => {
    const server = await open(tlsA);
    const got = collect(server);
    const port = Number(server.clusterAddress.split(":")[1]);
    // Another CA's certificate (it trusts our CA, so only our side can refuse it).
    const intruder = tlsOf({
      ...(other.intruder as { cert: string; key: string; ca: string }),
      ca: (good["node-a"] as { ca: string }).ca,
    });
    const client = await open(intruder);
    client.listen({ packet: () => {}, stream: () => {} });
    const reasons: string[] = [];
    const s = client.openStream(server.clusterAddress);
    s.attach({ frame: () => {}, close: (r) => reasons.push(r) });
    s.send(new Uint8Array([1, 2, 3]));
    await until(() => reasons.length === 1);
    expect(reasons).toHaveLength(1);
    // No certificate at all.
    let noCertClosed = false;
    await Bun.connect({
      hostname: "127.0.0.1",
      port,
      tls: { ca: tlsA.client.ca, rejectUnauthorized: false },
      socket: {
        open(sock) {
          sock.write(new Uint8Array([0, 0, 0, 1, 7]));
        },
        data() {},
        close() {
          noCertClosed = true;
        },
      },
    }).catch(() => {
      noCertClosed = true;
    });
    // Plain TCP to the TLS port.
    let plainClosed = false;
    const plain = await Bun.connect({
      hostname: "127.0.0.1",
      port,
      socket: {
        data() {},
        close() {
          plainClosed = true;
        },
      },
    });
    plain.write(new Uint8Array([0, 0, 0, 1, 7]));
    await until(() => noCertClosed && plainClosed);
    expect(noCertClosed).toBe(true);
    expect(plainClosed).toBe(true);
    await sleep(100);
    expect(got.frames).toEqual([]); // nothing got through to the protocol
    expect(server.stats.tlsFailures).toBeGreaterThanOrEqual(1);
  });

  test("a server whose certificate another CA signed is refused by the client", async () => {
    const rogue = await open(tlsOf(other.intruder as { cert: string; key: string; ca: string }));
    collect(rogue);
    const client = await open(tlsOf(good["node-b"] as { cert: string; key: string; ca: string }));
    client.listen({ packet: () => {}, stream: () => {} });
    const reasons: string[] = [];
    client.openStream(rogue.clusterAddress).attach({ frame: () => {}, close: (r) => reasons.push(r) });
    await until(() => reasons.length === 1);
    expect(reasons[0]).toMatch(/^TLS: (unable to verify|self signed certificate)/);
    expect(client.stats.tlsFailures).toBe(1);
  });
});

describe("the packet loop on real UDP", () => {
  test("thousands of garbage and wrongly keyed datagrams are each counted and dropped; the member then joins and works", async () => {
    const keyring = new Keyring([new Uint8Array(32).fill(0x11)]);
    const logger = createLogger({ level: "error" });
    const make = async (name: string, seeds: string[]) =>
      new ClusterNode({
        name,
        nodeId: `id-${name}`,
        api: "127.0.0.1:1",
        transport: await open(),
        clock: systemClock,
        random: systemRandom(),
        keyring,
        config: presets.local,
        shardCount: 16,
        replicationFactor: 2,
        seeds,
        logger,
      });
    const target = await make("target", []);
    await target.start();
    const [host, portText] = (target.self.gossip as string).split(":") as [string, string];
    const gossipPort = Number(portText);
    const fuzzer = await Bun.udpSocket({ hostname: "127.0.0.1", port: 0 });
    const random = prng(42);
    const wrongKey = new Keyring([new Uint8Array(32).fill(0x22)]);
    let sent = 0;
    for (let batch = 0; batch < 40; batch++) {
      for (let i = 0; i < 100; i++) {
        const kind = (batch * 100 + i) % 4;
        let packet: Uint8Array;
        if (kind === 0) packet = new Uint8Array(Math.floor(random() * 1600)).map(() => Math.floor(random() * 256));
        else if (kind === 1) {
          packet = new Uint8Array(34 + Math.floor(random() * 1000)).map(() => Math.floor(random() * 256));
          packet[0] = 1; // the right version byte: it fails at the MAC
        } else if (kind === 2) packet = sealPacket(wrongKey, [encodeMessage({ type: "ping", seq: i, target: "target" })]);
        else packet = new Uint8Array(1401 + Math.floor(random() * 500)); // too long
        if (packet.length === 0) packet = new Uint8Array([1]);
        fuzzer.send(packet, gossipPort, host);
        sent++;
      }
      await sleep(5); // let the receive buffer drain: loss here would only weaken the count below
    }
    await until(() => target.stats.packetsReceived >= sent, 5000);
    fuzzer.close();
    expect(target.stats.packetsReceived).toBeGreaterThanOrEqual(Math.floor(sent * 0.98));
    expect(droppedTotal(target.stats)).toBe(target.stats.packetsReceived); // every one of them dropped, once
    expect(target.stats.dropped.bad_mac).toBeGreaterThan(1000);
    expect(target.stats.dropped.too_long).toBeGreaterThan(500);
    // The loop is alive: a member with the key joins, and both see each other alive.
    const peer = await make("peer", [target.self.cluster]);
    expect((await peer.start()).state).toBe("joined");
    await until(() => target.member("peer")?.state === "alive" && (target.stats.probes > 2 || false), 10_000);
    expect(target.member("peer")?.state).toBe("alive");
    expect(peer.member("target")?.state).toBe("alive");
    target.shutdown();
    peer.shutdown();
  }, 60_000);
});
