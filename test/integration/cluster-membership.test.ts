/**
 * Real clusters on loopback (docs/CLUSTER.md#starting-a-cluster): `stemedb serve --cluster-bind`
 * processes started as scripts would start them. Three and five nodes converge (every node
 * lists every member alive, meta versions equal); a node killed with SIGKILL turns suspect, then
 * dead on every other within the lan preset's bound, and comes back alive with a higher
 * incarnation; a graceful stop is `left`; a node with another key cannot join (its sessions
 * fail, its packets are dropped as bad_mac); another shard count and a readable key file are
 * refused at start; a key rotation done one restart at a time keeps the cluster whole; mutual
 * TLS clusters form and refuse another CA's certificate. Answers are held to the OpenAPI
 * document, and `stemedb admin cluster health` is run against the real nodes.
 */
import { afterAll, describe, expect, test } from "bun:test";
import fs from "node:fs";
import { join } from "node:path";
import type { OpenApiDocument } from "../../src/api/openapi/types.ts";
import { failureDetectionBoundMs, presets } from "../../src/cluster/config.ts";
import {
  allAlive,
  ClusterProc,
  freeClusterPort,
  killAll,
  type NodeSpec,
  randomKeyHex,
  statesAt,
  waitFor,
  writeKeyFile,
} from "../support/cluster-procs.ts";
import { validate } from "../support/json-schema.ts";
import { makeCa, type TestCert } from "../support/tls.ts";
import { cleanupAll, freePort, runCli, tempDir } from "./helpers.ts";

afterAll(async () => {
  await killAll();
  await cleanupAll();
});

/** A cluster of `n` nodes n1…nn on loopback, each listing the first two as seeds. */
async function specs(n: number, keyFile: string, extra: (i: number) => string[] = () => []): Promise<NodeSpec[]> {
  const base = tempDir("stemedb-cluster-");
  const out: NodeSpec[] = [];
  for (let i = 1; i <= n; i++)
    out.push({
      name: `n${i}`,
      dataDir: join(base, `n${i}`),
      keyFile,
      apiHost: "127.0.0.1",
      apiPort: freePort(),
      clusterHost: "127.0.0.1",
      clusterPort: await freeClusterPort(),
      seeds: [],
      preset: "lan",
      extra: extra(i),
    });
  const seeds = out.slice(0, 2).map((s) => `127.0.0.1:${s.clusterPort}`);
  for (const s of out) s.seeds = seeds;
  return out;
}

async function start(list: NodeSpec[]): Promise<ClusterProc[]> {
  const nodes = list.map((s) => new ClusterProc(s));
  await Promise.all(nodes.map((n) => n.listening()));
  return nodes;
}

function keyFileWith(keys: string[]): string {
  const file = join(tempDir("stemedb-cluster-key-"), "cluster.key");
  writeKeyFile(file, keys);
  return file;
}

async function converged(nodes: ClusterProc[], timeoutMs = 30_000): Promise<boolean> {
  const names = nodes.map((n) => n.spec.name);
  return waitFor(async () => {
    if (!(await allAlive(nodes, names))) return false;
    const versions = await Promise.all(nodes.map(async (n) => (await n.members())?.meta_version));
    return versions.every((v) => v !== undefined && v === versions[0]);
  }, timeoutMs);
}

let doc: OpenApiDocument | null = null;
async function holdToDocument(node: ClusterProc, path: string, schemaName: string): Promise<void> {
  doc ??= (await (await fetch(`${node.url}/openapi.json`)).json()) as OpenApiDocument;
  const answer = await (await fetch(`${node.url}${path}`)).json();
  expect([path, validate(answer, { $ref: `#/components/schemas/${schemaName}` }, { root: doc, closed: true })]).toEqual([
    path,
    [],
  ]);
}

describe("a cluster of real processes on loopback", () => {
  test("three nodes converge; kill -9 → suspect, then dead everywhere within the lan bound; back alive with a higher incarnation; SIGTERM → left", async () => {
    const nodes = await start(await specs(3, keyFileWith([randomKeyHex()])));
    expect(await converged(nodes)).toBe(true);
    await holdToDocument(nodes[0] as ClusterProc, "/v1/cluster/members", "ClusterMembers");
    await holdToDocument(nodes[1] as ClusterProc, "/v1/cluster/shards", "ClusterShards");
    await holdToDocument(nodes[2] as ClusterProc, "/v1/cluster/shards?local=1", "ClusterLocalShards");
    // Members converge first; the shards each new replica gained are syncing until it has compared with the others.
    let health = await runCli(["admin", "cluster", "health", "--gateway", (nodes[0] as ClusterProc).url]);
    for (let i = 0; i < 60 && health.code !== 0; i++) {
      expect(health.stdout).toMatch(/shards syncing/);
      await Bun.sleep(500);
      health = await runCli(["admin", "cluster", "health", "--gateway", (nodes[0] as ClusterProc).url]);
    }
    expect([health.code, health.stdout.trim()]).toEqual([0, "healthy: 3 members alive, 256 shards healthy"]);

    const [n1, n2, n3] = nodes as [ClusterProc, ClusterProc, ClusterProc];
    const incarnationBefore = (await n1.members())?.members.find((m) => m.name === "n3")?.incarnation as number;
    const killedAt = Date.now();
    await n3.kill();
    const seen = { suspect: false, deadMs: new Map<string, number>() };
    const bound = failureDetectionBoundMs(presets.lan, 3);
    await waitFor(async () => {
      for (const n of [n1, n2]) {
        const state = (await statesAt(n))?.n3;
        if (state === "suspect") seen.suspect = true;
        if (state === "dead" && !seen.deadMs.has(n.spec.name)) seen.deadMs.set(n.spec.name, Date.now() - killedAt);
      }
      return seen.deadMs.size === 2;
    }, bound + 5000);
    expect(seen.suspect).toBe(true);
    expect(seen.deadMs.size).toBe(2);
    expect(Math.max(...seen.deadMs.values())).toBeLessThanOrEqual(bound);
    console.log(`kill -9 → dead on both others after ${[...seen.deadMs.values()].join(", ")} ms (bound ${bound} ms)`);
    const unhealthy = await runCli(["admin", "cluster", "health", "--gateway", n1.url]);
    expect([unhealthy.code, unhealthy.stdout]).toEqual([1, expect.stringContaining("member n3 is dead")]);

    const again = new ClusterProc(n3.spec);
    await again.listening();
    const back = [n1, n2, again];
    expect(await waitFor(() => allAlive(back, ["n1", "n2", "n3"]), 20_000)).toBe(true);
    for (const n of back)
      expect((await n.members())?.members.find((m) => m.name === "n3")?.incarnation).toBeGreaterThan(incarnationBefore);

    expect(await n2.stop()).toBe(0);
    expect(await waitFor(async () => (await statesAt(n1))?.n2 === "left" && (await statesAt(again))?.n2 === "left", 5000)).toBe(
      true,
    );
    expect(n2.logs().some((l) => l.msg === "cluster: left")).toBe(true);
  }, 120_000);

  test("five nodes converge: every node lists all five alive, with equal meta versions", async () => {
    const nodes = await start(await specs(5, keyFileWith([randomKeyHex()])));
    expect(await converged(nodes)).toBe(true);
    const views = await Promise.all(nodes.map((n) => n.members()));
    for (const v of views)
      expect(v?.members.map((m) => `${m.name}:${m.state}`)).toEqual(["n1", "n2", "n3", "n4", "n5"].map((n) => `${n}:alive`));
    await Promise.all(nodes.map((n) => n.kill()));
  }, 90_000);

  test("a node with another cluster key cannot join; its sessions fail and its packets are dropped as bad_mac on the others", async () => {
    const oldKey = randomKeyHex();
    const newKey = randomKeyHex();
    const list = await specs(4, keyFileWith([oldKey]));
    const nodes = await start(list);
    expect(await converged(nodes)).toBe(true);
    const [n1, n2, n3, stale] = nodes as [ClusterProc, ClusterProc, ClusterProc, ClusterProc];
    // A stranger with another key, joining through n1: refused at the session handshake.
    const failedBefore = (await n1.metric("stemedb_cluster_sessions_failed_total")) ?? 0;
    const [strangerSpec] = await specs(1, keyFileWith([newKey]));
    const stranger = new ClusterProc({
      ...(strangerSpec as NodeSpec),
      name: "stranger",
      seeds: [`127.0.0.1:${n1.spec.clusterPort}`],
    });
    await stranger.listening();
    expect(stranger.logs().some((l) => String(l.msg).includes("no seed answered"))).toBe(true);
    expect((await stranger.members())?.members.map((m) => m.name)).toEqual(["stranger"]);
    expect(
      await waitFor(async () => ((await n1.metric("stemedb_cluster_sessions_failed_total")) ?? 0) > failedBefore, 10_000),
    ).toBe(true);
    expect((await statesAt(n1))?.stranger).toBeUndefined();
    // The others move to the new key (killed, restarted); `stale` keeps the old key and its table,
    // and goes on probing them (suspects are probed; a graceful stop would have made them `left`,
    // which nobody probes): they drop its packets as unauthenticated and declare it dead.
    const newFile = keyFileWith([newKey]);
    const moved: ClusterProc[] = [];
    for (const n of [n1, n2, n3]) {
      await n.kill();
      const again = new ClusterProc({ ...n.spec, keyFile: newFile });
      await again.listening();
      moved.push(again);
    }
    expect(await waitFor(() => allAlive(moved, ["n1", "n2", "n3"]), 20_000)).toBe(true);
    expect(
      await waitFor(async () => {
        const drops = await Promise.all(
          moved.map((n) => n.metric("stemedb_cluster_packets_dropped_total", { reason: "bad_mac" })),
        );
        return drops.reduce((a: number, d) => a + (d ?? 0), 0) > 0;
      }, 20_000),
    ).toBe(true);
    // The restarted nodes never hear of it (it cannot talk to them). It finds none of them alive,
    // and Lifeguard's score says what it is: cut off, so slow to accuse (docs/CLUSTER.md#lifeguard).
    for (const v of await Promise.all(moved.map(statesAt))) expect(v?.[stale.spec.name]).toBeUndefined();
    const bound = failureDetectionBoundMs(presets.lan, 4);
    const cutOff = await waitFor(async () => {
      const v = await statesAt(stale);
      return (
        ["n1", "n2", "n3"].every((n) => v?.[n] !== "alive") && ((await stale.metric("stemedb_cluster_health_score")) ?? 0) > 0
      );
    }, bound);
    expect(cutOff).toBe(true);
    await Promise.all([...moved, stale, stranger].map((n) => n.kill()));
  }, 180_000);

  test("key rotation, one restart at a time (add the new key, make it primary, drop the old): the cluster stays whole", async () => {
    const k1 = randomKeyHex();
    const k2 = randomKeyHex();
    const dir = tempDir("stemedb-rotation-");
    const keyFileOf = (name: string) => join(dir, `${name}.key`);
    const list = await specs(3, "unused");
    for (const s of list) {
      s.keyFile = keyFileOf(s.name);
      writeKeyFile(s.keyFile, [k1]);
    }
    let nodes = await start(list);
    expect(await converged(nodes)).toBe(true);
    for (const [step, keys] of [
      ["add", [k1, k2]],
      ["primary", [k2, k1]],
      ["drop", [k2]],
    ] as const) {
      for (let i = 0; i < nodes.length; i++) {
        const node = nodes[i] as ClusterProc;
        writeKeyFile(node.spec.keyFile, [...keys]);
        expect(await node.stop()).toBe(0);
        const again = new ClusterProc(node.spec);
        await again.listening();
        nodes = nodes.map((n, j) => (j === i ? again : n));
        const whole = await waitFor(() => allAlive(nodes, ["n1", "n2", "n3"]), 20_000);
        expect([step, node.spec.name, whole]).toEqual([step, node.spec.name, true]);
      }
    }
    const bad = await Promise.all(nodes.map((n) => n.metric("stemedb_cluster_sessions_failed_total")));
    expect(bad.every((b) => b === 0)).toBe(true); // no handshake failed on the way
    await Promise.all(nodes.map((n) => n.kill()));
  }, 240_000);

  test("refused at start: another shard count (cluster_refused), a key file others can read (key_permissions)", async () => {
    const key = keyFileWith([randomKeyHex()]);
    const [seedSpec, otherSpec] = await specs(2, key);
    const seed = new ClusterProc(seedSpec as NodeSpec);
    await seed.listening();
    const odd = new ClusterProc({ ...(otherSpec as NodeSpec), extra: ["--shards", "128"] });
    expect(await odd.exited).toBe(3);
    expect(odd.stderr.join("\n")).toContain("the cluster has 256 shards; this node was started with --shards 128");
    expect((await statesAt(seed))?.n2).toBeUndefined();
    const open = join(tempDir("stemedb-key-"), "cluster.key");
    fs.writeFileSync(open, `${randomKeyHex()}\n`, { mode: 0o644 });
    fs.chmodSync(open, 0o644);
    const readable = new ClusterProc({ ...(otherSpec as NodeSpec), keyFile: open });
    expect(await readable.exited).toBe(3);
    expect(readable.stderr.join("\n")).toMatch(/cluster key file .* is readable by others \(mode 644\)/);
    await seed.kill();
  }, 60_000);

  test("mutual TLS on the cluster port: three nodes form a cluster; a node whose certificate another CA signed cannot join", async () => {
    const dir = tempDir("stemedb-cluster-tls-");
    const certs = { ...makeCa(dir, "ca", ["n1", "n2", "n3"]), ...makeCa(dir, "rogue-ca", ["n4"]) };
    const goodCa = (certs.n1 as TestCert).ca;
    const tls = (name: string) => {
      const c = certs[name] as TestCert;
      return ["--cluster-tls-cert", c.cert, "--cluster-tls-key", c.key, "--cluster-tls-ca", goodCa];
    };
    const key = keyFileWith([randomKeyHex()]);
    const list = await specs(4, key, (i) => tls(`n${i}`));
    const nodes = await start(list.slice(0, 3));
    expect(await converged(nodes)).toBe(true);
    const intruder = new ClusterProc({ ...(list[3] as NodeSpec), extra: tls("n4") });
    await intruder.listening();
    expect(intruder.logs().some((l) => String(l.msg).includes("no seed answered"))).toBe(true);
    expect(
      await waitFor(
        async () => ((await (nodes[0] as ClusterProc).metric("stemedb_cluster_stream_errors_total", { reason: "tls" })) ?? 0) > 0,
        10_000,
      ),
    ).toBe(true);
    expect((await statesAt(nodes[0] as ClusterProc))?.n4).toBeUndefined();
    await Promise.all([...nodes, intruder].map((n) => n.kill()));
  }, 90_000);
});
