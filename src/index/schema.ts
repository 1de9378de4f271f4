/**
 * The SQLite index schema. The index is derived: every row comes from a log record and
 * `stemedb reindex` rebuilds it from nothing.
 *
 * Designed for ingest, which is bound by B-tree inserts of random BLAKE3 keys:
 * - the log position (LSN) is the rowid of `records`, so the table itself is append-only;
 * - ids are random, so SQLite does not index them at all: an in-memory hash table
 *   (`id-table.ts`, rebuilt from this table at start-up) maps id prefixes to LSNs, and the full
 *   id in the row settles the rare prefix collision;
 * - strings (agents, subjects, predicates, sources) are interned into small tables, so the
 *   secondary indexes hold integers and every index entry ends in the rowid, which gives
 *   cursor pagination by LSN for free;
 * - references (depends_on, supersedes, vote / retraction / review targets) go to one edge
 *   table keyed by the target's id8;
 * - a query needs a cited source's registrations and retractions, not the (maybe millions
 *   of) assertions citing it: `records_source_reg` is a partial index over just those kinds
 *   (the planner uses it for the literal `kind IN (3,4)` that `listRecords` writes);
 * - `kind` and `ts` indexes are cheap to keep: kinds are few and stated times mostly increase,
 *   so their inserts land on the rightmost pages; the random-key inserts are what cost.
 * - each subject carries its **shard** (src/index/shard.ts, for the shard count in
 *   `meta.shard_count`; format 6 added it), indexed, so a cluster node lists, counts and
 *   compares its records shard by shard (src/cluster/data/) through `records_subject`. It is
 *   computed once per new subject, not per record: ingest pays one hash and one small B-tree
 *   insert per subject it has not seen (docs/BENCHMARKS.md measures it). A node opened with
 *   another shard count rewrites the column in one pass.
 * - `records_subject` is (subject, predicate) only. A covering form (kind, LSN, id and the log
 *   place in the entry) was measured (2026-12-05): a pair's candidates listed in 2 µs instead
 *   of 15, but ≈ 50 more bytes a record and wider random inserts cut batch ingest by a fifth
 *   at 200k records (CBOR 24–26k → 19–20k/s), and ingest is bound by this index's apply on
 *   the event loop. Not worth it for ≈ 5 % of a cold query.
 *
 * The index is never trusted blindly (docs/STORAGE.md). What is checked, where:
 * - every page, on every read from disk: the file is opened through a VFS shim of our own
 *   (native/stemedb_cksm.c, checksum-vfs.ts) that keeps a CRC-64 in the 8 reserved bytes at the
 *   end of each page (format 5 added them). A mismatch is SQLITE_IOERR_DATA. This is what
 *   catches damage that *hides* a row — a record that would 404, a list missing an entry, a
 *   concept gone — which no check of the rows returned could see;
 * - every page, at start (store.ts open: WAL checkpointed into the file, then the shim scans
 *   it), and the `records` table again as the id table is loaded: damage found then is rebuilt
 *   from the log by Store;
 * - every record served, against the log (Store.read): LSN, BLAKE3(body) = the row's id, kind,
 *   and the filter or reference that selected it (match.ts);
 * - `stemedb verify --index` (src/store/verify-index.ts): every row against the log.
 * From the first damage found while serving, every read is refused (guarded-db.ts, damage.ts).
 * Not covered by the page checks: pages read from the WAL (written since the last checkpoint;
 * SQLite's frame checksums guard them through a crash recovery, and they are sealed when
 * checkpointed). Answers built from index rows without reading the log (counts, the concept
 * tree, source lists, provenance impact rows) rest on the page checksums alone.
 */

export const indexFormatVersion = 6;

export const kindCodes = { assertion: 0, vote: 1, retraction: 2, source: 3, source_retraction: 4, epoch: 5, review: 6 } as const;
export const kindNames = ["assertion", "vote", "retraction", "source", "source_retraction", "epoch", "review"] as const;

/** Edge relations in `refs`: what the referring record says about the target. */
export const relCodes = { depends_on: 1, supersedes: 2, vote: 3, retraction: 4, review: 5 } as const;

export const schemaSql = `
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS agents (id INTEGER PRIMARY KEY, key BLOB NOT NULL UNIQUE);
CREATE TABLE IF NOT EXISTS subjects (id INTEGER PRIMARY KEY, path TEXT NOT NULL UNIQUE, rpath TEXT NOT NULL, shard INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS subjects_rpath ON subjects (rpath);
CREATE INDEX IF NOT EXISTS subjects_shard ON subjects (shard);
CREATE TABLE IF NOT EXISTS predicates (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE);
CREATE TABLE IF NOT EXISTS sources (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE);
CREATE TABLE IF NOT EXISTS records (
  lsn INTEGER PRIMARY KEY,
  id BLOB NOT NULL,
  kind INTEGER NOT NULL,
  agent INTEGER NOT NULL,
  ts INTEGER NOT NULL,
  subject INTEGER,
  predicate INTEGER,
  source INTEGER,
  segment INTEGER NOT NULL,
  offset INTEGER NOT NULL,
  recorded_at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS records_subject ON records (subject, predicate) WHERE subject IS NOT NULL;
CREATE INDEX IF NOT EXISTS records_predicate ON records (predicate) WHERE predicate IS NOT NULL;
CREATE INDEX IF NOT EXISTS records_agent ON records (agent);
CREATE INDEX IF NOT EXISTS records_source ON records (source) WHERE source IS NOT NULL;
CREATE INDEX IF NOT EXISTS records_source_reg ON records (source) WHERE kind IN (3,4);
CREATE INDEX IF NOT EXISTS records_kind ON records (kind);
CREATE INDEX IF NOT EXISTS records_ts ON records (ts);
CREATE TABLE IF NOT EXISTS refs (dst8 INTEGER NOT NULL, src INTEGER NOT NULL, rel INTEGER NOT NULL, dst BLOB NOT NULL, PRIMARY KEY (dst8, src, rel)) WITHOUT ROWID;
`;
