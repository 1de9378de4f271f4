#!/usr/bin/env bun
/**
 * `make client`: the TypeScript client as a package of its own, in dist/client/ (docs/CLIENT.md).
 *
 *   index.js       src/client/index.ts and everything it imports, bundled by Bun into one ES
 *                  module of plain JavaScript (Node 20 runs it as is: no types to strip), with
 *                  @noble/ed25519 and @noble/hashes left as imports
 *   types/         its declarations, from tsc with tsconfig.client.json (no Bun or Node types:
 *                  a client file that used them would not compile there)
 *   package.json   @stemedb/client at the project's version, depending on the two @noble
 *                  packages at exactly the versions the project pins
 *   README.md      scripts/client-readme.md
 *
 *   bun scripts/build-client.ts [OUT_DIR]     (default dist/client)
 *
 * The tests build it with `buildClient` into a temp directory and install it with npm under
 * Node and in Chromium (test/integration/client-*.test.ts).
 */
import fs from "node:fs";
import path from "node:path";
import ts from "typescript";

const repoRoot = path.resolve(import.meta.dir, "..");
const entry = path.join(repoRoot, "src/client/index.ts");
/** The only packages the client may import; everything else it reaches is bundled in. */
export const clientDependencies = ["@noble/ed25519", "@noble/hashes"] as const;
export const clientPackageName = "@stemedb/client";

export interface BuiltClient {
  dir: string;
  name: string;
  version: string;
  /** The exact versions of @noble/ed25519 and @noble/hashes it depends on. */
  dependencies: Record<string, string>;
}

/** Builds the package into `outDir` (emptied first). Throws with the bundler's or tsc's messages. */
export async function buildClient(outDir: string): Promise<BuiltClient> {
  fs.rmSync(outDir, { recursive: true, force: true });
  fs.mkdirSync(outDir, { recursive: true });
  await bundle(outDir);
  declarations(path.join(outDir, "types"));
  const root = JSON.parse(fs.readFileSync(path.join(repoRoot, "package.json"), "utf8")) as {
    version: string;
    license: string;
    dependencies: Record<string, string>;
  };
  const dependencies = Object.fromEntries(clientDependencies.map((name) => [name, pinned(root.dependencies, name)]));
  const types = "./types/client/index.d.ts";
  const manifest = {
    name: clientPackageName,
    version: root.version,
    description: "The StemeDB client: keys, canonical encoding and signing, submit, query. Node 20+, Bun and browsers.",
    license: root.license,
    type: "module",
    exports: { ".": { types, import: "./index.js", default: "./index.js" }, "./package.json": "./package.json" },
    types,
    files: ["index.js", "types", "README.md"],
    // As @noble/hashes 2 asks.
    engines: { node: ">=20.19" },
    dependencies,
  };
  fs.writeFileSync(path.join(outDir, "package.json"), `${JSON.stringify(manifest, null, 2)}\n`);
  fs.copyFileSync(path.join(repoRoot, "scripts/client-readme.md"), path.join(outDir, "README.md"));
  return { dir: outDir, name: clientPackageName, version: root.version, dependencies };
}

function pinned(dependencies: Record<string, string>, name: string): string {
  const version = dependencies[name];
  if (!version || !/^\d+\.\d+\.\d+$/.test(version)) throw new Error(`package.json: ${name} must be pinned to an exact version`);
  return version;
}

async function bundle(outDir: string): Promise<void> {
  const result = await Bun.build({
    entrypoints: [entry],
    outdir: outDir,
    naming: "index.js",
    target: "browser", // no Node or Bun built-ins: the same file serves Node, Bun and browsers
    format: "esm",
    external: clientDependencies.map((name) => `${name}/*`).concat(clientDependencies),
    minify: false,
  });
  if (!result.success) throw new Error(`bundling the client failed:\n${result.logs.join("\n")}`);
  const code = fs.readFileSync(path.join(outDir, "index.js"), "utf8");
  for (const m of code.matchAll(/^import\s[^"']*["']([^"']+)["']/gm)) {
    const specifier = m[1] as string;
    if (!clientDependencies.some((dep) => specifier === dep || specifier.startsWith(`${dep}/`)))
      throw new Error(`the client bundle imports ${specifier}; it may import only ${clientDependencies.join(" and ")}`);
  }
}

/** tsc's declarations, with the source's `./x.ts` imports said as `./x.js` (what the package holds). */
function declarations(typesDir: string): void {
  const configPath = path.join(repoRoot, "tsconfig.client.json");
  const config = ts.readConfigFile(configPath, ts.sys.readFile);
  if (config.error) throw new Error(ts.flattenDiagnosticMessageText(config.error.messageText, "\n"));
  const parsed = ts.parseJsonConfigFileContent(config.config, ts.sys, repoRoot, { outDir: typesDir }, configPath);
  const program = ts.createProgram({ rootNames: parsed.fileNames, options: parsed.options });
  const emitted = program.emit(undefined, (file, text) => {
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, text.replace(/((?:from|import)\s*\(?\s*["'])(\.{1,2}\/[^"']+)\.ts(["'])/g, "$1$2.js$3"));
  });
  const diagnostics = [...ts.getPreEmitDiagnostics(program), ...emitted.diagnostics];
  if (diagnostics.length > 0) {
    const host = { getCanonicalFileName: (f: string) => f, getCurrentDirectory: () => repoRoot, getNewLine: () => "\n" };
    throw new Error(`the client's declarations do not compile:\n${ts.formatDiagnostics(diagnostics, host)}`);
  }
}

if (import.meta.main) {
  const outDir = path.resolve(process.argv[2] ?? path.join(repoRoot, "dist/client"));
  const built = await buildClient(outDir);
  console.log(`${built.name}@${built.version} in ${path.relative(process.cwd(), outDir) || "."}`);
}
