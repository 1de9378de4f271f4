/**
 * The cluster (docs/API.md#cluster, docs/CLUSTER.md#endpoints): its members, its shards and
 * their replicas (the cluster's view, or the shards this node holds), leaving, and draining a
 * node. Every node answers them. A node started without --cluster-bind answers as a cluster of
 * one: its members are itself (`clustered: false`, no cluster address), every shard is on it
 * with a replication factor of 1 and `healthy`; leaving and draining are `409 not_clustered`.
 */
import type { ClusterHandle } from "../../cluster/handle.ts";
import type { ClusterMember, ClusterNode } from "../../cluster/node.ts";
import { shardViews } from "../../cluster/shard-states.ts";
import { StemeError } from "../../core/errors.ts";
import { type BodyLimit, parseJson, readBody } from "../body.ts";
import { memberStates } from "../openapi/cluster.ts";
import { json as jsonContent, pathParam, query } from "../openapi/operation.ts";
import { bool, ref } from "../openapi/schema.ts";
import { knownParams } from "../params.ts";
import { badQuery, json } from "../problem.ts";
import type { Route } from "../route.ts";

export interface ClusterDeps {
  cluster: ClusterHandle;
  limits: { read: BodyLimit };
}

function memberView(m: ClusterMember) {
  return { name: m.name, node_id: m.nodeId, api: m.api, cluster: m.cluster, state: m.state, incarnation: m.incarnation };
}

/** `GET /v1/cluster/members` */
function members({ cluster }: ClusterDeps, q: URLSearchParams): Response {
  knownParams(q, []);
  const node = runningNode(cluster);
  if (!node) {
    const s = cluster.single;
    return json({
      members: [{ name: s.name, node_id: s.nodeId, api: s.api, cluster: null, state: "alive", incarnation: 0 }],
      meta_version: 0,
      clustered: false,
      self: s.name,
    });
  }
  const list = node.members().sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  return json({ members: list.map(memberView), meta_version: node.placement().metaVersion, clustered: true, self: node.name });
}

/** `local=1` or `true` (the shards this node holds); `0`, `false` or absent (the cluster's view). */
function parseLocal(raw: string | null): boolean {
  if (raw === null || raw === "" || raw === "0" || raw === "false") return false;
  if (raw === "1" || raw === "true") return true;
  throw badQuery("local", `expected 1 or 0 (true or false), got "${raw.slice(0, 20)}"`);
}

/** `GET /v1/cluster/shards[?local=1]` */
async function shards(deps: ClusterDeps, q: URLSearchParams): Promise<Response> {
  knownParams(q, ["local"]);
  const local = parseLocal(q.get("local"));
  const { cluster } = deps;
  const node = runningNode(cluster);
  if (local) {
    const held = node ? node.placement().shardsOf(node.nodeId) : range(cluster.single.shardCount);
    const report = await cluster.shards.localShards(held);
    return json({ shards: report, node: node ? node.name : cluster.single.name });
  }
  if (!node) {
    const s = cluster.single;
    const all = range(s.shardCount).map((id) => ({ id, replicas: [s.name], replica_ids: [s.nodeId], state: "healthy" }));
    return json({ shards: all, shard_count: s.shardCount, replication_factor: 1, meta_version: 0, clustered: false });
  }
  const placement = node.placement();
  const out = shardViews(node, cluster.shards).map((v) => ({
    id: v.id,
    replicas: v.replicas,
    replica_ids: v.replicaIds,
    state: v.state,
  }));
  return json({
    shards: out,
    shard_count: placement.shardCount,
    replication_factor: placement.replicationFactor,
    meta_version: placement.metaVersion,
    clustered: true,
  });
}

function range(n: number): number[] {
  return Array.from({ length: n }, (_, i) => i);
}

/** The cluster node, or null on a single node; 503 while a clustered node is still starting. */
function runningNode(cluster: ClusterHandle): ClusterNode | null {
  const node = cluster.node();
  if (node === null && cluster.clustered) throw new StemeError("unavailable", "the cluster layer is starting; retry");
  return node;
}

function clusteredNode(cluster: ClusterHandle, what: string): ClusterNode {
  const node = runningNode(cluster);
  if (node === null) throw new StemeError("not_clustered", `${what}: this node was started without --cluster-bind`);
  return node;
}

/** An empty body or `{}`: these actions take no options. */
async function noOptions(deps: ClusterDeps, request: Request): Promise<void> {
  const raw = await readBody(request, deps.limits.read);
  if (raw.length === 0) return;
  const body = parseJson(raw);
  if (body === null || typeof body !== "object" || Array.isArray(body) || Object.keys(body).length > 0)
    throw new StemeError("invalid_request", "expected no body, or {}");
}

/** `POST /v1/cluster/leave`: this node leaves (state left); it keeps serving its API until stopped. */
async function leave(deps: ClusterDeps, request: Request): Promise<Response> {
  await noOptions(deps, request);
  const node = clusteredNode(deps.cluster, "leave");
  if (!node.hasLeft) await node.leave();
  return json({ name: node.name, state: "left" });
}

/** `POST /v1/cluster/nodes/{name}/drain`: the data plane hands the node's shards over. */
async function drain(deps: ClusterDeps, request: Request, name: string): Promise<Response> {
  await noOptions(deps, request);
  const node = clusteredNode(deps.cluster, "drain");
  const member = node.member(name);
  if (!member) throw new StemeError("not_found", `no member named ${name}`);
  if (member.state === "dead" || member.state === "left")
    throw new StemeError("not_clustered", `${name} is ${member.state}: there is nothing to drain`);
  return json(await deps.cluster.drain.drain(name), 202);
}

const clusterReadErrors = ["invalid_query", "unavailable"] as const;

export function clusterRoutes(deps: ClusterDeps): Route[] {
  return [
    {
      method: "GET",
      path: "/v1/cluster/members",
      class: "read",
      handle: ({ url }) => members(deps, url.searchParams),
      doc: {
        id: "clusterMembers",
        tag: "cluster",
        summary: "The cluster's members and their states",
        description: `Every member this node knows — ${memberStates.join(", ")} — with its incarnation, and this node's meta version. On a single node: the node itself, \`clustered: false\`.`,
        answers: { 200: { description: "the member table", schema: ref("ClusterMembers") } },
        errors: clusterReadErrors,
      },
    },
    {
      method: "GET",
      path: "/v1/cluster/shards",
      class: "read",
      handle: ({ url }) => shards(deps, url.searchParams),
      doc: {
        id: "clusterShards",
        tag: "cluster",
        summary: "Shards and their replicas; with local=1, the shards this node holds",
        parameters: [query("local", "1: the shards this node holds, with records, Merkle root and sync state", bool())],
        answers: {
          200: {
            description: "the cluster's view (ClusterShards), or with local=1 this node's shards (ClusterLocalShards)",
            schema: { oneOf: [ref("ClusterShards"), ref("ClusterLocalShards")] },
          },
        },
        errors: clusterReadErrors,
      },
    },
    {
      method: "POST",
      path: "/v1/cluster/leave",
      class: "admin",
      handle: ({ request }) => leave(deps, request),
      doc: {
        id: "clusterLeave",
        tag: "cluster",
        summary: "Leave the cluster gracefully",
        description:
          "The node becomes `left` and says so; the others move its shards to the next replicas. It keeps answering its API until it is stopped; to take part again, restart it.",
        body: { required: false, content: jsonContent({ type: "object", description: "no options: send no body, or {}" }) },
        answers: { 200: { description: "left", schema: ref("ClusterLeave") } },
        errors: ["not_clustered", "invalid_request", "malformed_json", "payload_too_large", "unavailable"],
      },
    },
    {
      method: "POST",
      path: "/v1/cluster/nodes/{name}/drain",
      class: "admin",
      handle: ({ request, params }) => drain(deps, request, params.name as string),
      doc: {
        id: "clusterDrain",
        tag: "cluster",
        summary: "Drain a node: hand its shards to other replicas before it leaves",
        description:
          "The node named leaves every replica set while it stays up as a source; the shards it held move to the next in line, which sync them before they serve them. Sent on to the node named when asked elsewhere. `drained` once nothing is left to hand over; ask again to follow it.",
        parameters: [pathParam("name", "the member's name")],
        body: { required: false, content: jsonContent({ type: "object", description: "no options: send no body, or {}" }) },
        answers: { 202: { description: "draining (or drained)", schema: ref("ClusterDrain") } },
        errors: ["not_clustered", "not_found", "invalid_request", "malformed_json", "payload_too_large", "unavailable"],
      },
    },
  ];
}
