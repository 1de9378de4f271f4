/**
 * What every Transport must do (src/cluster/transport.ts), as one suite that each
 * implementation runs: the in-memory network (test/cluster/memory-network.test.ts) and the Bun
 * UDP/TCP transport on real loopback sockets, plain and in mutual TLS
 * (test/integration/cluster-transport.test.ts) — Hono's habit: one conformance suite per
 * interface. Faults are implementation-specific and tested beside each implementation.
 */
import { expect, test } from "bun:test";
import type { Stream, Transport } from "../../src/cluster/transport.ts";

export interface TransportHarness {
  /** A transport for a new host named `host` (the real one binds sockets: async). */
  make(host: string): Transport | Promise<Transport>;
  /** Lets time pass so that what was sent arrives. */
  settle(ms: number): Promise<void>;
  /** A stream address nobody listens on. */
  nowhere: string;
  close(): void;
}

export function transportConformance(name: string, harness: () => TransportHarness): void {
  test(`${name}: a packet arrives whole with the sender's gossip address, and a reply to it comes back`, async () => {
    const h = harness();
    const a = await h.make("a");
    const b = await h.make("b");
    const atB: Array<[string, string]> = [];
    const atA: string[] = [];
    b.listen({
      packet: (bytes, from) => {
        atB.push([new TextDecoder().decode(bytes), from]);
        b.sendPacket(from, new TextEncoder().encode("pong"));
      },
      stream: () => {},
    });
    a.listen({ packet: (bytes) => atA.push(new TextDecoder().decode(bytes)), stream: () => {} });
    const buffer = new TextEncoder().encode("ping");
    a.sendPacket(b.gossipAddress, buffer);
    buffer.fill(0); // the sender reusing its buffer cannot change what was sent
    await h.settle(50);
    expect(atB).toEqual([["ping", a.gossipAddress]]);
    expect(atA).toEqual(["pong"]);
    h.close();
  });

  test(`${name}: a stream carries frames in order both ways; the peer hears a close after the frames`, async () => {
    const h = harness();
    const a = await h.make("a");
    const b = await h.make("b");
    const atB: string[] = [];
    const atA: string[] = [];
    b.listen({
      packet: () => {},
      stream: (s: Stream) =>
        s.attach({
          frame: (f) => {
            atB.push(new TextDecoder().decode(f));
            s.send(new TextEncoder().encode(`re ${new TextDecoder().decode(f)}`));
          },
          close: (reason) => atB.push(`closed: ${reason}`),
        }),
    });
    a.listen({ packet: () => {}, stream: () => {} });
    const s = a.openStream(b.clusterAddress);
    let localClose = false;
    s.attach({ frame: (f) => atA.push(new TextDecoder().decode(f)), close: () => (localClose = true) });
    for (let i = 0; i < 20; i++) s.send(new TextEncoder().encode(`f${i}`));
    await h.settle(100);
    s.close();
    await h.settle(100);
    expect(atB.slice(0, 20)).toEqual(Array.from({ length: 20 }, (_, i) => `f${i}`));
    expect(atB[20]).toMatch(/^closed: /);
    expect(atA).toEqual(Array.from({ length: 20 }, (_, i) => `re f${i}`));
    expect(localClose).toBe(false); // our own close is not reported back
    h.close();
  });

  test(`${name}: a connect to where nobody listens ends the stream with a reason; a packet there is lost quietly`, async () => {
    const h = harness();
    const a = await h.make("a");
    a.listen({ packet: () => {}, stream: () => {} });
    const reasons: string[] = [];
    a.openStream(h.nowhere).attach({ frame: () => {}, close: (r) => reasons.push(r) });
    a.sendPacket(h.nowhere, new Uint8Array([1, 2, 3]));
    await h.settle(5000);
    expect(reasons).toHaveLength(1);
    h.close();
  });

  test(`${name}: after close nothing more is delivered`, async () => {
    const h = harness();
    const a = await h.make("a");
    const b = await h.make("b");
    let got = 0;
    b.listen({ packet: () => got++, stream: () => {} });
    a.listen({ packet: () => {}, stream: () => {} });
    b.close();
    a.sendPacket(b.gossipAddress, new Uint8Array([1]));
    await h.settle(50);
    expect(got).toBe(0);
    h.close();
  });
}
