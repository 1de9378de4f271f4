/**
 * A live `record` event's data, built from what an acknowledged record carries, is byte for
 * byte the JSON of the record as the store shows it from the log (listings, catch-up): every
 * kind, optional fields in any order, objects of every shape, submitted as JSON or CBOR.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { toHex } from "../../src/core/hex.ts";
import { generateKeyPair } from "../../src/crypto/sign.ts";
import { decodeStoredBody, fromJsonSubmission, type SignedRecord, signRecord } from "../../src/crypto/signed.ts";
import { recordJson } from "../../src/feed/record-json.ts";
import type { IndexEntry } from "../../src/index/store.ts";
import { kindCodes } from "../../src/index/schema.ts";
import { recordToJson } from "../../src/core/record.ts";
import { Store } from "../../src/store/store.ts";
import { prng } from "../support/prng.ts";

let dir: string;
let store: Store;
beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "stemedb-feed-json-"));
  store = await Store.open(dir, { create: true, sync: "none" });
});
afterAll(async () => {
  await store.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

const key = generateKeyPair();
const agent = toHex(key.publicKey);
const id32 = (rand: () => number) => toHex(Uint8Array.from({ length: 32 }, () => Math.floor(rand() * 256)));

function value(rand: () => number, depth = 0): unknown {
  const r = rand();
  if (depth > 2 || r < 0.3) return [1, -2.5, 1e21, 0.1, "é", "", true, false, null][Math.floor(rand() * 9)];
  if (r < 0.6) return Array.from({ length: Math.floor(rand() * 3) }, () => value(rand, depth + 1));
  const o: Record<string, unknown> = {};
  for (const k of ["zeta", "a", "mid", "b2", "Ω"].filter(() => rand() < 0.5)) o[k] = value(rand, depth + 1);
  return o;
}

function randomRecord(rand: () => number, n: number): Record<string, unknown> {
  const common = { v: 1, agent, ts: 1_700_000_000_000 + n };
  switch (Math.floor(rand() * 6)) {
    case 0:
    case 1: {
      const optional: Record<string, unknown> = {
        source: "src/1",
        evidence: ["x", "y"],
        depends_on: [id32(rand)],
        supersedes: id32(rand),
        valid_from: 5,
        valid_to: 9,
        unit: "mg",
        tags: ["b", "a"],
        note: "n",
        epoch: "e1",
      };
      const picked = Object.entries(optional).filter(() => rand() < 0.4);
      // Fields in a shuffled order, as a client may send them.
      const fields: Array<[string, unknown]> = [
        ["kind", "assertion"],
        ["subject", `j/s${n}`],
        ["predicate", "p"],
        ["object", value(rand)],
        ["confidence", 0.75],
        ...picked,
      ];
      fields.sort(() => rand() - 0.5);
      return { ...Object.fromEntries(fields), ...common };
    }
    case 2:
      return { kind: "vote", target: id32(rand), value: -1, reason: "r", ...common };
    case 3:
      return { ...common, kind: "source", source_id: `s${n}`, title: "T", tier: 2, url: "https://x" };
    case 4:
      return { kind: "epoch", name: `e${n}`, starts_at: 3, ...common };
    default:
      return { kind: "review", action: "approve", target: id32(rand), note: "ok", ...common };
  }
}

describe("record event JSON", () => {
  test("built from an acknowledged record = the store's view of it from the log, byte for byte", async () => {
    const rand = prng(21);
    const signed: SignedRecord[] = [];
    for (let n = 0; n < 300; n++) {
      const s = signRecord(randomRecord(rand, n), key.secretKey, "json");
      // A JSON submission keeps the client's field order; a CBOR one decodes in canonical order.
      signed.push(
        rand() < 0.5
          ? fromJsonSubmission({ ...recordToJson(s.record), sig: toHex(s.sig) })
          : { ...s, record: decodeStoredBody(s.body) },
      );
    }
    const positions = await store.log.append(signed.map((r) => ({ body: r.body, sig: r.sig, recordedAtMs: 42 })));
    let maps = 0;
    signed.forEach((r, i) => {
      const p = positions[i] as { lsn: number; segment: number; offset: number };
      const e: IndexEntry = { ...p, id: r.id, record: r.record, recordedAtMs: 42, body: r.body, sig: r.sig };
      const loc = { lsn: p.lsn, id: r.id, kind: kindCodes[r.record.kind], segment: p.segment, offset: p.offset, recordedAt: 42 };
      const want = JSON.stringify(store.view(loc));
      expect(recordJson(store, e)).toBe(want);
      const { body: _b, sig: _s, ...bare } = e; // without them it reads the log
      expect(recordJson(store, bare)).toBe(want);
      if (want.includes('"object":{') || /"object":\[[^\]]*\{/.test(want)) maps++;
    });
    expect(maps).toBeGreaterThan(10); // objects holding maps were among them
  });
});
