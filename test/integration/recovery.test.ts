/**
 * Recovery through the server: (a) a torn last record, cut at every byte offset of its frame;
 * (b) damage in a sealed segment stops `serve` and is reported by `verify`, untouched.
 */
import { afterAll, describe, expect, test } from "bun:test";
import * as fs from "node:fs";
import { basename, join } from "node:path";
import { startServer } from "../../src/api/serve.ts";
import { generateKeyPair, type SignedRecord, signClaim, toHex, toJsonSubmission } from "../../src/client/index.ts";
import { loadConfig } from "../../src/config/config.ts";
import { createLogger } from "../../src/core/logger.ts";
import { recordId } from "../../src/crypto/hash.ts";
import {
  cleanupAll,
  framesOf,
  getJson,
  jsonLines,
  runCli,
  segmentFiles,
  sleep,
  spawnServer,
  spawnServerRaw,
  freePort,
  tempDir,
} from "./helpers.ts";

afterAll(async () => {
  await cleanupAll();
});

const key = generateKeyPair();
let n = 0;
function claim(): SignedRecord {
  n++;
  return signClaim(key, { kind: "assertion", subject: `rec/s${n}`, predicate: "p", object: n, confidence: 0.5 });
}

async function submitAll(url: string, records: SignedRecord[]): Promise<void> {
  for (const r of records) {
    const res = await getJson(`${url}/v1/assert`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(toJsonSubmission(r)),
    });
    expect(res.status).toBe(201);
  }
}

function sha(file: string): string {
  return toHex(recordId(new Uint8Array(fs.readFileSync(file))));
}

describe("recovery: torn last record", () => {
  test("truncating the last segment at every byte offset of the last frame: N-1 records, lsn N-1", async () => {
    const N = 6;
    const dir = tempDir("stemedb-torn-");
    const records = Array.from({ length: N }, claim);
    const server = await spawnServer(dir);
    try {
      await submitAll(server.url, records);
    } finally {
      expect(await server.stop()).toBe(0);
    }
    const segments = segmentFiles(dir);
    expect(segments.length).toBe(1);
    const segPath = segments[0] as string;
    const frames = framesOf(segPath);
    expect(frames.map((f) => f.lsn)).toEqual([1, 2, 3, 4, 5, 6]);
    const last = frames[N - 1] as { offset: number; bytes: number };
    expect(fs.statSync(segPath).size).toBe(last.offset + last.bytes);

    const work = tempDir("stemedb-torn-work-");
    let checked = 0;
    for (let cut = last.offset; cut < last.offset + last.bytes; cut++) {
      const copy = join(work, `at-${cut}`);
      fs.cpSync(dir, copy, { recursive: true });
      const copySeg = join(copy, "log", basename(segPath));
      fs.truncateSync(copySeg, cut);
      const lines: Array<Record<string, unknown>> = [];
      const logger = createLogger({ level: "warn", write: (l) => lines.push(JSON.parse(l) as Record<string, unknown>) });
      const s = await startServer(loadConfig({ "data-dir": copy, bind: "127.0.0.1:0" }, {}), { logger });
      try {
        const health = await getJson(`${s.url}/v1/health`);
        expect({ cut, lsn: health.body.lsn, index_lsn: health.body.index_lsn }).toEqual({ cut, lsn: N - 1, index_lsn: N - 1 });
        for (const r of records.slice(0, N - 1)) {
          const got = await getJson(`${s.url}/v1/assertions/${toHex(r.id)}`);
          expect(got.status).toBe(200);
          expect(got.body.body).toBe(toHex(r.body));
        }
        expect((await getJson(`${s.url}/v1/assertions/${toHex((records[N - 1] as SignedRecord).id)}`)).status).toBe(404);
        const cutLines = lines.filter((l) => l.msg === "log: cut torn tail");
        if (cut === last.offset) expect(cutLines).toEqual([]);
        else
          expect(cutLines.map((l) => ({ segment: l.segment, offset: l.offset, bytes_dropped: l.bytes_dropped }))).toEqual([
            { segment: basename(segPath), offset: last.offset, bytes_dropped: cut - last.offset },
          ]);
      } finally {
        await s.stop();
      }
      expect(fs.statSync(copySeg).size).toBe(last.offset);
      fs.rmSync(copy, { recursive: true, force: true });
      checked++;
    }
    expect(checked).toBe(last.bytes);

    // One offset with a real process: the structured warn line on stderr, and the record can be written again.
    const cut = last.offset + Math.floor(last.bytes / 2);
    fs.truncateSync(segPath, cut);
    const real = await spawnServer(dir);
    try {
      const warn = real.logs().filter((l) => l.msg === "log: cut torn tail");
      expect(warn.length).toBe(1);
      expect(warn[0]).toMatchObject({
        level: "warn",
        segment: basename(segPath),
        offset: last.offset,
        bytes_dropped: cut - last.offset,
      });
      expect((await getJson(`${real.url}/v1/health`)).body.lsn).toBe(N - 1);
      const again = await getJson(`${real.url}/v1/assert`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify(toJsonSubmission(records[N - 1] as SignedRecord)),
      });
      expect(again.status).toBe(201);
      expect(again.body.lsn).toBe(N);
    } finally {
      expect(await real.stop()).toBe(0);
    }
    expect((await runCli(["verify", "--data-dir", dir, "--deep"])).code).toBe(0);
  }, 90_000);
});

describe("recovery: damage in a sealed segment", () => {
  test("a flipped byte in the first segment: serve exits non-zero naming file and offset; verify exits 1; file unchanged", async () => {
    const dir = tempDir("stemedb-sealed-");
    const server = await spawnServer(dir, { args: ["--segment-bytes", "1024"] });
    try {
      await submitAll(server.url, Array.from({ length: 14 }, claim));
    } finally {
      expect(await server.stop()).toBe(0);
    }
    const segments = segmentFiles(dir);
    expect(segments.length).toBeGreaterThanOrEqual(2);
    const first = segments[0] as string;
    const frames = framesOf(first);
    expect(frames.length).toBeGreaterThanOrEqual(2);
    const bytes = new Uint8Array(fs.readFileSync(first));
    const mid = Math.floor(bytes.length / 2);
    const hit = frames.find((f) => f.offset <= mid && mid < f.offset + f.bytes);
    if (!hit) throw new Error("no frame at the middle");
    bytes[mid] = (bytes[mid] as number) ^ 0x5a;
    fs.writeFileSync(first, bytes);
    const before = segments.map(sha);

    const proc = spawnServerRaw(dir, freePort());
    const exit = await Promise.race([proc.proc.exited, sleep(15_000).then(() => "timeout" as const)]);
    if (exit === "timeout") await proc.kill();
    expect(exit).not.toBe("timeout");
    expect(exit).not.toBe(0);
    await proc.drained;
    const stderr = proc.stderr.join("\n");
    expect(stderr).toContain(first);
    expect(stderr).toContain(`at byte ${hit.offset}`);
    expect(stderr).toContain("stemedb verify");
    expect(jsonLines(proc.stderr).filter((l) => l.msg === "log: cut torn tail")).toEqual([]);
    // It never listened.
    expect(
      await fetch(`${proc.url}/v1/health`).then(
        () => "listening",
        () => "refused",
      ),
    ).toBe("refused");

    const verify = await runCli(["verify", "--data-dir", dir]);
    expect(verify.code).toBe(1);
    expect(verify.stdout).toContain("DAMAGED");
    expect(verify.stdout).toContain(`problem: ${first} offset ${hit.offset}:`);
    const json = await runCli(["verify", "--data-dir", dir, "--json"]);
    expect(json.code).toBe(1);
    const report = JSON.parse(json.stdout) as { ok: boolean; problems: Array<{ file: string; offset: number }> };
    expect(report.ok).toBe(false);
    expect(report.problems[0]).toMatchObject({ file: first, offset: hit.offset });

    expect(segments.map(sha)).toEqual(before);
    expect(segmentFiles(dir)).toEqual(segments);

    // repair without --yes only says what it would do.
    const dry = await runCli(["repair", "--data-dir", dir]);
    expect(dry.code).toBe(1);
    expect(dry.stdout).toContain(`damage: ${first} at byte ${hit.offset}`);
    expect(dry.stdout).toContain("nothing changed");
    expect(segments.map(sha)).toEqual(before);

    // With --yes it cuts there; the node starts again and serves every record before the damage.
    const fix = await runCli(["repair", "--data-dir", dir, "--yes"]);
    expect(fix.code).toBe(0);
    const keptLsn = hit.lsn - 1;
    expect(fix.stdout).toContain(`the log now ends at LSN ${keptLsn}`);
    expect((await runCli(["verify", "--data-dir", dir, "--deep"])).code).toBe(0);
    const again = await spawnServer(dir);
    try {
      const health = (await (await fetch(`${again.url}/v1/health`)).json()) as { lsn: number; index_lsn: number };
      expect(health.lsn).toBe(keptLsn);
      expect(health.index_lsn).toBe(keptLsn);
      const listed = (await (await fetch(`${again.url}/v1/assertions?limit=1000`)).json()) as { items: Array<{ lsn: number }> };
      expect(listed.items.map((r) => r.lsn)).toEqual(Array.from({ length: keptLsn }, (_, i) => i + 1));
    } finally {
      expect(await again.stop()).toBe(0);
    }
  }, 60_000);
});

describe("a clean stop", () => {
  test("closes every index connection, the root worker's too: no WAL or shared-memory file is left", async () => {
    const dir = tempDir();
    const first = await spawnServer(dir);
    await submitAll(first.url, Array.from({ length: 20 }, claim));
    expect(await first.stop()).toBe(0);
    // Stopped again right after it is ready: the root refresh that starts with the server is in flight.
    for (let round = 0; round < 3; round++) {
      const server = await spawnServer(dir);
      expect(await server.stop()).toBe(0);
      expect(fs.readdirSync(dir).filter((f) => f.startsWith("index.sqlite-"))).toEqual([]);
    }
  });
});
