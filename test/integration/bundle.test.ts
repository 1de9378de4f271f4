/**
 * Audit bundles end to end (docs/PROVENANCE.md, issue 4 item 7): a real server holds a small living review
 * with depends_on chains reaching outside the exported prefix, sources, votes, a retraction, a
 * supersession and records that have nothing to do with it. The export must carry exactly the
 * selection and its provenance closure; `stemedb export`, `stemedb verify-bundle` and
 * `stemedb import` run as real processes; a second, fresh server that imports the bundle gives
 * the same answers and the same Merkle root.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import fs from "node:fs";
import path from "node:path";
import { type RunningServer, startServer } from "../../src/api/serve.ts";
import { BundleReader, verifyBundle } from "../../src/bundle/index.ts";
import { generateKeyPair, type KeyPair, type SignedRecord, signClaim, StemeClient, toHex } from "../../src/client/index.ts";
import { loadConfig } from "../../src/config/config.ts";
import { silentLogger } from "../../src/core/logger.ts";
import { recordId } from "../../src/crypto/hash.ts";
import { cleanupAll, runCli, tempDir } from "./helpers.ts";

let a: RunningServer;
let b: RunningServer;
let clientA: StemeClient;
const t0 = Date.now() - 1_000_000;
const regulator = generateKeyPair();
const chemist = generateKeyPair();
const forum = [generateKeyPair(), generateKeyPair(), generateKeyPair()];
const voter = generateKeyPair();
const bystander = generateKeyPair();

/** Records the export of pharma/drug/* must hold, and records it must not. */
const expected = new Set<string>();
const excluded = new Set<string>();
let regulatorClaim: SignedRecord;

async function put(key: KeyPair, fields: Record<string, unknown> & { kind: string }, ts: number): Promise<SignedRecord> {
  const signed = signClaim(key, { ...fields, ts });
  await clientA.submit(signed);
  return signed;
}

async function start(): Promise<RunningServer> {
  return startServer(loadConfig({ "data-dir": tempDir("stemedb-bundle-"), bind: "127.0.0.1:0", "log-level": "error" }, {}), {
    logger: silentLogger,
  });
}

/** The ids of a bundle's records, and its manifest. */
function readBundle(bytes: Uint8Array): { ids: Set<string>; manifest: Record<string, unknown> } {
  const ids = new Set<string>();
  let manifest: Record<string, unknown> = {};
  for (const it of new BundleReader(bytes).items()) {
    if (it.type === "record") ids.add(toHex(recordId(it.body)));
    else manifest = it.manifest;
  }
  return { ids, manifest };
}

const id = (s: SignedRecord) => toHex(s.id);

beforeAll(async () => {
  a = await start();
  b = await start();
  clientA = new StemeClient({ url: a.url });
  // Outside the prefix, but the selection rests on it: a chain of two, with its sources.
  const chemDb = await put(chemist, { kind: "source", source_id: "chem-db", title: "A chemistry database", tier: 2 }, t0);
  const carbon = await put(
    chemist,
    { kind: "assertion", subject: "chem/element/carbon", predicate: "valence", object: 4, confidence: 1, source: "chem-db" },
    t0 + 1,
  );
  const salicylate = await put(
    chemist,
    {
      kind: "assertion",
      subject: "chem/compound/salicylate",
      predicate: "half_life_h",
      object: 2,
      confidence: 0.9,
      depends_on: [id(carbon)],
    },
    t0 + 2,
  );
  const carbonVote = await put(voter, { kind: "vote", target: id(carbon), value: 1 }, t0 + 3);
  const fda = await put(regulator, { kind: "source", source_id: "fda-label", title: "FDA label", tier: 1 }, t0 + 4);
  const forumSource = await put(
    forum[0] as KeyPair,
    { kind: "source", source_id: "forum", title: "Patient forum", tier: 5 },
    t0 + 5,
  );
  const forumRetracted = await put(
    forum[0] as KeyPair,
    { kind: "source_retraction", source_id: "forum", reason: "spam" },
    t0 + 6,
  );
  const epoch = await put(regulator, { kind: "epoch", name: "guideline-2024", starts_at: t0 }, t0 + 7);
  for (const r of [chemDb, carbon, salicylate, carbonVote, fda, forumSource, forumRetracted, epoch]) expected.add(id(r));

  // The selection: pharma/drug/*.
  regulatorClaim = await put(
    regulator,
    {
      kind: "assertion",
      subject: "pharma/drug/aspirin",
      predicate: "bleeding_risk_pct",
      object: 0.2,
      confidence: 0.95,
      source: "fda-label",
      depends_on: [id(salicylate), toHex(new Uint8Array(32).fill(0xee))], // the second is dangling
    },
    t0 + 10,
  );
  expected.add(id(regulatorClaim));
  const anecdotes: SignedRecord[] = [];
  for (const [i, key] of forum.entries()) {
    anecdotes.push(
      await put(
        key,
        {
          kind: "assertion",
          subject: "pharma/drug/aspirin",
          predicate: "bleeding_risk_pct",
          object: 12,
          confidence: 0.6,
          source: "forum",
        },
        t0 + 20 + i,
      ),
    );
  }
  for (const r of anecdotes) expected.add(id(r));
  // A retraction by its author, and a supersession by its author: both decide the answer.
  expected.add(id(await put(forum[2] as KeyPair, { kind: "retraction", target: id(anecdotes[2] as SignedRecord) }, t0 + 30)));
  expected.add(
    id(
      await put(
        forum[1] as KeyPair,
        {
          kind: "assertion",
          subject: "pharma/drug/aspirin",
          predicate: "bleeding_risk_pct",
          object: 11,
          confidence: 0.6,
          supersedes: id(anecdotes[1] as SignedRecord),
        },
        t0 + 31,
      ),
    ),
  );
  expected.add(id(await put(voter, { kind: "vote", target: id(regulatorClaim), value: 1 }, t0 + 32)));
  // A diamond inside the prefix: two claims resting on the regulator's, a third on both.
  const left = await put(
    regulator,
    {
      kind: "assertion",
      subject: "pharma/drug/ibuprofen",
      predicate: "x",
      object: 1,
      confidence: 0.5,
      depends_on: [id(regulatorClaim)],
    },
    t0 + 40,
  );
  const right = await put(
    regulator,
    {
      kind: "assertion",
      subject: "pharma/drug/ibuprofen",
      predicate: "y",
      object: 2,
      confidence: 0.5,
      depends_on: [id(regulatorClaim)],
    },
    t0 + 41,
  );
  const top = await put(
    regulator,
    {
      kind: "assertion",
      subject: "pharma/drug/naproxen",
      predicate: "z",
      object: 3,
      confidence: 0.5,
      depends_on: [id(left), id(right)],
    },
    t0 + 42,
  );
  for (const r of [left, right, top]) expected.add(id(r));

  // Nothing to do with the selection: another subject, its votes, and a claim outside the
  // prefix that depends on one inside it (dependants are not provenance).
  const other = await put(
    bystander,
    { kind: "assertion", subject: "geo/city/paris", predicate: "pop", object: 2, confidence: 1 },
    t0 + 50,
  );
  excluded.add(id(other));
  excluded.add(id(await put(voter, { kind: "vote", target: id(other), value: -1 }, t0 + 51)));
  excluded.add(
    id(
      await put(
        bystander,
        {
          kind: "assertion",
          subject: "chem/derived/thing",
          predicate: "p",
          object: 1,
          confidence: 1,
          depends_on: [id(regulatorClaim)],
        },
        t0 + 52,
      ),
    ),
  );
  excluded.add(id(await put(bystander, { kind: "source", source_id: "unrelated", title: "Not cited", tier: 3 }, t0 + 53)));
});

afterAll(async () => {
  await a?.stop();
  await b?.stop();
  await cleanupAll();
});

describe("GET /v1/export", () => {
  test("the selection and exactly its provenance closure, with a manifest that verifies", async () => {
    const res = await fetch(`${a.url}/v1/export?subject_prefix=${encodeURIComponent("pharma/drug/*")}`);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("application/x-ndjson");
    expect(res.headers.get("content-disposition")).toMatch(/^attachment; filename="stemedb-[0-9a-f]+-lsn\d+\.ndjson"$/);
    const bytes = new Uint8Array(await res.arrayBuffer());
    const { ids, manifest } = readBundle(bytes);
    expect([...ids].sort()).toEqual([...expected].sort());
    for (const x of excluded) expect(ids.has(x)).toBe(false);
    expect(manifest).toMatchObject({
      type: "manifest",
      version: 1,
      records: expected.size,
      selection: { subject_prefix: "pharma/drug/*" },
      selected: 8, // 4 aspirin claims, the superseding one, the diamond's three
      dangling: 1,
    });
    expect(res.headers.get("x-bundle-records")).toBe(String(expected.size));
    expect(res.headers.get("x-bundle-merkle-root")).toBe(manifest.merkle_root as string);
    const summary = await verifyBundle(bytes, { threads: 1 });
    expect(summary.merkleRoot).toBe(manifest.merkle_root as string);
    expect(summary.kinds).toEqual({
      assertion: 10,
      vote: 2,
      retraction: 1,
      source: 3,
      source_retraction: 1,
      epoch: 1,
      review: 0,
    });
  });

  test("CBOR carries the same records and root; a narrower selection carries less", async () => {
    const ndjson = readBundle(
      new Uint8Array(await (await fetch(`${a.url}/v1/export?subject_prefix=pharma/drug/*`)).arrayBuffer()),
    );
    const res = await fetch(`${a.url}/v1/export?subject_prefix=pharma/drug/*&format=cbor`);
    expect(res.headers.get("content-type")).toBe("application/cbor-seq");
    const cbor = new Uint8Array(await res.arrayBuffer());
    expect(cbor[0]).toBe(0xa3);
    expect((await verifyBundle(cbor, { threads: 0 })).merkleRoot).toBe(ndjson.manifest.merkle_root as string);

    const exact = readBundle(
      new Uint8Array(await (await fetch(`${a.url}/v1/export?subject_prefix=pharma/drug/naproxen`)).arrayBuffer()),
    );
    expect(exact.manifest.selected).toBe(1);
    // naproxen rests on the diamond, which rests on the regulator's claim and its chain.
    expect(exact.ids.has(id(regulatorClaim))).toBe(true);
    expect(exact.ids.size).toBeLessThan(ndjson.ids.size);

    const narrow = readBundle(
      new Uint8Array(
        await (
          await fetch(`${a.url}/v1/export?subject_prefix=pharma/drug/*&predicate=bleeding_risk_pct&until=${t0 + 10}`)
        ).arrayBuffer(),
      ),
    );
    expect(narrow.manifest.selected).toBe(1);
    expect(narrow.manifest.selection).toEqual({
      subject_prefix: "pharma/drug/*",
      predicate: "bleeding_risk_pct",
      until: t0 + 10,
    });
    expect(narrow.ids.has(id(regulatorClaim))).toBe(true);
  });

  test("bad parameters are 400 problems; other methods are 405", async () => {
    for (const q of ["format=xml", "subject=pharma", "subject_prefix=a//b", "since=yesterday", `since=${t0 + 5}&until=${t0}`]) {
      const res = await fetch(`${a.url}/v1/export?${q}`);
      expect(res.status).toBe(400);
      expect(((await res.json()) as { code: string }).code).toBe("invalid_query");
    }
    const post = await fetch(`${a.url}/v1/export`, { method: "POST" });
    expect(post.status).toBe(405);
    expect(post.headers.get("allow")).toBe("GET");
  });
});

describe("stemedb export, verify-bundle and import (real processes)", () => {
  let file: string;
  let root: string;

  test("export writes the bundle; verify-bundle checks it offline", async () => {
    file = path.join(tempDir("stemedb-bundle-cli-"), "aspirin.ndjson");
    const exported = await runCli(["export", "--out", file, "--subject-prefix", "pharma/drug/*", "--server", a.url]);
    expect(exported.stderr).toBe("");
    expect(exported.code).toBe(0);
    expect(exported.stdout).toContain(`${expected.size} records`);
    expect(fs.existsSync(`${file}.partial`)).toBe(false);
    const verified = await runCli(["verify-bundle", file]);
    expect(verified.code).toBe(0);
    expect(verified.stdout).toContain(`ok: ${file}`);
    root = /merkle root\s+([0-9a-f]{64})/.exec(verified.stdout)?.[1] ?? "";
    expect(root).toMatch(/^[0-9a-f]{64}$/);
    expect(exported.stdout).toContain(root);
  });

  test("verify-bundle names the first tampered item and its byte offset, and exits 1", async () => {
    const lines = fs.readFileSync(file, "utf8").split("\n");
    const victim = 4; // the fifth line, item 5
    lines[victim] = (lines[victim] as string).replace(/"sig":"(.)/, (_m, c: string) => `"sig":"${c === "0" ? "1" : "0"}`);
    const tampered = `${file}.tampered`;
    fs.writeFileSync(tampered, lines.join("\n"));
    const offset = Buffer.byteLength(lines.slice(0, victim).join("\n")) + 1;
    const r = await runCli(["verify-bundle", tampered]);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(
      new RegExp(
        `^FAILED: .*: item 5 at byte ${offset.toLocaleString("en-US")}: signature does not verify for id [0-9a-f]{64}\\n$`,
      ),
    );
    // import refuses it and sends nothing.
    const before = (await (await fetch(`${b.url}/v1/health`)).json()) as { lsn: number };
    const refused = await runCli(["import", tampered, "--server", b.url]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain("refused");
    expect(((await (await fetch(`${b.url}/v1/health`)).json()) as { lsn: number }).lsn).toBe(before.lsn);
  });

  test("import into a fresh server: the same answers and the same root there", async () => {
    const imported = await runCli(["import", file, "--server", b.url]);
    expect(imported.code).toBe(0);
    expect(imported.stdout).toContain(`${expected.size} records — ${expected.size} accepted`);
    expect(imported.stdout).toContain("0 duplicates, 0 rejected");
    const again = await runCli(["import", file, "--server", b.url, "--batch", "3"]);
    expect(again.code).toBe(0);
    expect(again.stdout).toContain(`0 accepted, ${expected.size} duplicates, 0 rejected, 6 batches`);

    const clientB = new StemeClient({ url: b.url });
    for (const [subject, predicate] of [
      ["pharma/drug/aspirin", "bleeding_risk_pct"],
      ["pharma/drug/naproxen", "z"],
    ] as const) {
      const lenses = ["recency", "consensus", "authority", "skeptic"];
      const [ra, rb] = await Promise.all(
        [clientA, clientB].map((c) => c.queryLenses(subject, predicate, lenses, { fresh: true }).then((r) => r.results)),
      );
      for (const lens of lenses) {
        const x = ra?.[lens];
        const y = rb?.[lens];
        expect(y?.winner?.id).toBe(x?.winner?.id as string);
        expect(y?.value).toEqual(x?.value);
        expect(y?.conflict).toBe(x?.conflict as number);
        expect(y?.groups).toEqual(x?.groups as never);
      }
    }
    // The answer depends on the source retraction, the retraction and the supersession that came
    // with the bundle: of the five claims only the regulator's and the superseding one count.
    const answer = await clientB.query("pharma/drug/aspirin", "bleeding_risk_pct", { lens: "authority", fresh: true });
    expect(answer.value).toBe(0.2);
    expect(answer.candidates).toBe(2);
    // Exported again from the second server: the same records, the same root.
    const res = await fetch(`${b.url}/v1/export?subject_prefix=pharma/drug/*`);
    expect(res.headers.get("x-bundle-merkle-root")).toBe(root);
    await res.arrayBuffer();
  });

  test("--help for each command", async () => {
    for (const cmd of ["export", "import", "verify-bundle"]) {
      const r = await runCli([cmd, "--help"]);
      expect(r.code).toBe(0);
      expect(r.stdout).toContain(`stemedb ${cmd}`);
    }
  });
});
