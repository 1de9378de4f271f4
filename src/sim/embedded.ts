/**
 * The arena's own server when no `--server` is given: a fresh data directory under the system's
 * temp directory, a real server on a loopback port the OS picks (the same code as `stemedb
 * serve`), and its node key as the authority. `sync: none` — the data is thrown away after the
 * run, and the arena measures semantics, not fsync; no materialized views (every arena query is
 * `fresh`, so views would only be kept current for nothing) and no query audit trail. Everything
 * is removed on `stop()`.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { type RunningServer, startServer } from "../api/serve.ts";
import { loadConfig } from "../config/config.ts";
import { silentLogger } from "../core/logger.ts";
import type { KeyPair } from "../crypto/sign.ts";
import { initDataDir } from "../store/datadir.ts";

export interface EmbeddedServer {
  url: string;
  authorityKey: KeyPair;
  stop(): Promise<void>;
}

export async function startEmbedded(): Promise<EmbeddedServer> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "stemedb-arena-"));
  let server: RunningServer;
  try {
    const dataDir = initDataDir(dir);
    server = await startServer(
      loadConfig(
        { "data-dir": dir, bind: "127.0.0.1:0", sync: "none", "views-max": "0", "audit-entries": "0", "log-level": "error" },
        {},
      ),
      { logger: silentLogger },
    );
    return {
      url: server.url,
      authorityKey: dataDir.nodeKey,
      async stop() {
        await server.stop();
        fs.rmSync(dir, { recursive: true, force: true });
      },
    };
  } catch (err) {
    fs.rmSync(dir, { recursive: true, force: true });
    throw err;
  }
}
