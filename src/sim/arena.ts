/**
 * `stemedb sim truth` (docs/ARENA.md): personas play over ticks against a real server, through
 * its HTTP API with signed records, around a planted ground truth; after each tick the arena
 * asks every lens about every subject and scores the winners against the truth.
 *
 * A tick: every agent acts with the scenario's chance (personas.ts), the authority last; the
 * records go in CBOR batches; then every subject is queried (measure.ts) and τ is read per
 * agent. At checkpoints (every fifth of the run) the answers are kept with the node's receive
 * time of the tick's last record; at the end the same questions are asked again `known_at`
 * those times — they must not have changed, whatever was backdated since — and `as_of` the
 * ticks' stated times, which backdated writes may change. Finally the log is checked to hold
 * every record written.
 *
 * Deterministic for a seed: keys, records, ids and every choice come from the seed; answers
 * are resolved fresh (`fresh=true`), so they depend only on the records.
 */
import { StemeClient } from "../client/index.ts";
import type { KeyPair } from "../crypto/sign.ts";
import type { SignedRecord } from "../crypto/signed.ts";
import { arenaLenses, type ArenaLens, measureSubjects, type SubjectAnswers, trustOfAgents } from "./measure.ts";
import { authority, type Consensus, strategies, type TickContext, tsOf } from "./personas.ts";
import type { Scenario } from "./scenario.ts";
import { AgentKey } from "./signer.ts";
import { type Agent, type Persona, personas, simStartMs, tickMs, World } from "./world.ts";
import { checkLog, type LogCheck } from "./log-check.ts";

export interface ArenaOptions {
  scenario: Scenario;
  /** The server's URL. */
  server: string;
  /** A key in the server's authority set: the authority persona signs with it. */
  authorityKey: KeyPair;
  headers?: Record<string, string>;
  fetch?: typeof fetch;
  /** A line per tick, for people watching. */
  progress?: (line: string) => void;
  /** The server runs on this machine's clock (the embedded one): no need to ask it the time. */
  sameClock?: boolean;
}

export interface Series {
  /** Per tick: the share of subjects whose winner is the truth (null when none counted yet). */
  accuracy: Array<number | null>;
  final: number | null;
}

export interface Stability {
  /** Checkpoints compared, (subject, lens) answers compared, and how many differ now. */
  checkpoints: number;
  compared: number;
  changed: number;
}

export interface ArenaReport {
  name: string;
  seed: number;
  ticks: number;
  scenario: Scenario;
  /** Per lens: accuracy over subjects with at least one honest claim; `sourced`: over subjects with a confirmed real source. */
  lenses: Record<ArenaLens, Series & { sourced: Series }>;
  /** Mean τ per persona, per tick. */
  trust: Partial<Record<Persona, number[]>>;
  /** Records written, by kind, and in all. */
  records: Record<string, number>;
  /** Per tick: how many subjects each accuracy is over. */
  eligible: { honest: number[]; sourced: number[] };
  known_at: Stability;
  as_of: Stability;
  log: LogCheck;
  /** The scenario's expectations, met or not. */
  expect: Record<string, { want: number; got: number | null; ok: boolean }>;
  ok: boolean;
}

/** Records per batch request (the server takes up to 10,000). */
const batchRecords = 5000;
/** Claims stay in the voting pool this many ticks. */
const recentTicks = 3;

interface Checkpoint {
  tick: number;
  knownAt: number;
  asOf: number;
  now: SubjectAnswers[];
  asOfThen: SubjectAnswers[];
}

export async function runArena(options: ArenaOptions): Promise<ArenaReport> {
  return new Arena(options).run();
}

class Arena {
  private readonly client: StemeClient;
  private readonly world: World;
  private readonly written: SignedRecord[] = [];
  private readonly kinds = new Map<string, number>();
  private readonly ids = new Set<string>();
  private consensus = new Map<number, Consensus>();
  private readonly checkpoints: Checkpoint[] = [];
  private readonly accuracy = new Map<ArenaLens, { honest: Array<number | null>; sourced: Array<number | null> }>();
  private readonly eligible = { honest: [] as number[], sourced: [] as number[] };
  private readonly trust = new Map<Persona, number[]>();

  constructor(private readonly options: ArenaOptions) {
    this.client = new StemeClient({
      url: options.server,
      ...(options.headers ? { headers: options.headers } : {}),
      ...(options.fetch ? { fetch: options.fetch } : {}),
    });
    this.world = new World(options.scenario, AgentKey.fromKeyPair(options.authorityKey));
    for (const lens of arenaLenses) this.accuracy.set(lens, { honest: [], sourced: [] });
  }

  async run(): Promise<ArenaReport> {
    const s = this.options.scenario;
    const every = Math.max(1, Math.floor(s.ticks / 5));
    for (let tick = 0; tick < s.ticks; tick++) {
      const queued = this.play(tick);
      await this.submit(queued);
      this.world.age(tick, recentTicks);
      const answers = await measureSubjects(this.client, this.world);
      this.score(answers);
      await this.readTrust();
      if ((tick + 1) % every === 0 || tick === s.ticks - 1) await this.checkpoint(tick, queued, answers);
      this.options.progress?.(this.progressLine(tick, queued.length));
    }
    const knownAt = await this.compare(
      (c) => ({ knownAt: c.knownAt }),
      (c) => c.now,
    );
    const asOf = await this.compare(
      (c) => ({ asOf: c.asOf }),
      (c) => c.asOfThen,
    );
    const log = await checkLog(this.client, this.world, this.written);
    return this.report(knownAt, asOf, log);
  }

  /** Every agent's move in `tick`, signed and queued; the authority moves last. */
  private play(tick: number): SignedRecord[] {
    const queued: SignedRecord[] = [];
    const ctx: TickContext = {
      tick,
      world: this.world,
      consensus: this.consensus,
      write: (agent: Agent, fields, ts) => {
        const signed = agent.key.sign(fields, ts ?? tsOf(tick, agent));
        const id = Buffer.from(signed.id).toString("hex");
        if (this.ids.has(id)) return signed; // the same record again (an agent may repeat itself): stored once
        this.ids.add(id);
        queued.push(signed);
        this.kinds.set(fields.kind, (this.kinds.get(fields.kind) ?? 0) + 1);
        return signed;
      },
    };
    for (const agent of this.world.agents) {
      if (agent.persona === "authority") continue;
      if (agent.rng.chance(this.options.scenario.activity)) strategies[agent.persona](ctx, agent);
    }
    authority(ctx, this.world.authority);
    return queued;
  }

  private async submit(records: SignedRecord[]): Promise<void> {
    for (let at = 0; at < records.length; at += batchRecords) {
      const batch = records.slice(at, at + batchRecords);
      const answer = await this.client.submitBatch(batch, { format: "cbor" });
      for (const r of answer.results)
        if ("error" in r) throw new Error(`the server refused an arena record: ${r.error.code}: ${r.error.detail}`);
    }
    this.written.push(...records);
  }

  private score(answers: SubjectAnswers[]): void {
    const honest = this.world.subjects.filter((s) => s.honest);
    const sourced = this.world.subjects.filter((s) => s.realSource?.confirmedAtTick != null);
    this.eligible.honest.push(honest.length);
    this.eligible.sourced.push(sourced.length);
    const share = (subjects: typeof honest, lens: ArenaLens) =>
      subjects.length === 0 ? null : round(subjects.filter((s) => answers[s.index]?.right[lens]).length / subjects.length);
    for (const lens of arenaLenses) {
      const series = this.accuracy.get(lens) as { honest: Array<number | null>; sourced: Array<number | null> };
      series.honest.push(share(honest, lens));
      series.sourced.push(share(sourced, lens));
    }
    this.consensus = new Map();
    for (const [i, a] of answers.entries()) if (a.consensus) this.consensus.set(i, a.consensus);
  }

  private async readTrust(): Promise<void> {
    const tau = await trustOfAgents(this.client);
    for (const persona of personas) {
      if (persona === "authority") continue;
      const agents = this.world.of(persona);
      if (agents.length === 0) continue;
      const mean = agents.reduce((sum, a) => sum + (tau.get(a.key.hex) ?? 0.01), 0) / agents.length;
      const list = this.trust.get(persona) ?? [];
      list.push(round(mean));
      this.trust.set(persona, list);
    }
  }

  /**
   * Keeps this tick's answers with the node's receive time of its last record (what `known_at`
   * will name later), and asks `as_of` the tick's stated end. Then waits for the node's clock to
   * pass that time, so the next tick's records are received after it.
   */
  private async checkpoint(tick: number, queued: SignedRecord[], now: SubjectAnswers[]): Promise<void> {
    const last = queued.at(-1) ?? this.written.at(-1);
    if (!last) return;
    const view = await this.client.get(Buffer.from(last.id).toString("hex"));
    const knownAt = view.recorded_at as number;
    const asOf = simStartMs + (tick + 1) * tickMs - 1; // the tick's last stated millisecond
    const asOfThen = await measureSubjects(this.client, this.world, { asOf });
    this.checkpoints.push({ tick, knownAt, asOf, now, asOfThen });
    await this.clockPast(knownAt);
  }

  /**
   * Waits until the server's clock has passed `ms`, so nothing written from now on is received
   * at or before it. On the same machine the local clock says so; otherwise the server's `Date`
   * header does (to the second: up to a second's wait per checkpoint).
   */
  private async clockPast(ms: number): Promise<void> {
    const doFetch = this.options.fetch ?? fetch;
    while (!this.options.sameClock) {
      const res = await doFetch(`${this.options.server.replace(/\/+$/, "")}/v1/health`, { headers: { ...this.options.headers } });
      await res.arrayBuffer();
      const date = Date.parse(res.headers.get("date") ?? "");
      if (!Number.isFinite(date)) break; // no Date header: trust the local clock after all
      if (date > ms) return;
      await Bun.sleep(100);
    }
    while (Date.now() <= ms + 1) await Bun.sleep(1);
  }

  /** The checkpoints' answers asked again under each one's cut: how many changed. */
  private async compare(cut: (c: Checkpoint) => { asOf?: number; knownAt?: number }, then: (c: Checkpoint) => SubjectAnswers[]) {
    let compared = 0;
    let changed = 0;
    for (const c of this.checkpoints) {
      const again = await measureSubjects(this.client, this.world, cut(c));
      const before = then(c);
      for (const [i, a] of again.entries())
        for (const lens of arenaLenses) {
          compared++;
          if (a.digest[lens] !== before[i]?.digest[lens]) changed++;
        }
    }
    return { checkpoints: this.checkpoints.length, compared, changed };
  }

  private progressLine(tick: number, records: number): string {
    const pct = (lens: ArenaLens) => {
      const v = this.accuracy.get(lens)?.honest.at(-1);
      return v == null ? "  –  " : `${(v * 100).toFixed(1).padStart(5)}%`;
    };
    return `tick ${String(tick + 1).padStart(3)}/${this.options.scenario.ticks}  ${String(records).padStart(6)} records  consensus ${pct("consensus")}  trust ${pct("trust")}  authority ${pct("authority")}`;
  }

  private report(knownAt: Stability, asOf: Stability, log: LogCheck): ArenaReport {
    const s = this.options.scenario;
    const lenses = {} as ArenaReport["lenses"];
    for (const lens of arenaLenses) {
      const a = this.accuracy.get(lens) as { honest: Array<number | null>; sourced: Array<number | null> };
      lenses[lens] = {
        accuracy: a.honest,
        final: a.honest.at(-1) ?? null,
        sourced: { accuracy: a.sourced, final: a.sourced.at(-1) ?? null },
      };
    }
    const records: Record<string, number> = {};
    for (const kind of [...this.kinds.keys()].sort()) records[kind] = this.kinds.get(kind) as number;
    records.total = this.written.length;
    const report: ArenaReport = {
      name: s.name,
      seed: s.seed,
      ticks: s.ticks,
      scenario: s,
      lenses,
      trust: Object.fromEntries(this.trust),
      records,
      eligible: this.eligible,
      known_at: knownAt,
      as_of: asOf,
      log,
      expect: {},
      ok: true,
    };
    report.expect = evaluate(report, s.expect);
    report.ok = Object.values(report.expect).every((e) => e.ok) && log.holds_all;
    return report;
  }
}

const round = (x: number) => Math.round(x * 10_000) / 10_000;

/**
 * A scenario's expectations against a report: `<lens>` and `<lens>_sourced` are the least final
 * accuracy, `known_at_changed` and `log_missing` the most tolerated.
 */
export function evaluate(report: Omit<ArenaReport, "expect" | "ok">, expect: Record<string, number>) {
  const out: ArenaReport["expect"] = {};
  for (const [key, want] of Object.entries(expect)) {
    let got: number | null;
    let ok: boolean;
    if (key === "known_at_changed" || key === "log_missing") {
      got = key === "known_at_changed" ? report.known_at.changed : report.log.missing;
      ok = got <= want;
    } else {
      const sourced = key.endsWith("_sourced");
      const lens = (sourced ? key.slice(0, -"_sourced".length) : key) as ArenaLens;
      const series = report.lenses[lens];
      if (!series)
        throw new RangeError(`expect.${key}: not a lens (${arenaLenses.join(", ")}), nor known_at_changed or log_missing`);
      got = sourced ? series.sourced.final : series.final;
      ok = got !== null && got >= want;
    }
    out[key] = { want, got, ok };
  }
  return out;
}
