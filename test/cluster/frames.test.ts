/**
 * The TCP transport's framing (src/cluster/net/frames.ts) and addresses (net/address.ts),
 * without sockets: frames split and joined at random come out whole and in order; a length of
 * 0 or past the maximum is refused wherever it falls.
 */
import { describe, expect, test } from "bun:test";
import { formatHostPort, isWildcard, parseHostPort } from "../../src/cluster/net/address.ts";
import { encodeFrame, FrameReader } from "../../src/cluster/net/frames.ts";
import { prng } from "../support/prng.ts";

describe("length-prefixed frames", () => {
  test("random frames, cut at random places, come out whole and in order (200 seeds)", () => {
    for (let seed = 1; seed <= 200; seed++) {
      const random = prng(seed);
      const frames = Array.from({ length: 1 + Math.floor(random() * 20) }, () =>
        new Uint8Array(1 + Math.floor(random() * (random() < 0.1 ? 70_000 : 300))).map(() => Math.floor(random() * 256)),
      );
      const stream = new Uint8Array(frames.reduce((n, f) => n + 4 + f.length, 0));
      let at = 0;
      for (const f of frames) {
        stream.set(encodeFrame(f), at);
        at += 4 + f.length;
      }
      const reader = new FrameReader(1 << 20);
      const out: Uint8Array[] = [];
      for (let i = 0; i < stream.length; ) {
        const n = Math.min(stream.length - i, random() < 0.3 ? 1 : 1 + Math.floor(random() * 5000));
        const chunk = stream.slice(i, i + n);
        const read = reader.push(chunk);
        chunk.fill(0); // the caller reusing its buffer changes nothing
        expect(read.ok).toBe(true);
        if (read.ok) out.push(...read.frames);
        i += n;
      }
      expect(out).toEqual(frames);
      expect(reader.pendingBytes).toBe(0);
    }
  });

  test("a length of 0 or over the maximum is refused, after the frames before it", () => {
    const reader = new FrameReader(16);
    const good = encodeFrame(new Uint8Array([1, 2, 3]));
    const r1 = reader.push(new Uint8Array([...good, 0, 0, 0, 17, 9]));
    expect(r1).toEqual({ ok: false, length: 17 });
    const zero = new FrameReader(16).push(new Uint8Array([0, 0, 0, 0]));
    expect(zero).toEqual({ ok: false, length: 0 });
    const exact = new FrameReader(16).push(encodeFrame(new Uint8Array(16)));
    expect(exact.ok && exact.frames.length).toBe(1);
    expect(() => new FrameReader(0)).toThrow(RangeError);
  });
});

describe("addresses", () => {
  test("host:port, a host alone with a default port, IPv6 in brackets", () => {
    expect(parseHostPort("10.0.0.1:18182")).toEqual({ host: "10.0.0.1", port: 18182 });
    expect(parseHostPort("db1.internal", 18182)).toEqual({ host: "db1.internal", port: 18182 });
    expect(parseHostPort("[fd00::1]:9")).toEqual({ host: "fd00::1", port: 9 });
    expect(formatHostPort("fd00::1", 9)).toBe("[fd00::1]:9");
    expect(formatHostPort("10.0.0.1", 9)).toBe("10.0.0.1:9");
    for (const bad of ["", "a:b", "fd00::1:9", "host:70000", "[::1]", "a b:1"])
      expect(() => parseHostPort(bad), bad).toThrow(RangeError);
    expect(() => parseHostPort("db1")).toThrow(/HOST:PORT/);
    expect([isWildcard("0.0.0.0"), isWildcard("::"), isWildcard("10.0.0.1")]).toEqual([true, true, false]);
  });
});
