/**
 * `stemedb verify`: read-only checks, each a small function below — the log of a data directory
 * (framing, checksums, BLAKE3; --deep: ids and signatures) or a backup (--backup DIR). A check
 * that ran and found damage prints it and exits 1; a check that could not run fails (exit 2–3).
 */
import path from "node:path";
import { recordBackupStatus } from "../../backup/status.ts";
import { verifyBackup } from "../../backup/verify.ts";
import { decodeCanonical } from "../../core/cbor.ts";
import { toHex } from "../../core/hex.ts";
import { validateRecord } from "../../core/record.ts";
import { recordId } from "../../crypto/hash.ts";
import { verifyId } from "../../crypto/verify.ts";
import { verifyLog } from "../../log/index.ts";
import { verifyIndex } from "../../store/verify-index.ts";
import { defineCommand } from "../command.ts";
import { openNode, requireNode } from "../datadir.ts";
import { flag, jsonFlag, text } from "../flags.ts";
import type { Io } from "../io.ts";
import { json } from "../output.ts";
import { inputDir } from "../paths.ts";

interface Checks {
  deep: boolean;
  json: boolean;
}

export const verify = defineCommand({
  name: "verify",
  summary: "check the log, or a backup: framing, checksums, BLAKE3 (--deep: ids, signatures, Merkle root)",
  usage: [
    "stemedb verify [--data-dir DIR] [--deep] [--json]",
    "stemedb verify --index [--data-dir DIR] [--json]",
    "stemedb verify --backup DIR [--deep] [--json] [--data-dir D]",
  ],
  about: `Read-only; safe beside a running server. Exit 0 when clean, 1 when a problem was found (each
named with its file and offset). --index cross-checks the index against the log: every page's
checksum, SQLite's integrity check, every records and references row against the record it
names, the interned tables (docs/STORAGE.md#index-integrity). With --backup, --data-dir D also
records the outcome in D for the server's metrics (stemedb_backup_last_verify_ok).`,
  flags: {
    "data-dir": text({ help: "the data directory (default $STEMEDB_DATA_DIR or ./data; with --backup, none)", kind: "data-dir" }),
    backup: text({ help: "check this backup directory instead", value: "DIR", kind: "in-dir" }),
    deep: flag("also decode every record and check its id and signature (and a backup's Merkle root)"),
    index: flag("cross-check the index against the log instead"),
    json: jsonFlag,
  },
  async run({ values }, io) {
    const checks: Checks = { deep: values.deep, json: values.json };
    if (values.backup !== undefined) return verifyBackupDir(values.backup, values["data-dir"], checks, io);
    const dir = values["data-dir"] ?? (io.env.STEMEDB_DATA_DIR || "./data");
    if (values.index) return verifyIndexOf(dir, checks, io);
    return verifyDataDir(dir, checks, io);
  },
});

async function verifyDataDir(dir: string, checks: Checks, io: Io): Promise<number> {
  const report = verifyLog(openNode(dir).logDir, checks.deep ? { deep: deepCheck } : {});
  if (checks.json) {
    io.out(json(report));
    return report.ok ? 0 : 1;
  }
  io.out(
    `${report.ok ? "ok" : "DAMAGED"}: ${report.segments} segments, ${report.records} records, last LSN ${report.lastLsn}, ${report.bytes} bytes${checks.deep ? ", ids and signatures checked" : ""}`,
  );
  const torn = report.tornTail;
  if (torn) io.out(`torn tail: ${torn.file} at offset ${torn.offset}, ${torn.bytes} bytes (the server cuts it at start)`);
  for (const p of report.problems) io.out(`problem: ${p.file} offset ${p.offset}: ${p.message}`);
  return report.ok ? 0 : 1;
}

async function verifyBackupDir(dir: string, dataDir: string | undefined, checks: Checks, io: Io): Promise<number> {
  inputDir(dir, "--backup");
  if (dataDir !== undefined) requireNode(dataDir);
  const started = performance.now();
  const report = await verifyBackup(dir, { deep: checks.deep });
  const s = (performance.now() - started) / 1000;
  if (dataDir !== undefined)
    recordBackupStatus(dataDir, {
      last_verify: { at: new Date().toISOString(), dir: path.resolve(dir), ok: report.ok, deep: checks.deep },
    });
  if (checks.json) {
    io.out(json(report));
    return report.ok ? 0 : 1;
  }
  const m = report.manifest;
  const mb = report.bytes / 1e6;
  io.out(
    `${report.ok ? "ok" : "DAMAGED"}: backup ${dir}${m ? ` of node ${m.node_id} at LSN ${m.lsn}` : ""}: ${report.files} files, ${report.records} records, ${mb.toFixed(1)} MB in ${s.toFixed(1)} s (${(mb / s).toFixed(0)} MB/s)${checks.deep ? ", ids, signatures and Merkle root checked" : ""}`,
  );
  for (const p of report.problems)
    io.out(`problem: ${p.file}${p.offset !== undefined ? ` offset ${p.offset}` : ""}: ${p.message}`);
  return report.ok ? 0 : 1;
}

/** `--deep`: every body decodes canonically, validates, hashes to an id its signature covers. */
function deepCheck(entry: { body: Uint8Array; sig: Uint8Array }): string | null {
  try {
    const record = validateRecord(decodeCanonical(entry.body), "cbor");
    const id = recordId(entry.body);
    if (!verifyId(entry.sig, id, record.agent)) return `signature does not verify for id ${toHex(id)}`;
    return null;
  } catch (err) {
    return `body: ${(err as Error).message}`;
  }
}

/** `--index`: the index against the log; exit 0 clean, 1 damage found. */
async function verifyIndexOf(dir: string, checks: Checks, io: Io): Promise<number> {
  openNode(dir);
  const report = await verifyIndex(dir);
  if (checks.json) {
    io.out(json(report));
    return report.ok ? 0 : 1;
  }
  if (report.note) {
    io.out(`ok: ${report.note}`);
    return 0;
  }
  const summary = `${report.records} records and ${report.refs} references to LSN ${report.indexLsn} against the log, ${report.pages} pages`;
  if (report.ok) {
    io.out(`ok: index checked: ${summary}`);
    return 0;
  }
  const total = Object.values(report.counts).reduce((a, b) => a + (b ?? 0), 0);
  const byArea = Object.entries(report.counts)
    .map(([area, n]) => `${area} ${n}`)
    .join(", ");
  io.out(`DAMAGED: index: ${total} findings (${byArea}); checked ${summary}`);
  for (const f of report.findings) io.out(`problem: ${f.area}: ${f.message}`);
  if (report.findings.length < total) io.out(`… and ${total - report.findings.length} more`);
  io.out("remedy: run `stemedb reindex` with the server stopped (the log is intact; the index is rebuilt from it),");
  io.out("        or restart the server: it rebuilds an index found damaged at start");
  return 1;
}
