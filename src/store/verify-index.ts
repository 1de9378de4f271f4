/**
 * `stemedb verify --index`: the index cross-checked against the log, read-only.
 *
 * - the file: page 1's header (reserved bytes, its checksum), a damage marker, every page's
 *   checksum (the shim's scan), and SQLite's `PRAGMA integrity_check` (b-trees and their
 *   indexes agree);
 * - every `records` row against the log frame with its LSN, walked together in LSN order: the
 *   row's segment and offset are where that frame is, its id is BLAKE3 of the frame's body, and
 *   kind, agent, ts, subject, predicate, source (through the interned tables) and recorded_at
 *   are what the record says; every record up to the checkpoint has a row, and no row lies past
 *   it;
 * - every `refs` row is one the referring record makes (and every reference it makes has its
 *   row), with `dst8` the first 8 bytes of `dst`;
 * - the interned tables are consistent (a subject's reversed path is its path reversed; every
 *   id a row names exists).
 *
 * It takes no lock: the index is read in one SQLite read transaction (a consistent snapshot at
 * its checkpoint LSN, WAL included), and the log is append-only below that LSN, so it can run
 * beside a server. The page scan reads the main file outside SQLite's snapshot; a page the
 * server is checkpointing at that moment may read torn, so a failing scan is repeated before it
 * counts.
 */
import type { Database } from "bun:sqlite";
import fs from "node:fs";
import path from "node:path";
import { bytesEqual, toHex } from "../core/hex.ts";
import type { StemeRecord } from "../core/record.ts";
import { recordId } from "../crypto/hash.ts";
import { decodeStoredBody } from "../crypto/signed.ts";
import { openChecksummed, scanPages } from "../index/checksum-vfs.ts";
import { readDamageMarker } from "../index/damage.ts";
import { sourceOf } from "../index/match.ts";
import { checkHeader } from "../index/page-checksum.ts";
import { indexFormatVersion, kindCodes, relCodes } from "../index/schema.ts";
import { shardOf } from "../index/shard.ts";
import { id8, reversePath } from "../index/store.ts";
import { type LogEntry, verifyLog } from "../log/index.ts";

export type IndexFindingArea = "file" | "pages" | "sqlite" | "records" | "coverage" | "refs" | "interned" | "log";

export interface IndexFinding {
  area: IndexFindingArea;
  message: string;
}

export interface IndexVerifyReport {
  ok: boolean;
  /** The index's checkpoint: everything at or below it is checked. */
  indexLsn: number;
  records: number;
  refs: number;
  pages: number;
  /** The first `findingsMax` findings. */
  findings: IndexFinding[];
  /** Every finding, counted by area. */
  counts: Partial<Record<IndexFindingArea, number>>;
  /** Set when there is no index to check (the server builds one at start). */
  note?: string;
}

export interface VerifyIndexOptions {
  findingsMax?: number;
  /** How many times a failing page scan is repeated before it counts (a server may be writing). */
  scanAttempts?: number;
}

interface RecordRow {
  lsn: number;
  id: Uint8Array;
  kind: number;
  agent: number;
  ts: number;
  subject: number | null;
  predicate: number | null;
  source: number | null;
  segment: number;
  offset: number;
  recorded_at: number;
}

interface RefRow {
  src: number;
  rel: number;
  dst8: string;
  dst: Uint8Array;
}

class Findings {
  readonly list: IndexFinding[] = [];
  readonly counts: Partial<Record<IndexFindingArea, number>> = {};
  constructor(private readonly max: number) {}
  add(area: IndexFindingArea, message: string): void {
    this.counts[area] = (this.counts[area] ?? 0) + 1;
    if (this.list.length < this.max) this.list.push({ area, message });
  }
  get any(): boolean {
    return Object.keys(this.counts).length > 0;
  }
}

export async function verifyIndex(dataDir: string, options: VerifyIndexOptions = {}): Promise<IndexVerifyReport> {
  const indexPath = path.join(dataDir, "index.sqlite");
  const findings = new Findings(options.findingsMax ?? 20);
  const report: IndexVerifyReport = { ok: true, indexLsn: 0, records: 0, refs: 0, pages: 0, findings: [], counts: {} };
  if (!fs.existsSync(indexPath) || fs.statSync(indexPath).size === 0) {
    report.note = "no index: the server builds it from the log at start";
    return report;
  }
  const marker = readDamageMarker(indexPath);
  if (marker !== null) findings.add("file", `a damage marker: ${marker} (the next start rebuilds the index)`);
  const header = checkHeaderOf(indexPath);
  if (header !== null) findings.add("file", header);
  else await checkOpened(indexPath, path.join(dataDir, "log"), findings, report, options.scanAttempts ?? 3);
  report.findings = findings.list;
  report.counts = findings.counts;
  report.ok = !findings.any;
  return report;
}

function checkHeaderOf(indexPath: string): string | null {
  const fd = fs.openSync(indexPath, "r");
  let page1 = new Uint8Array(65536);
  try {
    page1 = page1.subarray(0, fs.readSync(fd, page1, 0, page1.length, 0));
  } finally {
    fs.closeSync(fd);
  }
  const verdict = checkHeader(page1);
  if (verdict.kind === "damaged") return verdict.found;
  if (verdict.kind === "unchecksummed") return "written without page checksums by an older build (the next start rebuilds it)";
  return null;
}

async function checkOpened(
  indexPath: string,
  logDir: string,
  findings: Findings,
  report: IndexVerifyReport,
  scanAttempts: number,
): Promise<void> {
  let db: Database;
  try {
    db = openChecksummed(indexPath, { readonly: true });
  } catch (err) {
    findings.add("sqlite", `open: ${(err as Error).message}`);
    return;
  }
  try {
    await checkPages(db, findings, report, scanAttempts);
    checkIntegrity(db, findings);
    db.exec("BEGIN");
    try {
      checkContents(db, logDir, findings, report);
    } finally {
      if (db.inTransaction) db.exec("COMMIT"); // SQLite ends it by itself on an I/O error
    }
  } catch (err) {
    findings.add("sqlite", `${(err as { code?: string }).code ?? "error"}: ${(err as Error).message}`);
  } finally {
    db.close();
  }
}

async function checkPages(db: Database, findings: Findings, report: IndexVerifyReport, attempts: number): Promise<void> {
  let scan = scanPages(db);
  for (let i = 1; i < attempts && scan.bad > 0; i++) {
    await new Promise((resolve) => setTimeout(resolve, 100));
    scan = scanPages(db);
  }
  report.pages = scan.pages;
  if (scan.bad > 0)
    findings.add("pages", `${scan.bad} of ${scan.pages} pages fail their checksum (the first is page ${scan.firstBad})`);
}

function checkIntegrity(db: Database, findings: Findings): void {
  try {
    const rows = db.query("PRAGMA integrity_check(100)").all() as Array<{ integrity_check: string }>;
    for (const r of rows) if (r.integrity_check !== "ok") findings.add("sqlite", `integrity_check: ${r.integrity_check}`);
  } catch (err) {
    findings.add("sqlite", `integrity_check: ${(err as { code?: string }).code ?? ""} ${(err as Error).message}`);
  }
}

/** The interned tables, by id. */
interface Interned {
  agents: Map<number, Uint8Array>;
  subjects: Map<number, string>;
  predicates: Map<number, string>;
  sources: Map<number, string>;
}

function loadInterned(db: Database, findings: Findings): Interned {
  const agents = new Map<number, Uint8Array>();
  for (const r of db.query("SELECT id, key FROM agents").all() as Array<{ id: number; key: Uint8Array }>) agents.set(r.id, r.key);
  const subjects = new Map<number, string>();
  const shardCount = (db.query("SELECT value FROM meta WHERE key = 'shard_count'").get() as { value: number } | null)?.value;
  const rows = db.query("SELECT id, path, rpath, shard FROM subjects").all() as Array<{
    id: number;
    path: string;
    rpath: string;
    shard: number;
  }>;
  for (const r of rows) {
    subjects.set(r.id, r.path);
    if (r.rpath !== reversePath(r.path)) findings.add("interned", `subject ${r.id} (${r.path}) has reversed path ${r.rpath}`);
    if (shardCount !== undefined && r.shard !== shardOf(r.path, shardCount))
      findings.add("interned", `subject ${r.id} (${r.path}) is filed under shard ${r.shard}, not ${shardOf(r.path, shardCount)}`);
  }
  const named = (table: string) =>
    new Map((db.query(`SELECT id, name FROM ${table}`).all() as Array<{ id: number; name: string }>).map((r) => [r.id, r.name]));
  return { agents, subjects, predicates: named("predicates"), sources: named("sources") };
}

function checkContents(db: Database, logDir: string, findings: Findings, report: IndexVerifyReport): void {
  const meta = (key: string) =>
    (db.query("SELECT value FROM meta WHERE key = ?").get(key) as { value: number } | null)?.value ?? undefined;
  const version = meta("format_version");
  if (version !== indexFormatVersion)
    findings.add("file", `format_version is ${version}, this build writes ${indexFormatVersion}`);
  const checkpoint = meta("checkpoint_lsn") ?? 0;
  report.indexLsn = checkpoint;
  const walk = new LogWalk(db, loadInterned(db, findings), checkpoint, findings);
  const log = verifyLog(logDir, { deep: (entry) => walk.visit(entry) });
  if (!log.ok)
    for (const p of log.problems) findings.add("log", `${p.file} offset ${p.offset}: ${p.message} (run \`stemedb verify\`)`);
  walk.finish(log.ok ? log.lastLsn : null);
  report.records = walk.rowsChecked;
  report.refs = walk.refsChecked;
}

/** Walks the log in LSN order beside the `records` and `refs` rows (both ordered by LSN). */
class LogWalk {
  private readonly rows: Iterator<RecordRow>;
  private readonly refs: Iterator<RefRow>;
  private row: RecordRow | undefined;
  private ref: RefRow | undefined;
  rowsChecked = 0;
  refsChecked = 0;

  constructor(
    db: Database,
    private readonly interned: Interned,
    private readonly checkpoint: number,
    private readonly findings: Findings,
  ) {
    this.rows = db
      .query(
        "SELECT lsn, id, kind, agent, ts, subject, predicate, source, segment, offset, recorded_at FROM records ORDER BY lsn",
      )
      .iterate() as Iterator<RecordRow>;
    // dst8 as text: a 64-bit integer does not fit a JavaScript number.
    this.refs = db
      .query("SELECT src, rel, CAST(dst8 AS TEXT) AS dst8, dst FROM refs ORDER BY src, rel, dst")
      .iterate() as Iterator<RefRow>;
    this.row = this.rows.next().value;
    this.ref = this.refs.next().value;
  }

  /** One log record (verifyLog's per-record callback; never fails the log walk itself). */
  visit(entry: LogEntry): null {
    if (entry.lsn > this.checkpoint) return null;
    while (this.row !== undefined && this.row.lsn < entry.lsn) this.strayRow(this.row);
    const row = this.row?.lsn === entry.lsn ? this.row : undefined;
    const id = recordId(entry.body);
    const record = decodeStoredBody(entry.body);
    if (row === undefined) this.findings.add("coverage", `LSN ${entry.lsn} (id ${toHex(id)}) is in the log but has no row`);
    else {
      this.checkRow(row, entry, id, record);
      this.rowsChecked++;
      this.row = this.rows.next().value;
    }
    this.checkRefs(entry.lsn, record);
    return null;
  }

  /** After the log: rows and refs past its end or past the checkpoint are stray. */
  finish(logLastLsn: number | null): void {
    if (logLastLsn !== null && logLastLsn < this.checkpoint)
      this.findings.add("coverage", `the checkpoint is LSN ${this.checkpoint}; the log ends at ${logLastLsn}`);
    while (this.row !== undefined) this.strayRow(this.row);
    for (; this.ref !== undefined; this.ref = this.refs.next().value)
      this.findings.add("refs", `a reference from LSN ${this.ref.src} (rel ${this.ref.rel}), which has no log record`);
  }

  private strayRow(row: RecordRow): void {
    this.findings.add("coverage", `a row for LSN ${row.lsn}, which is not a log record at or below the checkpoint`);
    this.row = this.rows.next().value;
  }

  private checkRow(row: RecordRow, entry: LogEntry, id: Uint8Array, record: StemeRecord): void {
    const bad: string[] = [];
    if (row.segment !== entry.segment || row.offset !== entry.offset)
      bad.push(`place segment ${row.segment} offset ${row.offset} (the log has it at ${entry.segment}/${entry.offset})`);
    if (!bytesEqual(row.id, id)) bad.push(`id ${toHex(row.id)} (the body hashes to ${toHex(id)})`);
    if (row.kind !== kindCodes[record.kind]) bad.push(`kind ${row.kind} (the record is a ${record.kind})`);
    const agent = this.interned.agents.get(row.agent);
    if (agent === undefined || !bytesEqual(agent, record.agent)) bad.push(`agent ${row.agent}`);
    if (row.ts !== record.ts) bad.push(`ts ${row.ts} (the record says ${record.ts})`);
    const subject = record.kind === "assertion" ? record.subject : undefined;
    const predicate = record.kind === "assertion" ? record.predicate : undefined;
    if (this.name(this.interned.subjects, row.subject) !== subject) bad.push(`subject ${row.subject}`);
    if (this.name(this.interned.predicates, row.predicate) !== predicate) bad.push(`predicate ${row.predicate}`);
    if (this.name(this.interned.sources, row.source) !== sourceOf(record)) bad.push(`source ${row.source}`);
    if (row.recorded_at !== entry.recordedAtMs) bad.push(`recorded_at ${row.recorded_at} (the log says ${entry.recordedAtMs})`);
    if (bad.length > 0) this.findings.add("records", `the row for LSN ${row.lsn} disagrees with the log: ${bad.join("; ")}`);
  }

  /** The interned string for a row's id: undefined for NULL, "(missing)" for an id the table lacks. */
  private name(table: Map<number, string>, id: number | null): string | undefined {
    if (id === null) return undefined;
    return table.get(id) ?? `(missing interned id ${id})`;
  }

  private checkRefs(lsn: number, record: StemeRecord): void {
    const expected = new Map<string, { rel: number; dst: Uint8Array }>();
    const want = (rel: number, dst: Uint8Array) => expected.set(`${rel}:${toHex(dst)}`, { rel, dst });
    if (record.kind === "assertion") {
      for (const dep of record.depends_on ?? []) want(relCodes.depends_on, dep);
      if (record.supersedes) want(relCodes.supersedes, record.supersedes);
    } else if (record.kind === "vote" || record.kind === "retraction" || record.kind === "review") {
      want(relCodes[record.kind], record.target);
    }
    while (this.ref !== undefined && this.ref.src < lsn) {
      this.findings.add("refs", `a reference from LSN ${this.ref.src} (rel ${this.ref.rel}), which has no log record`);
      this.ref = this.refs.next().value;
    }
    for (; this.ref !== undefined && this.ref.src === lsn; this.ref = this.refs.next().value) {
      const r = this.ref;
      this.refsChecked++;
      const key = `${r.rel}:${toHex(r.dst)}`;
      if (!expected.delete(key))
        this.findings.add("refs", `LSN ${lsn} has a reference (rel ${r.rel}) to ${toHex(r.dst)} it does not make`);
      if (r.dst.length < 8 || r.dst8 !== id8(r.dst).toString())
        this.findings.add("refs", `LSN ${lsn}: dst8 ${r.dst8} is not the first 8 bytes of ${toHex(r.dst)}`);
    }
    for (const { rel, dst } of expected.values())
      this.findings.add("refs", `LSN ${lsn} refers to ${toHex(dst)} (rel ${rel}) but has no reference row`);
  }
}
