/**
 * One follower's bounded buffer (src/feed/follower.ts), through its real ReadableStream and
 * the real SSE reader: events wait while the reader does not read; past the bound (events or
 * bytes) the follower is cut off at once — its buffer dropped, a last `cutoff` event naming the
 * last position it was handed, the stream ended — and never skips anything silently; a reader
 * that goes away frees the buffer at once. The host is a small stand-in for the feed.
 */
import { describe, expect, test } from "bun:test";
import { type SseMessage, SseParser } from "../../src/client/sse.ts";
import { Follower, type FollowerHost } from "../../src/feed/follower.ts";
import { encodeSse } from "../../src/feed/sse.ts";

const encoder = new TextEncoder();
const limits = { bufferEventsMax: 10, bufferBytesMax: 1 << 20, retryMs: 1000, lingerSecs: 3 };

/** A host with nothing to catch up on: the follower goes live on its first pull. */
function host() {
  const detached: string[] = [];
  const h: FollowerHost = {
    catchUp: () => ({ events: [], lastId: null, live: true }),
    detached: (_f, why) => detached.push(why),
    failed: () => {},
  };
  return { h, detached };
}

const record = (lsn: number, pad = "") => encoder.encode(encodeSse({ event: "record", id: lsn, data: `{"lsn":${lsn}${pad}}` }));

/** Reads the stream until it ends or `until` says stop; SSE messages and the parser. */
async function read(stream: ReadableStream<Uint8Array>, until: (m: SseMessage[]) => boolean = () => false) {
  const reader = stream.getReader();
  const parser = new SseParser();
  const decoder = new TextDecoder();
  const messages: SseMessage[] = [];
  for (;;) {
    if (until(messages)) break;
    const { done, value } = await reader.read();
    if (done) break;
    messages.push(...parser.push(decoder.decode(value, { stream: true })));
  }
  return { messages, parser, reader };
}

describe("a follower's buffer", () => {
  test("a reader that keeps up gets every event in order, never cut off", async () => {
    const { h, detached } = host();
    const f = new Follower({}, 0, h, limits);
    const reading = read(f.stream, (m) => m.length === 100);
    for (let lsn = 1; lsn <= 100; lsn++) {
      f.position = lsn;
      expect(f.push(record(lsn), lsn)).toBe(true);
      if (lsn % 5 === 0) await Bun.sleep(0); // the reader drains between bursts of 5 (< the bound)
    }
    const { messages } = await reading;
    expect(messages.map((m) => Number(m.lastEventId))).toEqual(Array.from({ length: 100 }, (_, i) => i + 1));
    expect(detached).toEqual([]);
    expect(f.state).toBe("live");
  });

  test("past the event bound: cut off at once, the buffer dropped, the last position handed over named", async () => {
    const { h, detached } = host();
    const lingered: number[] = [];
    const f = new Follower({}, 40, h, limits, (s) => lingered.push(s));
    // The reader takes the opening block and 3 events, then stops reading.
    const reader = f.stream.getReader();
    const parser = new SseParser();
    const got: SseMessage[] = [];
    const decoder = new TextDecoder();
    got.push(...parser.push(decoder.decode((await reader.read()).value)));
    for (let lsn = 41; lsn <= 43; lsn++) f.push(record(lsn), lsn);
    const chunk = await reader.read(); // one pull hands over everything waiting
    got.push(...parser.push(decoder.decode(chunk.value)));
    expect(got.map((m) => m.lastEventId)).toEqual(["41", "42", "43"]);
    for (let lsn = 44; lsn <= 53; lsn++) expect(f.push(record(lsn), lsn)).toBe(true);
    expect(f.bufferedEvents).toBe(10);
    expect(f.push(record(54), 54)).toBe(false); // the 11th waiting event
    expect(f.state).toBe("ended");
    expect(f.bufferedEvents).toBe(0);
    expect(f.bufferedBytes).toBe(0);
    expect(detached).toEqual(["slow_consumer"]);
    expect(lingered).toEqual([3]);
    expect(f.push(record(55), 55)).toBe(false);
    const rest = await read(
      new ReadableStream({
        pull: async (c) => {
          const r = await reader.read();
          if (r.done) c.close();
          else c.enqueue(r.value);
        },
      }),
    );
    // Nothing after 43 is delivered as a record: the cutoff names 43, so the client resumes from there.
    expect(rest.messages).toEqual([{ type: "cutoff", data: '{"last_lsn":43,"reason":"slow_consumer"}', lastEventId: "" }]);
  });

  test("past the byte bound: cut off too; the position is the opening one when nothing was handed over", async () => {
    const { h, detached } = host();
    const f = new Follower({}, 7, h, { ...limits, bufferEventsMax: 1000, bufferBytesMax: 4096 });
    const pad = `,"pad":"${"x".repeat(1000)}"`;
    let pushed = 0;
    for (let lsn = 8; f.push(record(lsn, pad), lsn); lsn++) pushed++;
    expect(pushed).toBe(4); // ~1 KiB each: the 5th finds 4 KiB waiting
    expect(detached).toEqual(["slow_consumer"]);
    const { messages, parser } = await read(f.stream);
    expect(messages).toEqual([{ type: "cutoff", data: '{"last_lsn":7,"reason":"slow_consumer"}', lastEventId: "7" }]);
    expect(parser.lastEventId).toBe("7");
  });

  test("a burst (one fan-out) may pass the bound; what still waits when the next burst comes may not", async () => {
    const { h, detached } = host();
    const f = new Follower({}, 0, h, limits);
    const reader = f.stream.getReader();
    await reader.read();
    for (let lsn = 1; lsn <= 50; lsn++) expect(f.push(record(lsn), lsn, 1)).toBe(true);
    await reader.read(); // the reader takes what waits…
    expect(f.bufferedEvents).toBe(0);
    for (let lsn = 51; lsn <= 100; lsn++) expect(f.push(record(lsn), lsn, 2)).toBe(true);
    // …but not this burst: when the next comes, 50 still wait, past the bound of 10.
    expect(f.push(record(101), 101, 3)).toBe(false);
    expect(detached).toEqual(["slow_consumer"]);
    const rest = new TextDecoder().decode((await reader.read()).value);
    expect(rest).toBe('event: cutoff\ndata: {"last_lsn":50,"reason":"slow_consumer"}\n\n');
  });

  test("a reader that goes away frees the buffer at once", async () => {
    const { h, detached } = host();
    const f = new Follower({}, 0, h, limits);
    const reader = f.stream.getReader();
    await reader.read();
    for (let lsn = 1; lsn <= 8; lsn++) f.push(record(lsn), lsn);
    expect(f.bufferedEvents).toBe(8);
    await reader.cancel();
    expect(detached).toEqual(["disconnect"]);
    expect(f.bufferedEvents).toBe(0);
    expect(f.bufferedBytes).toBe(0);
    expect(f.push(record(9), 9)).toBe(false);
  });

  test("heartbeats are comments; one carries the position when it moved past the last id sent", async () => {
    const { h } = host();
    const f = new Follower({}, 5, h, limits);
    const reader = f.stream.getReader();
    const decoder = new TextDecoder();
    expect(decoder.decode((await reader.read()).value)).toBe("id: 5\nretry: 1000\n\n");
    f.heartbeat();
    expect(decoder.decode((await reader.read()).value)).toBe(": heartbeat\n\n");
    f.position = 9; // records 6–9 were considered and the filter took none
    f.heartbeat();
    expect(decoder.decode((await reader.read()).value)).toBe(": heartbeat\nid: 9\n\n");
    f.heartbeat();
    expect(decoder.decode((await reader.read()).value)).toBe(": heartbeat\n\n");
  });

  test("shutdown hands over what waits, then ends the stream", async () => {
    const { h, detached } = host();
    const f = new Follower({}, 0, h, limits);
    for (let lsn = 1; lsn <= 3; lsn++) f.push(record(lsn), lsn);
    f.shutdown();
    expect(detached).toEqual(["shutdown"]);
    const { messages, parser } = await read(f.stream);
    expect(messages.map((m) => m.lastEventId)).toEqual(["1", "2", "3"]);
    expect(parser.lastEventId).toBe("3");
  });

  test("ids only go up: a bug that would send one twice fails loudly", () => {
    const { h } = host();
    const f = new Follower({}, 10, h, limits);
    expect(() => f.push(record(9), 9)).toThrow(/invariant/);
  });
});
