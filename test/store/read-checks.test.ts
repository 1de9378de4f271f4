/**
 * Every record served through the index is checked against the log (docs/STORAGE.md): a row whose id
 * is not BLAKE3 of the body it points at, that points at another LSN or at nothing, whose kind
 * is wrong, or that a filter or a reference selected although the record does not fit it, is
 * damage — `index_damaged`, never an answer — and from then on every read is refused. The rows
 * are changed through the checksum shim, so the pages stay valid and only these checks see it.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import fs from "node:fs";
import path from "node:path";
import { StemeError } from "../../src/core/errors.ts";
import { damageMarkerPath } from "../../src/index/damage.ts";
import { type ListFilter, listRecords } from "../../src/index/list.ts";
import { createMetrics } from "../../src/metrics/index.ts";
import { gather } from "../../src/query/gather.ts";
import { Store } from "../../src/store/store.ts";
import { buildIndexFixture, copyFixture, type IndexFixture, tamper } from "../support/index-fixture.ts";

let fixture: IndexFixture;
const opened: Array<{ store: Store; dir: string }> = [];

beforeAll(async () => {
  fixture = await buildIndexFixture();
}, 30_000);
afterAll(async () => {
  for (const { store, dir } of opened.splice(0)) {
    await store.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
  fs.rmSync(fixture.dir, { recursive: true, force: true });
});

/** A copy of the fixture with `damage` applied to its index, opened. */
async function damaged(damage: (dir: string) => void) {
  const dir = copyFixture(fixture);
  damage(dir);
  const metrics = createMetrics({ processMetrics: false });
  const store = await Store.open(dir, { metrics });
  opened.push({ store, dir });
  return { store, dir, metrics };
}

const rec = (name: string) => fixture.records.get(name)?.id as Uint8Array;
/** SQL for the interned id of a string. */
const interned = (table: string, column: string, value: string) => `(SELECT id FROM ${table} WHERE ${column} = '${value}')`;

/** Reads every record a filter lists, as a route does. */
function readAll(store: Store, filter: Omit<ListFilter, "limit">) {
  return listRecords(store.index, { ...filter, limit: 1000 }).items.map((loc) => store.read(loc).record);
}

function expectDamaged(fn: () => unknown, detail: RegExp): StemeError {
  let caught: unknown;
  try {
    fn();
  } catch (err) {
    caught = err;
  }
  expect(caught).toBeInstanceOf(StemeError);
  const err = caught as StemeError;
  expect({ code: err.code, status: err.status }).toEqual({ code: "index_damaged", status: 503 });
  expect(err.message).toMatch(detail);
  expect(err.hint).toContain("stemedb reindex");
  return err;
}

describe("reads through a sound index", () => {
  test("every record by id, every list filter and a gather read back what was written", async () => {
    const { store } = await damaged(() => {});
    for (const [name, signed] of fixture.records) {
      const loc = store.lookupId(signed.id);
      expect(loc?.lsn, name).toBe(fixture.lsn(name));
      expect(store.read(loc as NonNullable<typeof loc>).body).toEqual(signed.body);
    }
    expect(readAll(store, { subject: "drug/*" }).length).toBe(4);
    expect(readAll(store, { subject: "*/aspirin", predicate: "risk" }).length).toBe(3);
    expect(readAll(store, { agent: fixture.bob.publicKey }).length).toBe(4);
    expect(readAll(store, { source: "src/a" }).length).toBe(3);
    expect(readAll(store, { kinds: ["vote", "review"], since: 0, until: Number.MAX_SAFE_INTEGER }).length).toBe(2);
    const g = gather(store, "drug/aspirin", "risk");
    expect(g.assertions.length).toBe(3);
    expect(store.index.damaged).toBeNull();
  });
});

describe("a row that lies is damage, whichever read meets it", () => {
  test("an id that is not BLAKE3 of the body: GET by that id is refused, and then every read", async () => {
    const forged = new Uint8Array(32).fill(7);
    const { store, dir, metrics } = await damaged((d) =>
      tamper(d, "UPDATE records SET id = ? WHERE lsn = ?", forged, fixture.lsn("a1")),
    );
    const loc = store.lookupId(forged);
    expect(loc?.lsn).toBe(fixture.lsn("a1"));
    expectDamaged(() => store.read(loc as NonNullable<typeof loc>), /hashes to/);
    // From now on nothing is answered from the index, and the damage is visible.
    expectDamaged(() => store.lookupId(rec("a2")), /hashes to/);
    expectDamaged(() => listRecords(store.index, { limit: 10 }), /hashes to/);
    await expect(store.indexCaughtUp()).rejects.toMatchObject({ code: "index_damaged" });
    expect(store.indexFailure?.message).toMatch(/hashes to/);
    expect(fs.existsSync(damageMarkerPath(path.join(dir, "index.sqlite")))).toBe(true);
    const text = await metrics.registry.metrics();
    expect(text).toMatch(/^stemedb_index_damage_detected_total 1$/m);
    expect(text).toMatch(/^stemedb_index_damaged 1$/m);
  });

  test("a row pointing at another record's frame: the LSN there disagrees", async () => {
    const { store } = await damaged((d) =>
      tamper(
        d,
        "UPDATE records SET offset = (SELECT offset FROM records WHERE lsn = ?) WHERE lsn = ?",
        fixture.lsn("a2"),
        fixture.lsn("a1"),
      ),
    );
    expectDamaged(() => store.read(store.lookupId(rec("a1")) as NonNullable<ReturnType<Store["lookupId"]>>), /points at LSN 3/);
  });

  test("a row pointing where the log has no frame", async () => {
    const { store } = await damaged((d) => tamper(d, "UPDATE records SET offset = offset + 5 WHERE lsn = ?", fixture.lsn("a1")));
    expectDamaged(
      () => store.read(store.lookupId(rec("a1")) as NonNullable<ReturnType<Store["lookupId"]>>),
      /which the log cannot read/,
    );
  });

  test("a row with the wrong kind", async () => {
    const { store } = await damaged((d) => tamper(d, "UPDATE records SET kind = 1 WHERE lsn = ?", fixture.lsn("a1")));
    expectDamaged(() => readAll(store, { kinds: ["vote"] }), /says kind 1; the record is a assertion/);
  });

  // LSN 6 is a5 (other/thing, size, no source, alice); LSN 3 is a2 (bob).
  const fieldCases: Array<[string, string, () => Omit<ListFilter, "limit">, RegExp]> = [
    [
      "subject exact",
      `subject = ${interned("subjects", "path", "drug/aspirin")} WHERE lsn = 6`,
      () => ({ subject: "drug/aspirin" }),
      /subject other\/thing/,
    ],
    [
      "subject prefix",
      `subject = ${interned("subjects", "path", "drug/ibuprofen")} WHERE lsn = 6`,
      () => ({ subject: "drug/*" }),
      /subject other\/thing/,
    ],
    [
      "subject tail",
      `subject = ${interned("subjects", "path", "drug/aspirin")} WHERE lsn = 6`,
      () => ({ subject: "*/aspirin" }),
      /subject other\/thing/,
    ],
    [
      "predicate",
      `predicate = ${interned("predicates", "name", "risk")} WHERE lsn = 6`,
      () => ({ predicate: "risk" }),
      /predicate size/,
    ],
    [
      "agent",
      "agent = (SELECT agent FROM records WHERE lsn = 1) WHERE lsn = 3",
      () => ({ agent: fixture.alice.publicKey }),
      /agent/,
    ],
    ["source", `source = ${interned("sources", "name", "src/a")} WHERE lsn = 6`, () => ({ source: "src/a" }), /source \(none\)/],
    ["time range", "ts = 5 WHERE lsn = 6", () => ({ since: 0, until: 10 }), /ts /],
  ];
  for (const [what, update, filter, detail] of fieldCases) {
    test(`a list by ${what} meets a row the record does not fit`, async () => {
      const { store } = await damaged((d) => tamper(d, `UPDATE records SET ${update}`));
      expectDamaged(() => readAll(store, filter()), detail);
    });
  }

  test("a query's deciders: a vote found by its target must target it", async () => {
    const { store } = await damaged((d) =>
      tamper(d, "UPDATE refs SET dst = ?, dst8 = ? WHERE src = ?", rec("a2"), idPrefix(rec("a2")), fixture.lsn("vote")),
    );
    expectDamaged(() => gather(store, "drug/aspirin", "risk"), /a filter the record does not fit: reference/);
  });
});

/** The first 8 bytes of an id as the signed 64-bit key `refs.dst8` holds. */
function idPrefix(id: Uint8Array): bigint {
  return new DataView(id.buffer, id.byteOffset, 8).getBigInt64(0);
}
