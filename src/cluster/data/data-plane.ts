/**
 * The cluster's data plane on one node (docs/CLUSTER.md#the-data-plane): it composes shard
 * states and placement (shards.ts), per-shard Merkle trees over the store (shard-trees.ts),
 * replication (replicator.ts), anti-entropy (anti-entropy.ts), cluster writes (writer.ts),
 * read routing (router.ts) and listings (gather.ts), and answers peers on two channels — `push`
 * for replication, `rpc` for the rest (wire.ts).
 *
 * It sees the cluster through a `ClusterView` (view.ts) and the node through its store and
 * ingest pipeline; the API sees it through `writer` (the write routes' Submitter), `wrapRoutes`
 * (the read routes, wrapped) and the answers for the cluster endpoints (`localShards`,
 * `shardTable`, `drain`). A node without `--cluster-bind` has no data plane: nothing of this runs.
 */
import type { ForwardedFacts } from "../../api/http.ts";
import type { Route } from "../../api/route.ts";
import type { Config } from "../../config/config.ts";
import { StemeError } from "../../core/errors.ts";
import { toHex } from "../../core/hex.ts";
import type { Logger } from "../../core/logger.ts";
import { fromCborSubmission, type SignedRecord } from "../../crypto/signed.ts";
import { shardsOnDisk } from "../../index/shard-list.ts";
import type { IndexEntry } from "../../index/store.ts";
import type { Ingest, ItemResult } from "../../ingest/pipeline.ts";
import type { ReplicationMetrics, ReplicationScrape } from "../../metrics/replication.ts";
import type { Store } from "../../store/store.ts";
import type { Timer } from "../env.ts";
import { answerMerkle, type Summary } from "../merkle.ts";
import { AntiEntropy, type AntiEntropyOptions, antiEntropyDefaults } from "./anti-entropy.ts";
import { Gatherer } from "./gather.ts";
import { Replicator, type ReplicatorOptions, replicatorDefaults } from "./replicator.ts";
import { type ReferenceOptions, References, referenceDefaults } from "./references.ts";
import { ReadRouter, type RequestFactsOf } from "./router.ts";
import { type Answer, PeerLink, serveChannel } from "./rpc.ts";
import { ShardMap, type ShardState, stateCodes } from "./shards.ts";
import { ShardTrees } from "./shard-trees.ts";
import type { ClusterView } from "./view.ts";
import {
  checkWireRecords,
  type DataMessage,
  globalShard,
  type MessageOf,
  packStates,
  unpackStates,
  type WireRecord,
  type WireSummary,
} from "./wire.ts";
import { ClusterWriter, toWire, type WriterOptions, writerDefaults } from "./writer.ts";

export interface DataPlaneOptions {
  shardCount: number;
  replicationFactor: number;
  /** How often this node tells every peer its shard states (besides on every change). */
  stateIntervalMs: number;
  /** How long a forwarded read or a listing part may take. */
  forwardTimeoutMs: number;
  /** The read routes' body limit (a `POST /v1/query` body is read to find its subject). */
  readBodyBytesMax: number;
  antiEntropy: AntiEntropyOptions;
  replicator: ReplicatorOptions;
  writer: WriterOptions;
  references: ReferenceOptions;
}

export const dataPlaneDefaults = (shardCount: number, replicationFactor: number): DataPlaneOptions => ({
  shardCount,
  replicationFactor,
  stateIntervalMs: 2000,
  forwardTimeoutMs: 15_000,
  readBodyBytesMax: 64 * 1024,
  antiEntropy: antiEntropyDefaults,
  replicator: replicatorDefaults,
  writer: writerDefaults,
  references: referenceDefaults,
});

/** The data plane's options from the node's settings (src/config/config.ts) and the cluster's shape. */
export function dataPlaneOptions(
  config: Pick<Config, "antiEntropyIntervalSecs" | "replicationQueueRecordsMax" | "quorumTimeoutMs" | "readBodyBytesMax">,
  shardCount: number,
  replicationFactor: number,
): DataPlaneOptions {
  const o = dataPlaneDefaults(shardCount, replicationFactor);
  return {
    ...o,
    readBodyBytesMax: config.readBodyBytesMax,
    antiEntropy: { ...o.antiEntropy, intervalMs: config.antiEntropyIntervalSecs * 1000 },
    replicator: { ...o.replicator, queueRecordsMax: config.replicationQueueRecordsMax },
    writer: {
      ...o.writer,
      quorumTimeoutMs: config.quorumTimeoutMs,
      forwardTimeoutMs: config.quorumTimeoutMs + o.forwardTimeoutMs,
    },
  };
}

export interface DataPlaneDeps {
  view: ClusterView;
  store: Store;
  ingest: Ingest;
  logger: Logger;
  metrics?: ReplicationMetrics;
  /** What each API request knows about itself (its id, caller and key), for forwarding. */
  facts: RequestFactsOf;
}

/** Records in one push or fetch answer at most. */
const wireRecordsMax = 10_000;

/** `GET /v1/cluster/shards?local=1`: one shard this node holds. */
export interface LocalShardInfo {
  id: number;
  records: number;
  root: string;
  state: ShardState;
}

/** `GET /v1/cluster/shards`: one shard, its replicas by name, and how it fares. */
export interface ShardInfo {
  id: number;
  replicas: string[];
  /** `in_sync` (every replica), `syncing` (some replica is), `under_replicated` (fewer replicas than the factor). */
  state: "in_sync" | "syncing" | "under_replicated";
}

export class DataPlane {
  readonly shards: ShardMap;
  readonly trees: ShardTrees;
  readonly replicator: Replicator;
  readonly writer: ClusterWriter;
  readonly router: ReadRouter;
  readonly gatherer: Gatherer;
  readonly antiEntropy: AntiEntropy;
  readonly references: References;
  private readonly links = new Map<string, PeerLink>();
  private newsTimer: Timer | null = null;
  private unsubscribe: (() => void) | null = null;
  private started = false;
  private serving = false;
  private stopped = false;
  private newsSent = -1;

  constructor(
    private readonly deps: DataPlaneDeps,
    readonly options: DataPlaneOptions,
  ) {
    const { view, store, logger, metrics } = deps;
    this.shards = new ShardMap(view.selfId, options.shardCount, options.replicationFactor);
    this.trees = new ShardTrees(store, options.shardCount);
    const storeReplicated = async (records: readonly WireRecord[]) => (await this.storeReplicated(records)).stored;
    this.references = new References(
      {
        store,
        clock: view.clock,
        shards: this.shards,
        rpc: (p) => this.link(p, "rpc"),
        storeReplicated,
        goldPair: (subject, predicate) => {
          this.trees.globalChanged();
          logger.info("cluster: a gold (subject, predicate); its assertions go to every node", { subject, predicate });
        },
        logger,
      },
      options.references,
    );
    this.trees.setGlobalRule(this.references);
    const nameOf = (id: string) => this.nameOf(id);
    this.replicator = new Replicator(view.clock, (p) => this.link(p, "push"), nameOf, options.replicator, metrics, logger);
    const rpc = (p: string) => this.link(p, "rpc");
    this.writer = new ClusterWriter(
      {
        ingest: deps.ingest,
        shards: this.shards,
        trees: this.trees,
        replicator: this.replicator,
        ready: () => this.mustBeStarted(),
        rpc,
        clock: view.clock,
        logger,
        metrics,
      },
      options.writer,
    );
    this.router = new ReadRouter(
      { shards: this.shards, store, rpc, nameOf, facts: deps.facts, metrics, logger },
      { forwardTimeoutMs: options.forwardTimeoutMs, readBodyBytesMax: options.readBodyBytesMax },
    );
    this.gatherer = new Gatherer({ shards: this.shards, store, rpc, timeoutMs: options.forwardTimeoutMs });
    this.antiEntropy = new AntiEntropy(
      {
        clock: view.clock,
        store,
        shards: this.shards,
        trees: this.trees,
        rpc,
        storeReplicated,
        synced: (shard) => this.synced(shard),
        handedOver: (shard) => this.handedOver(shard),
        metrics,
        logger,
      },
      options.antiEntropy,
    );
  }

  /**
   * Serves the peers' channels and keeps the trees current, without acting on the membership
   * yet: a node about to join calls this before it starts listening, and `start` once its first
   * join attempt is over — so it never takes itself for the only member and calls shards in
   * sync that the cluster it joins holds more of.
   */
  serve(): void {
    if (this.serving) return;
    this.serving = true;
    const { view, store, logger } = this.deps;
    store.onAcknowledged((entries) => this.acknowledged(entries));
    const bad = () => this.deps.metrics?.badFramesTotal.inc();
    serveChannel(view, "push", (m, peer) => this.onPush(m, peer), logger, bad);
    serveChannel(view, "rpc", (m, peer) => this.onRpc(m, peer), logger, bad);
  }

  /** Starts serving peers (if not yet), replicating, comparing and syncing. */
  start(): void {
    if (this.started) return;
    this.started = true;
    this.serve();
    const { view } = this.deps;
    this.unsubscribe = view.onChange(() => this.membershipChanged());
    this.membershipChanged();
    // Records of shards it no longer holds (it lost them while down, or stopped before handing
    // them over) are handed to the current replicas like a leaver's.
    const leftovers = this.shards.adoptLeftovers(shardsOnDisk(this.deps.store.index));
    if (leftovers.length > 0)
      this.deps.logger.info("cluster: records of shards this node does not hold; handing them over", {
        shards: leftovers.length,
      });
    this.tickNews();
    this.references.start();
    this.antiEntropy.start();
  }

  stop(): void {
    this.stopped = true;
    this.unsubscribe?.();
    this.newsTimer?.cancel();
    this.antiEntropy.stop();
    this.references.stop();
    for (const link of this.links.values()) link.close();
    this.links.clear();
  }

  /** The read routes wrapped for the cluster (router.ts, gather.ts); the handler for forwarded requests. */
  wrapRoutes(routes: readonly Route[], dispatch: (request: Request, facts: ForwardedFacts) => Promise<Response>): Route[] {
    this.router.setDispatch(dispatch);
    const wrapped = this.router.wrap(routes, (ctx) => this.gatherer.list(ctx));
    return wrapped.map((route, i) =>
      route === routes[i]
        ? route
        : {
            ...route,
            handle: (ctx) => {
              this.mustBeStarted();
              return route.handle(ctx);
            },
          },
    );
  }

  /** Routed reads and writes wait for the first join: before it this node knows no placement. */
  mustBeStarted(): void {
    if (!this.started)
      throw new StemeError("unavailable", "this node has not joined the cluster yet: it knows no placement", {
        hint: "retry in a moment; /v1/ready answers 200 once it has",
        extra: { retry_after_s: 1 },
      });
  }

  // ------------------------------------------------------------------ what the cluster endpoints show

  /** The shards this node holds: `GET /v1/cluster/shards?local=1` (and the global records apart). */
  localShards(): { shards: LocalShardInfo[]; global: { records: number; root: string; state: "syncing" | "in_sync" } } {
    const out: LocalShardInfo[] = [];
    for (const [id, held] of this.shards.localShards()) {
      const tree = this.trees.tree(id);
      out.push({ id, records: tree.size, root: toHex(tree.root()), state: held.state });
    }
    const g = this.trees.tree(globalShard);
    return { shards: out, global: { records: g.size, root: toHex(g.root()), state: this.shards.global } };
  }

  /** Whether some replica of `shard` is not in sync yet (it gained the shard, or fell behind and is fetching). */
  shardSyncing(shard: number): boolean {
    return this.shards.placement.replicas(shard).some((r) => this.shards.codeOf(r, shard) !== stateCodes.in_sync);
  }

  /** Every shard's replicas by name and state: `GET /v1/cluster/shards`. */
  shardTable(): { shards: ShardInfo[]; shard_count: number; replication_factor: number } {
    const { shards } = this;
    const out: ShardInfo[] = [];
    const want = Math.min(shards.replicationFactor, Math.max(1, shards.placement.nodes.length));
    for (let id = 0; id < shards.shardCount; id++) {
      const replicas = shards.placement.replicas(id);
      const syncing = replicas.some((r) => shards.codeOf(r, id) !== stateCodes.in_sync);
      const state = replicas.length < want ? "under_replicated" : syncing ? "syncing" : "in_sync";
      out.push({ id, replicas: replicas.map((r) => this.nameOf(r)), state });
    }
    return { shards: out, shard_count: shards.shardCount, replication_factor: shards.replicationFactor };
  }

  /**
   * Drains this node (`POST /v1/cluster/nodes/{name}/drain` on it): it leaves every replica set —
   * at once in its own view, in the others' once they hear its news — and stays up as a source
   * while the new replicas sync its shards. Returns how many shards it held as a replica.
   */
  drain(): { shards_moving: number } {
    const moving = this.shards.placement.shardsOf(this.shards.selfId).length;
    const change = this.shards.setDraining(true);
    this.deps.logger.info("cluster: draining; this node's shards move to others", { shards: moving });
    this.placementMoved(change.gained.length > 0);
    return { shards_moving: moving };
  }

  /** How a drain goes: shards this node still replicates, and shards whose new replicas are not in sync yet. */
  drainProgress(): { draining: boolean; primary: number; handing_over: number } {
    const { shards } = this;
    let handing = 0;
    for (const [id, held] of shards.localShards())
      if (held.state === "leaving" && shards.placement.replicas(id).some((r) => shards.codeOf(r, id) !== stateCodes.in_sync))
        handing++;
    return { draining: shards.draining, primary: shards.placement.shardsOf(shards.selfId).length, handing_over: handing };
  }

  /** Sends an API request to the member named `name` (the drain endpoint reaches the node it drains so). */
  forwardTo(nodeId: string, request: Request): Promise<Response> {
    return this.router.forward(nodeId, request);
  }

  /** What the scrape-time metrics read (src/metrics/replication.ts): `metrics.attachReplication(plane.scrape())`. */
  scrape(): ReplicationScrape {
    return {
      queues: () => this.replicator.depths().map(([peer, n]) => [this.nameOf(peer), n]),
      behind: () => this.replicator.behind().map(([peer, s]) => [this.nameOf(peer), s]),
      shards: () => {
        const out: Record<string, number> = { syncing: 0, in_sync: 0, leaving: 0 };
        for (const [, held] of this.shards.localShards()) out[held.state] = (out[held.state] ?? 0) + 1;
        out[this.shards.global] = (out[this.shards.global] ?? 0) + 1;
        return out;
      },
    };
  }

  // ------------------------------------------------------------------ membership, news

  private nameOf(nodeId: string): string {
    return this.deps.view.members().find((m) => m.nodeId === nodeId)?.name ?? nodeId;
  }

  private link(peer: string, name: "push" | "rpc"): PeerLink {
    const key = `${name}\0${peer}`;
    let link = this.links.get(key);
    if (!link) {
      link = new PeerLink(this.deps.view, peer, name, () => this.deps.metrics?.badFramesTotal.inc());
      this.links.set(key, link);
    }
    return link;
  }

  private membershipChanged(): void {
    if (this.stopped) return;
    const before = new Set(this.shards.live.map((m) => m.nodeId));
    const change = this.shards.update(this.deps.view.members());
    const now = new Set(this.shards.live.map((m) => m.nodeId));
    for (const id of before) {
      if (now.has(id)) continue;
      this.replicator.forget(id);
      for (const name of ["push", "rpc"] as const) {
        this.links.get(`${name}\0${id}`)?.close();
        this.links.delete(`${name}\0${id}`);
      }
    }
    const joined = [...now].some((id) => !before.has(id) && id !== this.shards.selfId);
    this.placementMoved(change.gained.length > 0 || joined);
  }

  /** After the placement moved: keep the trees of held shards, tell the peers, sync what was gained. */
  private placementMoved(sync: boolean): void {
    // Trees of the shards this node replicates or still hands over; a retired leaver's is built again if a peer asks.
    const held = new Set(
      this.shards
        .localShards()
        .filter(([, h]) => h.state !== "leaving" || h.complete || !h.handedOver)
        .map(([id]) => id),
    );
    this.trees.retain(held);
    this.tellNews(true);
    if (sync) this.antiEntropy.syncSoon();
  }

  /** A leaver's records are with every current replica: retire what may be retired now. */
  private handedOver(shard: number): void {
    this.shards.markHandedOver(shard);
    this.deps.logger.debug("cluster: a leaver's records handed over", { shard });
    if (this.shards.retireLeavers()) {
      this.tellNews(false);
      this.placementMoved(false);
    }
  }

  private synced(shard: number | "global"): void {
    this.shards.markInSync(shard);
    this.deps.logger.info("cluster: shard in sync", { shard });
    this.tellNews(false);
  }

  private tickNews(): void {
    if (this.stopped) return;
    this.tellNews(true);
    this.newsTimer = this.deps.view.clock.setTimeout(() => this.tickNews(), this.options.stateIntervalMs);
  }

  /** Tells every live peer our shard states (when they changed, or always with `force`). */
  private tellNews(force: boolean): void {
    if (!force && this.newsSent === this.shards.version) return;
    this.newsSent = this.shards.version;
    const news = this.news();
    for (const m of this.shards.live) if (m.nodeId !== this.shards.selfId) this.link(m.nodeId, "rpc").tell(news);
  }

  private news(): MessageOf<"state"> {
    const g = this.shards.global === "in_sync" ? stateCodes.in_sync : stateCodes.syncing;
    return {
      type: "state",
      version: this.shards.version,
      shards: packStates(this.shards.codes()),
      global: g,
      draining: this.shards.draining,
    };
  }

  private heard(m: MessageOf<"state">, peer: string): void {
    if (!(m.shards instanceof Uint8Array) || typeof m.global !== "number") return;
    const first = this.shards.newsOf(peer) === undefined;
    const change = this.shards.heard(peer, {
      codes: unpackStates(m.shards, this.shards.shardCount),
      global: m.global,
      draining: m.draining === true,
      atMs: this.deps.view.clock.now(),
    });
    if (change) this.placementMoved(change.gained.length > 0);
    if (this.shards.retireLeavers()) {
      this.tellNews(false);
      this.placementMoved(false);
    }
    if (first) this.link(peer, "rpc").tell(this.news());
    // A complete holder may have appeared for a shard still syncing here.
    if (this.shards.global === "syncing" || this.shards.localShards().some(([, h]) => h.state === "syncing"))
      this.antiEntropy.syncSoon();
  }

  // ------------------------------------------------------------------ replication in and out

  /** Every record acknowledged here goes to its trees, and a write (not a peer's record) to the other holders. */
  private acknowledged(entries: readonly IndexEntry[]): void {
    if (this.stopped) return;
    this.references.observe(entries);
    this.trees.added(entries);
    const now = this.deps.view.clock.now();
    for (const e of entries) {
      if (e.replicated || !e.body || !e.sig) continue;
      const r = e.record;
      const global = r.kind !== "assertion" || this.trees.isGlobal(r);
      const targets = this.shards.pushTargets(global ? "global" : this.trees.shardOfRecord(r.kind, r.subject));
      if (targets.length > 0) this.replicator.enqueue(toHex(e.id), [e.body, e.sig], targets, now);
    }
  }

  /** Stores records a peer sent: verified, de-duplicated, not pushed on. */
  async storeReplicated(records: readonly WireRecord[]): Promise<{ stored: number; failed: Array<[number, string]> }> {
    if (records.length === 0) return { stored: 0, failed: [] };
    const results = await this.deps.ingest.submit(
      records.map(([body, sig]) => ({ shape: "cbor", body: new Uint8Array(body), sig: new Uint8Array(sig) })),
      { replicated: true },
    );
    let stored = 0;
    const failed: Array<[number, string]> = [];
    const m = this.deps.metrics;
    results.forEach((r, i) => {
      if (!r.ok) {
        failed.push([i, r.error.code]);
        m?.pushedTotal.inc({ outcome: "refused" });
      } else if (!r.result.duplicate) {
        stored++;
        m?.pushedTotal.inc({ outcome: "stored" });
      } else m?.pushedTotal.inc({ outcome: "duplicate" });
    });
    return { stored, failed };
  }

  private async onPush(m: DataMessage, _peer: string): Promise<Answer> {
    if (m.type !== "push") throw new StemeError("invalid_request", `the push channel takes push messages, not ${m.type}`);
    const records = checkWireRecords(m.records, wireRecordsMax);
    const { stored, failed } = await this.storeReplicated(records);
    return { type: "push_ack", seq: m.seq, stored, failed };
  }

  private async onRpc(m: DataMessage, peer: string): Promise<Answer> {
    switch (m.type) {
      case "state":
        this.heard(m, peer);
        return null;
      case "roots":
        return { type: "roots_answer", seq: m.seq, roots: m.shards.map((s) => wireSummary(this.trees.tree(s).summary(""))) };
      case "merkle": {
        let a: ReturnType<typeof answerMerkle>;
        try {
          a = answerMerkle(this.trees.tree(m.shard), { summaries: m.summaries, children: m.children, ids: m.ids });
        } catch (err) {
          if (err instanceof RangeError) throw new StemeError("invalid_request", `merkle: ${err.message}`);
          throw err;
        }
        return {
          type: "merkle_answer",
          seq: m.seq,
          summaries: a.summaries.map(wireSummary),
          children: a.children.map((c) => c.map(wireSummary)),
          ids: a.ids,
        };
      }
      case "fetch":
        return { type: "records", seq: m.seq, records: this.readRecords(m.ids) };
      case "push":
        return this.onPush(m, peer);
      case "write":
        return this.onWrite(m);
      case "forward":
        return this.router.answerForward(m, peer);
      case "list":
        return this.gatherer.answerList(m);
      case "has":
        return this.onHas(m);
      default:
        throw new StemeError("invalid_request", `${m.type} is not a request`);
    }
  }

  private readRecords(ids: readonly Uint8Array[]): WireRecord[] {
    const out: WireRecord[] = [];
    for (const id of ids.slice(0, wireRecordsMax)) {
      const loc = this.deps.store.lookupId(new Uint8Array(id));
      if (!loc) continue;
      const r = this.deps.store.read(loc);
      out.push([r.body, r.sig]);
    }
    return out;
  }

  private async onWrite(m: MessageOf<"write">): Promise<MessageOf<"write_answer">> {
    const records = checkWireRecords(m.records, wireRecordsMax);
    const results: ItemResult[] = new Array(records.length);
    const signed: SignedRecord[] = [];
    const slots: number[] = [];
    records.forEach(([body, sig], i) => {
      try {
        signed.push(fromCborSubmission(new Uint8Array(body), new Uint8Array(sig)));
        slots.push(i);
      } catch (err) {
        if (!(err instanceof StemeError)) throw err;
        results[i] = { ok: false, error: err };
      }
    });
    const written = await this.writer.writeHere(signed, m.ack === "quorum" ? "quorum" : "one");
    written.forEach((r, i) => {
      results[slots[i] as number] = r;
    });
    return { type: "write_answer", seq: m.seq, results: results.map(toWire) };
  }

  private onHas(m: MessageOf<"has">): MessageOf<"has_answer"> {
    const loc = this.deps.store.lookupId(new Uint8Array(m.id));
    if (!loc) return { type: "has_answer", seq: m.seq, found: false, shard: null };
    const record = this.deps.store.read(loc).record;
    const shard = this.trees.shardOfRecord(record.kind, record.kind === "assertion" ? record.subject : undefined);
    return { type: "has_answer", seq: m.seq, found: true, shard: shard === globalShard ? null : shard };
  }
}

function wireSummary(s: Summary): WireSummary {
  return [s.hash, s.count];
}
