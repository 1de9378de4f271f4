/**
 * The client package in a real browser: headless Chromium (Debian's, driven by playwright-core)
 * loads a page from one origin that imports the installed package as ES modules (an import
 * map points at the package's files and @noble's) and talks to a StemeDB server on another
 * origin through CORS: keygen, sign, submit, a CBOR batch, query, get, verify, a typed error.
 * A second server, without `--cors-origin` for the page, is refused by the browser, and the
 * page sees the failure.
 *
 * Needs /usr/bin/chromium (`make test-deps` installs it); without it the test fails, saying so.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import fs from "node:fs";
import path from "node:path";
import { type BrowserContext, chromium, type Page } from "playwright-core";
import { initDataDir } from "../../src/store/datadir.ts";
import { type InstalledClient, installedClient, repoRoot } from "./client-package.ts";
import { cleanupAll, runCli, type ServerProcess, spawnServer, tempDir } from "./helpers.ts";

const chromiumPath = "/usr/bin/chromium";
const chromiumArgs = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--no-first-run",
  "--disable-quic",
];

let pkg: InstalledClient;
let pageServer: ReturnType<typeof Bun.serve>;
let pageOrigin = "";
let allowed: ServerProcess;
let refusing: ServerProcess;
let writerKey = "";
let browser: BrowserContext;
let page: Page;
const consoleLines: string[] = [];

/** The page's files: the page itself, the installed package, and @noble from the consumer project. */
function servePage(): ReturnType<typeof Bun.serve> {
  const fixtures = path.join(repoRoot, "test/fixtures/client");
  const roots: Array<[string, string]> = [
    ["/pkg/", pkg.installed],
    ["/noble/ed25519/", path.join(pkg.project, "node_modules/@noble/ed25519")],
    ["/noble/hashes/", path.join(pkg.project, "node_modules/@noble/hashes")],
  ];
  return Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    fetch(request) {
      const { pathname } = new URL(request.url);
      if (pathname === "/") return new Response(Bun.file(path.join(fixtures, "page.html")));
      if (pathname === "/page.js") return new Response(Bun.file(path.join(fixtures, "page.js")));
      for (const [prefix, dir] of roots) {
        if (!pathname.startsWith(prefix)) continue;
        const file = path.resolve(dir, `.${pathname.slice(prefix.length - 1)}`);
        if (file.startsWith(dir) && fs.existsSync(file)) return new Response(Bun.file(file));
      }
      return new Response("not found", { status: 404 });
    },
  });
}

beforeAll(async () => {
  if (!fs.existsSync(chromiumPath))
    throw new Error(`${chromiumPath} is missing: run \`make test-deps\` (apt-get install chromium)`);
  pkg = await installedClient();
  pageServer = servePage();
  pageOrigin = `http://127.0.0.1:${pageServer.port}`;
  const dir = tempDir("stemedb-client-browser-");
  initDataDir(dir);
  const made = await runCli(["keys", "create", "--data-dir", dir, "--role", "writer", "--name", "page"]);
  writerKey = made.stdout.trim().split("\n").at(-1) as string;
  [allowed, refusing] = await Promise.all([
    spawnServer(dir, { args: ["--cors-origin", pageOrigin, "--log-level", "warn"] }),
    spawnServer(tempDir("stemedb-client-browser-"), { args: ["--cors-origin", "http://127.0.0.1:1", "--log-level", "warn"] }),
  ]);
  browser = await chromium.launchPersistentContext(tempDir("stemedb-chromium-profile-"), {
    executablePath: chromiumPath,
    headless: true,
    args: chromiumArgs,
  });
  page = await browser.newPage();
  page.on("console", (message) => consoleLines.push(message.text()));
  page.on("pageerror", (err) => consoleLines.push(`pageerror: ${err.message}`));
  await page.goto(`${pageOrigin}/`);
  // A string: it runs in the page, where `document` exists (this file is compiled without DOM types).
  await page.waitForFunction('document.getElementById("status")?.textContent === "ready"', undefined, { timeout: 30_000 });
}, 240_000);

afterAll(async () => {
  await browser?.close();
  pageServer?.stop(true);
  await cleanupAll();
});

interface PageRun {
  platform: { toHex: string; buffer: string };
  submit?: { id: string; status: string; duplicate: boolean };
  expectedId?: string;
  batch?: { accepted: number; rejected: number };
  query?: { winner: string | null; value: unknown; candidates: number };
  verified?: boolean;
  follow?: string[];
  error?: { clientError: boolean; code: string; status: number };
  exposed?: { requestId: boolean };
  failed?: { name: string | null; message: string };
}

function runInPage(url: string): Promise<PageRun> {
  return page.evaluate(([u, k]) => (globalThis as unknown as { run(u: string, k: string): Promise<PageRun> }).run(u, k), [
    url,
    writerKey,
  ] as const);
}

describe("in Chromium, from another origin", () => {
  test("keygen, sign, submit, batch, query, get, verify and a typed error, through CORS", async () => {
    const out = await runInPage(allowed.url);
    expect(out.failed).toBeUndefined();
    expect(out.platform.buffer).toBe("undefined"); // a real browser: no Node globals to lean on
    expect(out.submit).toMatchObject({ id: out.expectedId, status: "accepted", duplicate: false });
    expect(out.batch).toMatchObject({ accepted: 1, rejected: 0 });
    expect(out.query).toMatchObject({ value: 0.2, candidates: 1 });
    expect(out.verified).toBe(true);
    expect(out.error).toEqual({ clientError: true, code: "not_found", status: 404 });
    expect(out.exposed).toEqual({ requestId: true });
    // follow() through CORS: the record and the batch's, in log order.
    expect(out.follow).toEqual([out.expectedId as string, out.query?.winner as string]);
    // The server has what the page signed, under the id the page computed.
    const stored = await fetch(`${allowed.url}/v1/assertions/${out.expectedId}`, {
      headers: { authorization: `Bearer ${writerKey}` },
    });
    expect(stored.status).toBe(200);
    expect(((await stored.json()) as { confidence: number }).confidence).toBe(0.75);
  }, 120_000);

  test("a server that does not list the page's origin is refused by the browser, and the page sees it fail", async () => {
    consoleLines.length = 0;
    const out = await runInPage(refusing.url);
    expect(out.submit).toBeUndefined();
    expect(out.failed).toEqual({ name: "TypeError", message: "Failed to fetch" });
    expect(consoleLines.join("\n")).toContain("blocked by CORS policy");
  }, 120_000);
});
