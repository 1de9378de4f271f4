/**
 * The client package under plain Node, as a user installs it (client-package.ts: built by
 * `make client`'s function, `npm pack`, `npm install`): a program runs against a real server
 * (test/fixtures/client/node-consumer.mjs), and a TypeScript project with a strict NodeNext
 * configuration compiles against the package's declarations.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import fs from "node:fs";
import path from "node:path";
import { type InstalledClient, installedClient, repoRoot } from "./client-package.ts";
import { cleanupAll, type ServerProcess, spawnServer, tempDir } from "./helpers.ts";

let pkg: InstalledClient;
let server: ServerProcess;

beforeAll(async () => {
  [pkg, server] = await Promise.all([installedClient(), spawnServer(tempDir("stemedb-client-node-"))]);
}, 240_000);

afterAll(async () => {
  await cleanupAll();
});

/** Runs `node ARGS` in `cwd`; resolves with its stdout, rejects with its output when it fails. */
async function node(args: string[], cwd: string): Promise<string> {
  const proc = Bun.spawn([pkg.node, ...args], { cwd, stdout: "pipe", stderr: "pipe" });
  const timer = setTimeout(() => proc.kill("SIGKILL"), 100_000);
  const [stdout, stderr, code] = await Promise.all([
    new Response(proc.stdout).text(),
    new Response(proc.stderr).text(),
    proc.exited,
  ]);
  clearTimeout(timer);
  if (code !== 0) throw new Error(`node ${args.join(" ")} exited ${code}:\n${stdout}\n${stderr}`);
  return stdout;
}

describe("the installed package", () => {
  test("holds compiled JavaScript, declarations and a manifest depending on @noble alone, at the pinned versions", () => {
    const manifest = JSON.parse(fs.readFileSync(path.join(pkg.installed, "package.json"), "utf8"));
    const root = JSON.parse(fs.readFileSync(path.join(repoRoot, "package.json"), "utf8"));
    expect(manifest).toMatchObject({ name: "@stemedb/client", version: root.version, type: "module" });
    expect(manifest.dependencies).toEqual({
      "@noble/ed25519": root.dependencies["@noble/ed25519"],
      "@noble/hashes": root.dependencies["@noble/hashes"],
    });
    expect(manifest.exports["."]).toEqual({
      types: "./types/client/index.d.ts",
      import: "./index.js",
      default: "./index.js",
    });
    expect(fs.existsSync(path.join(pkg.installed, "types/client/index.d.ts"))).toBe(true);
    expect(fs.existsSync(path.join(pkg.installed, "README.md"))).toBe(true);
    // Nothing else was installed: no Elysia, no prom-client, no native addon.
    const installed = fs
      .readdirSync(path.join(pkg.project, "node_modules"))
      .flatMap((scope) =>
        scope.startsWith("@")
          ? fs.readdirSync(path.join(pkg.project, "node_modules", scope)).map((n) => `${scope}/${n}`)
          : [scope],
      );
    expect(installed.filter((n) => !n.startsWith(".")).sort()).toEqual(["@noble/ed25519", "@noble/hashes", "@stemedb/client"]);
    const declarations = fs.readFileSync(path.join(pkg.installed, "types/client/index.d.ts"), "utf8");
    expect(declarations).not.toMatch(/from "\.[^"]*\.ts"/);
  });

  test("runs under the machine's plain node (20+, no type stripping, no Math.f16round) against a real server", async () => {
    expect(pkg.nodeMajor).toBeGreaterThanOrEqual(20);
    const script = path.join(pkg.project, "node-consumer.mjs");
    fs.copyFileSync(path.join(repoRoot, "test/fixtures/client/node-consumer.mjs"), script);
    const vectors = path.join(repoRoot, "test/fixtures/vectors/vectors.json");
    const out = JSON.parse(await node([script, server.url, vectors], pkg.project));
    if (pkg.nodeMajor < 24) expect(out.platform.f16round).toBe("undefined"); // the portable float16 path ran
    // Every record vector signs to the same bytes, id and signature; the signature rule agrees.
    expect(out.vectors).toEqual({ checked: 62, mismatches: [] });
    expect(out.signatures).toEqual({ checked: 26, mismatches: [] });
    expect(out.halves).toEqual(["f93800", "f93a00", "f90001", "f9be00", "fb3fc999999999999a"]);
    // The server accepted what Node signed: its canonical bytes are the server's.
    expect(out.submit).toMatchObject({ id: out.submit.expectedId, status: "accepted", duplicate: false });
    expect(out.duplicate).toMatchObject({ id: out.submit.expectedId, duplicate: true });
    expect(out.batchJson).toMatchObject({ accepted: 2, rejected: 0 });
    expect(out.batchCbor).toMatchObject({ accepted: 2, rejected: 0 });
    expect([...out.batchJson.results, ...out.batchCbor.results].map((r: { id: string }) => r.id)).toEqual(out.batchIds);
    // The agent's later claim on the pair replaces its first one.
    expect(out.query).toEqual({ lens: "recency", candidates: 1, winner: out.batchIds[0], value: 0.2 });
    expect(out.get).toMatchObject({ id: out.submit.id, confidence: 0.75, object: 0.5 });
    expect(out.verify).toEqual({ genuine: true, tampered: false, bodyMatches: true });
    expect(out.list).toBe(2);
    // follow() from 0: the five stored records (the duplicate is not a record), in log order.
    expect(out.follow.map((e: { id: string }) => e.id)).toEqual([out.submit.id, ...out.batchIds]);
    expect(out.follow.map((e: { lsn: number }) => e.lsn)).toEqual([1, 2, 3, 4, 5]);
    expect(out.error).toEqual({ isClientError: true, code: "not_found", status: 404, hasRequestId: true });
    expect(out.forged).toMatchObject({ code: "bad_signature", status: 400 });
  }, 120_000);

  test("a consumer's tsc with strict NodeNext settings compiles clean against the declarations", async () => {
    const dir = path.join(pkg.project, "ts");
    fs.mkdirSync(dir, { recursive: true });
    fs.copyFileSync(path.join(repoRoot, "test/fixtures/client/consumer.ts"), path.join(dir, "consumer.ts"));
    const tsc = path.join(repoRoot, "node_modules/typescript/bin/tsc");
    const base = {
      target: "ES2022",
      module: "NodeNext",
      moduleResolution: "NodeNext",
      strict: true,
      noUncheckedIndexedAccess: true,
      exactOptionalPropertyTypes: true,
      noEmit: true,
      skipLibCheck: false,
    };
    // A browser app (DOM types) and a Node app (@types/node: fetch and AbortSignal from undici's types).
    const configs = {
      "tsconfig.dom.json": { ...base, lib: ["ES2022", "DOM"], types: [] },
      "tsconfig.node.json": {
        ...base,
        lib: ["ES2022"],
        types: ["node"],
        typeRoots: [path.join(repoRoot, "node_modules/@types")],
      },
    };
    const outputs = await Promise.all(
      Object.entries(configs).map(async ([name, compilerOptions]) => {
        fs.writeFileSync(path.join(dir, name), JSON.stringify({ compilerOptions, files: ["consumer.ts"] }));
        return `${name}: ${await node([tsc, "-p", name], dir).catch((err: Error) => err.message)}`;
      }),
    );
    expect(outputs).toEqual(Object.keys(configs).map((name) => `${name}: `));
  }, 120_000);
});
