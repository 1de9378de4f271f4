/**
 * Which shards this node holds and in what state, which the others hold, and where records go
 * (docs/CLUSTER.md#shard-states).
 *
 * **Effective placement.** Rendezvous placement (../placement.ts) over the live members —
 * alive or suspect — less those that drain. A drained node drops out of every replica set while
 * it still runs, so the shards it held move to the next in line, which fetch them (from it,
 * among others) before they serve them.
 *
 * **Shard states**, per shard this node holds:
 *
 * | state | meaning | serves reads | sync source |
 * | --- | --- | --- | --- |
 * | `syncing` | a replica that may lack records: it gained the shard (a join, a death, a drain) or has just started | no | no |
 * | `in_sync` | a replica that compared its Merkle tree with a complete holder and fetched what it lacked | yes | yes |
 * | `leaving` | no longer a replica; it keeps its records, and hands them to the current replicas (anti-entropy's push-only repair) before its copy retires | only when no replica is in sync, while current | yes, if it was in sync, while current |
 *
 * A leaver's copy is current while it is still pushed the shard's writes: while some replica is
 * not in sync (`pushTargets`). Once every replica says it is, the leaver retires its copy
 * (`retireLeavers`).
 *
 * The global records (every kind but assertion) are one more set every node holds, with the
 * states `syncing` and `in_sync`; a node answers queries only while its globals are in sync too.
 *
 * **What the others hold** comes from their `state` news (wire.ts): each node tells every live
 * member its states when they change and every `stateIntervalMs`. A peer's news can be stale by
 * that much; a read sent on stale news is refused by a node that is not in sync and goes to the
 * next candidate, never answered from a partial shard.
 */
import { Placement } from "../placement.ts";
import { type ClusterMember, isLive } from "./view.ts";

export type ShardState = "syncing" | "in_sync" | "leaving";

/** Two bits a shard on the wire: 0 not held, 1 syncing, 2 in sync, 3 leaving with a complete copy. */
export const stateCodes = { none: 0, syncing: 1, in_sync: 2, leaving: 3 } as const;

/** A shard this node holds. */
export interface LocalShard {
  state: ShardState;
  /** Leaving with every record it had as an in-sync replica (a valid sync source and fallback reader). */
  complete: boolean;
  /**
   * Leaving, and every current replica has been given what this copy holds and it lacked
   * (anti-entropy's hand-off). Until then the copy is not retired: it may hold records the
   * replicas never saw (writes taken on the other side of a partition).
   */
  handedOver: boolean;
}

/** What a peer last told us. */
export interface PeerNews {
  codes: number[];
  global: number;
  draining: boolean;
  atMs: number;
}

/** How the effective placement moved for this node. */
export interface PlacementChange {
  gained: number[];
  lost: number[];
}

export class ShardMap {
  readonly placement: Placement;
  private readonly local = new Map<number, LocalShard>();
  private globalState: "syncing" | "in_sync" = "syncing";
  private readonly news = new Map<string, PeerNews>();
  private liveMembers: ClusterMember[] = [];
  private selfDraining = false;
  /** Goes up with every change of a local state or of the placement: `state` news carry it. */
  version = 0;

  constructor(
    readonly selfId: string,
    readonly shardCount: number,
    readonly replicationFactor: number,
  ) {
    this.placement = new Placement(shardCount, replicationFactor);
  }

  get draining(): boolean {
    return this.selfDraining;
  }

  get global(): "syncing" | "in_sync" {
    return this.globalState;
  }

  /** The live members, self included. */
  get live(): readonly ClusterMember[] {
    return this.liveMembers;
  }

  isLive(nodeId: string): boolean {
    return this.liveMembers.some((m) => m.nodeId === nodeId);
  }

  member(nodeId: string): ClusterMember | undefined {
    return this.liveMembers.find((m) => m.nodeId === nodeId);
  }

  /** Members changed: recompute the placement; gained shards start syncing, lost ones leave. */
  update(members: readonly ClusterMember[]): PlacementChange {
    this.liveMembers = members.filter(isLive);
    for (const id of [...this.news.keys()]) if (!this.isLive(id)) this.news.delete(id);
    return this.replace();
  }

  /** Drain (or undrain) this node: it leaves every replica set while it keeps serving as a source. */
  setDraining(draining: boolean): PlacementChange {
    this.selfDraining = draining;
    return this.replace();
  }

  /** A peer's `state` news; returns the placement change when its draining flag moved. */
  heard(nodeId: string, news: PeerNews): PlacementChange | null {
    const before = this.news.get(nodeId);
    this.news.set(nodeId, news);
    return before?.draining === news.draining || (!before && !news.draining) ? null : this.replace();
  }

  newsOf(nodeId: string): PeerNews | undefined {
    return this.news.get(nodeId);
  }

  private drainingIds(): Set<string> {
    const out = new Set<string>();
    if (this.selfDraining) out.add(this.selfId);
    for (const [id, n] of this.news) if (n.draining) out.add(id);
    return out;
  }

  private replace(): PlacementChange {
    const draining = this.drainingIds();
    const ids = this.liveMembers.map((m) => m.nodeId);
    const placed = ids.filter((id) => !draining.has(id));
    // Everyone draining (or an empty view) drains no one: the data must live somewhere.
    this.placement.update(placed.length > 0 ? placed : ids.length > 0 ? ids : [this.selfId]);
    const mine = new Set(this.placement.shardsOf(this.selfId));
    const change: PlacementChange = { gained: [], lost: [] };
    for (const shard of mine) {
      const held = this.local.get(shard);
      if (held?.state === "syncing" || held?.state === "in_sync") continue;
      this.local.set(shard, { state: "syncing", complete: false, handedOver: false });
      change.gained.push(shard);
    }
    for (const [shard, held] of this.local) {
      if (mine.has(shard) || held.state === "leaving") continue;
      this.local.set(shard, { state: "leaving", complete: held.state === "in_sync", handedOver: false });
      change.lost.push(shard);
    }
    if (change.gained.length + change.lost.length > 0) this.version++;
    return change;
  }

  /** Marks a held shard in sync (`globalShard`: the globals). */
  markInSync(shard: number | "global"): void {
    if (shard === "global") {
      if (this.globalState !== "in_sync") this.version++;
      this.globalState = "in_sync";
      return;
    }
    const held = this.local.get(shard);
    if (held?.state !== "syncing") return;
    held.state = "in_sync";
    this.version++;
  }

  /**
   * Shards this node has records of on disk but does not hold (found at start: what it held as
   * a replica or leaver before it stopped): they become leavers — not complete, not handed over —
   * so anti-entropy hands their records to the current replicas.
   */
  adoptLeftovers(shards: readonly number[]): number[] {
    const adopted: number[] = [];
    for (const shard of shards) {
      if (this.local.has(shard)) continue;
      this.local.set(shard, { state: "leaving", complete: false, handedOver: false });
      adopted.push(shard);
    }
    if (adopted.length > 0) this.version++;
    return adopted;
  }

  /** A leaver's hand-off is done: every current replica has what this copy held. */
  markHandedOver(shard: number): void {
    const held = this.local.get(shard);
    if (held?.state === "leaving") held.handedOver = true;
  }

  /** Leavers whose records the current replicas have not been given yet. */
  toHandOver(): number[] {
    return [...this.local].filter(([, h]) => h.state === "leaving" && !h.handedOver).map(([id]) => id);
  }

  /** Every held shard back to syncing (a restart: what happened while it was down is unknown). */
  resetToSyncing(): void {
    for (const held of this.local.values()) if (held.state === "in_sync") held.state = "syncing";
    this.globalState = "syncing";
    this.version++;
  }

  localState(shard: number): LocalShard | undefined {
    return this.local.get(shard);
  }

  /** Held shards, by id. */
  localShards(): Array<[number, LocalShard]> {
    return [...this.local].sort((a, b) => a[0] - b[0]);
  }

  /** This node's states as codes, one per shard (for `state` news). */
  codes(): number[] {
    const out: number[] = [];
    for (let s = 0; s < this.shardCount; s++) out.push(codeOf(this.local.get(s)));
    return out;
  }

  /** What `nodeId` holds of `shard` as a code (self: its own state). */
  codeOf(nodeId: string, shard: number): number {
    if (nodeId === this.selfId) return codeOf(this.local.get(shard));
    return this.news.get(nodeId)?.codes[shard] ?? stateCodes.none;
  }

  globalInSync(nodeId: string): boolean {
    if (nodeId === this.selfId) return this.globalState === "in_sync";
    return this.news.get(nodeId)?.global === stateCodes.in_sync;
  }

  /** Is this node an in-sync replica of `shard` (and of the globals): the first choice to answer its reads? */
  servesReads(shard: number): boolean {
    const held = this.local.get(shard);
    return this.globalState === "in_sync" && held?.state === "in_sync" && this.placement.replicas(shard).includes(this.selfId);
  }

  /** May this node answer a read of `shard` when no replica is in sync: a leaver with a complete, current copy? */
  answersAsFallback(shard: number): boolean {
    const held = this.local.get(shard);
    return this.globalState === "in_sync" && held?.state === "leaving" && held.complete;
  }

  /**
   * Who may answer a read of `shard`, best first: in-sync replicas in placement order, then
   * complete leavers — this node first within its tier — then replicas we have no news of yet
   * (a node that has just started asks them; one that is not in sync refuses), then the other
   * replicas and leavers whose news may be stale.
   */
  readers(shard: number): string[] {
    const ok = (id: string, code: number) => this.codeOf(id, shard) === code && this.globalInSync(id);
    const selfFirst = (ids: string[]) =>
      ids.includes(this.selfId) ? [this.selfId, ...ids.filter((i) => i !== this.selfId)] : ids;
    const replicas = this.placement.replicas(shard);
    const inSync = replicas.filter((id) => ok(id, stateCodes.in_sync));
    const leavers = this.liveMembers.map((m) => m.nodeId).filter((id) => ok(id, stateCodes.leaving));
    const unknown = replicas.filter((id) => id !== this.selfId && !this.news.has(id));
    const first = [...selfFirst(inSync), ...selfFirst(leavers), ...unknown];
    // Last, the other replicas and leavers our news calls not in sync: news can be stale by a
    // state interval (a node just joined hears the others' news late); one that is not in sync refuses.
    const stale = [
      ...replicas,
      ...this.liveMembers.map((m) => m.nodeId).filter((id) => this.codeOf(id, shard) === stateCodes.leaving),
    ].filter((id, i, all) => id !== this.selfId && !first.includes(id) && all.indexOf(id) === i);
    return [...first, ...stale];
  }

  /**
   * A leaver's copy stays current only while it is pushed the shard's writes, which is while
   * some replica is not in sync (`pushTargets`). Once every replica says it is in sync, the
   * leaver's copy is no longer a source nor a reader: marked incomplete. Returns whether any was.
   */
  retireLeavers(): boolean {
    let changed = false;
    for (const [shard, held] of this.local) {
      if (held.state !== "leaving" || !held.complete || !held.handedOver) continue;
      const replicas = this.placement.replicas(shard);
      if (replicas.length > 0 && replicas.every((id) => id !== this.selfId && this.codeOf(id, shard) === stateCodes.in_sync)) {
        held.complete = false;
        changed = true;
      }
    }
    if (changed) this.version++;
    return changed;
  }

  /**
   * Where this node pushes a new record of `shard` (`"global"`: every other live member): the
   * other replicas, and complete leavers while some replica is not in sync yet (so a fallback
   * reader stays current during a hand-over).
   */
  pushTargets(shard: number | "global"): string[] {
    if (shard === "global") return this.liveMembers.map((m) => m.nodeId).filter((id) => id !== this.selfId);
    const replicas = this.placement.replicas(shard);
    const out = replicas.filter((id) => id !== this.selfId);
    if (replicas.some((id) => this.codeOf(id, shard) !== stateCodes.in_sync))
      for (const m of this.liveMembers)
        if (m.nodeId !== this.selfId && !out.includes(m.nodeId) && this.codeOf(m.nodeId, shard) === stateCodes.leaving)
          out.push(m.nodeId);
    return out;
  }

  /** Live peers holding a complete copy of `shard` (in sync, or leaving complete), replicas first. */
  completeHolders(shard: number | "global"): string[] {
    const peers = this.liveMembers.map((m) => m.nodeId).filter((id) => id !== this.selfId);
    if (shard === "global") return peers.filter((id) => this.globalInSync(id));
    const score = (id: string) => (this.placement.replicas(shard).includes(id) ? 0 : 1);
    return peers
      .filter((id) => {
        const c = this.codeOf(id, shard);
        return c === stateCodes.in_sync || c === stateCodes.leaving;
      })
      .sort((a, b) => score(a) - score(b));
  }

  /** The other live replicas of `shard` (`"global"`: every other live member). */
  otherReplicas(shard: number | "global"): string[] {
    if (shard === "global") return this.liveMembers.map((m) => m.nodeId).filter((id) => id !== this.selfId);
    return this.placement.replicas(shard).filter((id) => id !== this.selfId);
  }

  /** Live peers we have heard nothing from yet. */
  unheard(): string[] {
    return this.liveMembers.map((m) => m.nodeId).filter((id) => id !== this.selfId && !this.news.has(id));
  }
}

function codeOf(held: LocalShard | undefined): number {
  if (!held) return stateCodes.none;
  if (held.state === "leaving") return held.complete ? stateCodes.leaving : stateCodes.none;
  return stateCodes[held.state];
}
