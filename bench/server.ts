/**
 * A real StemeDB server for a benchmark: a separate process on a free loopback port with its
 * own data dir, started and waited for until `/v1/health` answers (or it exits, or 60 s pass).
 */
import path from "node:path";
import type { Subprocess } from "bun";

const root = path.resolve(import.meta.dir, "..");

export interface BenchServer {
  url: string;
  proc: Subprocess;
  /** SIGTERM, then wait for the exit. */
  stop(): Promise<void>;
}

async function freePort(): Promise<number> {
  const l = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
  const port = l.port;
  l.stop(true);
  return port;
}

export async function startBenchServer(
  dataDir: string,
  extraArgs: string[] = [],
  output: "inherit" | "ignore" = "inherit",
): Promise<BenchServer> {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const proc = Bun.spawn(
    [
      process.execPath,
      path.join(root, "src/main.ts"),
      "serve",
      "--data-dir",
      dataDir,
      "--bind",
      `127.0.0.1:${port}`,
      "--log-level",
      "warn",
      ...extraArgs,
    ],
    { stdout: output, stderr: "inherit" },
  );
  const stop = async () => {
    proc.kill("SIGTERM");
    await proc.exited;
  };
  for (let i = 0; ; i++) {
    const up = await fetch(`${url}/v1/health`).then(
      (r) => r.ok,
      () => false,
    );
    if (up) return { url, proc, stop };
    if (proc.exitCode !== null) throw new Error(`the server exited with ${proc.exitCode}`);
    if (i > 2400) {
      await stop();
      throw new Error("the server did not answer /v1/health within 60 s");
    }
    await Bun.sleep(25);
  }
}
