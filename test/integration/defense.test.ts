/**
 * Content defense over HTTP against real servers (docs/DEFENSE.md): each quarantine policy holds what
 * it should (stored, a hold signed by the node right before it, invisible to lenses, flagged),
 * approval and rejection as authority reviews, the review queue; per-agent circuit breakers
 * (a flood opens one agent's breaker while others write on; half-open, probe, closed; reset)
 * and the global breaker on fsync latency. Servers run on an injected clock, so cool-downs
 * pass without sleeping.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { startServer } from "../../src/api/serve.ts";
import { generateKeyPair, type KeyPair, type SignedRecord, signClaim, toHex } from "../../src/client/index.ts";
import { loadConfig } from "../../src/config/config.ts";
import { silentLogger } from "../../src/core/logger.ts";
import { cleanupAll, sleep, tempDir } from "./helpers.ts";

/** A quarantine queue item as the tests read it. */
interface HeldItem {
  id: string;
  hold: { id: string };
  why: Array<Record<string, unknown> & { detail: string }>;
}

interface Answer {
  status: number;
  headers: Headers;
  body: Record<string, unknown> & { items?: Array<Record<string, unknown>> };
}

/** A server on a clock that tests can move forward (`shift` ms ahead of the real one). */
async function serve(flags: Record<string, string>) {
  const clock = { shift: 0 };
  const server = await startServer(
    loadConfig({ "data-dir": tempDir("stemedb-defense-"), bind: "127.0.0.1:0", "log-level": "error", ...flags }, {}),
    { logger: silentLogger, now: () => Date.now() + clock.shift },
  );
  const call = async (method: string, path: string, body?: unknown): Promise<Answer> => {
    const res = await fetch(`${server.url}${path}`, {
      method,
      ...(body !== undefined ? { body: JSON.stringify(body), headers: { "content-type": "application/json" } } : {}),
    });
    const text = await res.text();
    return { status: res.status, headers: res.headers, body: text.startsWith("{") ? JSON.parse(text) : { text } };
  };
  const submit = (s: SignedRecord) => call("POST", "/v1/assert", submission(s));
  return { server, clock, call, submit, authority: server.store.dataDir.nodeKey };
}

type Node = Awaited<ReturnType<typeof serve>>;

function submission(s: SignedRecord): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(s.record as unknown as Record<string, unknown>))
    out[k] = v instanceof Uint8Array ? toHex(v) : v;
  return { ...out, sig: toHex(s.sig) };
}

const t0 = Date.now() - 1_000_000;
let seq = 0;
function claim(key: KeyPair, subject: string, object: unknown, confidence = 0.9, predicate = "risk"): SignedRecord {
  return signClaim(key, { kind: "assertion", subject, predicate, object, confidence, ts: t0 + ++seq });
}

async function consensus(node: Node, subject: string, predicate = "risk") {
  const r = await node.call(
    "GET",
    `/v1/query?subject=${encodeURIComponent(subject)}&predicate=${predicate}&lens=consensus&fresh=true`,
  );
  expect(r.status).toBe(200);
  return r.body as { value: unknown; candidates: number; winner: { id: string } | null };
}

const nodes: Node[] = [];
afterAll(async () => {
  for (const n of nodes) await n.server.stop();
  await cleanupAll();
});

describe("quarantine of unknown agents", () => {
  let node: Node;
  const newcomer = generateKeyPair();
  const other = generateKeyPair();
  let heldId = "";

  beforeAll(async () => {
    node = await serve({ "quarantine-unknown-agents": "true", "breaker-bad-max": "4" });
    nodes.push(node);
  });

  test("a newcomer's assertion is stored, answered 'quarantined', held by a hold the node signed right before it", async () => {
    const s = claim(newcomer, "def/unknown/a", 12);
    heldId = toHex(s.id);
    const w = await node.submit(s);
    expect(w.status).toBe(201);
    expect(w.body).toMatchObject({ id: heldId, status: "quarantined", duplicate: false });
    const got = await node.call("GET", `/v1/assertions/${heldId}`);
    expect(got.body.flags).toEqual(["quarantined"]);
    const queue = await node.call("GET", "/v1/admin/quarantine");
    expect(queue.status).toBe(200);
    expect(queue.body.held).toBe(1);
    const item = queue.body.items?.[0] as unknown as HeldItem;
    expect(item).toMatchObject({ id: heldId, rules: ["unknown_agent"], assertion: { id: heldId, object: 12 } });
    expect(item.why[0]?.detail).toContain("unknown");
    const hold = await node.call("GET", `/v1/assertions/${item.hold.id}`);
    expect(hold.body).toMatchObject({ kind: "review", action: "hold", target: heldId, agent: toHex(node.authority.publicKey) });
    expect(hold.body.lsn).toBe((w.body.lsn as number) - 1);
    expect(JSON.parse(hold.body.note as string)).toMatchObject({ policy: ["unknown_agent"], api_key: null });
    // Re-sending it is a duplicate that still says where it stands.
    const again = await node.submit(s);
    expect(again.body).toMatchObject({ status: "quarantined", duplicate: true });
  });

  test("lenses do not count a held assertion; approval makes it count and the agent known", async () => {
    expect((await consensus(node, "def/unknown/a")).candidates).toBe(0);
    const second = claim(newcomer, "def/unknown/b", 5);
    expect((await node.submit(second)).body.status).toBe("quarantined"); // still unknown
    const approve = await node.call("POST", `/v1/admin/quarantine/${heldId}/approve`, { note: "checked the label" });
    expect(approve.status).toBe(201);
    expect(approve.body).toMatchObject({ action: "approve", target: heldId, state: "approved" });
    const review = await node.call("GET", `/v1/assertions/${approve.body.id}`);
    expect(review.body).toMatchObject({ kind: "review", action: "approve", agent: toHex(node.authority.publicKey) });
    expect(JSON.parse(review.body.note as string)).toEqual({ note: "checked the label", api_key: null });
    const answer = await consensus(node, "def/unknown/a");
    expect(answer.winner?.id).toBe(heldId);
    expect(answer.value).toBe(12);
    expect((await node.call("GET", `/v1/assertions/${heldId}`)).body.flags).toEqual([]);
    // Known now: the next one goes straight through; the earlier held one stays held.
    expect((await node.submit(claim(newcomer, "def/unknown/c", 1))).body.status).toBe("accepted");
    expect((await node.call("GET", `/v1/assertions/${toHex(second.id)}`)).body.flags).toEqual(["quarantined"]);
  });

  test("rejection flags the assertion 'rejected'; deciding twice is 409; an id not held is 404", async () => {
    const s = claim(other, "def/unknown/d", 7);
    const id = toHex(s.id);
    expect((await node.submit(s)).body.status).toBe("quarantined");
    const reject = await node.call("POST", `/v1/admin/quarantine/${id}/reject`);
    expect(reject.status).toBe(201);
    expect((await node.call("GET", `/v1/assertions/${id}`)).body.flags).toEqual(["rejected"]);
    expect((await consensus(node, "def/unknown/d")).candidates).toBe(0);
    for (const action of ["approve", "reject"]) {
      const again = await node.call("POST", `/v1/admin/quarantine/${id}/${action}`);
      expect(again.status).toBe(409);
      expect(again.body).toMatchObject({ code: "already_decided", state: "rejected" });
    }
    const accepted = (await node.call("GET", "/v1/assertions?subject=def/unknown/c")).body.items?.[0]?.id as string;
    for (const target of [accepted, "ab".repeat(32)]) {
      const missing = await node.call("POST", `/v1/admin/quarantine/${target}/approve`);
      expect(missing.status).toBe(404);
      expect(missing.body.code).toBe("not_found");
    }
    expect((await node.call("POST", "/v1/admin/quarantine/nothex/approve")).status).toBe(400);
    expect((await node.call("POST", `/v1/admin/quarantine/${id}/approve`, { why: "x" })).body.code).toBe("unknown_field");
    expect((await node.call("GET", "/v1/admin/quarantine/x")).status).toBe(404);
    expect((await node.call("GET", `/v1/admin/quarantine/${id}/approve`)).status).toBe(405);
  });

  test("a trust seed by an authority makes an agent known; authorities are never held", async () => {
    const seeded = generateKeyPair();
    const seed = signClaim(node.authority, { kind: "review", action: "trust_seed", target: toHex(seeded.publicKey) });
    expect((await node.submit(seed)).status).toBe(201);
    expect((await node.submit(claim(seeded, "def/unknown/e", 1))).body.status).toBe("accepted");
    expect((await node.submit(claim(node.authority, "def/unknown/e", 2))).body.status).toBe("accepted");
  });

  test("the queue pages by cursor, oldest hold first", async () => {
    const pager = generateKeyPair();
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) {
      const s = claim(pager, `def/unknown/page${i}`, i);
      ids.push(toHex(s.id));
      expect((await node.submit(s)).body.status).toBe("quarantined");
    }
    const all = (await node.call("GET", "/v1/admin/quarantine?limit=1000")).body.items?.map((i) => i.id);
    expect(all?.slice(-3)).toEqual(ids);
    const seen: unknown[] = [];
    let cursor: unknown = null;
    do {
      const page = await node.call("GET", `/v1/admin/quarantine?limit=2${cursor ? `&cursor=${cursor}` : ""}`);
      seen.push(...(page.body.items ?? []).map((i) => i.id));
      cursor = page.body.next_cursor;
    } while (cursor);
    expect(seen).toEqual(all ?? []);
    expect((await node.call("GET", "/v1/admin/quarantine?bogus=1")).status).toBe(400);
  });

  test("quarantined writes count against the agent's breaker (429 breaker_open at --breaker-bad-max)", async () => {
    const troll = generateKeyPair();
    for (let i = 0; i < 4; i++) expect((await node.submit(claim(troll, "def/unknown/troll", i))).body.status).toBe("quarantined");
    const refused = await node.submit(claim(troll, "def/unknown/troll", 99));
    expect(refused.status).toBe(429);
    expect(refused.body).toMatchObject({ code: "breaker_open", agent: toHex(troll.publicKey) });
    expect(Number(refused.headers.get("retry-after"))).toBeGreaterThan(0);
    const metrics = await (await fetch(`${node.server.url}/metrics`)).text();
    expect(metrics).toMatch(/stemedb_quarantined \d+/);
    expect(metrics).toContain('stemedb_breakers{state="open"} 1');
    expect(metrics).toContain('stemedb_breaker_rejections_total{breaker="agent"} 1');
    expect(metrics).toMatch(/stemedb_quarantine_decisions_total\{action="hold"\} \d+/);
    expect(metrics).toContain('stemedb_quarantine_decisions_total{action="reject"} 1');
    expect(metrics).toContain('stemedb_ingest_records_total{kind="assertion",result="quarantined"}');
  });
});

describe("quarantine below a trust threshold", () => {
  test("an agent under τ is held; once seeded (τ = 1 in the running snapshot) it is not", async () => {
    const node = await serve({ "quarantine-trust-below": "0.05", "trust-interval-ms": "20" });
    nodes.push(node);
    const agent = generateKeyPair();
    const held = await node.submit(claim(agent, "def/trust/a", 1));
    expect(held.body.status).toBe("quarantined");
    const queue = await node.call("GET", "/v1/admin/quarantine");
    expect(queue.body.items?.[0]).toMatchObject({
      rules: ["trust_below"],
      why: [{ rule: "trust_below", trust: 0.01, threshold: 0.05 }],
    });
    await node.submit(signClaim(node.authority, { kind: "review", action: "trust_seed", target: toHex(agent.publicKey) }));
    for (let i = 0; i < 200; i++) {
      const a = await node.call("GET", `/v1/agents/${toHex(agent.publicKey)}`);
      if ((a.body.trust as number) >= 0.05) break;
      await sleep(20);
    }
    expect((await node.submit(claim(agent, "def/trust/b", 2))).body.status).toBe("accepted");
    expect((await consensus(node, "def/trust/a")).candidates).toBe(0);
    expect((await consensus(node, "def/trust/b")).value).toBe(2);
  });
});

describe("quarantine of confident contradictions of a gold standard", () => {
  test("held at ≥ --quarantine-gold-confidence with a different object; agreeing or hedged claims go through", async () => {
    const node = await serve({ "quarantine-gold": "true", "quarantine-gold-confidence": "0.8" });
    nodes.push(node);
    const regulator = generateKeyPair();
    const troll = generateKeyPair();
    const label = claim(regulator, "def/gold/aspirin", 0.2, 0.95);
    expect((await node.submit(label)).body.status).toBe("accepted");
    // Before any gold standard the rule has nothing to compare with.
    expect((await node.submit(claim(troll, "def/gold/aspirin", 11, 0.95))).body.status).toBe("accepted");
    const gold = await node.call("POST", "/v1/admin/gold", { target: toHex(label.id) });
    expect(gold.status).toBe(201);
    const contra = claim(troll, "def/gold/aspirin", 12, 0.95);
    expect((await node.submit(contra)).body.status).toBe("quarantined");
    expect((await node.submit(claim(troll, "def/gold/aspirin", 12, 0.5))).body.status).toBe("accepted");
    expect((await node.submit(claim(troll, "def/gold/aspirin", 0.2, 0.99))).body.status).toBe("accepted");
    expect((await node.submit(claim(troll, "def/gold/other", 12, 0.99))).body.status).toBe("accepted");
    const item = (await node.call("GET", "/v1/admin/quarantine")).body.items?.[0] as unknown as HeldItem;
    expect(item).toMatchObject({ id: toHex(contra.id), rules: ["gold_contradiction"] });
    expect(item.why[0]).toMatchObject({ gold: toHex(label.id), confidence: 0.95, threshold: 0.8 });
    expect((await node.call("GET", `/v1/assertions/${toHex(contra.id)}`)).body.flags).toEqual(["quarantined"]);
  });
});

describe("per-agent circuit breakers", () => {
  let node: Node;
  const flooder = generateKeyPair();
  const bystander = generateKeyPair();

  beforeAll(async () => {
    node = await serve({ "breaker-rate-max": "20", "breaker-window-ms": "60000", "breaker-cooldown-ms": "30000" });
    nodes.push(node);
  });

  test("a flood from one agent opens its breaker (429 + Retry-After) while another agent's writes succeed", async () => {
    let refused: Answer | null = null;
    let accepted = 0;
    for (let i = 0; i < 40 && !refused; i++) {
      const w = await node.submit(claim(flooder, "def/flood", i, 0.5));
      if (w.status === 201) accepted++;
      else refused = w;
      if (i % 4 === 0) expect((await node.submit(claim(bystander, "def/calm", i, 0.5))).status).toBe(201);
    }
    expect(accepted).toBe(21); // the 21st write is over the bound and opens it
    expect(refused?.status).toBe(429);
    expect(refused?.body).toMatchObject({ code: "breaker_open", status: 429, retry_after_s: 30 });
    expect(refused?.headers.get("retry-after")).toBe("30");
    expect(refused?.headers.get("content-type")).toContain("application/problem+json");
    // A batch from the flooder is refused item by item; the bystander's items in it are not.
    const batch = await node.call("POST", "/v1/assert/batch", {
      records: [submission(claim(flooder, "def/flood", 100)), submission(claim(bystander, "def/calm", 100))],
    });
    expect(batch.body).toMatchObject({ accepted: 1, rejected: 1 });
    const list = await node.call("GET", "/v1/admin/breakers");
    expect(list.body.items?.[0]).toMatchObject({ agent: toHex(flooder.publicKey), state: "open", trips: 1 });
    expect(list.body.items?.[0]?.opened_at).toMatch(/^\d{4}-/);
    expect(list.body.items?.find((b) => b.agent === toHex(bystander.publicKey))?.state).toBe("closed");
    expect((await node.call("GET", "/v1/admin/breakers?state=open")).body.items).toHaveLength(1);
    expect(list.body.global).toMatchObject({ state: "closed" });
  });

  test("after the cool-down it half-opens, lets one probe through, and a good probe closes it", async () => {
    node.clock.shift += 30_000;
    const list = await node.call("GET", "/v1/admin/breakers?state=half_open");
    expect(list.body.items?.map((b) => b.agent)).toEqual([toHex(flooder.publicKey)]);
    const probe = await node.submit(claim(flooder, "def/flood", 200, 0.5));
    expect(probe.status).toBe(201);
    const after = await node.call("GET", "/v1/admin/breakers");
    expect(after.body.items?.find((b) => b.agent === toHex(flooder.publicKey))).toMatchObject({ state: "closed", writes: 0 });
    expect((await node.submit(claim(flooder, "def/flood", 201, 0.5))).status).toBe(201);
  });

  test("an admin reset closes an open breaker at once; an agent with none is 404", async () => {
    for (let i = 0; i < 25; i++) await node.submit(claim(flooder, "def/flood2", i, 0.5));
    expect((await node.submit(claim(flooder, "def/flood2", 99))).status).toBe(429);
    const reset = await node.call("POST", `/v1/admin/breakers/${toHex(flooder.publicKey)}/reset`);
    expect(reset.status).toBe(200);
    expect(reset.body).toMatchObject({ agent: toHex(flooder.publicKey), reset: true, state: "closed" });
    expect((await node.submit(claim(flooder, "def/flood2", 100))).status).toBe(201);
    expect((await node.call("POST", `/v1/admin/breakers/${"cd".repeat(32)}/reset`)).status).toBe(404);
    expect((await node.call("POST", "/v1/admin/breakers/xyz/reset")).status).toBe(400);
  });

  test("forgeries in an agent's name never count against it", async () => {
    const victim = generateKeyPair();
    const forger = generateKeyPair();
    for (let i = 0; i < 30; i++) {
      const real = claim(victim, "def/forged", i);
      const forged = {
        ...submission(real),
        sig: toHex(signClaim(forger, { kind: "vote", target: "00".repeat(32), value: 1 }).sig),
      };
      expect((await node.call("POST", "/v1/assert", forged)).body.code).toBe("bad_signature");
    }
    expect((await node.submit(claim(victim, "def/forged", 1000))).status).toBe(201);
  });
});

describe("the global breaker", () => {
  test("writes get 503 overloaded + Retry-After while the fsync p99 is over its bound, and flow again after the cool-down", async () => {
    // A bound no real fdatasync can meet: the breaker opens after its first 20 syncs.
    const node = await serve({ "shed-fsync-p99-ms": "0.000001" });
    nodes.push(node);
    const agent = generateKeyPair();
    let shed: Answer | null = null;
    let written = 0;
    for (let i = 0; i < 40 && !shed; i++) {
      const w = await node.submit(claim(agent, "def/slow", i));
      if (w.status === 201) written++;
      else shed = w;
    }
    expect(written).toBe(20);
    expect(shed?.status).toBe(503);
    expect(shed?.body).toMatchObject({ code: "overloaded" });
    expect(shed?.body.detail).toContain("fdatasync p99");
    expect(Number(shed?.headers.get("retry-after"))).toBeGreaterThan(0);
    const breakers = await node.call("GET", "/v1/admin/breakers");
    expect(breakers.body.global).toMatchObject({ state: "open", bound_ms: 0.000001 });
    expect(await (await fetch(`${node.server.url}/metrics`)).text()).toContain("stemedb_global_breaker_open 1");
    node.clock.shift += 5_000;
    expect((await node.submit(claim(agent, "def/slow", 100))).status).toBe(201);
  });
});
