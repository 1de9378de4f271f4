/**
 * Guarding the door against a real server: protected mode, API keys and roles on every admin
 * route, revocation, rate limits, body limits and timeouts, TLS, and no secrets in logs.
 */
import { afterAll, describe, expect, test } from "bun:test";
import fs from "node:fs";
import { join } from "node:path";
import { type RunningServer, startServer } from "../../src/api/serve.ts";
import { generateKeyPair, signClaim, toHex, toJsonSubmission } from "../../src/client/index.ts";
import { loadConfig } from "../../src/config/config.ts";
import { createLogger, silentLogger } from "../../src/core/logger.ts";
import { initDataDir } from "../../src/store/datadir.ts";
import { selfSigned } from "../support/tls.ts";
import { cleanupAll, runCli, tempDir } from "./helpers.ts";

afterAll(async () => {
  await cleanupAll();
});

function serve(dir: string, extra: Record<string, string> = {}, logLines?: string[]) {
  return startServer(loadConfig({ "data-dir": dir, bind: "127.0.0.1:0", ...extra }, {}), {
    logger: logLines ? createLogger({ level: "debug", write: (l) => logLines.push(l) }) : silentLogger,
  });
}

async function call(server: RunningServer, method: string, path: string, key?: string, body?: unknown) {
  const headers: Record<string, string> = { "content-type": "application/json" };
  if (key) headers.authorization = `Bearer ${key}`;
  const res = await fetch(`${server.url}${path}`, {
    method,
    headers,
    ...(body !== undefined ? { body: typeof body === "string" ? body : JSON.stringify(body) } : {}),
  });
  const text = await res.text();
  return { status: res.status, headers: res.headers, body: (text ? JSON.parse(text) : null) as Record<string, unknown> };
}

describe("protected mode", () => {
  test("loopback with no keys runs open and warns; beyond loopback it refuses unless --insecure", async () => {
    const lines: string[] = [];
    const open = await serve(tempDir("stemedb-auth-"), {}, lines);
    try {
      expect((await call(open, "GET", "/v1/agents")).status).toBe(200);
      expect(lines.join("")).toContain("no API keys: the server is open");
    } finally {
      await open.stop();
    }
    const dir = tempDir("stemedb-auth-");
    await expect(
      startServer(loadConfig({ "data-dir": dir, bind: "0.0.0.0:0" }, {}), { logger: silentLogger }),
    ).rejects.toMatchObject({ code: "no_keys" });
    const insecure = await startServer(loadConfig({ "data-dir": dir, bind: "0.0.0.0:0", insecure: "true" }, {}), {
      logger: silentLogger,
    });
    await insecure.stop();
  });
});

describe("keys and roles", () => {
  const dir = tempDir("stemedb-auth-");
  let server: RunningServer;
  let admin = "";
  const lines: string[] = [];
  const secrets: string[] = [];

  test("the first admin key comes from the shell; the secret is the last line, stored only as a hash", async () => {
    initDataDir(dir);
    const made = await runCli(["keys", "create", "--data-dir", dir, "--role", "admin", "--name", "ops"]);
    expect(made.code).toBe(0);
    admin = made.stdout.trim().split("\n").at(-1) as string;
    expect(admin).toMatch(/^stm_[0-9a-f]{16}_[A-Za-z0-9_-]{43}$/);
    secrets.push(admin);
    const file = fs.readFileSync(join(dir, "keys.json"), "utf8");
    expect(file).not.toContain(admin);
    expect(fs.statSync(join(dir, "keys.json")).mode & 0o777).toBe(0o600);
    server = await serve(dir, {}, lines);
  });

  test("no key → 401; an unknown key → 401; health needs none", async () => {
    expect((await call(server, "GET", "/v1/agents")).status).toBe(401);
    expect(
      (await call(server, "GET", "/v1/agents", "stm_0000000000000000_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")).body.code,
    ).toBe("unauthorized");
    expect((await call(server, "GET", "/v1/agents", "not a key")).status).toBe(401);
    expect((await call(server, "GET", "/v1/health")).status).toBe(200);
  });

  test("admin makes keys over HTTP (secret once); the list never shows secrets or hashes", async () => {
    const made: Record<string, string> = {};
    for (const role of ["reader", "writer"]) {
      const r = await call(server, "POST", "/v1/admin/keys", admin, { name: `${role}-bot`, role });
      expect(r.status).toBe(201);
      expect(r.body).toMatchObject({ name: `${role}-bot`, role });
      made[role] = r.body.secret as string;
      secrets.push(made[role] as string);
    }
    expect((await call(server, "POST", "/v1/admin/keys", admin, { name: "x", role: "god" })).status).toBe(400);
    const list = await call(server, "GET", "/v1/admin/keys", admin);
    const text = JSON.stringify(list.body);
    for (const s of secrets) expect(text).not.toContain(s);
    expect(text).not.toContain('"hash"');
    expect((list.body.items as unknown[]).length).toBe(3);

    const reader = made.reader as string;
    const writer = made.writer as string;
    const agent = generateKeyPair();
    const claim = toJsonSubmission(
      signClaim(agent, { kind: "assertion", subject: "auth/x", predicate: "p", object: 1, confidence: 0.5 }),
    );
    expect((await call(server, "POST", "/v1/assert", reader, claim)).status).toBe(403);
    expect((await call(server, "POST", "/v1/assert", writer, claim)).status).toBe(201);
    expect((await call(server, "GET", "/v1/query?subject=auth/x&predicate=p", reader)).status).toBe(200);
    expect((await call(server, "POST", "/v1/query", reader, { subject: "auth/x", predicate: "p" })).status).toBe(200);

    // Every admin route: reader and writer 403, no key 401.
    const adminRoutes: Array<[string, string, unknown?]> = [
      ["GET", "/v1/admin/keys"],
      ["POST", "/v1/admin/keys", { name: "n", role: "reader" }],
      ["DELETE", "/v1/admin/keys/0123456789abcdef"],
      ["DELETE", "/v1/admin/views"],
      ["POST", "/v1/admin/gold", { target: "ab".repeat(32) }],
      ["GET", "/v1/admin/audit"],
      ["POST", `/v1/escalations/${"ab".repeat(32)}/resolve`, {}],
      ["POST", "/v1/epochs/e1/supersede", { by: "e2" }],
    ];
    for (const [method, path, body] of adminRoutes) {
      expect([method, path, (await call(server, method, path, undefined, body)).status]).toEqual([method, path, 401]);
      expect([method, path, (await call(server, method, path, reader, body)).status]).toEqual([method, path, 403]);
      expect([method, path, (await call(server, method, path, writer, body)).status]).toEqual([method, path, 403]);
    }

    // Revoked over HTTP: refused at once. The audit trail names the key, not an address.
    const writerId = writer.split("_")[1] as string;
    expect((await call(server, "DELETE", `/v1/admin/keys/${writerId}`, admin)).body).toEqual({ id: writerId, revoked: true });
    expect((await call(server, "POST", "/v1/assert", writer, claim)).status).toBe(401);
    const trail = await call(server, "GET", "/v1/audit/queries?subject=auth/x", reader);
    expect((trail.body.items as Array<{ caller: string }>)[0]?.caller).toBe(`key:${reader.split("_")[1]}`);

    // Revoked from the shell while the server runs: refused within a second or so.
    const readerId = reader.split("_")[1] as string;
    expect((await runCli(["keys", "revoke", readerId, "--data-dir", dir])).code).toBe(0);
    let status = 200;
    for (let i = 0; i < 30 && status === 200; i++) {
      await Bun.sleep(100);
      status = (await call(server, "GET", "/v1/agents", reader)).status;
    }
    expect(status).toBe(401);
    const listed = await runCli(["keys", "list", "--data-dir", dir]);
    expect(listed.stdout).toContain("reader-bot");
  });

  test("decisions note the API key that asked", async () => {
    const agent = generateKeyPair();
    const claim = signClaim(agent, { kind: "assertion", subject: "auth/gold", predicate: "p", object: 1, confidence: 0.5 });
    expect((await call(server, "POST", "/v1/assert", admin, toJsonSubmission(claim))).status).toBe(201);
    const gold = await call(server, "POST", "/v1/admin/gold", admin, { target: toHex(claim.id) });
    const review = await call(server, "GET", `/v1/assertions/${gold.body.id}`, admin);
    expect(JSON.parse(review.body.note as string)).toEqual({ api_key: admin.split("_")[1] });
    // An escalation opened by a query and resolved: both reviews name the key.
    const other = signClaim(generateKeyPair(), {
      kind: "assertion",
      subject: "auth/gold",
      predicate: "p",
      object: 2,
      confidence: 0.5,
    });
    expect((await call(server, "POST", "/v1/assert", admin, toJsonSubmission(other))).status).toBe(201);
    const q = await call(server, "GET", "/v1/query?subject=auth/gold&predicate=p&lens=consensus&escalate=0.5&fresh=true", admin);
    const esc = q.body.escalation as { id: string };
    const opened = await call(server, "GET", `/v1/assertions/${esc.id}`, admin);
    expect(JSON.parse(opened.body.note as string).api_key).toBe(admin.split("_")[1]);
    const resolved = await call(server, "POST", `/v1/escalations/${esc.id}/resolve`, admin, { note: "ok" });
    const closing = await call(server, "GET", `/v1/assertions/${resolved.body.resolution_id}`, admin);
    expect(JSON.parse(closing.body.note as string)).toEqual({ note: "ok", api_key: admin.split("_")[1] });
  });

  test("no secret or key hash reaches the log at any level", async () => {
    await server.stop();
    const file = JSON.parse(fs.readFileSync(join(dir, "keys.json"), "utf8")) as { keys: Array<{ hash: string }> };
    const log = lines.join("");
    expect(log.length).toBeGreaterThan(0);
    for (const s of secrets) {
      expect(log).not.toContain(s);
      // The secret part after stm_<id>_ (base64url, which may itself hold "_"), whole.
      expect(log).not.toContain(s.split("_").slice(2).join("_"));
    }
    for (const k of file.keys) expect(log).not.toContain(k.hash);
  });
});

describe("rate limits and body limits", () => {
  test("an empty bucket answers 429 with Retry-After and RateLimit fields; other classes are unaffected", async () => {
    const server = await serve(tempDir("stemedb-auth-"), { "rate-read": "5" });
    try {
      const statuses: number[] = [];
      let limited: Awaited<ReturnType<typeof call>> | null = null;
      for (let i = 0; i < 15; i++) {
        const r = await call(server, "GET", "/v1/agents");
        statuses.push(r.status);
        if (r.status === 429) limited = r;
      }
      expect(statuses.slice(0, 10).every((s) => s === 200)).toBe(true); // burst 2 × 5
      expect(limited?.body.code).toBe("rate_limited");
      expect(Number(limited?.headers.get("retry-after"))).toBeGreaterThanOrEqual(1);
      expect(limited?.headers.get("ratelimit-policy")).toBe('"read";q=5;w=1');
      expect(limited?.headers.get("ratelimit")).toMatch(/^"read";r=0;t=\d+$/);
      expect((await call(server, "GET", "/v1/health")).status).toBe(200);
      const metrics = await (await fetch(`${server.url}/metrics`)).text();
      expect(metrics).toMatch(/stemedb_rate_limit_rejections_total\{endpoint="read"\} [1-9]/);
    } finally {
      await server.stop();
    }
  });

  test("a read body over its limit is a 413; a body that never finishes is a 408", async () => {
    const server = await serve(tempDir("stemedb-auth-"), { "read-body-limit": "1024", "http-timeout-secs": "1" });
    try {
      const big = await call(server, "POST", "/v1/query", undefined, { subject: "a/b", predicate: "x".repeat(2000) });
      expect(big.status).toBe(413);
      expect(big.body.code).toBe("payload_too_large");
      const body = new ReadableStream({
        start(c) {
          c.enqueue(new TextEncoder().encode('{"subject":'));
          // …and never close.
        },
      });
      const slow = await fetch(`${server.url}/v1/query`, {
        method: "POST",
        body,
        headers: { "content-type": "application/json" },
      });
      expect(slow.status).toBe(408);
      expect(((await slow.json()) as { code: string }).code).toBe("request_timeout");
      const metrics = await (await fetch(`${server.url}/metrics`)).text();
      expect(metrics).toMatch(/stemedb_limit_rejections_total\{status="413"\} 1/);
      expect(metrics).toMatch(/stemedb_limit_rejections_total\{status="408"\} 1/);
    } finally {
      await server.stop();
    }
  });
});

describe("TLS", () => {
  test("HTTPS with a self-signed certificate; TLS 1.3 only by default", async () => {
    const dir = tempDir("stemedb-tls-");
    const cert = join(dir, "cert.pem");
    const key = join(dir, "key.pem");
    selfSigned({ cert, key }, "/CN=localhost", ["-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"]);
    const server = await serve(join(dir, "data"), { "tls-cert": cert, "tls-key": key });
    try {
      expect(server.url).toStartWith("https://");
      const res = await fetch(`${server.url}/v1/health`, { tls: { ca: fs.readFileSync(cert, "utf8") } } as RequestInit);
      expect(res.status).toBe(200);
      // curl as a separate process (the server runs on this event loop, so nothing may block it).
      const port = new URL(server.url).port;
      const curl = async (version: string[]) => {
        const proc = Bun.spawn(
          ["curl", "-sk", ...version, "-o", "/dev/null", "-w", "%{http_code}", `https://127.0.0.1:${port}/v1/health`],
          {
            stdout: "pipe",
            stderr: "ignore",
          },
        );
        const out = await new Response(proc.stdout).text();
        return { code: await proc.exited, out };
      };
      const tls12 = await curl(["--tls-max", "1.2"]);
      expect(tls12.code).not.toBe(0); // the handshake is refused
      const tls13 = await curl(["--tlsv1.3"]);
      expect(tls13.out).toBe("200");
    } finally {
      await server.stop();
    }
    expect(() => loadConfig({ "data-dir": dir, "tls-cert": cert }, {})).toThrow("--tls-cert and --tls-key go together");
  });
});

describe("a damaged keys.json", () => {
  test("refused at start by name; damaged while serving: known keys still work, the damage is logged, making a key is a clear 500", async () => {
    const dir = tempDir("stemedb-auth-");
    initDataDir(dir);
    const made = await runCli(["keys", "create", "--data-dir", dir, "--role", "admin", "--name", "ops"]);
    const admin = made.stdout.trim().split("\n").at(-1) as string;
    const file = join(dir, "keys.json");
    const good = fs.readFileSync(file, "utf8");

    fs.writeFileSync(file, "{damaged", { mode: 0o600 });
    await expect(serve(dir)).rejects.toMatchObject({ code: "data_file_corrupt" });
    const cli = await runCli(["serve", "--data-dir", dir, "--bind", "127.0.0.1:0"]);
    expect(cli.code).toBe(3);
    expect(cli.stderr).toContain(`stemedb serve: ${file} is damaged: not JSON`);

    fs.writeFileSync(file, good, { mode: 0o600 });
    const lines: string[] = [];
    const server = await serve(dir, {}, lines);
    try {
      expect((await call(server, "GET", "/v1/admin/keys", admin)).status).toBe(200);
      fs.writeFileSync(file, '{"keys": "damaged by hand"}', { mode: 0o600 });
      fs.utimesSync(file, Date.now() / 1000 + 5, Date.now() / 1000 + 5);
      await Bun.sleep(1100); // the store looks at the file at most once a second
      for (let i = 0; i < 3; i++) expect((await call(server, "GET", "/v1/admin/keys", admin)).status).toBe(200);
      expect((await call(server, "GET", "/v1/admin/keys")).status).toBe(401); // still guarded
      const refused = await call(server, "POST", "/v1/admin/keys", admin, { name: "more", role: "reader" });
      expect(refused.status).toBe(500);
      expect(refused.body.code).toBe("data_file_corrupt");
      const warned = lines.filter((l) => l.includes("the API key file is damaged"));
      expect(warned).toHaveLength(1);
      expect(fs.readFileSync(file, "utf8")).toBe('{"keys": "damaged by hand"}');
    } finally {
      await server.stop();
    }
  });
});
