/**
 * The kill -9 test: a real server process, a writer process submitting concurrently, SIGKILL
 * at random moments. Every id the writer saw acknowledged must survive every crash, and
 * `stemedb verify` must pass on the crashed directory.
 */
import { afterAll, expect, test } from "bun:test";
import { join } from "node:path";
import {
  bunPath,
  cleanupAll,
  getJson,
  mapLimit,
  prng,
  repoRoot,
  runCli,
  type ServerProcess,
  sleep,
  spawnServer,
  tempDir,
  track,
} from "./helpers.ts";

afterAll(async () => {
  await cleanupAll();
});

const cycles = 20;

test(`kill -9 during concurrent writes, ${cycles} cycles: every acknowledged id survives; verify passes`, async () => {
  const seed = Number(process.env.STEMEDB_CRASH_SEED ?? Date.now() % 2 ** 31);
  console.log(`crash test seed ${seed} (rerun with STEMEDB_CRASH_SEED=${seed})`);
  const random = prng(seed);
  const dir = tempDir("stemedb-crash-");
  const acked = new Set<string>();
  let server: ServerProcess | null = null;
  let writerErrors = 0;
  let tornTails = 0;
  let lastLsn = 0;
  const started = performance.now();

  try {
    for (let cycle = 0; cycle < cycles; cycle++) {
      // 1 to 4 fdatasyncs in flight (pipelined group commit; src/log/writer.ts), a different number each cycle.
      const syncs = String(1 + Math.floor(random() * 4));
      // The index's WAL checkpointed by its own thread (the default bound, or a small one the
      // applying thread also crosses), or by the applying thread alone (0).
      const walMax = ["0", "1048576", "67108864"][Math.floor(random() * 3)] as string;
      server = await spawnServer(dir, {
        args: ["--segment-bytes", "65536", "--syncs-in-flight", syncs, "--index-wal-bytes-max", walMax],
      });
      tornTails += server.logs().filter((l) => l.msg === "log: cut torn tail").length;

      // Everything acknowledged before any earlier crash is still there.
      const all = [...acked];
      const statuses = await mapLimit(all, 32, async (id) => {
        const res = await fetch(`${(server as ServerProcess).url}/v1/assertions/${id}`);
        await res.arrayBuffer();
        return res.status;
      });
      const missing = all.filter((_, i) => statuses[i] !== 200);
      expect({ cycle, missing: missing.slice(0, 5), missingCount: missing.length }).toEqual({
        cycle,
        missing: [],
        missingCount: 0,
      });
      const health = await getJson(`${server.url}/v1/health`);
      const lsn = health.body.lsn as number;
      expect(lsn).toBeGreaterThanOrEqual(acked.size);
      expect(lsn).toBeGreaterThanOrEqual(lastLsn); // never goes back past what the last run started with
      lastLsn = lsn;

      // A writer against it; the kill lands 50–400 ms after its first acknowledgement.
      const writer = track(
        Bun.spawn([bunPath, join(repoRoot, "test/integration/writer.ts"), server.url, "16", String(seed + cycle)], {
          cwd: repoRoot,
          stdin: "ignore",
          stdout: "pipe",
          stderr: "pipe",
        }),
      );
      let firstAck: () => void = () => {};
      const gotFirst = new Promise<void>((r) => {
        firstAck = r;
      });
      let before = acked.size;
      const reading = (async () => {
        const decoder = new TextDecoder();
        let buf = "";
        for await (const chunk of writer.stdout) {
          buf += decoder.decode(chunk, { stream: true });
          let nl = buf.indexOf("\n");
          while (nl >= 0) {
            const line = buf.slice(0, nl).trim();
            buf = buf.slice(nl + 1);
            if (/^[0-9a-f]{64}$/.test(line)) {
              acked.add(line);
              firstAck();
            } else if (line) throw new Error(`writer printed ${line}`);
            nl = buf.indexOf("\n");
          }
        }
      })();
      const stderrText = new Response(writer.stderr).text();
      await Promise.race([gotFirst, writer.exited, sleep(10_000)]);
      if (acked.size === before) {
        writer.kill("SIGKILL");
        throw new Error(`cycle ${cycle}: the writer got no acknowledgement; its stderr:\n${await stderrText}`);
      }
      before = acked.size;
      const delay = 50 + Math.floor(random() * 350);
      await sleep(delay);
      await server.kill();
      server = null;

      // The writer notices the server is gone and exits on its own (flushing its acks).
      const writerExit = await Promise.race([writer.exited, sleep(10_000).then(() => "timeout" as const)]);
      if (writerExit === "timeout") writer.kill("SIGKILL");
      expect(writerExit).toBe(0);
      await reading;
      const errText = await stderrText;
      const errorLines = errText.split("\n").filter((l) => l.startsWith("error"));
      writerErrors += errorLines.length;
      expect(errorLines).toEqual([]);

      // The crashed directory verifies (a torn tail is allowed and reported, not damage).
      const verify = await runCli(["verify", "--data-dir", dir]);
      expect({ cycle, code: verify.code, out: verify.stdout.slice(0, 300) }).toEqual({
        cycle,
        code: 0,
        out: expect.stringMatching(/^ok: /),
      });
      // And so does the crashed index, as the next start will find it (every page, every row).
      if (cycle % 5 === 4) {
        const index = await runCli(["verify", "--index", "--data-dir", dir]);
        expect({ cycle, code: index.code, out: index.stdout.slice(0, 300) }).toEqual({ cycle, code: 0, out: expect.any(String) });
      }
    }

    // A final restart: everything acknowledged in the last cycle survived too, and deep verify passes.
    server = await spawnServer(dir, { args: ["--segment-bytes", "65536"] });
    const all = [...acked];
    const statuses = await mapLimit(all, 32, async (id) => {
      const res = await fetch(`${(server as ServerProcess).url}/v1/assertions/${id}`);
      await res.arrayBuffer();
      return res.status;
    });
    expect(all.filter((_, i) => statuses[i] !== 200)).toEqual([]);
    expect(await server.stop()).toBe(0);
    server = null;
    const deep = await runCli(["verify", "--data-dir", dir, "--deep"]);
    expect(deep.code).toBe(0);
    console.log(
      `crash test: ${cycles} kills, ${acked.size} acknowledged ids checked, ${writerErrors} writer errors, ${tornTails} torn tails cut, ${Math.round(performance.now() - started)} ms; ${deep.stdout.trim()}`,
    );
  } finally {
    if (server) await server.kill();
  }
}, 120_000);
