/**
 * The index's background checkpointer (checkpointer.ts): its own SQLite connection to the
 * index, opened through the page-checksum shim, copying the WAL into the database file with
 * `PRAGMA wal_checkpoint(PASSIVE)` whenever the applying thread says a batch committed. A
 * PASSIVE checkpoint never waits for the writer and never makes it wait.
 */
import type { Database } from "bun:sqlite";
import fs from "node:fs";
import { openChecksummed } from "./checksum-vfs.ts";
import { type CheckpointerReply, type CheckpointerRequest, checkpointerState } from "./checkpointer.ts";
import { isSqliteDamage } from "./damage.ts";

declare const self: Worker;

let db: Database | null = null;
let state: Int32Array | null = null;
let intervalMs = 0;
let lastRun = Number.NEGATIVE_INFINITY;
let timer: ReturnType<typeof setTimeout> | null = null;
let walPath = "";
/** The WAL's checkpoint sequence number when the last checkpoint ended, while it has not restarted since. */
let chasing: number | null = null;
const header = new Uint8Array(16);

/**
 * The WAL header's checkpoint sequence number (bytes 12–15, big-endian; sqlite.org/fileformat2.html
 * "WAL File Format"): SQLite increments it each time a writer starts the WAL again from its
 * beginning. -1 when there is no WAL to read.
 */
function walSequence(): number {
  try {
    const fd = fs.openSync(walPath, "r");
    try {
      if (fs.readSync(fd, header, 0, 16, 0) < 16) return -1;
    } finally {
      fs.closeSync(fd);
    }
  } catch {
    return -1;
  }
  return new DataView(header.buffer).getUint32(12);
}

function setState(s: number): void {
  if (state === null) return;
  Atomics.store(state, 0, s);
  Atomics.notify(state, 0);
}

function reply(r: CheckpointerReply): void {
  self.postMessage(r);
}

function failed(err: unknown, doing: string): void {
  const e = err as Error & { code?: string };
  reply({
    kind: "failed",
    message: `${doing}: ${e.code ? `${e.code} ` : ""}${e.message}`,
    damage: isSqliteDamage(err),
  });
}

/** Rounds of one checkpoint: a batch committed while it copied is copied at once too. */
const roundsMax = 4;

/**
 * Copy what the WAL holds; while the writer committed more meanwhile, again (a few rounds), so
 * the WAL is most often wholly copied when the writer's next batch begins: SQLite then starts
 * the WAL from its beginning, and the file stays a few batches long. True when the WAL was
 * wholly copied.
 */
function checkpoint(): boolean {
  if (db === null) return false;
  const started = performance.now();
  try {
    let row = { log: 0, checkpointed: 0 };
    for (let round = 0; round < roundsMax; round++) {
      const before = row.checkpointed;
      row = db.query("PRAGMA wal_checkpoint(PASSIVE)").get() as { log: number; checkpointed: number };
      // -1 and -1: the checkpoint could not start (another one holds the lock, e.g. the writer's own): nothing was copied.
      if (row.log < 0) break;
      if (row.checkpointed >= row.log || (round > 0 && row.checkpointed === before)) break; // all copied, or a reader holds the rest
    }
    const frames = Math.max(0, row.log);
    const backfilled = Math.max(0, row.checkpointed);
    reply({ kind: "done", seconds: (performance.now() - started) / 1000, frames, backfilled });
    return row.log >= 0 && row.checkpointed >= row.log;
  } catch (err) {
    failed(err, "checkpoint");
    return false;
  }
}

/**
 * At most one checkpoint per `intervalMs`: a page that several batches rewrote is copied once.
 * It runs right after a commit (the writer is between batches then, so it is usually done before
 * the next one begins, and that one starts the WAL again); when the writer falls quiet, a last
 * one copies the rest.
 */
function schedule(): void {
  if (timer !== null) clearTimeout(timer);
  timer = null;
  // A batch began while the last checkpoint still copied, so the WAL did not start again:
  // copy that batch at once (it is small), or the WAL grows until a checkpoint happens to end
  // between two batches.
  if (chasing !== null && walSequence() === chasing) {
    run();
    return;
  }
  chasing = null;
  if (performance.now() - lastRun >= intervalMs) {
    run();
    return;
  }
  timer = setTimeout(() => {
    timer = null;
    run();
  }, intervalMs);
}

function run(): void {
  if (chasing === null) lastRun = performance.now();
  if (checkpoint()) chasing = walSequence();
}

function stop(): void {
  if (timer !== null) clearTimeout(timer);
  timer = null;
  try {
    db?.close();
  } catch {
    // closing is all that is left to do
  }
  db = null;
  setState(checkpointerState.stopped);
}

self.onmessage = (event: MessageEvent<CheckpointerRequest>) => {
  const m = event.data;
  if (m.kind === "start") {
    state = new Int32Array(m.state);
    intervalMs = m.intervalMs;
    walPath = `${m.path}-wal`;
    try {
      db = openChecksummed(m.path, { existing: true });
      db.exec("PRAGMA busy_timeout = 0; PRAGMA cache_size = -1024;");
      setState(checkpointerState.running);
    } catch (err) {
      db = null;
      failed(err, "opening the index");
      setState(checkpointerState.stopped);
    }
  } else if (m.kind === "checkpoint") schedule();
  else stop();
};
