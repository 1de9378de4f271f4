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
import { merkleRoot } from "../crypto/merkle.ts";
import { openChecksummed } from "../index/checksum-vfs.ts";
import { listSegmentFiles, logDirName, readSegmentHeader, type SegmentFile, SegmentImage } from "../log/index.ts";

export interface RootReport {
  root: string;
  lsn: number;
  records: number;
}

/** Read-only, no lock: safe beside a running server (the answer is as of the moment read). */
export function dataDirRoot(dataDir: string): RootReport {
  const ids: Uint8Array[] = [];
  let indexLsn = 0;
  const indexPath = path.join(dataDir, "index.sqlite");
  if (fs.existsSync(indexPath)) {
    const db = openChecksummed(indexPath, { readonly: true }); // a damaged page is an error, not a wrong root
    try {
      db.exec("BEGIN"); // one snapshot for both reads
      indexLsn = (db.query("SELECT value FROM meta WHERE key = 'checkpoint_lsn'").get() as { value: number } | null)?.value ?? 0;
      for (const r of db.query("SELECT id FROM records WHERE lsn <= ?").all(indexLsn) as Array<{ id: Uint8Array }>)
        ids.push(r.id);
      db.exec("COMMIT");
    } finally {
      db.close();
    }
  }
  let lsn = indexLsn;
  const files = listSegmentFiles(path.join(dataDir, logDirName));
  for (const [i, f] of files.entries()) {
    // A segment whose successor starts within the index holds no record past it: not read. Read
    // whole, every segment every time the root was refreshed, a 1M-record log took ≈ 0.6 GB of
    // transient buffers on this worker (docs/BENCHMARKS.md#memory-make-bench-memory).
    const next = files[i + 1] ? readSegmentHeader(files[i + 1] as SegmentFile) : null;
    if (next !== null && !("error" in next) && next.header.firstLsn <= indexLsn + 1) continue;
    const image = SegmentImage.read(f);
    if ("error" in image) break;
    image.walk((offset, frameLsn, end) => {
      if (frameLsn <= indexLsn) return;
      ids.push(recordId(image.entry(offset, frameLsn, end).body));
      lsn = frameLsn;
    });
  }
  return { root: toHex(merkleRoot(ids)), lsn, records: ids.length };
}

/** The root of the ids an open index holds (the server: call after the index caught up). */
export function indexRoot(db: Database, lsn: number): RootReport {
  const ids = (db.query("SELECT id FROM records WHERE lsn <= ?").all(lsn) as Array<{ id: Uint8Array }>).map((r) => r.id);
  return { root: toHex(merkleRoot(ids)), lsn, records: ids.length };
}
