/**
 * The provenance chain of an assertion (docs/PROVENANCE.md#provenance-chain): its `depends_on` closure as a tree, each
 * node with its source (tier, title, whether retracted), the votes, retractions, reviews and
 * superseders that target it, and its lifecycle flags — derived from the same records a query
 * of the root's pair reads, so the flags agree with what the lenses see.
 *
 * Bounded: `depthMax` levels (a deeper dependency shows `truncated`), `nodesMax` nodes in all.
 * A dependency the node has not seen is `dangling` (allowed: a replica may get it later); one
 * already on the path above is `cycle` (real hashes cannot form cycles, but the walk must end
 * for any input).
 */
import { toHex } from "../core/hex.ts";
import type { Assertion, StemeRecord } from "../core/record.ts";
import { gather } from "../query/gather.ts";
import { deriveState, deriveSources, prepare } from "../state/index.ts";
import type { RecordView, Store } from "../store/store.ts";

export const provenanceDepthDefault = 8;
export const provenanceDepthMax = 32;
export const provenanceNodesMax = 2000;

export interface ProvenanceRef {
  id: string;
  kind: string;
  agent: string;
  ts: number;
  [field: string]: unknown;
}

export type ProvenanceNode =
  | {
      id: string;
      record: RecordView;
      flags: string[];
      notes: string[];
      source: { source_id: string; title: string | null; tier: number; registered: boolean; retracted: boolean } | null;
      votes: ProvenanceRef[];
      retractions: ProvenanceRef[];
      reviews: ProvenanceRef[];
      superseded_by: ProvenanceRef[];
      depends_on: ProvenanceNode[];
    }
  | { id: string; dangling: true }
  | { id: string; cycle: true }
  | { id: string; truncated: true }
  | { id: string; not_an_assertion: true; kind: string };

export interface ProvenanceTree {
  root: ProvenanceNode;
  nodes: number;
  dangling: string[];
  lsn: number;
}

/** The caller has waited for the index. Null when `id` is unknown. */
export function provenanceOf(store: Store, id: Uint8Array, depthMax = provenanceDepthDefault): ProvenanceTree | null {
  const root = store.getById(id);
  if (!root) return null;
  const rootId = root.id;
  if (root.kind !== "assertion") {
    return { root: { id: rootId, not_an_assertion: true, kind: root.kind }, nodes: 1, dangling: [], lsn: store.indexLsn };
  }
  const gathered = gather(store, root.subject as string, root.predicate as string);
  const authorities = new Set(store.dataDir.authorities);
  const state = deriveState(gathered.records, { authorities });
  const sources = deriveSources(prepare(gathered.records).entries, authorities);
  const byId = new Map(gathered.records.map((r) => [r.id, r.record]));
  const targeting = new Map<string, Array<{ id: string; record: StemeRecord }>>();
  for (const r of gathered.records) {
    const rec = r.record;
    const target =
      rec.kind === "vote" || rec.kind === "retraction" || rec.kind === "review"
        ? toHex(rec.target)
        : rec.kind === "assertion" && rec.supersedes
          ? toHex(rec.supersedes)
          : null;
    if (target === null) continue;
    const list = targeting.get(target) ?? [];
    list.push(r);
    targeting.set(target, list);
  }

  let nodes = 0;
  const dangling = new Set<string>();
  const build = (nodeId: string, depth: number, path: ReadonlySet<string>): ProvenanceNode => {
    nodes++;
    if (path.has(nodeId)) return { id: nodeId, cycle: true };
    const rec = byId.get(nodeId) ?? lookup(store, nodeId);
    if (!rec) {
      dangling.add(nodeId);
      return { id: nodeId, dangling: true };
    }
    if (rec.kind !== "assertion") return { id: nodeId, not_an_assertion: true, kind: rec.kind };
    if (depth > depthMax || nodes > provenanceNodesMax) return { id: nodeId, truncated: true };
    const view = store.getById(Buffer.from(nodeId, "hex")) as RecordView;
    const s = state.assertions.get(nodeId) ?? { flags: [], notes: [] };
    const refs = (targeting.get(nodeId) ?? []).sort((a, b) => a.record.ts - b.record.ts || (a.id < b.id ? -1 : 1));
    const ofKind = (kind: string) => refs.filter((r) => r.record.kind === kind).map((r) => summary(r.id, r.record));
    const next = new Set(path).add(nodeId);
    view.flags = s.flags;
    return {
      id: nodeId,
      record: view,
      flags: s.flags,
      notes: s.notes,
      source: sourceOf(rec, sources),
      votes: ofKind("vote"),
      retractions: ofKind("retraction"),
      reviews: ofKind("review"),
      superseded_by: ofKind("assertion"),
      depends_on: (rec.depends_on ?? []).map((d) => build(toHex(d), depth + 1, next)),
    };
  };
  const tree = build(rootId, 0, new Set());
  return { root: tree, nodes, dangling: [...dangling].sort(), lsn: gathered.lsn };
}

function lookup(store: Store, id: string): StemeRecord | null {
  const loc = store.lookupId(Buffer.from(id, "hex"));
  return loc ? store.read(loc).record : null;
}

function sourceOf(a: Assertion, sources: ReturnType<typeof deriveSources>) {
  if (a.source === undefined) return null;
  const entry = sources.entries.get(a.source);
  return {
    source_id: a.source,
    title: entry?.title ?? null,
    tier: entry?.tier ?? 6,
    registered: entry !== undefined,
    retracted: sources.retracted.has(a.source),
  };
}

function summary(id: string, r: StemeRecord): ProvenanceRef {
  const base: ProvenanceRef = { id, kind: r.kind, agent: toHex(r.agent), ts: r.ts };
  if (r.kind === "vote") return { ...base, value: r.value, ...(r.reason ? { reason: r.reason } : {}) };
  if (r.kind === "retraction") return { ...base, ...(r.reason ? { reason: r.reason } : {}) };
  if (r.kind === "review") return { ...base, action: r.action, ...(r.note ? { note: r.note } : {}) };
  if (r.kind === "assertion") return { ...base, subject: r.subject, predicate: r.predicate };
  return base;
}

/** The tree as text for people (`stemedb provenance ID`). */
export function renderProvenance(tree: ProvenanceTree): string {
  const lines: string[] = [];
  const walk = (n: ProvenanceNode, indent: string, last: boolean, top: boolean) => {
    const lead = top ? "" : `${indent}${last ? "└─ " : "├─ "}`;
    const childIndent = top ? "" : `${indent}${last ? "   " : "│  "}`;
    const short = `${n.id.slice(0, 12)}…`;
    if ("dangling" in n) return void lines.push(`${lead}${short} (dangling: not on this node)`);
    if ("cycle" in n) return void lines.push(`${lead}${short} (cycle)`);
    if ("truncated" in n) return void lines.push(`${lead}${short} (deeper than the depth limit)`);
    if ("not_an_assertion" in n) return void lines.push(`${lead}${short} (a ${n.kind}, not an assertion)`);
    const r = n.record;
    const flags = n.flags.length ? ` [${n.flags.join(", ")}]` : "";
    lines.push(`${lead}${short} ${r.subject} ${r.predicate} = ${JSON.stringify(r.object)} (confidence ${r.confidence})${flags}`);
    const detail: string[] = [`by ${String(r.agent).slice(0, 12)}… at ${new Date(r.ts as number).toISOString()}`];
    if (n.source)
      detail.push(
        `source ${n.source.source_id}: ${n.source.registered ? `${n.source.title} (tier ${n.source.tier})` : "not registered (tier 6)"}${n.source.retracted ? " — RETRACTED" : ""}`,
      );
    if (n.votes.length) {
      const up = n.votes.filter((v) => v.value === 1).length;
      detail.push(`votes +${up} / -${n.votes.length - up}`);
    }
    for (const x of n.retractions) detail.push(`retracted by ${x.agent.slice(0, 12)}…${x.reason ? `: ${x.reason}` : ""}`);
    for (const x of n.reviews) detail.push(`review ${x.action} by ${x.agent.slice(0, 12)}…`);
    for (const x of n.superseded_by) detail.push(`superseded by ${x.id.slice(0, 12)}…`);
    for (const text of n.notes) detail.push(`note: ${text}`);
    for (const d of detail) lines.push(`${childIndent}${n.depends_on.length ? "│  " : "   "}${d}`);
    n.depends_on.forEach((c, i) => {
      walk(c, childIndent, i === n.depends_on.length - 1, false);
    });
  };
  walk(tree.root, "", true, true);
  return lines.join("\n");
}
