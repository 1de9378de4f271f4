/**
 * Fault injection into the index (docs/STORAGE.md: the index is never answered from when damaged).
 *
 * A real server holds a realistic store: the demo's pharma review (assertions across subjects
 * and predicates that disagree, sources, depends_on chains, supersedes, votes) plus
 * retractions, reviews, an epoch and a source retraction. The right answers to a probe set are
 * recorded — every record by id, lists by subject (exact, prefix, tail), predicate, agent and
 * source, concepts, subject views, every (subject, predicate) under three lenses, provenance,
 * sources and their impact, agents, epochs — and the server is stopped.
 *
 * Then, one seeded byte flip at a time, in a fresh copy of the data directory:
 * - flips on a stopped server (bytes inside `records.id` values, inside subject text, in page
 *   1's header, in b-tree interior pages, anywhere at all) are followed by a start and the
 *   probe set;
 * - flips under a running server (in pages it has not read yet, or has) are followed by the
 *   probe set, and, when the damage was met, a restart and the probe set again.
 * Every answer must be the right answer or a clear refusal (503 `index_damaged`): zero wrong
 * answers, zero 500s. The summary says what happened, by area.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { Database } from "bun:sqlite";
import fs from "node:fs";
import path from "node:path";
import { type SignedRecord, signClaim, StemeClient, toHex } from "../../src/client/index.ts";
import { type DemoDataset, generateDataset } from "../../src/demo/dataset.ts";
import { lensNames } from "../../src/lens/index.ts";
import { prng } from "../support/prng.ts";
import { cleanupAll, mainTs, bunPath, mapLimit, repoRoot, runCli, type ServerProcess, spawnServer, tempDir } from "./helpers.ts";

/** Another seed explores other flips: STEMEDB_FAULT_SEED=N bun test test/integration/index-faults.test.ts */
const seed = Number(process.env.STEMEDB_FAULT_SEED ?? 0x1dec5);
const pageBytes = 4096;
const probeConcurrency = 12;
/** Flips tried at once, each on its own copy and server (the machine has two cores). */
const flipConcurrency = 2;
/** Fields that differ between two correct answers (time spent, where a request was counted). */
const volatileFields = new Set(["request_id", "took_ms", "elapsed_ms", "computed_at", "from_view", "views"]);

type Outcome = "detected at start, rebuilt" | "refused at read (503 index_damaged)" | "no effect" | "WRONG" | "500";

interface Answer {
  status: number;
  body: string;
  code?: string;
}

let pristine: string;
let data: DemoDataset;
let probes: string[];
let truth: Map<string, Answer>;
let indexBytes: Uint8Array;
let pages: Array<{ name: string; pageno: number; pagetype: string }>;

afterAll(cleanupAll);

/** The dataset, then the kinds it lacks: retractions, reviews, an epoch, a source retraction. */
async function load(url: string): Promise<SignedRecord[]> {
  const client = new StemeClient({ url });
  for (let i = 0; i < data.records.length; i += 200) {
    const reply = await client.submitBatch(data.records.slice(i, i + 200), { format: "cbor" });
    expect(reply.rejected).toBe(0);
  }
  const keyOf = (agentHex: string) => data.agents.find((a) => a.agent === agentHex)?.key;
  const assertions = data.records.filter((r) => r.record.kind === "assertion");
  const extras: SignedRecord[] = [];
  for (const target of [assertions[7], assertions[101], assertions[250]]) {
    const t = target as SignedRecord;
    const key = keyOf(toHex(t.record.agent)) as NonNullable<ReturnType<typeof keyOf>>;
    extras.push(signClaim(key, { kind: "retraction", target: toHex(t.id), reason: "withdrawn" }));
  }
  const reviewer = data.agents[0] as DemoDataset["agents"][number];
  for (const target of [assertions[3], assertions[42]])
    extras.push(signClaim(reviewer.key, { kind: "review", action: "approve", target: toHex((target as SignedRecord).id) }));
  extras.push(signClaim(reviewer.key, { kind: "epoch", name: "faults-2025", starts_at: Date.UTC(2025, 0, 1) }));
  const mega = data.scenario.mega;
  const registrar = data.agents.find((a) => a.name === mega.registrar) as DemoDataset["agents"][number];
  extras.push(signClaim(registrar.key, { kind: "source_retraction", source_id: mega.sourceId, reason: "fraud" }));
  const reply = await client.submitBatch(extras, { format: "cbor" });
  expect(reply.rejected).toBe(0);
  return extras;
}

/** The probe set: GET paths whose answers come from the index. */
function probeSet(all: SignedRecord[]): string[] {
  const e = encodeURIComponent;
  const out: string[] = all.map((r) => `/v1/assertions/${toHex(r.id)}`);
  const assertions = all
    .filter((r) => r.record.kind === "assertion")
    .map((r) => r.record as { subject: string; predicate: string });
  const subjects = [...new Set(assertions.map((a) => a.subject))].sort();
  const pairs = [...new Set(assertions.map((a) => `${a.subject}\u0000${a.predicate}`))].sort();
  for (const s of subjects) out.push(`/v1/assertions?subject=${e(s)}&limit=500`, `/v1/subjects/${s}`);
  out.push(
    `/v1/assertions?subject=${e(`${data.prefix}/drug/*`)}&limit=200`,
    `/v1/assertions?subject=${e("*/aspirin")}&limit=200`,
  );
  for (const p of [...new Set(assertions.map((a) => a.predicate))].slice(0, 6))
    out.push(`/v1/assertions?predicate=${e(p)}&limit=200`);
  for (const a of data.agents.slice(0, 6)) out.push(`/v1/assertions?agent=${a.agent}&limit=200`, `/v1/agents/${a.agent}`);
  for (const s of data.sources.slice(0, 6))
    out.push(
      `/v1/assertions?source=${e(s.sourceId)}&limit=200`,
      `/v1/sources/${e(s.sourceId)}`,
      `/v1/sources/${e(s.sourceId)}/impact`,
    );
  out.push(`/v1/sources/${e(data.scenario.mega.sourceId)}/impact?limit=500`, "/v1/sources?limit=500", "/v1/epochs", "/v1/agents");
  out.push("/v1/concepts", `/v1/concepts?prefix=${e(data.prefix)}`, `/v1/concepts?prefix=${e(`${data.prefix}/drug`)}`);
  out.push("/v1/assertions?kind=vote&limit=500", "/v1/assertions?since=1672531200000&until=1704067200000&limit=500");
  for (const pair of pairs) {
    const [s, p] = pair.split("\u0000") as [string, string];
    for (const lens of ["authority", "consensus", "recency"])
      out.push(`/v1/query?subject=${e(s)}&predicate=${e(p)}&lens=${lens}`);
  }
  out.push(`/v1/provenance/${data.scenario.mega.leaflet}`, `/v1/provenance/${data.scenario.timeTravel.label2025}`);
  return out;
}

function normalize(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(normalize);
  if (value === null || typeof value !== "object") return value;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value as Record<string, unknown>)) if (!volatileFields.has(k)) out[k] = normalize(v);
  return out;
}

async function answer(url: string, p: string): Promise<Answer> {
  const res = await fetch(url + p);
  const text = await res.text();
  let parsed: unknown = text;
  try {
    parsed = JSON.parse(text);
  } catch {
    // not JSON: compared as text
  }
  const code = (parsed as { code?: unknown } | null)?.code;
  return { status: res.status, body: JSON.stringify(normalize(parsed)), ...(typeof code === "string" ? { code } : {}) };
}

async function answers(url: string): Promise<Map<string, Answer>> {
  const got = await mapLimit(probes, probeConcurrency, (p) => answer(url, p));
  return new Map(probes.map((p, i) => [p, got[i] as Answer]));
}

/** Compares answers with the truth: how many were right, refused, wrong, 500; the first wrong ones. */
function judge(got: Map<string, Answer>) {
  const tally = { right: 0, refused: 0, wrong: 0, errors: 0, examples: [] as string[] };
  for (const [p, a] of got) {
    const want = truth.get(p) as Answer;
    if (a.status === want.status && a.body === want.body) tally.right++;
    else if (a.status === 503 && a.code === "index_damaged") tally.refused++;
    else {
      if (a.status >= 500) tally.errors++;
      else tally.wrong++;
      if (tally.examples.length < 3) tally.examples.push(`${p}: ${a.status} ${difference(a.body, want.body)}`);
    }
  }
  return tally;
}

/** Where two answers part: a little of each from the first differing character. */
function difference(got: string, want: string): string {
  let i = 0;
  while (i < got.length && got[i] === want[i]) i++;
  const from = Math.max(0, i - 60);
  return `…${got.slice(from, i + 80)}… (the right answer: …${want.slice(from, i + 80)}…)`;
}

function copyPristine(): string {
  const dir = tempDir("stemedb-faults-run-");
  fs.cpSync(pristine, dir, { recursive: true });
  fs.rmSync(path.join(dir, "LOCK"), { force: true });
  return dir;
}

function flip(file: string, at: number, mask: number): void {
  const fd = fs.openSync(file, "r+");
  const b = new Uint8Array(1);
  fs.readSync(fd, b, 0, 1, at);
  b[0] = (b[0] as number) ^ mask;
  fs.writeSync(fd, b, 0, 1, at);
  fs.closeSync(fd);
}

interface Flip {
  area: string;
  at: number;
  mask: number;
  /** Flipped under a running server rather than before its start. */
  running?: boolean;
}

/** Offsets of every occurrence of `needle` in the index file. */
function occurrences(needle: Uint8Array): number[] {
  const hay = Buffer.from(indexBytes);
  const out: number[] = [];
  for (let at = hay.indexOf(needle); at >= 0; at = hay.indexOf(needle, at + 1)) out.push(at);
  return out;
}

/** The seeded flips: where, by area. */
function planFlips(all: SignedRecord[]): Flip[] {
  const rand = prng(seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)] as T;
  const mask = () => 1 << Math.floor(rand() * 8);
  const flips: Flip[] = [];
  // records.id: ids stored once only (a referenced id is in `refs` too) are the records row's.
  const rowIds = all.map((r) => occurrences(r.id)).filter((o) => o.length === 1);
  for (let i = 0; i < 8; i++)
    flips.push({ area: "records.id value", at: (pick(rowIds)[0] as number) + Math.floor(rand() * 32), mask: mask() });
  const subjects = [
    ...new Set(all.filter((r) => r.record.kind === "assertion").map((r) => (r.record as { subject: string }).subject)),
  ];
  const subjectAt = subjects.flatMap((s) => occurrences(new TextEncoder().encode(s)).map((at) => [at, s.length] as const));
  for (let i = 0; i < 8; i++) {
    const [at, length] = pick(subjectAt);
    flips.push({ area: "subject text", at: at + Math.floor(rand() * length), mask: mask() });
  }
  for (const at of [16, 17, 18, 20, 21, 28, 44, 56]) flips.push({ area: "page 1 header", at, mask: mask() });
  const interior = pages.filter((p) => p.pagetype === "internal");
  for (let i = 0; i < 6; i++)
    flips.push({
      area: "interior page",
      at: (pick(interior).pageno - 1) * pageBytes + Math.floor(rand() * pageBytes),
      mask: mask(),
    });
  for (let i = 0; i < 10; i++) flips.push({ area: "any byte", at: Math.floor(rand() * indexBytes.length), mask: mask() });
  // Under a running server: pages of the tables and indexes a start does not read (it reads
  // the records table for the id table), and a few it does (then cached: no effect).
  const lazy = pages.filter((p) => p.name !== "records" && p.pageno > 1);
  for (let i = 0; i < 8; i++)
    flips.push({
      area: "running: unread page",
      at: (pick(lazy).pageno - 1) * pageBytes + 8 + Math.floor(rand() * (pageBytes - 16)),
      mask: mask(),
      running: true,
    });
  const cached = pages.filter((p) => p.name === "records");
  for (let i = 0; i < 2; i++)
    flips.push({
      area: "running: records page",
      at: (pick(cached).pageno - 1) * pageBytes + Math.floor(rand() * pageBytes),
      mask: mask(),
      running: true,
    });
  return flips;
}

const startRebuildMsg = "index: damaged; rebuilding it from the log (the log is intact and is the truth)";

/** A flip on a stopped server, then a start and the probe set. */
async function flipStopped(f: Flip): Promise<{ outcome: Outcome; detail: string }> {
  const dir = copyPristine();
  flip(path.join(dir, "index.sqlite"), f.at, f.mask);
  const server = await spawnServer(dir);
  try {
    const tally = judge(await answers(server.url));
    const rebuilt = server.logs().some((l) => l.msg === startRebuildMsg);
    return { outcome: classify(tally, rebuilt), detail: tally.examples.join("\n") };
  } finally {
    await server.kill();
  }
}

/** A flip under a running server, the probe set, and (when it met the damage) a restart and the probe set again. */
async function flipRunning(f: Flip): Promise<{ outcome: Outcome; detail: string }> {
  const dir = copyPristine();
  let server: ServerProcess = await spawnServer(dir);
  try {
    flip(path.join(dir, "index.sqlite"), f.at, f.mask);
    const tally = judge(await answers(server.url));
    const outcome = classify(tally, false);
    if (outcome !== "refused at read (503 index_damaged)") return { outcome, detail: tally.examples.join("\n") };
    const ready = await fetch(`${server.url}/v1/ready`);
    expect(ready.status).toBe(503);
    expect(((await ready.json()) as { reason: string }).reason).toContain("the index is damaged");
    const metrics = await (await fetch(`${server.url}/metrics`)).text();
    expect(metrics).toMatch(/^stemedb_index_damaged 1$/m);
    expect(await server.stop()).toBe(0);
    server = await spawnServer(dir);
    const after = judge(await answers(server.url));
    expect(server.logs().some((l) => l.msg === startRebuildMsg && String(l.found).includes("an earlier run found damage"))).toBe(
      true,
    );
    expect({ after: after.right, examples: after.examples }).toEqual({ after: probes.length, examples: [] });
    return { outcome, detail: "" };
  } finally {
    await server.kill();
  }
}

function classify(t: ReturnType<typeof judge>, rebuilt: boolean): Outcome {
  if (t.errors > 0) return "500";
  if (t.wrong > 0) return "WRONG";
  if (t.refused > 0) return "refused at read (503 index_damaged)";
  return rebuilt ? "detected at start, rebuilt" : "no effect";
}

describe("a flipped byte in index.sqlite gives the right answer or a clear refusal, never a wrong one", () => {
  beforeAll(async () => {
    pristine = tempDir("stemedb-faults-");
    data = generateDataset(seed);
    const loader = await spawnServer(pristine);
    const extras = await load(loader.url);
    expect(await loader.stop()).toBe(0);
    const all = [...data.records, ...extras];
    probes = probeSet(all);
    // The truth comes from a server started on the finished store, as every probed one is (its
    // TrustRank is computed at start from everything, not caught up in the background).
    const server = await spawnServer(pristine);
    truth = await answers(server.url);
    expect(await server.stop()).toBe(0);
    // The truth is the truth: nothing refused, nothing failed.
    const statuses = new Set([...truth.values()].map((a) => a.status));
    expect([...statuses].filter((s) => s >= 500)).toEqual([]);
    indexBytes = new Uint8Array(fs.readFileSync(path.join(pristine, "index.sqlite")));
    const scratch = copyPristine();
    const db = new Database(path.join(scratch, "index.sqlite"), { readonly: true });
    pages = db.query("SELECT name, pageno, pagetype FROM dbstat ORDER BY pageno").all() as typeof pages;
    db.close();
  }, 60_000);

  test("the probe set, answered twice by an index rebuilt from the log, is the same (the comparison is sound)", async () => {
    const dir = copyPristine();
    expect((await runCli(["reindex", "--data-dir", dir])).code).toBe(0);
    const server = await spawnServer(dir);
    try {
      const tally = judge(await answers(server.url));
      expect({ right: tally.right, examples: tally.examples }).toEqual({ right: probes.length, examples: [] });
    } finally {
      await server.kill();
    }
  }, 30_000);

  test("seeded flips: stopped and running servers", async () => {
    const all = [...data.records];
    const flips = planFlips(all);
    expect(flips.length).toBeGreaterThanOrEqual(50);
    const summary = new Map<string, Map<Outcome, number>>();
    const failures: string[] = [];
    const results = await mapLimit(flips, flipConcurrency, (f) => (f.running ? flipRunning(f) : flipStopped(f)));
    for (const [i, f] of flips.entries()) {
      const r = results[i] as Awaited<ReturnType<typeof flipStopped>>;
      const row = summary.get(f.area) ?? new Map<Outcome, number>();
      row.set(r.outcome, (row.get(r.outcome) ?? 0) + 1);
      summary.set(f.area, row);
      if (r.outcome === "WRONG" || r.outcome === "500")
        failures.push(`${f.area} byte ${f.at} ^${f.mask}: ${r.outcome}\n${r.detail}`);
    }
    console.log(`index fault injection: ${flips.length} flips, ${probes.length} probes each (seed ${seed})`);
    for (const [area, row] of summary) console.log(`  ${area.padEnd(24)} ${[...row].map(([o, n]) => `${o}: ${n}`).join(", ")}`);
    expect(failures).toEqual([]);
    // The read-time path was exercised, not only the start-up scan.
    const running = summary.get("running: unread page");
    expect(running?.get("refused at read (503 index_damaged)") ?? 0).toBeGreaterThan(0);
  }, 240_000);
});

describe("stemedb verify --index", () => {
  test("exit 0 on a good index; exit 1 naming the damage on a flipped one", async () => {
    const good = await runCli(["verify", "--index", "--data-dir", pristine]);
    expect(good.stdout).toStartWith("ok: index checked:");
    expect(good.code).toBe(0);
    const dir = copyPristine();
    const page = pages.find((p) => p.name === "records_subject")?.pageno as number;
    flip(path.join(dir, "index.sqlite"), (page - 1) * pageBytes + 200, 0x10);
    const bad = await runCli(["verify", "--index", "--data-dir", dir]);
    expect(bad.code).toBe(1);
    expect(bad.stdout).toContain(`problem: pages: 1 of ${pages.length} pages fail their checksum (the first is page ${page})`);
    expect(bad.stdout).toContain("stemedb reindex");
  }, 30_000);
});

describe("without the checksum shim", () => {
  test("the server refuses to open the index, in one clear line, rather than run unchecked", async () => {
    const tree = tempDir("stemedb-noshim-");
    fs.cpSync(path.join(repoRoot, "src"), path.join(tree, "src"), { recursive: true });
    fs.symlinkSync(path.join(repoRoot, "node_modules"), path.join(tree, "node_modules"));
    fs.copyFileSync(path.join(repoRoot, "package.json"), path.join(tree, "package.json"));
    const proc = Bun.spawn(
      [
        bunPath,
        path.join(tree, "src", path.relative(path.join(repoRoot, "src"), mainTs)),
        "verify",
        "--index",
        "--data-dir",
        pristine,
      ],
      {
        stdout: "pipe",
        stderr: "pipe",
      },
    );
    const [stdout, stderr, code] = await Promise.all([
      new Response(proc.stdout).text(),
      new Response(proc.stderr).text(),
      proc.exited,
    ]);
    expect(code).not.toBe(0);
    expect(`${stdout}${stderr}`).toContain("the index checksum extension is missing: run make setup");
    void lensNames;
  }, 30_000);
});
