/**
 * Materialized views (docs/SEMANTICS.md#materialized-views): resolved answers for (subject, predicate, lens, parameters),
 * kept so a hot read does no resolution. Views are derived and held in memory: dropping them
 * all (`clear`, or a restart) and asking again gives the same answers.
 *
 * Correctness rests on invalidation. Each view records what its answer was derived from (the
 * (subject, predicate), every gathered record id and every id those assertions reference,
 * present or not, and the sources they cite). When a record is acknowledged — before the index
 * has it — every view it could change is dropped:
 *
 * | record | drops views whose deps hold |
 * | --- | --- |
 * | any | its own id (a referenced record arriving) |
 * | assertion | its (subject, predicate); its `supersedes` id |
 * | vote, retraction, review | its `target` |
 * | source, source_retraction | its `source_id` |
 * | epoch | everything (epochs are rare and may supersede any era) |
 *
 * and a TrustRank change drops the views of lenses that weigh trust. A view computed while
 * records were acknowledged but not yet indexed is checked against those records before it
 * is kept. Dropped views that were read recently are recomputed in the background, so the
 * next hot read finds them ready ("kept current as records arrive").
 */
import { toHex } from "../core/hex.ts";
import type { StemeRecord } from "../core/record.ts";
import type { AnswerDeps, QueryAnswer, QueryRequest } from "./query.ts";

export interface View {
  /** The request the view answers (one lens), so a dropped hot view can be recomputed. */
  request: QueryRequest;
  answer: QueryAnswer;
  /** The answer serialized once, for `GET /v1/query` (and to size the view). */
  json: string;
  deps: AnswerDeps;
  usesTrust: boolean;
  /** When the view was last read (ms, monotonic). */
  readAtMs: number;
  /** What the view is estimated to hold in memory (`viewBytes`). */
  bytes: number;
}

/** What dropping a view leaves behind: the key, to recompute it if it was hot. */
export type DropListener = (key: string, view: View) => void;

export const viewsMaxDefault = 100_000;
/**
 * Memory the views may hold, by their estimated size (`viewBytes`). A cold query over a pair
 * of ten claims leaves a view of ≈ 8–10 KiB, so without it a server that answers every pair
 * once grows by the view count × that (≈ 0.8 GB at 100,000 views; docs/BENCHMARKS.md).
 */
export const viewsBytesMaxDefault = 64 * 1024 * 1024;
/** A view read this recently survives eviction once more. */
const secondChanceMs = 1000;

/**
 * A view's size in memory, estimated: the answer's object graph (≈ 2 bytes for each byte of
 * its JSON, measured with `make bench-memory`), the JSON kept beside it, and the invalidation
 * entries of its dependencies (a 64-character id string and a slot in a set, ≈ 150 bytes each).
 */
export function viewBytes(json: string, deps: AnswerDeps): number {
  return 512 + 3 * json.length + 150 * deps.ids.length + 100 * deps.sources.length + 2 * deps.sp.length;
}

export class ViewCache {
  private readonly views = new Map<string, View>();
  private readonly bySp = new Map<string, Set<string>>();
  private readonly byId = new Map<string, Set<string>>();
  private readonly bySource = new Map<string, Set<string>>();
  hits = 0;
  misses = 0;
  invalidations = 0;
  private held = 0;

  constructor(
    readonly viewsMax: number,
    private readonly onDrop: DropListener = () => {},
    readonly bytesMax = viewsBytesMaxDefault,
  ) {}

  get size(): number {
    return this.views.size;
  }

  /** The views' estimated size in memory (`viewBytes`), at most `bytesMax`. */
  get bytes(): number {
    return this.held;
  }

  has(key: string): boolean {
    return this.views.has(key);
  }

  get(key: string, nowMs: number): View | undefined {
    const view = this.views.get(key);
    if (view) {
      this.hits++;
      view.readAtMs = nowMs;
    } else this.misses++;
    return view;
  }

  put(key: string, request: QueryRequest, answer: QueryAnswer, deps: AnswerDeps, usesTrust: boolean, nowMs: number): void {
    if (this.viewsMax <= 0 || this.bytesMax <= 0) return;
    this.remove(key, false);
    const json = JSON.stringify(answer);
    const bytes = viewBytes(json, deps);
    if (bytes > this.bytesMax) return; // larger than every view together may be: resolved at each ask
    while (this.views.size > 0 && (this.views.size >= this.viewsMax || this.held + bytes > this.bytesMax)) this.evict(nowMs);
    this.views.set(key, { request, answer, json, deps, usesTrust, readAtMs: nowMs, bytes });
    this.held += bytes;
    add(this.bySp, deps.sp, key);
    for (const id of deps.ids) add(this.byId, id, key);
    for (const s of deps.sources) add(this.bySource, s, key);
  }

  /** Would `record` (with id `id`) change a view with these deps? (For views computed behind the index.) */
  static affects(deps: AnswerDeps, id: string, record: StemeRecord): boolean {
    const ids = new Set(deps.ids);
    if (ids.has(id)) return true;
    for (const k of keysOf(id, record)) {
      if (k.kind === "all") return true;
      if (k.kind === "sp" && k.value === deps.sp) return true;
      if (k.kind === "id" && ids.has(k.value)) return true;
      if (k.kind === "source" && deps.sources.includes(k.value)) return true;
    }
    return false;
  }

  /** Drops every view `record` could change. */
  invalidate(id: string, record: StemeRecord): void {
    this.dropAll(this.byId.get(id));
    for (const k of keysOf(id, record)) {
      if (k.kind === "all") this.clear(true);
      else if (k.kind === "sp") this.dropAll(this.bySp.get(k.value));
      else if (k.kind === "id") this.dropAll(this.byId.get(k.value));
      else this.dropAll(this.bySource.get(k.value));
    }
  }

  /** Drops the views of lenses that weigh trust. */
  invalidateTrust(): void {
    for (const [key, view] of [...this.views]) if (view.usesTrust) this.remove(key, true);
  }

  /** Drops every view. */
  clear(notify = false): void {
    for (const key of [...this.views.keys()]) this.remove(key, notify);
  }

  private dropAll(keys: Set<string> | undefined): void {
    if (!keys) return;
    for (const key of [...keys]) this.remove(key, true);
  }

  /**
   * Second chance (CLOCK): the oldest-inserted view goes, unless it was read in the last
   * `secondChanceMs`, in which case it moves to the back and the next one is looked at. Reads
   * only stamp a time, so a hit costs no reordering.
   */
  private evict(nowMs: number): void {
    for (let looked = 0; looked < 64; looked++) {
      const oldest = this.views.entries().next().value;
      if (oldest === undefined) return;
      const [key, view] = oldest;
      if (nowMs - view.readAtMs >= secondChanceMs || looked === 63) {
        this.remove(key, false);
        return;
      }
      this.views.delete(key);
      this.views.set(key, view);
    }
  }

  private remove(key: string, notify: boolean): void {
    const view = this.views.get(key);
    if (!view) return;
    this.views.delete(key);
    this.held -= view.bytes;
    del(this.bySp, view.deps.sp, key);
    for (const id of view.deps.ids) del(this.byId, id, key);
    for (const s of view.deps.sources) del(this.bySource, s, key);
    if (notify) {
      this.invalidations++;
      this.onDrop(key, view);
    }
  }
}

export type InvalidationKey = { kind: "sp" | "id" | "source"; value: string } | { kind: "all" };

/** What `record` can change, by the table at the top of this file (the change feed's watched pairs use it too). */
export function keysOf(_id: string, r: StemeRecord): InvalidationKey[] {
  switch (r.kind) {
    case "assertion": {
      const keys: InvalidationKey[] = [{ kind: "sp", value: `${r.subject}\0${r.predicate}` }];
      // Not its depends_on ids: a cascade flows from a dependency to its dependants, so a new
      // dependant changes nothing about what it depends on.
      if (r.supersedes) keys.push({ kind: "id", value: toHex(r.supersedes) });
      return keys;
    }
    case "vote":
    case "retraction":
    case "review":
      return [{ kind: "id", value: toHex(r.target) }];
    case "source":
    case "source_retraction":
      return [{ kind: "source", value: r.source_id }];
    case "epoch":
      return [{ kind: "all" }];
  }
}

function add(map: Map<string, Set<string>>, k: string, key: string): void {
  const set = map.get(k);
  if (set) set.add(key);
  else map.set(k, new Set([key]));
}

function del(map: Map<string, Set<string>>, k: string, key: string): void {
  const set = map.get(k);
  if (!set) return;
  set.delete(key);
  if (set.size === 0) map.delete(k);
}
