/**
 * The page-checksum VFS shim (native/stemedb_cksm.c) on real files: what it writes is what
 * the TypeScript CRC-64 says; a flipped byte anywhere in a page is refused with
 * SQLITE_IOERR_DATA (page 1 and its reserved-bytes field included); a clean file reads; a file
 * laid out without room for checksums is never written into; the CLMUL and the portable CRC
 * write checksums each other verifies.
 */
import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { Database } from "bun:sqlite";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { checksumImplementation, checksummedUri, openChecksummed, scanPages } from "../../src/index/checksum-vfs.ts";
import { checkHeader, crc64, pageVerifies, sealPage } from "../../src/index/page-checksum.ts";

let dir: string;
let file: string;

beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "stemedb-cksm-"));
  file = path.join(dir, "index.sqlite");
});
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

/** A checksummed file with a table and an index over a few pages, closed (WAL checkpointed away). */
function makeFile(rows = 2000): void {
  const db = openChecksummed(file);
  db.exec(
    "PRAGMA journal_mode = WAL; CREATE TABLE t (k INTEGER PRIMARY KEY, v TEXT); CREATE INDEX t_v ON t (v); CREATE TABLE u (w TEXT);",
  );
  const insert = db.prepare("INSERT INTO t (v) VALUES (?)");
  const insertU = db.prepare("INSERT INTO u (w) VALUES (?)");
  db.transaction(() => {
    for (let i = 0; i < rows; i++) insert.run(`value ${i} ${"x".repeat(i % 50)}`);
    for (let i = 0; i < 100; i++) insertU.run("y".repeat(100));
  })();
  insert.finalize();
  insertU.finalize();
  db.close();
  expect(fs.existsSync(`${file}-wal`)).toBe(false);
}

function flip(at: number, mask = 0x01): void {
  const fd = fs.openSync(file, "r+");
  const b = new Uint8Array(1);
  fs.readSync(fd, b, 0, 1, at);
  b[0] = (b[0] as number) ^ mask;
  fs.writeSync(fd, b, 0, 1, at);
  fs.closeSync(fd);
}

function pagesOf(): Uint8Array[] {
  const bytes = new Uint8Array(fs.readFileSync(file));
  const size = ((bytes[16] as number) << 8) | (bytes[17] as number);
  const pages: Uint8Array[] = [];
  for (let at = 0; at < bytes.length; at += size) pages.push(bytes.subarray(at, at + size));
  return pages;
}

/** Which b-tree a page belongs to, from SQLite's dbstat (a plain read-only open: no checks). */
function pageOwners(): Map<number, string> {
  const db = new Database(file, { readonly: true });
  try {
    const rows = db.query("SELECT name, pageno, pagetype FROM dbstat").all() as Array<{
      name: string;
      pageno: number;
      pagetype: string;
    }>;
    return new Map(rows.map((r) => [r.pageno, r.pagetype === "leaf" ? r.name : `${r.name} (${r.pagetype})`]));
  } finally {
    db.close();
  }
}

function readAll(): number {
  const db = openChecksummed(file);
  try {
    return (
      (db.query("SELECT count(*) AS n FROM t INDEXED BY t_v WHERE v >= ''").get() as { n: number }).n +
      (db.query("SELECT count(*) AS n FROM t NOT INDEXED WHERE v >= ''").get() as { n: number }).n
    );
  } finally {
    db.close();
  }
}

describe("CRC-64 (TypeScript)", () => {
  test("the CRC-64/XZ check value", () => {
    expect(crc64(new TextEncoder().encode("123456789"))).toBe(0x995dc9bbdf1939fan);
    expect(crc64(new Uint8Array(0))).toBe(0n);
  });

  test("sealPage and pageVerifies agree; any single-byte change is caught", () => {
    const page = new Uint8Array(4096).map((_, i) => (i * 7) & 0xff);
    sealPage(page);
    expect(pageVerifies(page)).toBe(true);
    for (const at of [0, 1, 20, 2047, 4087, 4088, 4095]) {
      const copy = page.slice();
      copy[at] = (copy[at] as number) ^ 0x80;
      expect(pageVerifies(copy), `byte ${at}`).toBe(false);
    }
  });
});

describe("the shim on a real file", () => {
  test("a new file has 8 reserved bytes, and every page holds the CRC-64 the TypeScript code computes", () => {
    makeFile();
    const pages = pagesOf();
    expect(pages.length).toBeGreaterThan(10);
    expect(pages[0]?.[20]).toBe(8);
    for (const [i, page] of pages.entries()) expect(pageVerifies(page), `page ${i + 1}`).toBe(true);
    expect(checkHeader(pages[0] as Uint8Array)).toEqual({ kind: "ok", pageBytes: 4096 });
    expect(readAll()).toBe(4000);
  });

  test("a clean file scans clean; a flipped byte in a table page or an index page is refused with SQLITE_IOERR_DATA", () => {
    makeFile();
    const owners = pageOwners();
    const tablePage = [...owners].find(([p, n]) => n === "t" && p > 2)?.[0] as number;
    const indexPage = [...owners].find(([p, n]) => n === "t_v" && p > 2)?.[0] as number;
    let db = openChecksummed(file);
    expect(scanPages(db)).toEqual({ pages: pagesOf().length, bad: 0, firstBad: 0 });
    db.close();

    flip((indexPage - 1) * 4096 + 1500);
    db = openChecksummed(file);
    expect(scanPages(db)).toEqual({ pages: pagesOf().length, bad: 1, firstBad: indexPage });
    // The table itself still reads; the damaged index b-tree does not.
    expect((db.query("SELECT count(*) AS n FROM t NOT INDEXED").get() as { n: number }).n).toBe(2000);
    expect(() => db.query("SELECT count(*) FROM t INDEXED BY t_v WHERE v >= ''").get()).toThrow(
      expect.objectContaining({ code: "SQLITE_IOERR_DATA" }),
    );
    db.close();

    flip((indexPage - 1) * 4096 + 1500); // back: reads again
    flip((tablePage - 1) * 4096 + 4090); // inside the stored checksum itself
    expect(() => readAll()).toThrow(expect.objectContaining({ code: "SQLITE_IOERR_DATA" }));
  });

  test("the same file without the shim passes SQLite's integrity check and reads the flipped byte (what the shim is for)", () => {
    makeFile();
    const owners = pageOwners();
    const page = [...owners].find(([, n]) => n === "u")?.[0] as number;
    // Cells fill a leaf from its end, so the last run of "y" is live content, not stale bytes.
    const inRun = Buffer.from(pagesOf()[page - 1] as Uint8Array).lastIndexOf("yyyy");
    expect(inRun).toBeGreaterThan(0);
    flip((page - 1) * 4096 + inRun + 1, 0x01); // a "y" becomes an "x"
    const plain = new Database(file, { readonly: true });
    expect((plain.query("PRAGMA integrity_check").get() as { integrity_check: string }).integrity_check).toBe("ok");
    expect((plain.query("SELECT count(*) AS n FROM u WHERE w LIKE '%x%'").get() as { n: number }).n).toBe(1);
    plain.close();
    const db = openChecksummed(file);
    expect(() => db.query("SELECT count(*) AS n FROM u WHERE w LIKE '%x%'").get()).toThrow(
      expect.objectContaining({ code: "SQLITE_IOERR_DATA" }),
    );
    db.close();
  });

  test("page 1 is checked too: a flipped reserved-bytes field (byte 20) or page size is refused", () => {
    makeFile();
    flip(20, 0x08); // 8 → 0: "no reserved bytes", which would turn checking off if it were trusted
    expect(checkHeader(pagesOf()[0] as Uint8Array)).toEqual({
      kind: "damaged",
      found: "page 1 states 0 reserved bytes per page, not 8",
    });
    expect(() => readAll()).toThrow(expect.objectContaining({ code: "SQLITE_IOERR_DATA" }));
    flip(20, 0x08);
    expect(readAll()).toBe(4000);
    flip(16, 0x20); // page size 4096 → 12288: not a power of two
    expect(checkHeader(pagesOf()[0] as Uint8Array).kind).toBe("damaged");
    expect(() => readAll()).toThrow();
  });

  test("a file without room for checksums: never written into, and its pages do not verify", () => {
    const plain = new Database(file, { create: true, readwrite: true });
    plain.exec("CREATE TABLE t (k INTEGER PRIMARY KEY, v TEXT); INSERT INTO t (v) VALUES ('a');");
    plain.close();
    const before = fs.readFileSync(file);
    expect(checkHeader(new Uint8Array(before))).toEqual({ kind: "unchecksummed" });
    // Its page 1 does not verify, so SQLite never gets as far as writing.
    expect(() => new Database(checksummedUri(file), 0x2 | 0x40).exec("INSERT INTO t (v) VALUES ('b')")).toThrow(
      expect.objectContaining({ code: "SQLITE_IOERR_DATA" }),
    );
    expect(fs.readFileSync(file).equals(before)).toBe(true);
    // A new file opened through the shim without reserving the bytes first: the first page
    // write is refused rather than a checksum written over content.
    const fresh = path.join(dir, "fresh.sqlite");
    const db = new Database(checksummedUri(fresh), 0x2 | 0x4 | 0x40);
    expect(() => db.exec("CREATE TABLE t (x)")).toThrow(expect.objectContaining({ code: "SQLITE_IOERR_WRITE" }));
    db.close();
    expect(fs.statSync(fresh).size).toBe(0);
  });

  test("a checkpoint by a second connection, which reads page 1 from the WAL, still seals every page", () => {
    makeFile();
    const writer = openChecksummed(file);
    writer.exec("PRAGMA journal_mode = WAL; PRAGMA wal_autocheckpoint = 0;");
    writer.exec("INSERT INTO u (w) SELECT w FROM u"); // grows the file: page 1 (the size) is in the WAL
    const other = openChecksummed(file);
    other.exec("PRAGMA wal_checkpoint(TRUNCATE)");
    other.close();
    writer.close();
    for (const [i, page] of pagesOf().entries()) expect(pageVerifies(page), `page ${i + 1}`).toBe(true);
    const db = openChecksummed(file);
    expect((db.query("SELECT count(*) AS n FROM u").get() as { n: number }).n).toBe(200);
    expect(scanPages(db).bad).toBe(0);
    db.close();
  });

  test("the URI names the shim and escapes what SQLite's URI syntax would read", () => {
    expect(checksummedUri("/a b/c?d#e%f.sqlite")).toBe("file:/a b/c%3Fd%23e%25f.sqlite?vfs=stemedb_cksm&stemedb_cksm=1");
    const odd = path.join(dir, "odd ?#% name.sqlite");
    const db = openChecksummed(odd);
    db.exec("CREATE TABLE t (x)");
    db.close();
    expect(fs.existsSync(odd)).toBe(true);
    expect(new Uint8Array(fs.readFileSync(odd))[20]).toBe(8);
  });
});

/** Whether this CPU has what the shim's CLMUL path needs (x86-64 Linux: pclmulqdq, ssse3, sse4_1). */
function cpuHasClmul(): boolean {
  if (process.arch !== "x64" || !fs.existsSync("/proc/cpuinfo")) return false;
  const flags =
    fs
      .readFileSync("/proc/cpuinfo", "utf8")
      .match(/^flags\s*:(.*)$/m)?.[1]
      ?.split(/\s+/) ?? [];
  return ["pclmulqdq", "ssse3", "sse4_1"].every((f) => flags.includes(f));
}

/** Whether STEMEDB_CKSM_PORTABLE forces the portable CRC in this process (as the shim reads it). */
const forcedPortable = !["", "0", undefined].includes(process.env.STEMEDB_CKSM_PORTABLE);

/** Runs `script` (TypeScript, the repository's modules importable) in a fresh process: `env` on top of ours, without our STEMEDB_CKSM_PORTABLE. */
function inProcess(script: string, env: Record<string, string> = {}): string {
  const { STEMEDB_CKSM_PORTABLE: _ours, ...inherited } = process.env;
  const out = Bun.spawnSync([process.execPath, "-e", script], {
    cwd: path.resolve(import.meta.dir, "../.."),
    env: { ...inherited, ...env },
  });
  if (out.exitCode !== 0) throw new Error(`child failed: ${out.stderr.toString()}`);
  return out.stdout.toString().trim();
}

describe("the two implementations of the CRC", () => {
  const writeScript = (target: string, pageBytes: number) => `
    import { checksumImplementation, openChecksummed } from "./src/index/checksum-vfs.ts";
    const db = openChecksummed(${JSON.stringify(target)});
    db.exec("PRAGMA page_size = ${pageBytes}; PRAGMA journal_mode = WAL; CREATE TABLE t (k INTEGER PRIMARY KEY, v TEXT); CREATE INDEX t_v ON t (v);");
    const insert = db.prepare("INSERT INTO t (v) VALUES (?)");
    db.transaction(() => { for (let i = 0; i < 3000; i++) insert.run("v" + i + "x".repeat(i % 97)); })();
    insert.finalize();
    console.log(checksumImplementation(db));
    db.close();`;
  const scanScript = (target: string) => `
    import { checksumImplementation, openChecksummed, scanPages } from "./src/index/checksum-vfs.ts";
    const db = openChecksummed(${JSON.stringify(target)}, { readonly: true });
    console.log(JSON.stringify({ impl: checksumImplementation(db), ...scanPages(db) }));
    db.close();`;

  test("this process uses CLMUL where the CPU has it, and STEMEDB_CKSM_PORTABLE turns it off", () => {
    const db = openChecksummed(file);
    try {
      expect(checksumImplementation(db)).toBe(cpuHasClmul() && !forcedPortable ? "clmul" : "portable");
    } finally {
      db.close();
    }
    expect(inProcess(scanScript(file))).toContain(`"impl":"${cpuHasClmul() ? "clmul" : "portable"}"`);
    expect(inProcess(scanScript(file), { STEMEDB_CKSM_PORTABLE: "1" })).toContain('"impl":"portable"');
    expect(inProcess(scanScript(file), { STEMEDB_CKSM_PORTABLE: "0" })).toContain(
      `"impl":"${cpuHasClmul() ? "clmul" : "portable"}"`,
    );
  });

  for (const pageBytes of [512, 4096, 65536]) {
    test(`pages of ${pageBytes} bytes written by either verify under the other, and damage is still caught`, () => {
      const portableFile = path.join(dir, `portable-${pageBytes}.sqlite`);
      const defaultFile = path.join(dir, `default-${pageBytes}.sqlite`);
      expect(inProcess(writeScript(portableFile, pageBytes), { STEMEDB_CKSM_PORTABLE: "1" })).toBe("portable");
      expect(inProcess(writeScript(defaultFile, pageBytes))).toBe(cpuHasClmul() ? "clmul" : "portable");
      const crossed: Array<[string, Record<string, string>]> = [
        [portableFile, {}],
        [defaultFile, { STEMEDB_CKSM_PORTABLE: "1" }],
      ];
      for (const [target, env] of crossed) {
        const scan = JSON.parse(inProcess(scanScript(target), env)) as { pages: number; bad: number };
        expect(scan.pages).toBeGreaterThan(pageBytes === 65536 ? 2 : 20);
        expect(scan.bad).toBe(0);
      }
      // The TypeScript CRC agrees with every page either wrote.
      for (const target of [portableFile, defaultFile]) {
        const bytes = new Uint8Array(fs.readFileSync(target));
        for (let at = 0; at < bytes.length; at += pageBytes)
          expect(pageVerifies(bytes.subarray(at, at + pageBytes)), `${target} page ${at / pageBytes + 1}`).toBe(true);
      }
      // One flipped bit in the middle of a page: both refuse it.
      const fd = fs.openSync(defaultFile, "r+");
      const b = new Uint8Array(1);
      const at = pageBytes * 2 + Math.floor(pageBytes / 3);
      fs.readSync(fd, b, 0, 1, at);
      b[0] = (b[0] as number) ^ 0x10;
      fs.writeSync(fd, b, 0, 1, at);
      fs.closeSync(fd);
      for (const env of [{}, { STEMEDB_CKSM_PORTABLE: "1" }] as Array<Record<string, string>>) {
        const scan = JSON.parse(inProcess(scanScript(defaultFile), env)) as { bad: number; firstBad: number };
        expect(scan).toMatchObject({ bad: 1, firstBad: 3 });
      }
    });
  }
});
