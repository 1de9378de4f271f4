/**
 * Reading truth through /v1/query against a real server: lenses over stored, signed records,
 * with lifecycle (retraction, supersession, source tiers) and time travel.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { type RunningServer, startServer } from "../../src/api/serve.ts";
import { generateKeyPair, type KeyPair, type SignedRecord, signClaim, StemeClient, toHex } from "../../src/client/index.ts";
import { loadConfig } from "../../src/config/config.ts";
import { silentLogger } from "../../src/core/logger.ts";
import { cleanupAll, tempDir } from "./helpers.ts";

let server: RunningServer;
let client: StemeClient;
const t0 = Date.now() - 100_000;
const regulator = generateKeyPair();
const anecdotes = [generateKeyPair(), generateKeyPair(), generateKeyPair()];
const stranger = generateKeyPair();

async function put(key: KeyPair, fields: Record<string, unknown> & { kind: string }, ts: number): Promise<SignedRecord> {
  const signed = signClaim(key, { ...fields, ts });
  await client.submit(signed);
  return signed;
}

async function query(params: Record<string, string | number>) {
  const q = new URLSearchParams(Object.entries(params).map(([k, v]): [string, string] => [k, String(v)]));
  const res = await fetch(`${server.url}/v1/query?${q}`);
  return {
    status: res.status,
    body: (await res.json()) as Record<string, unknown> & { value: unknown; conflict: number; explain: string[] },
  };
}

let regulatorClaim: SignedRecord;

beforeAll(async () => {
  server = await startServer(
    loadConfig({ "data-dir": tempDir("stemedb-query-"), bind: "127.0.0.1:0", "log-level": "error" }, {}),
    { logger: silentLogger },
  );
  client = new StemeClient({ url: server.url });
  await put(regulator, { kind: "source", source_id: "fda-label-2023", title: "FDA label", tier: 1 }, t0);
  await put(anecdotes[0] as KeyPair, { kind: "source", source_id: "forum", title: "Patient forum", tier: 5 }, t0);
  regulatorClaim = await put(
    regulator,
    {
      kind: "assertion",
      subject: "pharma/drug/aspirin",
      predicate: "bleeding_risk_pct",
      object: 0.2,
      confidence: 0.95,
      source: "fda-label-2023",
    },
    t0 + 10,
  );
  for (const [i, key] of anecdotes.entries()) {
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
    );
  }
});
afterAll(async () => {
  await server.stop();
  await cleanupAll();
});

describe("/v1/query", () => {
  test("regulator 0.2 (tier 1) vs three anecdotes 12 (tier 5): authority 0.2, consensus 12, κ > 0.5, skeptic contested", async () => {
    const base = { subject: "pharma/drug/aspirin", predicate: "bleeding_risk_pct" };
    const authority = await query({ ...base, lens: "authority" });
    expect(authority.status).toBe(200);
    expect(authority.body.value).toBe(0.2);
    expect((authority.body.winner as { id: string }).id).toBe(toHex(regulatorClaim.id));
    const consensus = await query({ ...base, lens: "consensus" });
    expect(consensus.body.value).toBe(12);
    expect(consensus.body.conflict).toBeGreaterThan(0.5);
    expect(consensus.body).toMatchObject({ subject: base.subject, predicate: base.predicate, candidates: 4 });
    const skeptic = await query({ ...base, lens: "skeptic" });
    expect(skeptic.body.verdict).toBe("contested");
    expect(skeptic.body.explain.length).toBeGreaterThan(0);
    const both = await fetch(`${server.url}/v1/query`, {
      method: "POST",
      body: JSON.stringify({ ...base, lenses: ["authority", "consensus"] }),
    });
    const results = ((await both.json()) as { results: Record<string, { value: unknown }> }).results;
    expect(results.authority?.value).toBe(0.2);
    expect(results.consensus?.value).toBe(12);
  });

  test("retraction by the author hides; by a stranger it is ignored; as_of before it still sees the claim", async () => {
    const subject = "q/retract";
    const claim = await put(regulator, { kind: "assertion", subject, predicate: "p", object: 1, confidence: 0.9 }, t0 + 100);
    await put(stranger, { kind: "retraction", target: toHex(claim.id) }, t0 + 110);
    expect((await query({ subject, predicate: "p", lens: "recency" })).body.value).toBe(1);
    await put(regulator, { kind: "retraction", target: toHex(claim.id) }, t0 + 120);
    const after = await query({ subject, predicate: "p", lens: "recency" });
    expect(after.body.winner).toBeNull();
    expect((await query({ subject, predicate: "p", lens: "recency", as_of: t0 + 115 })).body.value).toBe(1);
    const history = await query({ subject, predicate: "p", lens: "recency", include: "retracted" });
    expect(history.body.value).toBe(1);
  });

  test("known_at answers from what the node had received by then; backdating does not reach it", async () => {
    const subject = "q/known-at";
    const first = await put(regulator, { kind: "assertion", subject, predicate: "p", object: 1, confidence: 0.9 }, t0 + 300);
    const knownAt = (await client.get(toHex(first.id))).recorded_at as number;
    await Bun.sleep(5);
    await put(stranger, { kind: "assertion", subject, predicate: "p", object: 2, confidence: 0.99 }, t0 - 50_000);
    expect((await query({ subject, predicate: "p", lens: "consensus" })).body.value).toBe(2);
    const then = await query({ subject, predicate: "p", lens: "consensus", known_at: knownAt });
    expect(then.body).toMatchObject({ value: 1, candidates: 1, known_at: knownAt });
    const iso = await query({ subject, predicate: "p", known_at: new Date(knownAt).toISOString(), as_of: t0 + 300 });
    expect(iso.body.value).toBe(1);
    const { results } = await client.queryLenses(subject, "p", ["recency", "trust"], { knownAt });
    expect([results.recency?.value, results.trust?.value]).toEqual([1, 1]);
    const bad = await query({ subject, predicate: "p", known_at: "yesterday" });
    expect([bad.status, bad.body.code]).toEqual([400, "invalid_query"]);
  });

  test("an agent's newer claim replaces its older one; a stranger's supersedes is ignored", async () => {
    const subject = "q/supersede";
    const old = await put(regulator, { kind: "assertion", subject, predicate: "p", object: "old", confidence: 0.9 }, t0 + 200);
    await put(
      stranger,
      { kind: "assertion", subject: "q/elsewhere", predicate: "p", object: "x", confidence: 0.1, supersedes: toHex(old.id) },
      t0 + 210,
    );
    expect((await query({ subject, predicate: "p", lens: "consensus" })).body.value).toBe("old");
    await put(regulator, { kind: "assertion", subject, predicate: "p", object: "new", confidence: 0.9 }, t0 + 220);
    const now = await query({ subject, predicate: "p", lens: "consensus" });
    expect(now.body.value).toBe("new");
    expect(now.body.candidates).toBe(1);
    // GET by id shows the derived lifecycle: the stranger's supersedes is noted, not obeyed …
    const shown = (await client.get(toHex(old.id))) as unknown as { flags: string[]; notes: string[] };
    expect(shown.flags).toEqual([]);
    expect(shown.notes.join(" ")).toContain("ignored: neither the author nor an authority");
    // … the author's is.
    await put(
      regulator,
      { kind: "assertion", subject, predicate: "p", object: "newer", confidence: 0.9, supersedes: toHex(old.id) },
      t0 + 230,
    );
    expect(((await client.get(toHex(old.id))) as unknown as { flags: string[] }).flags).toEqual(["superseded"]);
  });

  test("POST /v1/vote and /v1/retract take their own kind only; votes scale the vote lens", async () => {
    const subject = "q/votes";
    const a = await put(
      anecdotes[0] as KeyPair,
      { kind: "assertion", subject, predicate: "p", object: "a", confidence: 0.5 },
      t0 + 300,
    );
    await put(anecdotes[1] as KeyPair, { kind: "assertion", subject, predicate: "p", object: "b", confidence: 0.6 }, t0 + 301);
    expect((await query({ subject, predicate: "p", lens: "vote" })).body.value).toBe("b");
    // Votes are weighed by the trust the voter earned: a stranger's (τ = 0.01, nothing earned) counts 0.
    const strangerVote = signClaim(stranger, { kind: "vote", target: toHex(a.id), value: 1, ts: t0 + 305 });
    expect((await client.vote(strangerVote)).status).toBe("accepted");
    expect((await query({ subject, predicate: "p", lens: "vote", fresh: "true" })).body.value).toBe("b");
    // The node's authority (τ = 1) and the regulator it seeds (τ = 1) do.
    const authority: KeyPair = server.store.dataDir.nodeKey;
    await put(authority, { kind: "review", action: "trust_seed", target: toHex(regulator.publicKey) }, t0 + 306);
    for (const voter of [regulator, authority]) {
      const v = signClaim(voter, { kind: "vote", target: toHex(a.id), value: 1, ts: t0 + 310 });
      expect((await client.vote(v)).status).toBe("accepted");
    }
    // "a": 0.5 × (1 + 1 + 1 + 0) = 1.5 beats "b": 0.6.
    const voted = await query({ subject, predicate: "p", lens: "vote", fresh: "true" });
    expect(voted.body.value).toBe("a");
    expect(voted.body.groups).toContainEqual(expect.objectContaining({ value: "a", weight: 1.5 }));
    expect((await query({ subject, predicate: "p", lens: "consensus" })).body.value).toBe("b");
    const notAVote = signClaim(stranger, {
      kind: "assertion",
      subject,
      predicate: "p",
      object: "c",
      confidence: 1,
      ts: t0 + 320,
    });
    await expect(client.vote(notAVote)).rejects.toMatchObject({ status: 400, code: "wrong_kind" });
    await expect(client.retract(notAVote)).rejects.toMatchObject({ status: 400, code: "wrong_kind" });
    const retraction = signClaim(anecdotes[0] as KeyPair, { kind: "retraction", target: toHex(a.id), ts: t0 + 330 });
    expect((await client.retract(retraction)).status).toBe("accepted");
    expect((await query({ subject, predicate: "p", lens: "vote" })).body.value).toBe("b");
  });

  test("GET /v1/subjects/:path resolves every predicate of a subject through one lens", async () => {
    await put(
      regulator,
      { kind: "assertion", subject: "pharma/drug/aspirin", predicate: "max_daily_dose_mg", object: 4000, confidence: 0.9 },
      t0 + 400,
    );
    const res = await fetch(`${server.url}/v1/subjects/pharma/drug/aspirin?lens=authority`);
    expect(res.status).toBe(200);
    const body = (await res.json()) as { subject: string; lens: string; predicates: Record<string, { value: unknown }> };
    expect(body.subject).toBe("pharma/drug/aspirin");
    expect(body.lens).toBe("authority");
    expect(Object.keys(body.predicates)).toEqual(["bleeding_risk_pct", "max_daily_dose_mg"]);
    expect(body.predicates.bleeding_risk_pct?.value).toBe(0.2);
    expect(body.predicates.max_daily_dose_mg?.value).toBe(4000);
    const none = (await (await fetch(`${server.url}/v1/subjects/no/such/thing`)).json()) as { predicates: object };
    expect(none.predicates).toEqual({});
    expect((await fetch(`${server.url}/v1/subjects/pharma/drug/aspirin?lens=nope`)).status).toBe(400);
  });

  test("bad queries are 4xx", async () => {
    expect((await query({ subject: "a/b", predicate: "p", lens: "nope" })).status).toBe(400);
    expect((await query({ subject: "a/b", predicate: "p", lens: "trust" })).status).toBe(200);
    expect((await query({ subject: "a/b", predicate: "p", fresh: "maybe" })).status).toBe(400);
    expect((await query({ subject: "a/b", predicate: "p", explain: "perhaps" })).status).toBe(400);
    expect((await query({ subject: "a/b", predicate: "p", escalate: 0 })).status).toBe(400);
    expect((await query({ subject: "a/b", predicate: "p", escalate: 1.5 })).status).toBe(400);
    expect((await query({ predicate: "p" })).status).toBe(400);
    expect((await query({ subject: "a/b", predicate: "p", tolerance: 2 })).status).toBe(400);
    expect((await query({ subject: "a/b", predicate: "p", include: "nothing" })).status).toBe(400);
    const empty = await query({ subject: "no/such", predicate: "p" });
    expect(empty.status).toBe(200);
    expect(empty.body.winner).toBeNull();
  });
});
