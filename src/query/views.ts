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
import { Doorkeeper } from "./doorkeeper.ts";
import type { AnswerDeps, QueryAnswer, QueryRequest } from "./query.ts";

export interface View {
  /** The request the view answers (one lens), so a dropped hot view can be recomputed. */
  request: QueryRequest;
  answer: QueryAnswer;
  /** The answer serialized at its first read, for `GET /v1/query` (its bytes are added then). */
  json: string | null;
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
 * of ten claims leaves a view of ≈ 8 KiB of heap (12 KiB once its JSON is kept), so bounded
 * by count alone a server that answers every pair once grew by ≈ 1 GB at 100,000 views.
 */
export const viewsBytesMaxDefault = 64 * 1024 * 1024;
/** A view read this recently survives eviction once more. */
const secondChanceMs = 1000;

/**
 * A view's size in memory, estimated from its answer's JSON length: the answer's object graph
 * (≈ 3 bytes for each character of its JSON) and the invalidation entries of its dependencies
 * (a 64-character id string and a slot in a set, ≈ 150 bytes each). Calibrated against the JS
 * heap after a full collection: 8.3 KiB a view of a 10-claim pair, estimated 8.7 KiB.
 */
export function viewBytes(jsonChars: number, deps: AnswerDeps): number {
  return 512 + 3 * jsonChars + 150 * deps.ids.length + 100 * deps.sources.length + 2 * deps.sp.length;
}

/** What keeping a view's serialized answer costs: JSC strings may hold 2 bytes a character. */
export const jsonBytes = (json: string): number => 64 + 2 * json.length;

export class ViewCache {
  private readonly views = new Map<string, View>();
  private readonly bySp = new Map<string, Set<string>>();
  private readonly byId = new Map<string, Set<string>>();
  private readonly bySource = new Map<string, Set<string>>();
  hits = 0;
  misses = 0;
  invalidations = 0;
  private held = 0;
  private readonly door = new Doorkeeper();

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

  /**
   * `answer` and `depsOf` are asked for only when the view is kept; `json`, when the answer already exists as
   * text (from a query worker), is kept with it and counted.
   */
  put(
    key: string,
    request: QueryRequest,
    answer: QueryAnswer | (() => QueryAnswer),
    depsOf: AnswerDeps | (() => AnswerDeps),
    usesTrust: boolean,
    nowMs: number,
    json?: string,
  ): void {
    if (this.viewsMax <= 0 || this.bytesMax <= 0) return;
    this.remove(key, false);
    if (!this.door.offer(key)) return; // kept at its second ask (doorkeeper.ts)
    const value = typeof answer === "function" ? answer() : answer;
    const deps = typeof depsOf === "function" ? depsOf() : depsOf;
    // Serialized only to be measured (unless it came as text): most views of a cold workload are
    // never read, and keeping every answer's JSON would double what they hold.
    const bytes =
      json === undefined ? viewBytes(JSON.stringify(value).length, deps) : viewBytes(json.length, deps) + jsonBytes(json);
    if (bytes > this.bytesMax) return; // larger than every view together may be: resolved at each ask
    this.makeRoom(bytes, nowMs);
    this.views.set(key, { request, answer: value, json: json ?? null, deps, usesTrust, readAtMs: nowMs, bytes });
    this.held += bytes;
    add(this.bySp, deps.sp, key);
    for (const id of deps.ids) add(this.byId, id, key);
    for (const s of deps.sources) add(this.bySource, s, key);
  }

  /** The answer of the view under `key` as JSON, serialized at its first read and kept (and counted) from then on. */
  json(key: string, view: View, nowMs: number): string {
    if (view.json !== null) return view.json;
    const json = JSON.stringify(view.answer);
    const more = jsonBytes(json);
    if (this.views.get(key) !== view || view.bytes + more > this.bytesMax) return json;
    // Out of eviction's reach while room is made; back as the newest (it was just read).
    this.views.delete(key);
    this.held -= view.bytes;
    while (this.views.size > 0 && this.held + view.bytes + more > this.bytesMax) this.evict(nowMs);
    view.json = json;
    view.bytes += more;
    this.views.set(key, view);
    this.held += view.bytes;
    return json;
  }

  private makeRoom(bytes: number, nowMs: number): void {
    while (this.views.size > 0 && (this.views.size >= this.viewsMax || this.held + bytes > this.bytesMax)) this.evict(nowMs);
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
    this.door.offer(key); // once kept, let back in at once (a dropped hot view is recomputed)
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
