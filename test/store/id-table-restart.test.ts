/**
 * The id table across restarts of a real store (written through the ingest pipeline): read back
 * after a clean stop, built when its file is damaged or stale — and every record is found by id
 * either way, so de-duplication never misses one. (After a crash there is no file: the open
 * removed it; test/index/id-table-file.test.ts and the kill -9 cycles of
 * test/integration/crash.test.ts cover that.)
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import fs from "node:fs";
import path from "node:path";
import { createLogger } from "../../src/core/logger.ts";
import { idTableFilePath } from "../../src/index/id-table-file.ts";
import { Store } from "../../src/store/store.ts";
import { buildIndexFixture, type IndexFixture } from "../support/index-fixture.ts";

let fixture: IndexFixture;
beforeAll(async () => {
  fixture = await buildIndexFixture("stemedb-idrestart-");
}, 30_000);
afterAll(() => fs.rmSync(fixture.dir, { recursive: true, force: true }));

/** The index's WAL checkpointed by the applying connection, or by a thread of its own as the server runs it. */
let checkpoints: { indexWalBytesMax?: number; indexCheckpointMs?: number } = {};

async function reopen(): Promise<{ store: Store; how: string }> {
  const lines: Array<Record<string, unknown>> = [];
  const logger = createLogger({ level: "info", write: (line) => lines.push(JSON.parse(line)) });
  const store = await Store.open(fixture.dir, { logger, ...checkpoints });
  const msg = lines.find((l) => String(l.msg).startsWith("index: id table"))?.msg as string;
  const reason = lines.find((l) => l.msg === "index: id table file not used; building the table")?.reason;
  return { store, how: reason ? `${msg}: ${reason}` : msg };
}

function expectEveryRecordFound(store: Store) {
  for (const [name, signed] of fixture.records) expect(store.lookupId(signed.id)?.lsn, name).toBe(fixture.lsn(name));
}

const idsFile = () => idTableFilePath(path.join(fixture.dir, "index.sqlite"));

const variants: Array<[string, typeof checkpoints]> = [
  ["checkpoints on the applying connection", {}],
  ["a checkpoint thread (the server's default)", { indexWalBytesMax: 64 * 1024 * 1024, indexCheckpointMs: 100 }],
];
describe.each(variants)("the id table across restarts, %s", (_name, options) => {
  test("clean stop → read back; damaged or stale file → built; every record found each time", async () => {
    checkpoints = options;
    let { store, how } = await reopen();
    if (options.indexWalBytesMax) expect(store.index.backgroundCheckpointer).not.toBeNull();
    expect(how).toBe("index: id table read back");
    expectEveryRecordFound(store);
    await store.close();

    // A damaged file.
    const bytes = fs.readFileSync(idsFile());
    bytes[bytes.length - 20] = (bytes[bytes.length - 20] as number) ^ 0xff;
    fs.writeFileSync(idsFile(), bytes);
    ({ store, how } = await reopen());
    expect(how).toBe("index: id table file not used; building the table: checksum mismatch");
    expectEveryRecordFound(store);
    await store.close();

    // An open and close that change nothing leave the index file as it was: its table still fits.
    const kept = fs.readFileSync(idsFile());
    ({ store, how } = await reopen());
    expect(how).toBe("index: id table read back");
    await store.close();
    fs.writeFileSync(idsFile(), kept);
    ({ store, how } = await reopen());
    expect(how).toBe("index: id table read back");
    // A stale file: the index written since (its last row dropped and replayed from the log).
    store.index.truncateAfter(store.index.checkpointLsn - 1);
    expect(store.catchUpIndex()).toBe(1);
    await store.close();
    fs.writeFileSync(idsFile(), kept);
    ({ store, how } = await reopen());
    expect(how).toBe("index: id table file not used; building the table: the index changed since the file was written");
    expectEveryRecordFound(store);
    await store.close();
    expect(fs.existsSync(path.join(fixture.dir, "index.sqlite-wal"))).toBe(false); // the clean stop folded it in
  });
});
