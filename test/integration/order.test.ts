/**
 * Order independence (docs/README.md#principles, §3): the same records ingested in different orders, on
 * different nodes that share an authority, answer every query identically — node-local
 * metadata (log positions, receive times) aside.
 */
import { afterAll, expect, test } from "bun:test";
import fs from "node:fs";
import path from "node:path";
import { type RunningServer, startServer } from "../../src/api/serve.ts";
import { generateKeyPair, type KeyPair, type SignedRecord, signClaim, StemeClient, toHex } from "../../src/client/index.ts";
import { loadConfig } from "../../src/config/config.ts";
import { silentLogger } from "../../src/core/logger.ts";
import { initDataDir, readKeyFile } from "../../src/store/datadir.ts";
import { cleanupAll, prng, tempDir } from "./helpers.ts";

afterAll(cleanupAll);

const t0 = Date.now() - 1_000_000;
const [r, x, a, b, c, stranger] = Array.from({ length: 6 }, () => generateKeyPair()) as [
  KeyPair,
  KeyPair,
  KeyPair,
  KeyPair,
  KeyPair,
  KeyPair,
];
const subject = "order/drug/x";
const predicate = "risk";

function records(authority: KeyPair): SignedRecord[] {
  const at = (n: number) => t0 + n * 1000;
  const s = (key: KeyPair, fields: Record<string, unknown> & { kind: string }, n: number) =>
    signClaim(key, { ...fields, ts: at(n) });
  const label = s(r, { kind: "source", source_id: "label", title: "Label", tier: 1 }, 1);
  const forum = s(x, { kind: "source", source_id: "forum", title: "Forum", tier: 5 }, 2);
  const rClaim = s(r, { kind: "assertion", subject, predicate, object: 0.2, confidence: 0.95, source: "label" }, 3);
  const aClaim = s(a, { kind: "assertion", subject, predicate, object: 12, confidence: 0.6, source: "forum" }, 4);
  const bClaim = s(b, { kind: "assertion", subject, predicate, object: 12.1, confidence: 0.6, source: "forum" }, 5);
  const cOld = s(c, { kind: "assertion", subject, predicate, object: 5, confidence: 0.7 }, 6);
  const cNew = s(c, { kind: "assertion", subject, predicate, object: 6, confidence: 0.7, supersedes: toHex(cOld.id) }, 7);
  const strangerSup = s(
    stranger,
    { kind: "assertion", subject, predicate, object: 99, confidence: 0.1, supersedes: toHex(rClaim.id) },
    8,
  );
  const base = s(x, { kind: "assertion", subject: "order/base", predicate, object: 1, confidence: 0.5 }, 9);
  const dependent = s(x, { kind: "assertion", subject, predicate, object: 7, confidence: 0.9, depends_on: [toHex(base.id)] }, 10);
  const baseRetraction = s(x, { kind: "retraction", target: toHex(base.id) }, 11);
  const strangerRetraction = s(stranger, { kind: "retraction", target: toHex(aClaim.id) }, 12);
  const votes = [r, a, stranger].map((k, i) => s(k, { kind: "vote", target: toHex(bClaim.id), value: i === 2 ? -1 : 1 }, 13 + i));
  const hold = s(authority, { kind: "review", action: "hold", target: toHex(aClaim.id) }, 16);
  const approve = s(authority, { kind: "review", action: "approve", target: toHex(aClaim.id) }, 17);
  // TrustRank inputs: an endorsement, a seed and a gold standard, so the trust lens has τ to weigh.
  const endorse = s(authority, { kind: "vote", target: toHex(rClaim.id), value: 1 }, 18);
  const seed = s(authority, { kind: "review", action: "trust_seed", target: toHex(c.publicKey) }, 18);
  const gold = s(authority, { kind: "review", action: "gold", target: toHex(rClaim.id) }, 19);
  // Sources are claims: the label confirmed, a source two agents dispute (one backdating), a
  // dispute an authority settled by confirming one registration; a self-vote, which counts nowhere.
  const confirm = s(authority, { kind: "review", action: "confirm_source", target: toHex(label.id) }, 20);
  const trial = s(b, { kind: "source", source_id: "trial", title: "Trial", tier: 2 }, 21);
  const forged = s(stranger, { kind: "source", source_id: "trial", title: "Forged", tier: 1 }, 0);
  const wiki = s(c, { kind: "source", source_id: "wiki", title: "Wiki", tier: 3 }, 22);
  const wikiForged = s(stranger, { kind: "source", source_id: "wiki", title: "Wiki (mine)", tier: 1 }, 0);
  const settle = s(authority, { kind: "review", action: "confirm_source", target: toHex(wiki.id) }, 23);
  const bTrial = s(b, { kind: "assertion", subject, predicate, object: 0.21, confidence: 0.8, source: "trial" }, 24);
  const cWiki = s(c, { kind: "assertion", subject, predicate, object: 0.2, confidence: 0.7, source: "wiki" }, 25);
  const hijack = s(stranger, { kind: "source_retraction", source_id: "wiki" }, 26);
  const selfVote = s(a, { kind: "vote", target: toHex(aClaim.id), value: 1 }, 27);
  return [
    confirm,
    trial,
    forged,
    wiki,
    wikiForged,
    settle,
    bTrial,
    cWiki,
    hijack,
    selfVote,
    label,
    forum,
    rClaim,
    aClaim,
    bClaim,
    cOld,
    cNew,
    strangerSup,
    base,
    dependent,
    baseRetraction,
    strangerRetraction,
    ...votes,
    hold,
    approve,
    endorse,
    seed,
    gold,
  ];
}

function shuffled<T>(items: readonly T[], seed: number): T[] {
  const next = prng(seed);
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(next() * (i + 1));
    [out[i], out[j]] = [out[j] as T, out[i] as T];
  }
  return out;
}

/** An answer without node-local metadata. */
function portable(answer: Record<string, unknown>): unknown {
  const { lsn: _lsn, trust_lsn: _t, winner, ...rest } = answer;
  if (winner && typeof winner === "object") {
    const { lsn: _l, recorded_at: _r, ...w } = winner as Record<string, unknown>;
    return { ...rest, winner: w };
  }
  return { ...rest, winner };
}

test("three nodes, three ingest orders, identical answers for every lens, now and as of earlier times", async () => {
  const first = tempDir("stemedb-order-");
  initDataDir(first);
  const authority = readKeyFile(path.join(first, "node.key"));
  const set = records(authority);
  const dirs = [first, tempDir("stemedb-order-"), tempDir("stemedb-order-")];
  for (const dir of dirs.slice(1)) {
    for (const f of ["meta.json", "node.key", "authorities.json"]) fs.copyFileSync(path.join(first, f), path.join(dir, f));
    fs.chmodSync(path.join(dir, "node.key"), 0o600);
  }
  const lenses = ["recency", "consensus", "vote", "authority", "trust", "skeptic", "layered"];
  const times = [undefined, t0 + 5_500, t0 + 11_500, t0 + 16_500, t0 + 18_500, t0 + 22_500, t0 + 26_500];
  const answers: unknown[] = [];
  for (const [i, dir] of dirs.entries()) {
    const server: RunningServer = await startServer(
      loadConfig({ "data-dir": dir, bind: "127.0.0.1:0", "log-level": "error" }, {}),
      { logger: silentLogger },
    );
    try {
      const client = new StemeClient({ url: server.url });
      for (const rec of i === 0 ? set : shuffled(set, 1000 + i)) await client.submit(rec);
      const out: unknown[] = [];
      for (const asOf of times) {
        const { results } = await client.queryLenses(subject, predicate, lenses, {
          tolerance: 0.01,
          fresh: true,
          ...(asOf !== undefined ? { asOf } : {}),
        });
        out.push(lenses.map((l) => portable(results[l] as unknown as Record<string, unknown>)));
      }
      answers.push(out);
    } finally {
      await server.stop();
    }
  }
  expect(answers[1]).toEqual(answers[0]);
  expect(answers[2]).toEqual(answers[0]);
  // The set exercises what it should: now, the dependent claim is cascade-hidden, c's old claim
  // is superseded, the stranger's supersedes of the regulator is ignored.
  const now = (answers[0] as unknown[][])[0] as Array<{
    lens: string;
    value: unknown;
    candidates: number;
    groups: Array<{ value: unknown }>;
  }>;
  const values = new Set(now.flatMap((a) => a.groups.map((g) => g.value)));
  expect(values.has(7)).toBe(false);
  expect(values.has(5)).toBe(false);
  expect(values.has(0.2)).toBe(true);
  expect(now.find((a) => a.lens === "authority")?.value).toBe(0.2);
  // … the disputed trial counts as unregistered, the settled wiki as its confirmed tier 3.
  const explain = (now.find((a) => a.lens === "authority") as unknown as { explain: string[] }).explain;
  expect(explain).toContain("source 'trial' disputed between 2 registrars: counted as unregistered (tier 6)");
  expect(explain.some((line) => line.includes("'wiki'"))).toBe(false);
});
