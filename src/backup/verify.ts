/**
 * Verifying a backup (`stemedb verify --backup DIR [--deep]`): the manifest parses; every
 * listed file exists with its size and BLAKE3; no unlisted file hides in the directory; the
 * log's segment headers, framing and CRCs are sound, with no torn tail, and end exactly at the
 * manifest's LSN. `--deep` also re-derives every record id, checks every signature and
 * recomputes the Merkle root. Every problem names a file (and an offset where there is one).
 */
import fs from "node:fs";
import path from "node:path";
import { StemeError } from "../core/errors.ts";
import { toHex } from "../core/hex.ts";
import { recordId } from "../crypto/hash.ts";
import { merkleRoot } from "../crypto/merkle.ts";
import { decodeStoredBody } from "../crypto/signed.ts";
import { VerifyPool } from "../crypto/verify-pool.ts";
import { listSegmentFiles, logDirName, SegmentImage, verifyLog } from "../log/index.ts";
import { HashPool } from "./hash-pool.ts";
import { type BackupManifest, backupManifestName, readManifest } from "./manifest.ts";

export interface BackupProblem {
  file: string;
  offset?: number;
  message: string;
}

export interface BackupReport {
  ok: boolean;
  manifest: BackupManifest | null;
  files: number;
  bytes: number;
  records: number;
  problems: BackupProblem[];
  /** Deep only: the recomputed root. */
  merkleRoot?: string;
}

export async function verifyBackup(dir: string, options: { deep?: boolean } = {}): Promise<BackupReport> {
  const report: BackupReport = { ok: false, manifest: null, files: 0, bytes: 0, records: 0, problems: [] };
  let manifest: BackupManifest;
  try {
    manifest = readManifest(dir);
  } catch (err) {
    if (!(err instanceof StemeError)) throw err;
    const file = path.join(dir, backupManifestName);
    // readManifest's messages start with the file's name; the problem names it already.
    report.problems.push({
      file,
      message: err.message.startsWith(`${file}: `) ? err.message.slice(file.length + 2) : err.message,
    });
    return report;
  }
  report.manifest = manifest;
  // The hashing runs on worker threads while this thread walks the log's frames.
  const hashed = checkFiles(dir, manifest, report);
  const log = verifyLog(path.join(dir, logDirName));
  await hashed;
  for (const p of log.problems) report.problems.push(p);
  if (log.tornTail)
    report.problems.push({
      file: log.tornTail.file,
      offset: log.tornTail.offset,
      message: `${log.tornTail.bytes} bytes of a torn frame`,
    });
  report.records = log.records;
  if (log.problems.length === 0 && log.lastLsn !== manifest.lsn)
    report.problems.push({
      file: path.join(dir, logDirName),
      message: `the log ends at LSN ${log.lastLsn}; the manifest says ${manifest.lsn}`,
    });
  if (options.deep && log.problems.length === 0) {
    const ids = await checkRecords(path.join(dir, logDirName), report);
    report.merkleRoot = toHex(merkleRoot(ids));
    if (report.merkleRoot !== manifest.merkle_root)
      report.problems.push({
        file: path.join(dir, backupManifestName),
        message: `Merkle root over the records is ${report.merkleRoot}; the manifest says ${manifest.merkle_root}`,
      });
  }
  report.ok = report.problems.length === 0;
  return report;
}

/**
 * `--deep`: every body decodes, hashes to its id, and carries a valid signature — checked a
 * segment at a time, the signatures on every core (VerifyPool), so memory stays bounded.
 */
async function checkRecords(logDir: string, report: BackupReport): Promise<Uint8Array[]> {
  const ids: Uint8Array[] = [];
  const pool = new VerifyPool(Math.max(1, navigator.hardwareConcurrency || 2));
  try {
    for (const file of listSegmentFiles(logDir)) {
      const image = SegmentImage.read(file);
      if ("error" in image) continue; // reported by the framing check
      const checks: Array<Promise<void>> = [];
      image.walk((offset, lsn, end) => {
        const entry = image.entry(offset, lsn, end);
        const id = recordId(entry.body);
        ids.push(id);
        let agent: Uint8Array;
        try {
          agent = decodeStoredBody(entry.body).agent;
        } catch (err) {
          report.problems.push({ file: file.path, offset, message: `the body does not decode: ${(err as Error).message}` });
          return;
        }
        checks.push(
          pool.verify(entry.sig, id, agent).then((ok) => {
            if (!ok) report.problems.push({ file: file.path, offset, message: `signature does not verify for id ${toHex(id)}` });
          }),
        );
      });
      await Promise.all(checks);
    }
  } finally {
    pool.close();
  }
  return ids;
}

async function checkFiles(dir: string, manifest: BackupManifest, report: BackupReport): Promise<void> {
  const listed = new Set(manifest.files.map((f) => f.path));
  const present: string[] = [];
  const walk = (rel: string) => {
    for (const name of fs.readdirSync(path.join(dir, rel)).sort()) {
      const r = rel ? `${rel}/${name}` : name;
      if (fs.statSync(path.join(dir, r)).isDirectory()) walk(r);
      else if (r !== backupManifestName) present.push(r);
    }
  };
  walk("");
  for (const p of present) if (!listed.has(p)) report.problems.push({ file: path.join(dir, p), message: "not in the manifest" });
  const pool = new HashPool();
  try {
    await Promise.all(
      manifest.files.map(async (f) => {
        const full = path.join(dir, f.path);
        if (!fs.existsSync(full)) {
          report.problems.push({ file: full, message: "missing" });
          return;
        }
        const size = fs.statSync(full).size;
        if (size !== f.bytes) {
          report.problems.push({
            file: full,
            offset: Math.min(size, f.bytes),
            message: `${size} bytes; the manifest says ${f.bytes}`,
          });
          return;
        }
        const { hex } = await pool.hash(full);
        report.files++;
        report.bytes += size;
        if (hex !== f.blake3) report.problems.push({ file: full, message: `BLAKE3 ${hex}; the manifest says ${f.blake3}` });
      }),
    );
  } finally {
    pool.close();
  }
  report.problems.sort((a, b) => (a.file < b.file ? -1 : a.file > b.file ? 1 : (a.offset ?? 0) - (b.offset ?? 0)));
}
