/**
 * The client package as a user gets it, for the tests that run it under Node and in Chromium
 * (client-node.test.ts, client-browser.test.ts): built by `make client`'s own function, packed
 * with `npm pack`, and installed with `npm install` into a fresh project — offline, so no
 * registry hiccup can fail a run: the two @noble dependencies are packed from the repository's
 * node_modules (the exact versions the package pins) and installed beside it from those
 * tarballs, which satisfies the package's own dependency on them.
 *
 * Built and installed once per `bun test` process (the first caller does it; later files reuse
 * it; module state is shared across a run's files). It lives in $TMPDIR/stemedb-client-pkg/PID,
 * outside the integration helpers' per-file cleanup; Bun's test runner fires no exit event,
 * so each run removes the directories of runs whose process is gone instead.
 */
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { type BuiltClient, buildClient, clientDependencies } from "../../scripts/build-client.ts";

export const repoRoot = path.resolve(import.meta.dir, "../..");

export interface InstalledClient {
  built: BuiltClient;
  /** The consumer project: package.json, node_modules/@stemedb/client, node_modules/@noble/…. */
  project: string;
  /** The package as installed: project/node_modules/@stemedb/client. */
  installed: string;
  /** The machine's plain `node` and its major version. */
  node: string;
  nodeMajor: number;
}

let pending: Promise<InstalledClient> | null = null;

/** The package, built, packed and installed (once per process). */
export function installedClient(): Promise<InstalledClient> {
  pending ??= install();
  return pending;
}

function run(command: string, args: string[], cwd: string): string {
  try {
    return execFileSync(command, args, { cwd, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"], timeout: 120_000 });
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string; message: string };
    throw new Error(`${command} ${args.join(" ")} failed in ${cwd}: ${e.message}\n${e.stdout ?? ""}\n${e.stderr ?? ""}`);
  }
}

/** Removes what earlier runs left (their process is gone); returns this run's fresh directory. */
function workDir(): string {
  const parent = path.join(tmpdir(), "stemedb-client-pkg");
  fs.mkdirSync(parent, { recursive: true });
  for (const name of fs.readdirSync(parent)) {
    const pid = Number(name);
    if (pid === process.pid || (Number.isSafeInteger(pid) && alive(pid))) continue;
    fs.rmSync(path.join(parent, name), { recursive: true, force: true });
  }
  const root = path.join(parent, String(process.pid));
  fs.rmSync(root, { recursive: true, force: true });
  fs.mkdirSync(root);
  return root;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as { code?: string }).code === "EPERM";
  }
}

async function install(): Promise<InstalledClient> {
  const root = workDir();
  const built = await buildClient(path.join(root, "package"));
  const packs = path.join(root, "packs");
  fs.mkdirSync(packs);
  const tarball = (dir: string, ignoreScripts: boolean) =>
    run("npm", ["pack", dir, "--silent", "--pack-destination", packs, ...(ignoreScripts ? ["--ignore-scripts"] : [])], root)
      .trim()
      .split("\n")
      .at(-1) as string;
  const dependencies: Record<string, string> = { [built.name]: `file:../packs/${tarball(built.dir, false)}` };
  for (const name of clientDependencies) {
    const dir = path.join(repoRoot, "node_modules", name);
    const version = (JSON.parse(fs.readFileSync(path.join(dir, "package.json"), "utf8")) as { version: string }).version;
    if (version !== built.dependencies[name])
      throw new Error(`node_modules has ${name}@${version}, the package pins ${built.dependencies[name]}`);
    dependencies[name] = `file:../packs/${tarball(dir, true)}`;
  }
  const project = path.join(root, "consumer");
  fs.mkdirSync(project);
  const manifest = { name: "consumer", version: "1.0.0", private: true, type: "module", dependencies };
  fs.writeFileSync(path.join(project, "package.json"), `${JSON.stringify(manifest, null, 2)}\n`);
  run(
    "npm",
    ["install", "--offline", "--no-audit", "--no-fund", "--ignore-scripts", "--cache", path.join(root, "npm-cache")],
    project,
  );
  const node = run("sh", ["-c", "command -v node"], root).trim();
  const nodeMajor = Number(run(node, ["--version"], root).trim().replace(/^v/, "").split(".")[0]);
  return { built, project, installed: path.join(project, "node_modules", built.name), node, nodeMajor };
}
