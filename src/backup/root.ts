/**
 * `stemedb root` and the `root` of `/v1/health`: the Merkle root over every record id
 * (src/crypto/merkle.ts), so two data directories — a node and its restored backup, later two
 * replicas — can be compared with one line. Ids come from the index up to its checkpoint and
 * from the log past it, so a data dir whose index trails its log still gives the right root.
 */
import type { Database } from "bun:sqlite";
import fs from "node:fs";
import path from "node:path";
import { toHex } from "../core/hex.ts";
import { recordId } from "../crypto/hash.ts";
import { compareIds, MerkleBuilder, merkleRoot, sortIds } from "../crypto/merkle.ts";
import { openChecksummed } from "../index/checksum-vfs.ts";
import { entriesFrom, type LogEntry, listSegmentFiles, logDirName, readSegmentHeader, type SegmentFile } from "../log/index.ts";

export interface RootReport {
  root: string;
  lsn: number;
  records: number;
}

/** Thrown by `dataDirRoot` when its `stopped` says so: the root was given up, not wrong. */
export class RootStopped extends Error {
  constructor() {
    super("the root was given up: the server is stopping");
  }
}

/**
 * Read-only, no lock: safe beside a running server (the answer is as of the moment read). The
 * index's ids are read in id order straight into the Merkle tree, merged with the few the log
 * holds past the index: an array of a million ids and their sort took ≈ 235 MB on the root
 * worker (docs/BENCHMARKS.md#memory-make-bench-memory). `stopped` is asked every 65,536 ids;
 * when it says so the root is given up (`RootStopped`) and the connection closed. SQLite's sort
 * before the first id cannot be cut short.
 */
export function dataDirRoot(dataDir: string, options: { stopped?: () => boolean } = {}): RootReport {
  const indexPath = path.join(dataDir, "index.sqlite");
  if (!fs.existsSync(indexPath)) {
    const tail = logTail(dataDir, 0);
    return { root: toHex(merkleRoot(tail.ids)), lsn: tail.lsn, records: tail.ids.length };
  }
  const db = openChecksummed(indexPath, { readonly: true }); // a damaged page is an error, not a wrong root
  try {
    db.exec("BEGIN"); // one snapshot for the position and the ids
    const indexLsn =
      (db.query("SELECT value FROM meta WHERE key = 'checkpoint_lsn'").get() as { value: number } | null)?.value ?? 0;
    const at = db.query("SELECT segment, offset FROM records WHERE lsn = ?").get(indexLsn) as {
      segment: number;
      offset: number;
    } | null;
    const tail = logTail(dataDir, indexLsn, at ?? undefined);
    const past = sortIds(tail.ids);
    const tree = new MerkleBuilder();
    let records = tail.ids.length;
    let j = 0;
    let rowsSeen = 0;
    const rows = db.query("SELECT id FROM records WHERE lsn <= ? ORDER BY id").iterate(indexLsn) as IterableIterator<{
      id: Uint8Array;
    }>;
    for (const { id } of rows) {
      if ((rowsSeen++ & 0xffff) === 0 && options.stopped?.()) throw new RootStopped(); // the connection closes below
      while (j < past.length && compareIds(past[j] as Uint8Array, id) < 0) tree.add(past[j++] as Uint8Array);
      tree.add(id);
      records++;
    }
    while (j < past.length) tree.add(past[j++] as Uint8Array);
    db.exec("COMMIT");
    return { root: toHex(tree.root()), lsn: tail.lsn, records };
  } finally {
    db.close();
  }
}

/**
 * The ids of the records the log holds past `indexLsn`, and the last LSN it holds. `from`, when
 * the index knows it, is where the frame of `indexLsn` lies: the walk starts there instead of at
 * its segment's start (the active segment holds up to `--segment-bytes`; every refresh walked it
 * all). A place that is not that frame is not trusted: the segment is walked from its start.
 */
function logTail(
  dataDir: string,
  indexLsn: number,
  from?: { segment: number; offset: number },
): { ids: Uint8Array[]; lsn: number } {
  const ids: Uint8Array[] = [];
  let lsn = indexLsn;
  const take = (entry: LogEntry) => {
    if (entry.lsn <= indexLsn) return;
    ids.push(recordId(entry.body));
    lsn = entry.lsn;
  };
  const files = listSegmentFiles(path.join(dataDir, logDirName));
  for (const [i, f] of files.entries()) {
    // A segment whose successor starts within the index holds no record past it: not read.
    const next = files[i + 1] ? readSegmentHeader(files[i + 1] as SegmentFile) : null;
    if (next !== null && !("error" in next) && next.header.firstLsn <= indexLsn + 1) continue;
    if (from?.segment === f.segment && indexLsn > 0) {
      const walk = entriesFrom(f, { offset: from.offset, lsn: indexLsn }, take);
      if (!("error" in walk) && walk.records > 0) continue;
    }
    const walk = entriesFrom(f, null, take);
    if ("error" in walk) break;
  }
  return { ids, lsn };
}

/** The root of the ids an open index holds (the server: call after the index caught up). */
export function indexRoot(db: Database, lsn: number): RootReport {
  const ids = (db.query("SELECT id FROM records WHERE lsn <= ?").all(lsn) as Array<{ id: Uint8Array }>).map((r) => r.id);
  return { root: toHex(merkleRoot(ids)), lsn, records: ids.length };
}
