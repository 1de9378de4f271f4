/**
 * deploy/nginx and deploy/envoy. nginx: `nginx -t` accepts the config (with a throwaway
 * certificate), and a real nginx in front of a real server terminates TLS, passes and makes
 * X-Request-Id, enforces the server's body limits (1 MiB single, 16 MiB batch) and redirects
 * plain HTTP. envoy: the YAML parses and says what it promises (health checks on /v1/ready, the
 * body limits, request ids); `envoy --mode validate` runs only where an envoy binary exists —
 * Debian packages none, so usually it does not.
 */
import { afterAll, describe, expect, test } from "bun:test";
import fs from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort, sleep, spawnServer, tempDir, track } from "../integration/helpers.ts";
import { selfSigned } from "../support/tls.ts";
import { deployDir, findTool, run, withTool } from "./tools.ts";

const nginxConf = fs.readFileSync(join(deployDir, "nginx/stemedb.conf"), "utf8");
const made: string[] = [];
afterAll(() => {
  for (const dir of made.splice(0)) fs.rmSync(dir, { recursive: true, force: true });
});

/** A directory holding a test certificate, and nginx's config rewritten to live inside it. */
async function nginxSandbox(ports?: { https: number; http: number; upstream: number }): Promise<string> {
  const dir = fs.mkdtempSync(join(tmpdir(), "stemedb-nginx-"));
  made.push(dir);
  fs.mkdirSync(join(dir, "logs"));
  selfSigned({ cert: join(dir, "fullchain.pem"), key: join(dir, "privkey.pem") }, "/CN=localhost");
  let conf = nginxConf.replaceAll("/etc/ssl/stemedb", dir).replaceAll("/var/log/nginx", join(dir, "logs"));
  if (ports)
    conf = conf
      .replace(/^\s*listen \[::\]:\d+.*$/gm, "")
      .replace(/listen 443 ssl/g, `listen 127.0.0.1:${ports.https} ssl`)
      .replace(/listen 80;/g, `listen 127.0.0.1:${ports.http};`)
      .replace("server 127.0.0.1:18180", `server 127.0.0.1:${ports.upstream}`);
  fs.writeFileSync(join(dir, "stemedb.conf"), conf);
  // Debian's nginx.conf, cut down: the http {} context that includes conf.d/*.conf.
  fs.writeFileSync(
    join(dir, "nginx.conf"),
    `pid ${dir}/nginx.pid;
error_log stderr;
daemon off;
master_process off;
events {}
http {
  access_log off;
  client_body_temp_path ${dir}/body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
  include ${dir}/stemedb.conf;
}
`,
  );
  return dir;
}

describe("deploy/nginx/stemedb.conf", () => {
  test("says what it promises: TLS, the server's body limits, health checks, X-Request-Id", () => {
    expect(nginxConf).toMatch(/listen 443 ssl/);
    expect(nginxConf).toMatch(/^\s*client_max_body_size 1m;/m);
    expect(nginxConf).toMatch(/location = \/v1\/assert\/batch \{\s*client_max_body_size 16m;/);
    expect(nginxConf).toMatch(/proxy_set_header X-Request-Id \$stemedb_request_id;/);
    expect(nginxConf).toMatch(/health_check uri=\/v1\/ready/);
    expect(nginxConf).toMatch(/limit_req zone=stemedb_write/);
  });

  withTool("nginx -t accepts it", "nginx", async (nginx) => {
    const dir = await nginxSandbox();
    const r = await run([nginx, "-t", "-e", "stderr", "-p", dir, "-c", join(dir, "nginx.conf")]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain("test is successful");
  });

  withTool(
    "in front of a real server: TLS, request ids, 413 past 1 MiB but a 16 MiB batch passes, http → https",
    "nginx",
    async (nginx) => {
      const server = await spawnServer(tempDir("stemedb-nginx-data-"));
      const ports = { https: freePort(), http: freePort(), upstream: server.port };
      const dir = await nginxSandbox(ports);
      const proxy = track(
        Bun.spawn([nginx, "-e", "stderr", "-p", dir, "-c", join(dir, "nginx.conf")], { stdout: "ignore", stderr: "pipe" }),
      );
      const base = `https://127.0.0.1:${ports.https}`;
      const tls = { tls: { rejectUnauthorized: false } };
      let health: Response | null = null;
      for (let i = 0; i < 100 && !health; i++) {
        health = await fetch(`${base}/v1/health`, tls).catch(() => null);
        if (!health) await sleep(50);
      }
      expect(health?.status).toBe(200);
      // nginx makes an id when the client sends none (its $request_id: 32 hex digits), and
      // passes a client's own; the server answers with the id it was given.
      expect(health?.headers.get("x-request-id")).toMatch(/^[0-9a-f]{32}$/);
      const mine = await fetch(`${base}/v1/health`, { ...tls, headers: { "x-request-id": "deploy-test-1" } });
      expect(mine.headers.get("x-request-id")).toBe("deploy-test-1");
      // Body limits: a single record over 1 MiB stops at nginx; a batch of 2 MiB reaches the
      // server (which answers it: not with 413).
      const big = new Uint8Array(1024 * 1024 + 1);
      const single = await fetch(`${base}/v1/assert`, {
        ...tls,
        method: "POST",
        body: big,
        headers: { "content-type": "application/cbor" },
      });
      expect(single.status).toBe(413);
      expect(single.headers.get("server")).toMatch(/^nginx/);
      const batch = await fetch(`${base}/v1/assert/batch`, {
        ...tls,
        method: "POST",
        body: new Uint8Array(2 * 1024 * 1024),
        headers: { "content-type": "application/cbor" },
      });
      expect(batch.status).not.toBe(413);
      expect(batch.headers.get("x-request-id")).toMatch(/^[0-9a-f]{32}$/);
      // Plain HTTP is redirected, the path kept.
      const plain = await fetch(`http://127.0.0.1:${ports.http}/v1/health`, { redirect: "manual" });
      expect(plain.status).toBe(308);
      expect(plain.headers.get("location")).toBe(`https://127.0.0.1/v1/health`);
      proxy.kill("SIGQUIT");
      await proxy.exited;
      await server.stop();
    },
    { timeoutMs: 60_000 },
  );
});

interface Envoy {
  static_resources: {
    listeners: Array<{ name: string; filter_chains: Array<{ filters: Array<{ typed_config: Record<string, unknown> }> }> }>;
    clusters: Array<{ name: string; health_checks: Array<{ http_health_check: { path: string } }> }>;
  };
}
const envoyText = fs.readFileSync(join(deployDir, "envoy/envoy.yaml"), "utf8");

describe("deploy/envoy/envoy.yaml", () => {
  test("parses, and says what it promises: TLS, /v1/ready health checks, body limits, rate limit, request ids", () => {
    const envoy = Bun.YAML.parse(envoyText) as Envoy;
    const cluster = envoy.static_resources.clusters.find((c) => c.name === "stemedb");
    expect(cluster?.health_checks[0]?.http_health_check.path).toBe("/v1/ready");
    const https = envoy.static_resources.listeners.find((l) => l.name === "stemedb_https");
    const hcm = https?.filter_chains[0]?.filters[0]?.typed_config as Record<string, unknown>;
    expect(hcm.generate_request_id).toBe(true);
    expect(hcm.preserve_external_request_id).toBe(true);
    const filters = (hcm.http_filters as Array<{ name: string; typed_config: Record<string, unknown> }>).map((f) => f.name);
    expect(filters).toEqual(["envoy.filters.http.buffer", "envoy.filters.http.local_ratelimit", "envoy.filters.http.router"]);
    expect(envoyText).toContain("DownstreamTlsContext");
    expect(envoyText).toContain("max_request_bytes: 1048576");
    expect(envoyText).toContain("buffer: { max_request_bytes: 16777216 }");
  });

  const envoy = findTool("envoy");
  if (envoy)
    test("envoy --mode validate accepts it", async () => {
      const r = await run([envoy, "--mode", "validate", "-c", join(deployDir, "envoy/envoy.yaml")]);
      expect(r.code, r.stderr).toBe(0);
    });
  else test.skip("envoy --mode validate (skipped: no envoy binary here; Debian does not package it)", () => {});
});
