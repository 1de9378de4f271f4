/**
 * The HTTP API through real HTTP (fetch) against in-process servers (startServer on port 0).
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import * as fs from "node:fs";
import net from "node:net";
import { join } from "node:path";
import { decode as decodeCborX, encode as encodeCborX } from "cbor-x";
import { type RunningServer, startServer } from "../../src/api/serve.ts";
import {
  generateKeyPair,
  type KeyPair,
  type SignedRecord,
  signClaim,
  signId,
  toHex,
  toJsonSubmission,
} from "../../src/client/index.ts";
import { loadConfig } from "../../src/config/config.ts";
import { silentLogger } from "../../src/core/logger.ts";
import { recordId } from "../../src/crypto/hash.ts";
import { recordToJson } from "../../src/core/record.ts";
import { cleanupAll, getJson, sleep, tempDir } from "./helpers.ts";

const running = new Set<RunningServer>();

async function start(dir: string, flags: Record<string, string> = {}): Promise<RunningServer> {
  const server = await startServer(loadConfig({ "data-dir": dir, bind: "127.0.0.1:0", "log-level": "error", ...flags }, {}), {
    logger: silentLogger,
  });
  running.add(server);
  return server;
}

async function stop(server: RunningServer): Promise<void> {
  await server.stop();
  running.delete(server);
}

afterAll(async () => {
  for (const s of [...running]) await s.stop();
  running.clear();
  await cleanupAll();
});

function post(url: string, body: string | Uint8Array, contentType = "application/json", extra: Record<string, string> = {}) {
  return getJson(url, { method: "POST", headers: { "content-type": contentType, ...extra }, body });
}

let counter = 0;
function claim(key: KeyPair, extra: Record<string, unknown> = {}, now?: () => number): SignedRecord {
  counter++;
  return signClaim(
    key,
    { kind: "assertion", subject: `test/api/s${counter}`, predicate: "p", object: counter, confidence: 0.5, ...extra },
    now,
  );
}

/** The problem in a batch result slot (empty when the slot is not an error). */
function errorOf(results: Array<Record<string, unknown>>, i: number): Record<string, unknown> {
  return (results[i]?.error ?? {}) as Record<string, unknown>;
}

/** Everything observable about what the server holds. */
async function snapshot(url: string): Promise<{ lsn: unknown; list: unknown }> {
  const h = await getJson(`${url}/v1/health`);
  const l = await getJson(`${url}/v1/assertions?kind=any&limit=1000`);
  expect(h.status).toBe(200);
  expect(l.status).toBe(200);
  return { lsn: h.body.lsn, list: (l.body.items as Array<{ id: string }>).map((i) => i.id) };
}

/** A problem response: status, code, problem+json, request id. */
function expectProblem(
  res: { status: number; headers: Headers; body: Record<string, unknown> },
  status: number,
  code: string,
): void {
  expect({ status: res.status, code: res.body.code }).toEqual({ status, code });
  expect(res.headers.get("content-type")).toBe("application/problem+json");
  expect(res.headers.get("x-request-id")).toMatch(/^[A-Za-z0-9._-]{1,64}$/);
  expect(res.body.status).toBe(status);
}

describe("api: writes and reads", () => {
  let server: RunningServer;
  let url: string;
  const key = generateKeyPair();

  beforeAll(async () => {
    server = await start(tempDir());
    url = server.url;
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(url.endsWith(":0")).toBe(false);
  });

  test("submit → 201, re-submit → 200 duplicate, GET returns the §8 record shape", async () => {
    const signed = claim(key, { source: "src-1", tags: ["x"] });
    const idHex = toHex(signed.id);
    const first = await post(`${url}/v1/assert`, JSON.stringify(toJsonSubmission(signed)));
    expect(first.status).toBe(201);
    expect(first.headers.get("content-type")).toBe("application/json");
    expect(first.body).toEqual({ id: idHex, lsn: expect.any(Number), status: "accepted", duplicate: false });
    const lsn = first.body.lsn as number;
    expect(lsn).toBeGreaterThanOrEqual(1);

    const again = await post(`${url}/v1/assert`, JSON.stringify(toJsonSubmission(signed)));
    expect(again.status).toBe(200);
    expect(again.body).toEqual({ id: idHex, lsn, status: "accepted", duplicate: true });

    // The same record as CBOR is also a duplicate.
    const cborAgain = await post(`${url}/v1/assert`, encodeCborX({ body: signed.body, sig: signed.sig }), "application/cbor");
    expect(cborAgain.status).toBe(200);
    expect(cborAgain.body).toEqual({ id: idHex, lsn, status: "accepted", duplicate: true });

    const got = await getJson(`${url}/v1/assertions/${idHex}`);
    expect(got.status).toBe(200);
    const r = got.body;
    expect(r.id).toBe(idHex);
    expect(r.kind).toBe("assertion");
    expect(r.sig).toBe(toHex(signed.sig));
    expect(r.body).toBe(toHex(signed.body));
    expect(toHex(recordId(Buffer.from(r.body as string, "hex")))).toBe(idHex);
    expect(r.lsn).toBe(lsn);
    expect(typeof r.recorded_at).toBe("number");
    expect(Math.abs((r.recorded_at as number) - Date.now())).toBeLessThan(60_000);
    expect(r.flags).toEqual([]);
    for (const [k, v] of Object.entries(recordToJson(signed.record))) expect(r[k]).toEqual(v);
    expect(r.agent).toBe(toHex(key.publicKey));
    expect(r.tags).toEqual(["x"]);

    const missing = await getJson(`${url}/v1/assertions/${"ab".repeat(32)}`);
    expectProblem(missing, 404, "not_found");
    const badId = await getJson(`${url}/v1/assertions/xyz`);
    expectProblem(badId, 400, "invalid_query");
  });

  test("all seven kinds are accepted and read back with their kind", async () => {
    const a = claim(key);
    const aId = toHex(a.id);
    const records: SignedRecord[] = [
      a,
      signClaim(key, { kind: "vote", target: aId, value: -1, reason: "disagree" }),
      signClaim(key, { kind: "retraction", target: aId }),
      signClaim(key, { kind: "source", source_id: "who-2025", title: "WHO report", tier: 1, url: "https://who.int/x" }),
      signClaim(key, { kind: "source_retraction", source_id: "who-2025", reason: "withdrawn" }),
      signClaim(key, { kind: "epoch", name: "guideline-2025", starts_at: 1_700_000_000_000 }),
      signClaim(key, { kind: "review", action: "hold", target: toHex(key.publicKey), note: "check" }),
    ];
    for (const r of records) {
      const res = await post(`${url}/v1/assert`, JSON.stringify(toJsonSubmission(r)));
      expect(res.status).toBe(201);
      expect(res.body).toMatchObject({ id: toHex(r.id), status: "accepted", duplicate: false });
      const got = await getJson(`${url}/v1/assertions/${toHex(r.id)}`);
      expect(got.status).toBe(200);
      expect(got.body.kind).toBe(r.record.kind);
      expect(got.body.body).toBe(toHex(r.body));
    }
  });

  test("batch JSON: results in input order; one bad item does not sink the others; duplicate inside the batch", async () => {
    const g1 = claim(key);
    const g2 = claim(key);
    const bad = claim(key);
    const badSub = { ...toJsonSubmission(bad), sig: toHex(signId(bad.id, generateKeyPair().secretKey)) };
    const before = (await snapshot(url)).lsn as number;
    const res = await post(
      `${url}/v1/assert/batch`,
      JSON.stringify({
        records: [
          toJsonSubmission(g1),
          badSub,
          toJsonSubmission(g2),
          toJsonSubmission(g1),
          { kind: "nope", sig: "00".repeat(64) },
        ],
      }),
    );
    expect(res.status).toBe(200);
    const results = res.body.results as Array<Record<string, unknown>>;
    expect(results.length).toBe(5);
    expect(results[0]).toEqual({ id: toHex(g1.id), lsn: expect.any(Number), status: "accepted", duplicate: false });
    expect(errorOf(results, 1).code).toBe("bad_signature");
    expect(errorOf(results, 1).computed_id).toBe(toHex(bad.id));
    expect(results[2]).toEqual({ id: toHex(g2.id), lsn: expect.any(Number), status: "accepted", duplicate: false });
    expect(results[3]).toEqual({ id: toHex(g1.id), lsn: results[0]?.lsn, status: "accepted", duplicate: true });
    expect(errorOf(results, 4).code).toBe("out_of_range");
    expect(res.body.accepted).toBe(3);
    expect(res.body.rejected).toBe(2);
    const after = (await snapshot(url)).lsn as number;
    expect(after).toBe(before + 2);
    expect((await getJson(`${url}/v1/assertions/${toHex(bad.id)}`)).status).toBe(404);
    expect((await getJson(`${url}/v1/assertions/${toHex(g2.id)}`)).status).toBe(200);
  });

  test("batch CBOR: per-item results, a bad item in its own slot, a duplicate answered as duplicate; CBOR reply on request", async () => {
    const g1 = claim(key);
    const g2 = claim(key);
    const payload = encodeCborX({
      records: [
        { body: g1.body, sig: g1.sig },
        { body: "not bytes", sig: g2.sig },
        { body: g2.body, sig: g2.sig },
        { body: g1.body, sig: g1.sig },
        { body: g2.body, sig: g2.sig, extra: 1 },
      ],
    });
    const res = await post(`${url}/v1/assert/batch`, payload, "application/cbor");
    expect(res.status).toBe(200);
    const results = res.body.results as Array<Record<string, unknown>>;
    expect(results.length).toBe(5);
    expect(results[0]).toEqual({ id: toHex(g1.id), lsn: expect.any(Number), status: "accepted", duplicate: false });
    expect(errorOf(results, 1).code).toBe("invalid_type");
    expect(results[2]).toEqual({ id: toHex(g2.id), lsn: expect.any(Number), status: "accepted", duplicate: false });
    expect(results[3]).toEqual({ id: toHex(g1.id), lsn: results[0]?.lsn, status: "accepted", duplicate: true });
    expect(errorOf(results, 4).code).toBe("unknown_field");
    expect(errorOf(results, 4).field).toBe("extra");
    expect({ accepted: res.body.accepted, rejected: res.body.rejected }).toEqual({ accepted: 3, rejected: 2 });

    // Accept: application/cbor → a CBOR answer.
    const g3 = claim(key);
    const raw = await fetch(`${url}/v1/assert/batch`, {
      method: "POST",
      headers: { "content-type": "application/cbor", accept: "application/cbor" },
      body: encodeCborX({ records: [{ body: g3.body, sig: g3.sig }] }),
    });
    expect(raw.status).toBe(200);
    expect(raw.headers.get("content-type")).toBe("application/cbor");
    const decoded = decodeCborX(new Uint8Array(await raw.arrayBuffer())) as { results: Array<{ id: string }>; accepted: number };
    expect(decoded.accepted).toBe(1);
    expect(decoded.results[0]?.id).toBe(toHex(g3.id));
  });

  describe("bad input: its own 4xx code, nothing written", () => {
    async function rejects(
      send: () => Promise<{ status: number; headers: Headers; body: Record<string, unknown> }>,
      status: number,
      code: string,
    ) {
      const before = await snapshot(url);
      const res = await send();
      expectProblem(res, status, code);
      expect(await snapshot(url)).toEqual(before);
      return res;
    }

    test("malformed JSON → 400 malformed_json", async () => {
      await rejects(() => post(`${url}/v1/assert`, '{"kind": "assertion",'), 400, "malformed_json");
      await rejects(() => post(`${url}/v1/assert/batch`, "{records:[]}"), 400, "malformed_json");
      await rejects(() => post(`${url}/v1/assert`, ""), 400, "malformed_json");
    });

    test("CBOR integers beyond 2^53 (decoded as BigInt) anywhere in the envelope → 4xx, never 500", async () => {
      const uint64 = [0x1b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff];
      const sig = [0x58, 0x40, ...new Array(64).fill(0)];
      // {"body": 2^64-1, "sig": h'00…'}
      const envelope = new Uint8Array([0xa2, 0x64, ...Buffer.from("body"), ...uint64, 0x63, ...Buffer.from("sig"), ...sig]);
      await rejects(() => post(`${url}/v1/assert`, envelope, "application/cbor"), 400, "invalid_type");
      await rejects(() => post(`${url}/v1/assert`, new Uint8Array(uint64), "application/cbor"), 400, "invalid_record");
      // {"records": 2^64-1}
      const records = new Uint8Array([0xa1, 0x67, ...Buffer.from("records"), ...uint64]);
      await rejects(() => post(`${url}/v1/assert/batch`, records, "application/cbor"), 400, "invalid_request");
      // {"records": [2^64-1]}: the item fails alone, as a 4xx
      const items = new Uint8Array([0xa1, 0x67, ...Buffer.from("records"), 0x81, ...uint64]);
      const res = await post(`${url}/v1/assert/batch`, items, "application/cbor");
      expect(res.status).toBe(200);
      expect(res.body.rejected).toBe(1);
      const [first] = res.body.results as Array<{ error: { status: number; code: string } }>;
      expect(first?.error.status).toBe(400);
    });

    test("malformed CBOR → 400 malformed_cbor", async () => {
      await rejects(
        () => post(`${url}/v1/assert`, new Uint8Array([0xa2, 0x64, 0x62]), "application/cbor"),
        400,
        "malformed_cbor",
      );
      await rejects(
        () => post(`${url}/v1/assert/batch`, new Uint8Array([0xff, 0xff]), "application/cbor"),
        400,
        "malformed_cbor",
      );
    });

    test("wrong types → invalid_type", async () => {
      const s = toJsonSubmission(claim(key));
      const res = await rejects(() => post(`${url}/v1/assert`, JSON.stringify({ ...s, subject: 5 })), 400, "invalid_type");
      expect(res.body.field).toBe("subject");
      const res2 = await rejects(() => post(`${url}/v1/assert`, JSON.stringify({ ...s, ts: "yesterday" })), 400, "invalid_type");
      expect(res2.body.field).toBe("ts");
    });

    test("unknown field → unknown_field naming it", async () => {
      const s = toJsonSubmission(claim(key));
      const res = await rejects(() => post(`${url}/v1/assert`, JSON.stringify({ ...s, colour: "red" })), 400, "unknown_field");
      expect(res.body.field).toBe("colour");
    });

    test("over-long subject → too_long", async () => {
      const s = toJsonSubmission(claim(key));
      const res = await rejects(
        () => post(`${url}/v1/assert`, JSON.stringify({ ...s, subject: `a/${"b".repeat(511)}` })),
        400,
        "too_long",
      );
      expect(res.body.field).toBe("subject");
    });

    test("non-canonical CBOR body, properly signed → non_canonical_cbor", async () => {
      const signed = claim(key);
      const body = signed.body;
      // "v": 1 is 0x61 0x76 0x01; re-encode the 1 with a non-shortest head (0x18 0x01).
      let at = -1;
      for (let i = 0; i + 2 < body.length; i++) if (body[i] === 0x61 && body[i + 1] === 0x76 && body[i + 2] === 0x01) at = i;
      expect(at).toBeGreaterThan(0);
      const longHead = new Uint8Array([...body.subarray(0, at + 2), 0x18, 0x01, ...body.subarray(at + 3)]);
      const id1 = recordId(longHead);
      await rejects(
        () => post(`${url}/v1/assert`, encodeCborX({ body: longHead, sig: signId(id1, key.secretKey) }), "application/cbor"),
        400,
        "non_canonical_cbor",
      );

      // Unsorted keys: a two-key map {"b": 1, "a": 2} is not what the server takes either.
      const unsorted = new Uint8Array([0xa2, 0x61, 0x62, 0x01, 0x61, 0x61, 0x02]);
      await rejects(
        () =>
          post(
            `${url}/v1/assert`,
            encodeCborX({ body: unsorted, sig: signId(recordId(unsorted), key.secretKey) }),
            "application/cbor",
          ),
        400,
        "non_canonical_cbor",
      );
    });

    test("bad hex in agent → bad_hex", async () => {
      const s = toJsonSubmission(claim(key));
      const res = await rejects(() => post(`${url}/v1/assert`, JSON.stringify({ ...s, agent: "zz".repeat(32) })), 400, "bad_hex");
      expect(res.body.field).toBe("agent");
    });

    test("wrong signature → 400 bad_signature naming the id the client computed", async () => {
      const signed = claim(key);
      const forged = { ...toJsonSubmission(signed), sig: toHex(signId(signed.id, generateKeyPair().secretKey)) };
      const res = await rejects(() => post(`${url}/v1/assert`, JSON.stringify(forged)), 400, "bad_signature");
      expect(res.body.computed_id).toBe(toHex(signed.id));
      expect(String(res.body.detail)).toContain(toHex(signed.id));
    });

    test("ts beyond --max-clock-skew-ms → 422 clock_skew", async () => {
      const signed = claim(key, {}, () => Date.now() + 60_000);
      const res = await rejects(() => post(`${url}/v1/assert`, JSON.stringify(toJsonSubmission(signed))), 422, "clock_skew");
      expect(res.body.field).toBe("ts");
      // Within the skew (default 1 s) is fine: a sanity check that the rule is a bound, not "ts > now".
      const near = claim(key, {}, () => Date.now() + 200);
      expect((await post(`${url}/v1/assert`, JSON.stringify(toJsonSubmission(near)))).status).toBe(201);
    });

    test("10,001 items → 413 batch_too_large", async () => {
      const s = toJsonSubmission(claim(key));
      const records = Array.from({ length: 10_001 }, () => s);
      const res = await rejects(() => post(`${url}/v1/assert/batch`, JSON.stringify({ records })), 413, "batch_too_large");
      expect(res.body.items_max).toBe(10_000);
    });

    test("body over the write limit → 413 payload_too_large", async () => {
      const s = toJsonSubmission(claim(key));
      const big = JSON.stringify({ ...s, note: "x".repeat(1024 * 1024) });
      const res = await rejects(() => post(`${url}/v1/assert`, big), 413, "payload_too_large");
      expect(res.body.bytes_max).toBe(1024 * 1024);
    });

    test("text/plain → 415", async () => {
      const s = toJsonSubmission(claim(key));
      await rejects(() => post(`${url}/v1/assert`, JSON.stringify(s), "text/plain"), 415, "unsupported_media_type");
      await rejects(
        () => post(`${url}/v1/assert/batch`, JSON.stringify({ records: [s] }), "text/plain"),
        415,
        "unsupported_media_type",
      );
    });

    test("a supplied X-Request-Id is echoed, on errors and on success", async () => {
      const res = await post(`${url}/v1/assert`, "{", "application/json", { "x-request-id": "req-abc.123" });
      expectProblem(res, 400, "malformed_json");
      expect(res.headers.get("x-request-id")).toBe("req-abc.123");
      expect(res.body.request_id).toBe("req-abc.123");
      const ok = await getJson(`${url}/v1/health`, { headers: { "x-request-id": "health-1" } });
      expect(ok.headers.get("x-request-id")).toBe("health-1");
      // Without one, the server makes its own: a per-process random prefix and a counter.
      const generated = await getJson(`${url}/v1/health`);
      const again = await getJson(`${url}/v1/health`);
      expect(generated.headers.get("x-request-id")).toMatch(/^[0-9a-f]{12}-[0-9a-z]+$/);
      expect(again.headers.get("x-request-id")).not.toBe(generated.headers.get("x-request-id"));
      const bad = await getJson(`${url}/v1/health`, { headers: { "x-request-id": "has spaces; and=semicolons" } });
      expect(bad.headers.get("x-request-id")).toMatch(/^[0-9a-f]{12}-[0-9a-z]+$/);
    });
  });

  test("health, ready, metrics", async () => {
    const h = await getJson(`${url}/v1/health`);
    expect(h.status).toBe(200);
    expect(h.body.status).toBe("ok");
    expect(h.body.version).toBe("0.1.0");
    expect(typeof h.body.lsn).toBe("number");
    expect(h.body.lsn as number).toBeGreaterThan(0);
    const r = await getJson(`${url}/v1/ready`);
    expect(r.status).toBe(200);
    expect(r.body.ready).toBe(true);
    const m = await fetch(`${url}/metrics`);
    expect(m.status).toBe(200);
    const text = await m.text();
    for (const name of [
      "stemedb_wal_fsync_seconds_bucket",
      "stemedb_ingest_records_total{",
      "stemedb_http_requests_total{",
      "process_resident_memory_bytes",
    ]) {
      expect(text).toContain(name);
    }
    expect(text).toMatch(/stemedb_ingest_records_total\{kind="assertion",result="accepted"\} [1-9]/);
    expect(text).toMatch(/stemedb_http_requests_total\{route="\/v1\/assert",method="POST",status="201"\} [1-9]/);
  });

  test("a body cut off mid-stream (broken chunked framing) is the client's error: no 500 in the metrics", async () => {
    // Bun answers the broken framing itself; the handler's read of the body then fails. That read
    // used to throw a plain AbortError, logged as "request failed" and counted as a 500.
    const { port } = new URL(url);
    const raw =
      `POST /v1/vote HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nContent-Type: application/json\r\n` +
      "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\nzz\r\nabc\r\n0\r\n\r\n";
    await new Promise<void>((resolve) => {
      const socket = net.connect(Number(port), "127.0.0.1", () => socket.end(raw));
      socket.on("data", () => {});
      socket.on("close", () => resolve());
      socket.on("error", () => resolve());
    });
    await sleep(100);
    const text = await (await fetch(`${url}/metrics`)).text();
    expect(text).toMatch(/stemedb_http_requests_total\{route="\/v1\/vote",method="POST",status="400"\} [1-9]/);
    expect(text).not.toContain('route="/v1/vote",method="POST",status="500"');
  });
});

describe("api: listing and concepts", () => {
  let url: string;
  const A = generateKeyPair();
  const B = generateKeyPair();
  const T0 = Date.now() - 100_000;
  const at = (ms: number) => () => ms;
  const recs: SignedRecord[] = [];

  beforeAll(async () => {
    const server = await start(tempDir());
    url = server.url;
    recs.push(
      signClaim(A, { kind: "assertion", subject: "lst/a/b", predicate: "p1", object: 1, confidence: 1, source: "s1" }, at(T0)),
      signClaim(A, { kind: "assertion", subject: "lst/a/b/c", predicate: "p2", object: 2, confidence: 1 }, at(T0 + 1000)),
      signClaim(
        B,
        { kind: "assertion", subject: "x/y/b", predicate: "p1", object: 3, confidence: 1, source: "s2" },
        at(T0 + 2000),
      ),
      signClaim(B, { kind: "assertion", subject: "a/b", predicate: "p3", object: 4, confidence: 1 }, at(T0 + 3000)),
    );
    recs.push(signClaim(B, { kind: "vote", target: toHex((recs[0] as SignedRecord).id), value: 1 }, at(T0 + 4000)));
    for (const r of recs) expect((await post(`${url}/v1/assert`, JSON.stringify(toJsonSubmission(r)))).status).toBe(201);
  });

  const ids = (...i: number[]) => i.map((n) => toHex((recs[n] as SignedRecord).id));
  async function list(query: string): Promise<string[]> {
    const res = await getJson(`${url}/v1/assertions?${query}`);
    expect(res.status).toBe(200);
    return (res.body.items as Array<{ id: string }>).map((x) => x.id);
  }

  test("filters", async () => {
    expect(await list("")).toEqual(ids(0, 1, 2, 3));
    expect(await list("subject=lst/a/b")).toEqual(ids(0));
    expect(await list(`subject=${encodeURIComponent("lst/a/*")}`)).toEqual(ids(0, 1));
    expect(await list(`subject=${encodeURIComponent("*/b")}`)).toEqual(ids(0, 2, 3));
    expect(await list("predicate=p1")).toEqual(ids(0, 2));
    expect(await list(`agent=${toHex(A.publicKey)}`)).toEqual(ids(0, 1));
    expect(await list(`agent=${toHex(B.publicKey)}&kind=any`)).toEqual(ids(2, 3, 4));
    expect(await list("source=s2")).toEqual(ids(2));
    expect(await list(`since=${T0 + 1000}&until=${T0 + 2000}`)).toEqual(ids(1, 2));
    expect(
      await list(
        `since=${encodeURIComponent(new Date(T0 + 1000).toISOString())}&until=${encodeURIComponent(new Date(T0 + 2000).toISOString())}`,
      ),
    ).toEqual(ids(1, 2));
    expect(await list(`since=${T0 + 2001}`)).toEqual(ids(3));
    expect(await list("kind=vote")).toEqual(ids(4));
    expect(await list("kind=any")).toEqual(ids(0, 1, 2, 3, 4));
    expect(await list("subject=nothing/here")).toEqual([]);
  });

  test("cursor pagination with limit=2 walks every record exactly once", async () => {
    const seen: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const q: string = `kind=any&limit=2${cursor ? `&cursor=${cursor}` : ""}`;
      const res = await getJson(`${url}/v1/assertions?${q}`);
      expect(res.status).toBe(200);
      const items = res.body.items as Array<{ id: string }>;
      expect(items.length).toBeLessThanOrEqual(2);
      seen.push(...items.map((i) => i.id));
      cursor = res.body.next_cursor as string | null;
      pages++;
    } while (cursor !== null && pages < 10);
    expect(pages).toBe(3);
    expect(seen).toEqual(ids(0, 1, 2, 3, 4));
  });

  test("bad parameters → 400 invalid_query", async () => {
    for (const q of [
      "limit=0",
      "limit=abc",
      "cursor=garbage",
      "colour=red",
      "since=yesterday",
      "until=2025-13-99",
      "kind=banana",
      `subject=${encodeURIComponent("a//b")}`,
      "since=2025-02-30", // an impossible date, not rolled over to March
      `cursor=${Buffer.from("lsn:").toString("base64url")}`, // a cursor without a position
    ]) {
      const res = await getJson(`${url}/v1/assertions?${q}`);
      expectProblem(res, 400, "invalid_query");
    }
  });

  test("ids in the path that are not valid percent-encoding → 400 invalid_query, never 500", async () => {
    // Elysia hands a handler null for such a segment; these used to reach toHex(undefined) and the like.
    for (const bad of ["%ZZ", "%E0%A4%A", "%C0%AF", "%ED%A0%80"]) {
      for (const [method, path] of [
        ["GET", `/v1/agents/${bad}`],
        ["GET", `/v1/provenance/${bad}`],
        ["GET", `/v1/subjects/${bad}`],
        ["POST", `/v1/escalations/${bad}/resolve`],
      ] as const) {
        const res = await getJson(`${url}${path}`, { method });
        expectProblem(res, 400, "invalid_query");
      }
    }
  });

  test("POST /v1/query with an object or array where text goes → 400 invalid_type, never 500", async () => {
    for (const [field, value] of [
      ["subject", { toString: 1 }], // String() of it throws
      ["as_of", JSON.parse(`${"[".repeat(10_000)}${"]".repeat(10_000)}`)], // String() of it recurses 10,000 deep
      ["predicate", ["p"]],
    ] as const) {
      const body = JSON.stringify({ subject: "lst/a", predicate: "p", [field]: value });
      const res = await getJson(`${url}/v1/query`, { method: "POST", headers: { "content-type": "application/json" }, body });
      expectProblem(res, 400, "invalid_type");
      expect(res.body.field).toBe(field);
    }
  });

  test("a known path with the wrong method → 405 with Allow; an unknown path → 404", async () => {
    const wrong = await getJson(`${url}/v1/assert`);
    expectProblem(wrong, 405, "method_not_allowed");
    expect(wrong.headers.get("allow")).toBe("POST");
    const post = await getJson(`${url}/v1/health`, { method: "POST", body: "{}" });
    expectProblem(post, 405, "method_not_allowed");
    expect(post.headers.get("allow")).toBe("GET");
    expectProblem(await getJson(`${url}/v1/nothing`), 404, "not_found");
  });

  test("concepts list children", async () => {
    const res = await getJson(`${url}/v1/concepts?prefix=lst/a`);
    expect(res.status).toBe(200);
    expect(res.body.prefix).toBe("lst/a");
    expect(res.body.concepts).toEqual([{ path: "lst/a/b", segment: "b", is_subject: true, subjects: 2 }]);
    const roots = await getJson(`${url}/v1/concepts?prefix=`);
    expect((roots.body.concepts as Array<{ path: string }>).map((c) => c.path)).toEqual(["a", "lst", "x"]);
    const deeper = await getJson(`${url}/v1/concepts?prefix=lst/a/b`);
    expect(deeper.body.concepts).toEqual([{ path: "lst/a/b/c", segment: "c", is_subject: true, subjects: 1 }]);
  });
});

describe("api: backpressure and restart", () => {
  test("--queue-records 5: a batch of 6 → 503 overloaded with Retry-After, nothing written", async () => {
    const server = await start(tempDir(), { "queue-records": "5" });
    try {
      const key = generateKeyPair();
      const records = Array.from({ length: 6 }, () => toJsonSubmission(claim(key)));
      const before = await snapshot(server.url);
      const res = await post(`${server.url}/v1/assert/batch`, JSON.stringify({ records }));
      expectProblem(res, 503, "overloaded");
      expect(res.headers.get("retry-after")).toBe("1");
      expect(await snapshot(server.url)).toEqual(before);
      // Five fit.
      const ok = await post(`${server.url}/v1/assert/batch`, JSON.stringify({ records: records.slice(0, 5) }));
      expect(ok.status).toBe(200);
      expect(ok.body.accepted).toBe(5);
    } finally {
      await stop(server);
    }
  });

  test("restart on the same dir: everything readable; deleted index is rebuilt from the log", async () => {
    const dir = tempDir();
    const key = generateKeyPair();
    const written: SignedRecord[] = [];
    let server = await start(dir);
    for (let i = 0; i < 3; i++) {
      const batch = Array.from({ length: 7 }, () => claim(key));
      written.push(...batch);
      const res = await post(`${server.url}/v1/assert/batch`, JSON.stringify({ records: batch.map(toJsonSubmission) }));
      expect(res.body.accepted).toBe(7);
    }
    const lsn = (await snapshot(server.url)).lsn;
    expect(lsn).toBe(21);
    await stop(server);

    const checkAll = async (u: string) => {
      for (const r of written) {
        const got = await getJson(`${u}/v1/assertions/${toHex(r.id)}`);
        expect(got.status).toBe(200);
        expect(got.body.body).toBe(toHex(r.body));
      }
      const health = await getJson(`${u}/v1/health`);
      expect(health.body.lsn).toBe(21);
      expect(health.body.index_lsn).toBe(21);
      expect(await list(u)).toEqual(written.map((r) => toHex(r.id)));
    };
    const list = async (u: string) =>
      ((await getJson(`${u}/v1/assertions?limit=1000`)).body.items as Array<{ id: string }>).map((x) => x.id);

    server = await start(dir);
    await checkAll(server.url);
    await stop(server);

    for (const suffix of ["", "-wal", "-shm"]) fs.rmSync(join(dir, `index.sqlite${suffix}`), { force: true });
    expect(fs.existsSync(join(dir, "index.sqlite"))).toBe(false);
    server = await start(dir);
    await checkAll(server.url);
    // And the rebuilt index still de-duplicates and continues the LSNs.
    const dup = await post(`${server.url}/v1/assert`, JSON.stringify(toJsonSubmission(written[5] as SignedRecord)));
    expect(dup.status).toBe(200);
    expect(dup.body.lsn).toBe(6);
    const fresh = await post(`${server.url}/v1/assert`, JSON.stringify(toJsonSubmission(claim(key))));
    expect(fresh.status).toBe(201);
    expect(fresh.body.lsn).toBe(22);
    await stop(server);
  });
});
