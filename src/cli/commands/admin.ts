/**
 * `stemedb admin …`: the cluster as one node sees it (docs/CLUSTER.md#the-admin-cli) —
 * `cluster status|health`, `node list|info|shards|drain`, `shard list|info|replicas`,
 * `debug export`. Each asks the gateway (`--gateway URL`, or STEMEDB_GATEWAY_ADDR) over the
 * cluster endpoints and prints a table, coloured on a terminal, or with `--json` the answers.
 * `cluster health` is for scripts: exit 0 only when every member is alive and every shard
 * healthy, else 1.
 */
import fs from "node:fs";
import { StemeError } from "../../core/errors.ts";
import { Gateway, checkGateway } from "../admin/gateway.ts";
import { colourTable, colourWanted, countsLine, idRanges, type Painter, painter } from "../admin/render.ts";
import { defineCommand } from "../command.ts";
import { flag, jsonFlag, text, usage } from "../flags.ts";
import type { Io } from "../io.ts";
import { json } from "../output.ts";
import { outputFile } from "../paths.ts";

// ---------------------------------------------------------------- answers (docs/API.md#cluster)

interface MemberView {
  name: string;
  node_id: string;
  api: string;
  cluster: string | null;
  state: string;
  incarnation: number;
}
interface MembersAnswer {
  members: MemberView[];
  meta_version: number;
  clustered: boolean;
  self: string;
}
interface ShardView {
  id: number;
  replicas: string[];
  replica_ids: string[];
  state: string;
}
interface ShardsAnswer {
  shards: ShardView[];
  shard_count: number;
  replication_factor: number;
  meta_version: number;
  clustered: boolean;
}
interface LocalShard {
  id: number;
  records: number | null;
  root: string | null;
  state: string;
}
interface LocalShardsAnswer {
  shards: LocalShard[];
  node: string;
}

const memberOrder = ["alive", "suspect", "dead", "left"] as const;
const shardOrder = ["healthy", "syncing", "degraded", "under_replicated", "unavailable"] as const;

// ---------------------------------------------------------------- flags

const gatewayFlag = text({
  help: "the node to ask: its API URL, or HOST:PORT",
  kind: "server",
  env: "STEMEDB_GATEWAY_ADDR",
  default: "http://127.0.0.1:18180",
  value: "URL",
  check: checkGateway,
});
const common = { gateway: gatewayFlag, json: jsonFlag };

interface Ctx {
  gw: Gateway;
  p: Painter;
  io: Io;
  json: boolean;
}

function ctxOf(values: { gateway: string; json: boolean }, io: Io): Ctx {
  return { gw: new Gateway(values.gateway, io.env), p: painter(colourWanted(io.env)), io, json: values.json };
}

function tally(items: ReadonlyArray<{ state: string }>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const i of items) out[i.state] = (out[i.state] ?? 0) + 1;
  return out;
}

function memberTable(members: MemberView[], p: Painter): string {
  return colourTable(
    ["name", "state", "inc", "api", "cluster", "node id"],
    members.map((m) => [m.name, p.state(m.state), String(m.incarnation), m.api, m.cluster ?? "-", m.node_id]),
  );
}

async function findMember(c: Ctx, name: string): Promise<{ member: MemberView; all: MembersAnswer }> {
  const all = await c.gw.get<MembersAnswer>("/v1/cluster/members");
  const member = all.members.find((m) => m.name === name);
  if (!member)
    throw new StemeError(
      "not_found",
      `no member named ${name} (the gateway knows ${all.members.map((m) => m.name).join(", ")})`,
      {
        hint: "`stemedb admin node list` lists them",
      },
    );
  return { member, all };
}

function shardId(raw: string, count: number): number {
  if (!/^\d+$/.test(raw)) throw usage(`ID: expected a shard number, got ${JSON.stringify(raw)}`);
  const id = Number(raw);
  if (id >= count) throw new StemeError("not_found", `no shard ${id}: the cluster has ${count} (0 to ${count - 1})`);
  return id;
}

// ---------------------------------------------------------------- cluster status | health

const clusterStatus = defineCommand({
  name: "admin cluster status",
  summary: "members and shards by state, the meta version",
  usage: ["stemedb admin cluster status [--gateway URL] [--json]"],
  flags: common,
  async run({ values }, io) {
    const c = ctxOf(values, io);
    const [members, shards] = await Promise.all([
      c.gw.get<MembersAnswer>("/v1/cluster/members"),
      c.gw.get<ShardsAnswer>("/v1/cluster/shards"),
    ]);
    if (c.json) {
      io.out(json({ members, shards: { ...shards, shards: undefined, states: tally(shards.shards) } }));
      return 0;
    }
    io.out(`${members.clustered ? "cluster" : "single node (not clustered)"} seen from ${members.self} at ${c.gw.base}`);
    io.out(`members  ${members.members.length}: ${countsLine(tally(members.members), memberOrder, c.p)}`);
    io.out(
      `shards   ${shards.shard_count} (replication factor ${shards.replication_factor}): ${countsLine(tally(shards.shards), shardOrder, c.p)}`,
    );
    io.out(`meta version ${members.meta_version}`);
    io.out("");
    io.out(memberTable(members.members, c.p));
    return 0;
  },
});

/** What keeps the cluster from being healthy, one line each. */
function healthProblems(members: MembersAnswer, shards: ShardsAnswer): string[] {
  const problems = members.members.filter((m) => m.state !== "alive").map((m) => `member ${m.name} is ${m.state}`);
  const bad = new Map<string, number[]>();
  for (const s of shards.shards) if (s.state !== "healthy") bad.set(s.state, [...(bad.get(s.state) ?? []), s.id]);
  for (const [state, ids] of bad) problems.push(`${ids.length} shard${ids.length === 1 ? "" : "s"} ${state}: ${idRanges(ids)}`);
  return problems;
}

const clusterHealth = defineCommand({
  name: "admin cluster health",
  summary: "exit 0 only when every member is alive and every shard healthy, else 1",
  usage: ["stemedb admin cluster health [--gateway URL] [--json]"],
  about: `For scripts and probes: exit 0 when every member the gateway knows is alive and every shard is
healthy (its replication factor of live replicas, all alive, none syncing); exit 1 otherwise, naming
each problem; exit 4 when the gateway cannot be reached. Dead and left members count as problems:
a replaced node's old name stays listed until the cluster forgets it (a restart of the members).`,
  flags: common,
  async run({ values }, io) {
    const c = ctxOf(values, io);
    const [members, shards] = await Promise.all([
      c.gw.get<MembersAnswer>("/v1/cluster/members"),
      c.gw.get<ShardsAnswer>("/v1/cluster/shards"),
    ]);
    const problems = healthProblems(members, shards);
    const healthy = problems.length === 0;
    if (c.json)
      io.out(
        json({ healthy, problems, members: tally(members.members), shards: tally(shards.shards), clustered: members.clustered }),
      );
    else if (healthy)
      io.out(
        `${c.p.state("healthy")}: ${members.members.length} member${members.members.length === 1 ? "" : "s"} alive, ${shards.shard_count} shards healthy${members.clustered ? "" : " (a single node, not clustered)"}`,
      );
    else {
      io.out(`${c.p.paint("unhealthy", "red")}: ${problems.length} problem${problems.length === 1 ? "" : "s"}`);
      for (const line of problems) io.out(`  ${line}`);
    }
    return healthy ? 0 : 1;
  },
});

// ---------------------------------------------------------------- node list | info | shards | drain

const nodeList = defineCommand({
  name: "admin node list",
  summary: "the members, with state, incarnation and addresses",
  usage: ["stemedb admin node list [--gateway URL] [--json]"],
  flags: common,
  async run({ values }, io) {
    const c = ctxOf(values, io);
    const members = await c.gw.get<MembersAnswer>("/v1/cluster/members");
    io.out(c.json ? json(members) : memberTable(members.members, c.p));
    return 0;
  },
});

const nodeInfo = defineCommand({
  name: "admin node info",
  summary: "one member, and how many shards it holds",
  usage: ["stemedb admin node info NAME [--gateway URL] [--json]"],
  flags: common,
  args: [{ name: "NAME" }],
  async run({ values, args }, io) {
    const c = ctxOf(values, io);
    const { member } = await findMember(c, args[0] as string);
    const shards = await c.gw.get<ShardsAnswer>("/v1/cluster/shards");
    const held = shards.shards.filter((s) => s.replica_ids.includes(member.node_id));
    const first = held.filter((s) => s.replica_ids[0] === member.node_id).length;
    if (c.json) {
      io.out(json({ ...member, shards: held.length, first_replica_of: first }));
      return 0;
    }
    const rows: Array<[string, string]> = [
      ["name", member.name],
      ["state", c.p.state(member.state)],
      ["incarnation", String(member.incarnation)],
      ["node id", member.node_id],
      ["api", member.api],
      ["cluster", member.cluster ?? "-"],
      ["shards", `${held.length} (first replica of ${first}, of ${shards.shard_count})`],
    ];
    for (const [k, v] of rows) io.out(`${k.padEnd(12)}${v}`);
    return 0;
  },
});

/** The member's own report of its shards, or null (and a note) when its API does not answer us. */
async function localShardsOf(c: Ctx, member: MemberView): Promise<Map<number, LocalShard> | null> {
  try {
    const local = await c.gw.getFrom<LocalShardsAnswer>(member.api, "/v1/cluster/shards?local=1");
    return new Map(local.shards.map((s) => [s.id, s]));
  } catch (err) {
    c.io.err(
      `note: ${member.name}'s API at ${member.api} did not answer (${(err as Error).message}); records, root and local state unknown\n`,
    );
    return null;
  }
}

const nodeShards = defineCommand({
  name: "admin node shards",
  summary: "the shards a member holds; records, root and state from the member itself",
  usage: ["stemedb admin node shards NAME [--gateway URL] [--json]"],
  flags: common,
  args: [{ name: "NAME" }],
  async run({ values, args }, io) {
    const c = ctxOf(values, io);
    const { member } = await findMember(c, args[0] as string);
    const shards = await c.gw.get<ShardsAnswer>("/v1/cluster/shards");
    const held = shards.shards.filter((s) => s.replica_ids.includes(member.node_id));
    const local = member.state === "alive" || member.state === "suspect" ? await localShardsOf(c, member) : null;
    const rows = held.map((s) => ({
      id: s.id,
      replica: s.replica_ids.indexOf(member.node_id) + 1,
      shard_state: s.state,
      records: local?.get(s.id)?.records ?? null,
      root: local?.get(s.id)?.root ?? null,
      local_state: local?.get(s.id)?.state ?? "unknown",
    }));
    if (c.json) io.out(json({ node: member.name, shards: rows }));
    else
      io.out(
        colourTable(
          ["shard", "replica", "shard state", "records", "local state", "root"],
          rows.map((r) => [
            String(r.id),
            `${r.replica} of ${shards.replication_factor}`,
            c.p.state(r.shard_state),
            r.records === null ? "?" : String(r.records),
            c.p.state(r.local_state),
            r.root ?? "?",
          ]),
        ),
      );
    return 0;
  },
});

const nodeDrain = defineCommand({
  name: "admin node drain",
  summary: "hand a member's shards to other replicas before it leaves (admin key)",
  usage: ["stemedb admin node drain NAME [--gateway URL] [--json]"],
  about:
    "Asks the gateway to drain NAME (POST /v1/cluster/nodes/NAME/drain): the data plane moves its shards, then it can be stopped.",
  flags: common,
  args: [{ name: "NAME" }],
  async run({ values, args }, io) {
    const c = ctxOf(values, io);
    const name = args[0] as string;
    const answer = await c.gw.post<{ name: string; state: string; shards_left: number }>(
      `/v1/cluster/nodes/${encodeURIComponent(name)}/drain`,
    );
    io.out(c.json ? json(answer) : `${answer.name}: ${c.p.state(answer.state)}, ${answer.shards_left} shards left to hand over`);
    return 0;
  },
});

// ---------------------------------------------------------------- shard list | info | replicas

const shardList = defineCommand({
  name: "admin shard list",
  summary: "every shard: its state and replicas",
  usage: ["stemedb admin shard list [--unhealthy] [--gateway URL] [--json]"],
  flags: { ...common, unhealthy: flag("only shards that are not healthy") },
  async run({ values }, io) {
    const c = ctxOf(values, io);
    const answer = await c.gw.get<ShardsAnswer>("/v1/cluster/shards");
    const shards = values.unhealthy ? answer.shards.filter((s) => s.state !== "healthy") : answer.shards;
    io.out(
      c.json
        ? json({ ...answer, shards })
        : colourTable(
            ["shard", "state", "replicas"],
            shards.map((s) => [String(s.id), c.p.state(s.state), s.replicas.join(", ")]),
          ),
    );
    return 0;
  },
});

async function shardWithMembers(c: Ctx, raw: string) {
  const [shards, members] = await Promise.all([
    c.gw.get<ShardsAnswer>("/v1/cluster/shards"),
    c.gw.get<MembersAnswer>("/v1/cluster/members"),
  ]);
  const shard = shards.shards[shardId(raw, shards.shard_count)] as ShardView;
  const byId = new Map(members.members.map((m) => [m.node_id, m]));
  const replicas = shard.replica_ids.map((id, i) => byId.get(id) ?? ({ name: shard.replicas[i], node_id: id } as MemberView));
  return { shard, replicas, shards };
}

const shardInfo = defineCommand({
  name: "admin shard info",
  summary: "one shard: its state and its replicas with their states and addresses",
  usage: ["stemedb admin shard info ID [--gateway URL] [--json]"],
  flags: common,
  args: [{ name: "ID" }],
  async run({ values, args }, io) {
    const c = ctxOf(values, io);
    const { shard, replicas, shards } = await shardWithMembers(c, args[0] as string);
    if (c.json) {
      io.out(json({ id: shard.id, state: shard.state, replication_factor: shards.replication_factor, replicas }));
      return 0;
    }
    io.out(`shard ${shard.id}: ${c.p.state(shard.state)} (replication factor ${shards.replication_factor})`);
    io.out(
      colourTable(
        ["replica", "name", "state", "api", "node id"],
        replicas.map((m, i) => [String(i + 1), m.name, c.p.state(m.state ?? "unknown"), m.api ?? "-", m.node_id]),
      ),
    );
    return 0;
  },
});

const shardReplicas = defineCommand({
  name: "admin shard replicas",
  summary: "a shard's replicas, one name a line (highest rendezvous weight first)",
  usage: ["stemedb admin shard replicas ID [--gateway URL] [--json]"],
  flags: common,
  args: [{ name: "ID" }],
  async run({ values, args }, io) {
    const c = ctxOf(values, io);
    const { replicas } = await shardWithMembers(c, args[0] as string);
    if (c.json) io.out(json(replicas));
    else for (const m of replicas) io.out(m.name);
    return 0;
  },
});

// ---------------------------------------------------------------- debug export

/** What one node says about itself and the cluster; an error in place of what it would not say. */
async function nodeReport(c: Ctx, base: string | null, api: string | null): Promise<Record<string, unknown>> {
  const get = (path: string) => (base ? c.gw.get<unknown>(path) : c.gw.getFrom<unknown>(api as string, path));
  const say = (p: Promise<unknown>) => p.catch((err: Error) => ({ error: err.message }));
  const metricsBase = base ?? `${new URL(c.gw.base).protocol}//${api}`;
  const metrics = fetch(`${metricsBase}/metrics`, { signal: AbortSignal.timeout(5000) })
    .then((r) => r.text())
    .then((t) => t.split("\n").filter((l) => l.startsWith("stemedb_cluster_") || l.startsWith("stemedb_replication_")))
    .catch((err: Error) => ({ error: err.message }));
  const [health, members, shards, local, metricLines] = await Promise.all([
    say(get("/v1/health")),
    say(get("/v1/cluster/members")),
    say(get("/v1/cluster/shards")),
    say(get("/v1/cluster/shards?local=1")),
    metrics,
  ]);
  return { health, members, shards, local_shards: local, metrics: metricLines };
}

const debugExport = defineCommand({
  name: "admin debug export",
  summary: "what the gateway and every member say, as one JSON document for a bug report",
  usage: ["stemedb admin debug export [--out FILE] [--gateway URL]"],
  about: `Collects from the gateway and from each member it lists (at its API address, with the same key):
health, members, shards, local shards and the cluster's metric lines. A member that does not answer
is recorded with the error. Written to FILE (mode 0600), or stdout.`,
  flags: { gateway: gatewayFlag, out: text({ help: "write it here instead of stdout", kind: "out-file", value: "FILE" }) },
  async run({ values }, io) {
    if (values.out !== undefined) outputFile(values.out, "--out"); // before asking anyone: a wrong path is the caller's
    const c = ctxOf({ gateway: values.gateway, json: true }, io);
    const members = await c.gw.get<MembersAnswer>("/v1/cluster/members");
    const others = members.members.filter((m) => m.name !== members.self && (m.state === "alive" || m.state === "suspect"));
    const reports = await Promise.all(others.map((m) => nodeReport(c, null, m.api)));
    const nodes: Record<string, unknown> = { [members.self]: await nodeReport(c, c.gw.base, null) };
    others.forEach((m, i) => {
      nodes[m.name] = reports[i];
    });
    const text = json({ collected_at: new Date().toISOString(), gateway: c.gw.base, self: members.self, nodes });
    if (values.out === undefined) io.out(text);
    else {
      const file = values.out;
      fs.writeFileSync(file, `${text}\n`, { mode: 0o600 });
      io.err(`wrote ${file}: ${Object.keys(nodes).length} node${Object.keys(nodes).length === 1 ? "" : "s"}\n`);
    }
    return 0;
  },
});

// ---------------------------------------------------------------- the families

function family(name: string, summary: string, subcommands: ReturnType<typeof defineCommand>[], words: string) {
  return defineCommand({
    name,
    summary,
    usage: subcommands.flatMap((s) => s.usage),
    flags: {},
    subcommands,
    async run() {
      throw usage(`give a subcommand: ${words}`);
    },
  });
}

export const admin = family(
  "admin",
  "the cluster as one node sees it: status, health, nodes, shards (docs/CLUSTER.md#the-admin-cli)",
  [
    family(
      "admin cluster",
      "the cluster's status; health for scripts (exit 0 or 1)",
      [clusterStatus, clusterHealth],
      "status or health",
    ),
    family(
      "admin node",
      "members: list, info, shards, drain",
      [nodeList, nodeInfo, nodeShards, nodeDrain],
      "list, info, shards or drain",
    ),
    family("admin shard", "shards: list, info, replicas", [shardList, shardInfo, shardReplicas], "list, info or replicas"),
    family("admin debug", "everything the nodes say, for a bug report", [debugExport], "export"),
  ],
  "cluster, node, shard or debug",
);
