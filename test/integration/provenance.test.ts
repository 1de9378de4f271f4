/**
 * Provenance over HTTP against a real server: sources and the cascade of their retraction,
 * epochs, provenance chains, authority decisions and their audit.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { type RunningServer, startServer } from "../../src/api/serve.ts";
import { generateKeyPair, type KeyPair, type SignedRecord, signClaim, StemeClient, toHex } from "../../src/client/index.ts";
import { loadConfig } from "../../src/config/config.ts";
import { silentLogger } from "../../src/core/logger.ts";
import { cleanupAll, tempDir } from "./helpers.ts";

let server: RunningServer;
let client: StemeClient;
let authority: KeyPair;
const t0 = Date.now() - 1_000_000;
const trialGroup = generateKeyPair();
const reviewer = generateKeyPair();
const stranger = generateKeyPair();
let citing: SignedRecord[] = [];
let chain: SignedRecord[] = [];

async function put(key: KeyPair, fields: Record<string, unknown> & { kind: string }, ts: number): Promise<SignedRecord> {
  const signed = signClaim(key, { ...fields, ts });
  await client.submit(signed);
  return signed;
}

async function call(method: string, path: string, body?: unknown) {
  const res = await fetch(`${server.url}${path}`, {
    method,
    ...(body !== undefined ? { body: JSON.stringify(body), headers: { "content-type": "application/json" } } : {}),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> & { items?: Array<Record<string, unknown>> } };
}

const submission = (s: SignedRecord) => {
  const { body: _b, id: _i, sig, record } = s as SignedRecord & { record: Record<string, unknown> };
  return { ...jsonFields(record), sig: toHex(sig) };
};
function jsonFields(r: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(r)) out[k] = v instanceof Uint8Array ? toHex(v) : v;
  return out;
}

beforeAll(async () => {
  server = await startServer(
    loadConfig({ "data-dir": tempDir("stemedb-prov-"), bind: "127.0.0.1:0", "log-level": "error" }, {}),
    {
      logger: silentLogger,
    },
  );
  client = new StemeClient({ url: server.url });
  authority = server.store.dataDir.nodeKey;
  const reg = signClaim(trialGroup, { kind: "source", source_id: "mega/trial-7", title: "MEGA-7 trial", tier: 2, ts: t0 });
  const res = await call("POST", "/v1/sources", submission(reg));
  expect(res.status).toBe(201);
  // 3 assertions cite the trial; a chain of 4 levels with fan-out depends on them: 3 + 6 + 6 + 3.
  citing = [];
  for (let i = 0; i < 3; i++)
    citing.push(
      await put(
        trialGroup,
        {
          kind: "assertion",
          subject: `prov/drug/d${i}`,
          predicate: "efficacy",
          object: 0.3 + i / 10,
          confidence: 0.9,
          source: "mega/trial-7",
        },
        t0 + 10 + i,
      ),
    );
  chain = [];
  let level = citing;
  for (let depth = 1; depth <= 3; depth++) {
    const next: SignedRecord[] = [];
    for (const [i, parent] of level.entries()) {
      const fan = depth === 3 ? 1 : 2;
      for (let j = 0; j < fan && next.length < 6; j++)
        next.push(
          await put(
            reviewer,
            {
              kind: "assertion",
              subject: `prov/meta/l${depth}-${i}-${j}`,
              predicate: "conclusion",
              object: `derived ${depth}.${i}.${j}`,
              confidence: 0.7,
              depends_on: [toHex(parent.id)],
            },
            t0 + 100 * depth + i * 10 + j,
          ),
        );
    }
    chain.push(...next);
    level = next;
  }
});

afterAll(async () => {
  await server.stop();
  await cleanupAll();
});

describe("sources and the retraction cascade", () => {
  test("GET /v1/sources/:id: the entry, who registered it, how many assertions cite it", async () => {
    const s = await call("GET", `/v1/sources/${encodeURIComponent("mega/trial-7")}`);
    expect(s.status).toBe(200);
    expect(s.body).toMatchObject({
      source_id: "mega/trial-7",
      registered: true,
      title: "MEGA-7 trial",
      tier: 4, // a tier is a claim: 2 counts once an authority confirms it
      claimed_tier: 2,
      confirmed: false,
      disputed: false,
      registrants: [toHex(trialGroup.publicKey)],
      registrar: toHex(trialGroup.publicKey),
      retracted: false,
      citing_assertions: 3,
    });
    expect((await call("GET", "/v1/sources/nope")).body.code).toBe("unknown_source");
    expect((await call("GET", "/v1/sources?tier=2")).body.items).toEqual([]);
    const confirmed = await call("POST", "/v1/admin/sources/mega/trial-7/confirm", { note: "checked the registry" });
    expect(confirmed.status).toBe(201);
    expect(confirmed.body).toMatchObject({
      source_id: "mega/trial-7",
      status: "accepted",
      source: { tier: 2, claimed_tier: 2, confirmed: true },
    });
    const review = (await client.get(confirmed.body.id as string)) as unknown as Record<string, unknown>;
    expect(review).toMatchObject({ kind: "review", action: "confirm_source", agent: toHex(authority.publicKey) });
    expect(review.target).toBe(confirmed.body.target);
    expect(JSON.parse(review.note as string)).toEqual({ note: "checked the registry", api_key: null });
    const list = await call("GET", "/v1/sources?tier=2");
    expect(list.body.items?.map((i) => i.source_id)).toEqual(["mega/trial-7"]);
    expect((await call("POST", "/v1/admin/sources/nope/confirm")).body.code).toBe("unknown_source");
    expect((await call("POST", "/v1/admin/sources/mega/trial-7/confirm", { tier: 1 })).body.code).toBe("unknown_field");
  });

  test("a source two agents registered is disputed: unregistered, retractable and confirmable only by an authority", async () => {
    const [owner, forger] = [generateKeyPair(), generateKeyPair()];
    const real = await put(owner, { kind: "source", source_id: "dispute/label", title: "Label", tier: 1 }, t0 + 20);
    await put(forger, { kind: "source", source_id: "dispute/label", title: "Forged", tier: 1 }, t0 - 500_000);
    const claim = await put(
      owner,
      { kind: "assertion", subject: "prov/dispute", predicate: "p", object: 1, confidence: 0.9, source: "dispute/label" },
      t0 + 21,
    );
    const s = await call("GET", "/v1/sources/dispute/label");
    expect(s.body).toMatchObject({ registered: false, tier: 6, disputed: true, registrar: null });
    const authorityAnswer = await client.query("prov/dispute", "p", { lens: "authority" });
    expect(authorityAnswer.explain).toContain(
      "source 'dispute/label' disputed between 2 registrars: counted as unregistered (tier 6)",
    );
    const lsn = server.store.log.lastLsn;
    const bad = signClaim(forger, { kind: "source_retraction", source_id: "dispute/label", ts: t0 + 22 });
    const refused = await call("POST", "/v1/sources/dispute/label/retract", submission(bad));
    expect(refused.status).toBe(403);
    expect(refused.body.detail).toContain("disputed");
    const ambiguous = await call("POST", "/v1/admin/sources/dispute/label/confirm");
    expect(ambiguous.status).toBe(409);
    expect(ambiguous.body.code).toBe("source_disputed");
    expect((ambiguous.body.registrations as unknown[]).length).toBe(2);
    expect(server.store.log.lastLsn).toBe(lsn);
    const settled = await call("POST", "/v1/admin/sources/dispute/label/confirm", { record: toHex(real.id) });
    expect(settled.status).toBe(201);
    expect(settled.body.source).toMatchObject({ registered: true, tier: 1, disputed: false, registrar: toHex(owner.publicKey) });
    expect((await client.query("prov/dispute", "p", { lens: "authority" })).winner?.id).toBe(toHex(claim.id));
  });

  test("the dry run counts citing assertions and the transitive cascade, paged, and writes nothing", async () => {
    const lsn = server.store.log.lastLsn;
    const impact = await call("GET", `/v1/sources/${encodeURIComponent("mega/trial-7")}/impact?limit=5`);
    expect(impact.status).toBe(200);
    expect(impact.body).toMatchObject({ dry_run: true, source_retracted: 3, cascade: chain.length, total: 3 + chain.length });
    expect(impact.body.items).toHaveLength(5);
    const rest = await call("GET", `/v1/sources/${encodeURIComponent("mega/trial-7")}/impact?cursor=${impact.body.next_cursor}`);
    const all = [...(impact.body.items ?? []), ...(rest.body.items ?? [])];
    expect(new Set(all.map((i) => i.id))).toEqual(new Set([...citing, ...chain].map((r) => toHex(r.id))));
    expect(Math.max(...all.map((i) => i.depth as number))).toBe(3);
    expect(server.store.log.lastLsn).toBe(lsn);
  });

  test("a stranger's retraction is refused with nothing written; a mismatched path is a 400", async () => {
    const lsn = server.store.log.lastLsn;
    const bad = signClaim(stranger, { kind: "source_retraction", source_id: "mega/trial-7", ts: t0 + 900 });
    const refused = await call("POST", `/v1/sources/${encodeURIComponent("mega/trial-7")}/retract`, submission(bad));
    expect(refused.status).toBe(403);
    expect(refused.body.code).toBe("not_registrar");
    const mismatch = await call("POST", "/v1/sources/other/retract", submission(bad));
    expect(mismatch.status).toBe(400);
    expect(server.store.log.lastLsn).toBe(lsn);
  });

  test("the registrar's retraction flags every citing and dependent assertion; lenses stop counting them", async () => {
    const before = await client.query("prov/meta/l1-0-0", "conclusion", { lens: "consensus" });
    expect(before.winner).not.toBeNull();
    const retraction = signClaim(trialGroup, {
      kind: "source_retraction",
      source_id: "mega/trial-7",
      reason: "data fabricated",
      ts: t0 + 1000,
    });
    const done = await call("POST", `/v1/sources/${encodeURIComponent("mega/trial-7")}/retract`, submission(retraction));
    expect(done.status).toBe(201);
    expect(done.body).toMatchObject({ status: "accepted", impact: { source_retracted: 3, cascade: chain.length } });
    expect(((await client.get(toHex(citing[0]!.id))) as unknown as { flags: string[] }).flags).toEqual(["source_retracted"]);
    expect(((await client.get(toHex(chain.at(-1)!.id))) as unknown as { flags: string[] }).flags).toEqual(["cascade"]);
    const after = await client.query("prov/meta/l1-0-0", "conclusion", { lens: "consensus" });
    expect(after.winner).toBeNull();
    const deep = await client.query((chain.at(-1)!.record as unknown as { subject: string }).subject, "conclusion", {
      lens: "recency",
    });
    expect(deep.winner).toBeNull();
    const s = await call("GET", `/v1/sources/${encodeURIComponent("mega/trial-7")}`);
    expect(s.body).toMatchObject({
      retracted: true,
      retraction: { agent: toHex(trialGroup.publicKey), reason: "data fabricated" },
    });
  });
});

describe("epochs", () => {
  test("declare, supersede (an authority decision), and the old epoch's assertions are flagged", async () => {
    const e1 = signClaim(reviewer, { kind: "epoch", name: "guideline-2023", starts_at: t0, ts: t0 + 5 });
    expect((await call("POST", "/v1/epochs", submission(e1))).status).toBe(201);
    const a = await put(
      reviewer,
      { kind: "assertion", subject: "prov/guide/x", predicate: "dose", object: 10, confidence: 0.8, epoch: "guideline-2023" },
      t0 + 6,
    );
    expect((await call("POST", "/v1/epochs/nope/supersede", { by: "x" })).status).toBe(404);
    expect((await call("POST", "/v1/epochs/guideline-2023/supersede", { by: "guideline-2023" })).status).toBe(400);
    expect((await call("POST", "/v1/epochs/guideline-2023/supersede", { nope: 1 })).status).toBe(400);
    const sup = await call("POST", "/v1/epochs/guideline-2023/supersede", { by: "guideline-2025" });
    expect(sup.status).toBe(201);
    expect(((await client.get(toHex(a.id))) as unknown as { flags: string[] }).flags).toEqual(["epoch_superseded"]);
    const epochs = await call("GET", "/v1/epochs");
    expect(epochs.body.items?.find((e) => e.name === "guideline-2023")).toMatchObject({ superseded_by: ["guideline-2025"] });
    expect(epochs.body.items?.find((e) => e.name === "guideline-2025")).toMatchObject({
      authority: true,
      supersedes: "guideline-2023",
    });
  });
});

describe("provenance chains", () => {
  test("the dependency closure with sources, votes and flags; dangling ids reported; depth limits", async () => {
    const leaf = chain.at(-1) as SignedRecord;
    await put(authority, { kind: "vote", target: toHex(leaf.id), value: 1 }, t0 + 2000);
    const tree = await call("GET", `/v1/provenance/${toHex(leaf.id)}`);
    expect(tree.status).toBe(200);
    type Node = {
      id: string;
      flags: string[];
      votes: unknown[];
      source: { tier: number; retracted: boolean } | null;
      depends_on: Node[];
    };
    let node = (tree.body as unknown as { root: Node }).root;
    expect(node.votes).toHaveLength(1);
    let depth = 0;
    while (node.depends_on.length > 0) {
      node = node.depends_on[0] as Node;
      depth++;
    }
    expect(depth).toBe(3);
    expect(node.source).toMatchObject({ tier: 2, retracted: true });
    expect(node.flags).toEqual(["source_retracted"]);
    const shallow = await call("GET", `/v1/provenance/${toHex(leaf.id)}?depth=1`);
    expect(JSON.stringify(shallow.body)).toContain('"truncated":true');
    const ghost = "ab".repeat(32);
    const d = await put(
      reviewer,
      { kind: "assertion", subject: "prov/ghost", predicate: "p", object: 1, confidence: 0.5, depends_on: [ghost] },
      t0 + 3000,
    );
    const dangling = await call("GET", `/v1/provenance/${toHex(d.id)}`);
    expect(dangling.body.dangling).toEqual([ghost]);
    expect((await call("GET", `/v1/provenance/${"cd".repeat(32)}`)).status).toBe(404);
    expect((await call("GET", `/v1/provenance/${toHex(d.id)}?depth=99`)).status).toBe(400);
  });
});

describe("authority decisions", () => {
  test("a gold standard is a review signed by the node, noting the API key, listed in the admin audit", async () => {
    const claim = await put(
      reviewer,
      { kind: "assertion", subject: "prov/gold", predicate: "p", object: 1, confidence: 0.9 },
      t0 + 4000,
    );
    expect((await call("POST", "/v1/admin/gold", { target: "ef".repeat(32) })).status).toBe(404);
    expect((await call("POST", "/v1/admin/gold", { target: toHex(claim.id), action: "maybe" })).status).toBe(400);
    const gold = await call("POST", "/v1/admin/gold", { target: toHex(claim.id), note: "label text" });
    expect(gold.status).toBe(201);
    const review = await client.get(gold.body.id as string);
    expect(review).toMatchObject({ kind: "review", action: "gold", agent: toHex(authority.publicKey), target: toHex(claim.id) });
    expect(JSON.parse(review.note as string)).toEqual({ note: "label text", api_key: null });
    const audit = await call("GET", "/v1/admin/audit?limit=1000");
    const decisions = audit.body.items ?? [];
    expect(decisions.some((d) => d.id === gold.body.id && (d.decision as { action: string }).action === "gold")).toBe(true);
    expect(decisions.every((d) => d.agent === toHex(authority.publicKey))).toBe(true);
    expect(decisions.some((d) => d.kind === "epoch")).toBe(true); // the supersession above
    expect((await call("GET", "/v1/admin/audit?from=nonsense")).status).toBe(400);
  });

  test("escalate=true uses the server's κ and opens one escalation per (subject, predicate); resolving can mark gold", async () => {
    const a = await put(
      reviewer,
      { kind: "assertion", subject: "prov/esc", predicate: "p", object: "a", confidence: 0.8 },
      t0 + 5000,
    );
    await put(stranger, { kind: "assertion", subject: "prov/esc", predicate: "p", object: "b", confidence: 0.8 }, t0 + 5001);
    const first = await client.query("prov/esc", "p", { lens: "consensus", escalate: true });
    expect(first.escalation?.opened).toBe(true);
    const other = await client.query("prov/esc", "p", { lens: "recency", escalate: true, fresh: true });
    expect(other.escalation).toMatchObject({ id: first.escalation?.id, opened: false });
    const resolved = await client.resolveEscalation(first.escalation?.id as string, "a is right", { gold: toHex(a.id) });
    expect(resolved.gold_id).toMatch(/^[0-9a-f]{64}$/);
    expect(await client.get(resolved.gold_id as string)).toMatchObject({ action: "gold", target: toHex(a.id) });
  });
});
