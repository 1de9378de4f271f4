/**
 * Server-sent events: what the feed writes (src/feed/sse.ts) is what the client reads
 * (src/client/sse.ts), however the bytes are cut into chunks and whichever line ends the
 * stream uses; and the reader follows the WHATWG rules on its own (comments, id-only blocks,
 * `retry`, CR / LF / CRLF, a BOM, unknown fields, an unfinished last block).
 */
import { describe, expect, test } from "bun:test";
import { type SseMessage, SseParser } from "../../src/client/sse.ts";
import { encodeSse, type SseEvent } from "../../src/feed/sse.ts";
import { prng } from "../support/prng.ts";

/** Decodes `bytes` cut at `cuts` (sorted offsets) the way follow() does, and parses them. */
function parseChunks(bytes: Uint8Array, cuts: number[]): { messages: SseMessage[]; parser: SseParser } {
  const parser = new SseParser();
  const decoder = new TextDecoder();
  const messages: SseMessage[] = [];
  let at = 0;
  for (const cut of [...cuts, bytes.length]) {
    messages.push(...parser.push(decoder.decode(bytes.subarray(at, cut), { stream: true })));
    at = cut;
  }
  messages.push(...parser.push(decoder.decode()));
  return { messages, parser };
}

const parse = (text: string) => parseChunks(new TextEncoder().encode(text), []);

/** What a reader should see for events a writer wrote: data events only, ids carried forward. */
function expected(events: SseEvent[]): SseMessage[] {
  const out: SseMessage[] = [];
  let lastEventId = "";
  for (const e of events) {
    if (e.id !== undefined) lastEventId = String(e.id);
    if (e.data === undefined) continue;
    out.push({ type: e.event ?? "message", data: e.data.replace(/\r\n|\r/g, "\n"), lastEventId });
  }
  return out;
}

const alphabet = ["a", "b", " ", ":", "é", "€", "😀", "{", '"', "\n", "\r\n", "\r", "data: x", "id", "\u2028"];

function randomEvent(rand: () => number, n: number): SseEvent {
  const text = (len: number) => Array.from({ length: len }, () => alphabet[Math.floor(rand() * alphabet.length)]).join("");
  const e: SseEvent = {};
  if (rand() < 0.3) e.comment = text(Math.floor(rand() * 5)).replace(/[\r\n]/g, " ");
  if (rand() < 0.7) e.event = rand() < 0.5 ? "record" : "conflict";
  if (rand() < 0.6) e.id = n;
  if (rand() < 0.1) e.retry = Math.floor(rand() * 5000);
  if (rand() < 0.85) e.data = text(Math.floor(rand() * 12));
  return e;
}

describe("SSE: writer and reader", () => {
  test("round trip: every event, in order, with its type, data (line breaks and all) and last event id", () => {
    const rand = prng(7);
    for (let round = 0; round < 200; round++) {
      const events = Array.from({ length: 1 + Math.floor(rand() * 8) }, (_, i) => randomEvent(rand, round * 10 + i));
      const bytes = new TextEncoder().encode(events.map(encodeSse).join(""));
      const { messages, parser } = parseChunks(bytes, []);
      expect(messages).toEqual(expected(events));
      const lastId = [...events].reverse().find((e) => e.id !== undefined)?.id;
      expect(parser.lastEventId).toBe(lastId === undefined ? "" : String(lastId));
      const retry = [...events].reverse().find((e) => e.retry !== undefined)?.retry;
      expect(parser.retryMs).toBe(retry ?? null);
    }
  });

  test("chunk boundaries anywhere: inside a line, between CR and LF, inside a UTF-8 sequence", () => {
    const events: SseEvent[] = [
      { retry: 1000, id: 0 },
      { event: "record", id: 1, data: '{"subject":"pharma/drug/€","note":"😀\\n"}' },
      { comment: "heartbeat" },
      { event: "conflict", data: "line one\r\nline two\rline three\nline four" },
      { comment: "heartbeat", id: 7 },
      { event: "record", id: 8, data: "é" },
    ];
    const lf = new TextEncoder().encode(events.map(encodeSse).join(""));
    const crlf = new TextEncoder().encode(events.map(encodeSse).join("").replaceAll("\n", "\r\n"));
    for (const bytes of [lf, crlf]) {
      const want = expected(events);
      for (let cut = 0; cut <= bytes.length; cut++) expect(parseChunks(bytes, [cut]).messages).toEqual(want);
      const rand = prng(11);
      for (let round = 0; round < 300; round++) {
        const cuts = Array.from({ length: 1 + Math.floor(rand() * 12) }, () => Math.floor(rand() * bytes.length)).sort(
          (a, b) => a - b,
        );
        const { messages, parser } = parseChunks(bytes, cuts);
        expect(messages).toEqual(want);
        expect(parser.lastEventId).toBe("8");
      }
      // One byte at a time.
      expect(
        parseChunks(
          bytes,
          Array.from({ length: bytes.length }, (_, i) => i),
        ).messages,
      ).toEqual(want);
    }
  });

  test("CR alone, LF alone and CRLF end lines alike; a CR at a chunk's end does not make a blank line with the next LF", () => {
    const want = [{ type: "a", data: "1\n2", lastEventId: "5" }];
    for (const nl of ["\n", "\r", "\r\n"]) {
      const text = ["event: a", "id: 5", "data: 1", "data: 2", "", ""].join(nl);
      expect(parse(text).messages).toEqual(want);
    }
    const parser = new SseParser();
    expect(parser.push("data: x\r")).toEqual([]);
    expect(parser.push("\ndata: y\r")).toEqual([]);
    expect(parser.push("\n\r\n")).toEqual([{ type: "message", data: "x\ny", lastEventId: "" }]);
  });

  test("the reader's own rules: comments, id-only blocks, fields without a space or value, unknown fields, NUL ids, retry", () => {
    const text = [
      "\uFEFF: a comment, ignored",
      "id: 3",
      "",
      "data:no space",
      "",
      "data",
      "",
      "event: e",
      "unknown: field",
      "data: d",
      "",
      "id: bad\0id",
      "retry: 12x",
      "data: still 3",
      "",
      "retry: 2500",
      "id",
      "data: empty id",
      "",
      "event: never",
      "data: unfinished",
    ].join("\n");
    const { messages, parser } = parse(text);
    expect(messages).toEqual([
      { type: "message", data: "no space", lastEventId: "3" },
      { type: "message", data: "", lastEventId: "3" },
      { type: "e", data: "d", lastEventId: "3" },
      { type: "message", data: "still 3", lastEventId: "3" },
      { type: "message", data: "empty id", lastEventId: "" },
    ]);
    expect(parser.retryMs).toBe(2500);
    // A block with an id and no data dispatches nothing but moves the last event id.
    expect(parse("id: 41\n\n: heartbeat\nid: 42\n\n").parser.lastEventId).toBe("42");
    expect(parse("id: 41\n\n").messages).toEqual([]);
  });

  test("reset for a new connection: an unfinished block is dropped, its id with it; the last event id stays", () => {
    const parser = new SseParser();
    parser.push('retry: 500\nid: 6\n\nevent: record\nid: 7\ndata: {"half');
    parser.reset();
    expect(parser.push("\uFEFFdata: fresh\n\n")).toEqual([{ type: "message", data: "fresh", lastEventId: "6" }]);
    expect([parser.lastEventId, parser.retryMs]).toEqual(["6", 500]);
  });

  test("the writer refuses what would break the framing", () => {
    expect(() => encodeSse({ id: "4\n2" })).toThrow(/invariant/);
    expect(() => encodeSse({ event: "a\rb", data: "x" })).toThrow(/invariant/);
    expect(() => encodeSse({ retry: -1 })).toThrow(/invariant/);
    expect(encodeSse({ comment: "two\nlines" })).toBe(": two\n: lines\n\n");
  });
});
