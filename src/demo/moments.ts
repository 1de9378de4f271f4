/**
 * `stemedb demo`: loads the pharma living review (dataset.ts) into a running server and walks
 * the five moments of docs/DEMO.md with real HTTP calls, printing each as a heading, the command a
 * reader could type instead, and the answer. Every moment also returns what it saw, with the
 * checks it made, so the integration test asserts the same run a person watches.
 *
 *   1. regulator 0.2 % vs anecdotes 12 %: authority and consensus disagree, κ > 0.5, skeptic
 *      says contested;
 *   2. the MEGA-PRAGMATIC trial is withdrawn: the impact dry run, then the retraction, cascade
 *      ≥ 110 dependants, and an answer that changes;
 *   3. the audit trail from a patient leaflet back to the trial, every id and signature checked
 *      here, client-side;
 *   4. time travel: the same question as of 2023 and as of 2025;
 *   5. three lenses, three winners, each with its reasons.
 */
import { type QueryAnswer, signClaim, StemeClient, toHex } from "../client/index.ts";
import { StemeError } from "../core/errors.ts";
import { type DemoDataset, demoPrefix, generateDataset } from "./dataset.ts";
import { clip, command, heading, type LensRow, lensRow, lensTable, short, wrap } from "./render.ts";
import { type RecordView, tampered, type Verification, verifyRecord } from "./verify.ts";

export const demoServerDefault = "http://127.0.0.1:18180";
/** Records per batch request (the server takes up to 10,000). */
export const demoBatchRecordsMax = 2000;

export interface DemoOptions {
  server: string;
  /** The data set's seed; a random one when absent. */
  seed?: number;
  /** Subject and source namespace; `pharma-demo-<seed hex>` when absent. */
  prefix?: string;
  /** Extra headers on every request (Authorization). */
  headers?: Record<string, string>;
  /** Where the readable walk goes, line by line; nowhere when absent. */
  print?: (line: string) => void;
  /** The client's fetch (the CLI's says which server could not be reached). */
  fetch?: typeof fetch;
}

export interface DemoCheck {
  moment: number;
  what: string;
  ok: boolean;
}

export interface DemoResult {
  seed: number;
  prefix: string;
  server: string;
  load: {
    records: number;
    accepted: number;
    duplicates: number;
    quarantined: number;
    /** Sources of tier 1–3 the node's authority confirmed. */
    confirmed: number;
    ms: number;
    counts: Record<string, number>;
  };
  contradiction: { subject: string; predicate: string; answers: Record<string, LensRow> };
  cascade: {
    sourceId: string;
    dryRun: { sourceRetracted: number; cascade: number; total: number; byDepth: Record<number, number> };
    retraction: { id: string; lsn: number; sourceRetracted: number; cascade: number; total: number };
    before: LensRow;
    after: LensRow;
    /** Scenario assertions read back after the retraction: flagged as expected / independent ones untouched. */
    flagged: number;
    untouched: number;
  };
  audit: {
    claim: string;
    nodes: number;
    verified: Verification[];
    tamperCaught: boolean;
    reachedSource: { source_id: string; tier: number; retracted: boolean } | null;
  };
  timeTravel: { subject: string; predicate: string; before: Record<string, LensRow>; after: Record<string, LensRow> };
  threeLenses: { subject: string; predicate: string; answers: Record<string, LensRow> };
  checks: DemoCheck[];
  ok: boolean;
}

/** Runs the whole demo against `options.server`. Throws only when the server cannot be used. */
export async function runDemo(options: DemoOptions): Promise<DemoResult> {
  const seed = options.seed ?? crypto.getRandomValues(new Uint32Array(1))[0]!;
  const walk = new Walk(options, generateDataset(seed, options.prefix ?? demoPrefix(seed)));
  return walk.run();
}

type ProvNode = {
  id: string;
  record?: RecordView & { subject?: string; predicate?: string; object?: unknown };
  flags?: string[];
  source?: { source_id: string; title: string | null; tier: number; retracted: boolean } | null;
  depends_on?: ProvNode[];
  dangling?: true;
};

class Walk {
  private readonly client: StemeClient;
  private readonly print: (line: string) => void;
  private readonly checks: DemoCheck[] = [];
  private readonly names = new Map<string, string>();
  private readonly serverFlag: string;

  constructor(
    private readonly options: DemoOptions,
    private readonly data: DemoDataset,
  ) {
    this.client = new StemeClient({
      url: options.server,
      ...(options.headers ? { headers: options.headers } : {}),
      ...(options.fetch ? { fetch: options.fetch } : {}),
    });
    this.print = options.print ?? (() => {});
    for (const a of data.agents) this.names.set(a.agent, a.name);
    this.serverFlag = options.server.replace(/\/+$/, "") === demoServerDefault ? "" : ` --server ${options.server}`;
  }

  async run(): Promise<DemoResult> {
    const load = await this.load();
    const contradiction = await this.momentContradiction();
    const cascade = await this.momentCascade();
    const audit = await this.momentAudit();
    const timeTravel = await this.momentTimeTravel();
    const threeLenses = await this.momentThreeLenses();
    const ok = this.checks.every((c) => c.ok);
    this.print(heading(null, ok ? "All five moments answered as expected" : "Some checks failed"));
    for (const c of this.checks) this.print(`  ${c.ok ? "✓" : "✗"} ${c.moment}. ${c.what}`);
    this.print(`\nReplay this exact run on a fresh server: stemedb demo --seed ${this.data.seed}${this.serverFlag}`);
    return {
      seed: this.data.seed,
      prefix: this.data.prefix,
      server: this.options.server,
      load,
      contradiction,
      cascade,
      audit,
      timeTravel,
      threeLenses,
      checks: this.checks,
      ok,
    };
  }

  private check(moment: number, what: string, ok: boolean): void {
    this.checks.push({ moment, what, ok });
  }

  private stemedb(args: string): string {
    return command(`stemedb ${args}${this.serverFlag}`);
  }

  private name(agent: unknown): string {
    return typeof agent === "string" ? (this.names.get(agent) ?? short(agent)) : "?";
  }

  private async lenses(subject: string, predicate: string, lenses: string[], asOf?: string): Promise<Record<string, LensRow>> {
    const { results } = await this.client.queryLenses(subject, predicate, lenses, asOf ? { asOf } : {});
    const rows: Record<string, LensRow> = {};
    for (const lens of lenses) rows[lens] = lensRow(lens, results[lens] as QueryAnswer);
    return rows;
  }

  // ---- loading ---------------------------------------------------------------------------

  private async load(): Promise<DemoResult["load"]> {
    const { data } = this;
    const health = await this.client.health();
    const roles = new Map<string, number>();
    for (const a of data.agents) roles.set(a.role, (roles.get(a.role) ?? 0) + 1);
    const tiers = [1, 2, 3, 4, 5].map((t) => `${data.sources.filter((s) => s.tier === t).length} × tier ${t}`);
    this.print(
      `StemeDB demo: a pharma living review, against ${this.options.server} (stemedb ${health.version}, log at ${health.lsn})`,
    );
    this.print(`seed ${data.seed}; every subject and source id of this run lives under ${data.prefix}/`);
    this.print(
      wrap(
        `Generating ${data.records.length} signed records: ${count(data.counts.assertion)} assertions about 12 drugs, ` +
          `${count(data.counts.source)} sources (${tiers.join(", ")}), ${count(data.counts.vote)} votes, by ` +
          `${data.agents.length} agents with their own Ed25519 keys: ` +
          [...roles].map(([r, n]) => `${n} ${n > 1 ? plural(r) : r}`).join(", ") +
          ".",
      ),
    );
    const started = performance.now();
    let accepted = 0;
    let duplicates = 0;
    let quarantined = 0;
    for (let at = 0; at < data.records.length; at += demoBatchRecordsMax) {
      const batch = data.records.slice(at, at + demoBatchRecordsMax);
      const answer = await this.client.submitBatch(batch, { format: "cbor" });
      for (const r of answer.results) {
        if ("error" in r) throw new Error(`the server refused a demo record: ${r.error.code}: ${r.error.detail}`);
        if (r.duplicate) duplicates++;
        else accepted++;
        if (r.status === "quarantined") quarantined++;
      }
    }
    const ms = Math.round(performance.now() - started);
    this.print(
      `Loaded in ${ms} ms (CBOR batches of up to ${demoBatchRecordsMax}): ${accepted} accepted` +
        `${duplicates ? `, ${duplicates} already there` : ""}${quarantined ? `, ${quarantined} quarantined` : ""}.`,
    );
    const confirmed = await this.confirmSources();
    this.print(`(The commands shown are the CLI equivalents; from a clone, ./stemedb runs it.)`);
    return { records: data.records.length, accepted, duplicates, quarantined, confirmed, ms, counts: data.counts };
  }

  /**
   * A tier is a claim (docs/SEMANTICS.md#sources-and-registrars): the regulator's labels, the
   * trials and the guidelines count as tier 1–3 only once an authority vouches for them. The
   * node's authority does it here, as a reviewer would (`POST /v1/admin/sources/:id/confirm`,
   * which needs an admin key when the server has keys).
   */
  private async confirmSources(): Promise<number> {
    const vouched = this.data.sources.filter((s) => s.tier <= 3);
    const base = this.options.server.replace(/\/+$/, "");
    const doFetch = this.options.fetch ?? fetch;
    await mapLimit(vouched, 8, async (s) => {
      const res = await doFetch(`${base}/v1/admin/sources/${encodeURIComponent(s.sourceId)}/confirm`, {
        method: "POST",
        headers: { accept: "application/json", ...this.options.headers },
      });
      if (res.ok) return;
      const problem = (await res.json().catch(() => ({}))) as { code?: string; detail?: string };
      throw new StemeError(
        res.status === 401 || res.status === 403 ? "forbidden" : "internal",
        `confirming source ${s.sourceId}: ${res.status} ${problem.code ?? ""} ${problem.detail ?? ""}`.trim(),
        { hint: "the demo confirms its sources as the node's authority: give it an admin key (--api-key)" },
      );
    });
    this.print(
      wrap(
        `The node's authority confirmed the ${vouched.length} registrations of tier 1–3 (labels, trials, studies, ` +
          `guidelines): a tier is a claim, and counts as at best 4 until an authority vouches for it.`,
      ),
    );
    this.print(
      this.stemedb(`source confirm ${vouched[0]?.sourceId ?? "ID"}      # POST /v1/admin/sources/:id/confirm, one per source`),
    );
    return vouched.length;
  }

  // ---- 1 -----------------------------------------------------------------------------------

  private async momentContradiction(): Promise<DemoResult["contradiction"]> {
    const { subject, predicate } = this.data.scenario.contradiction;
    this.print(heading(1, "Contradiction: the regulator says 0.2 %, the forum says 12 %"));
    this.print(
      wrap(
        "Aspirin's yearly bleeding risk: the regulator's 2023 label (tier 1) says 0.2 %; three patient-forum " +
          "posters (tier 5) say 12 %. Both are kept, signed; nothing was settled when they were written. " +
          "Each lens reads the same claims its own way:",
      ),
    );
    this.print(this.stemedb(`query ${subject} ${predicate} --lens authority --lens consensus --lens skeptic`));
    const answers = await this.lenses(subject, predicate, ["authority", "consensus", "skeptic"]);
    const { authority, consensus, skeptic } = answers as Record<string, LensRow>;
    this.print(lensTable(Object.values(answers)));
    this.print(
      wrap(
        `→ authority trusts the best source (${fmt(authority?.value)}); consensus follows the heaviest camp ` +
          `(${fmt(consensus?.value)}); κ = ${consensus?.conflict.toFixed(2)} says the two camps are far apart, ` +
          `and skeptic's verdict is "${skeptic?.verdict}".`,
      ),
    );
    this.check(1, "authority picks the regulator's 0.2", authority?.value === 0.2);
    this.check(1, "consensus picks the anecdotes' 12", consensus?.value === 12);
    this.check(1, "κ > 0.5 under consensus and authority", (consensus?.conflict ?? 0) > 0.5 && (authority?.conflict ?? 0) > 0.5);
    this.check(1, "skeptic says contested", skeptic?.verdict === "contested");
    return { subject, predicate, answers };
  }

  // ---- 2 -----------------------------------------------------------------------------------

  private async momentCascade(): Promise<DemoResult["cascade"]> {
    const mega = this.data.scenario.mega;
    const registrar = this.data.agents.find((a) => a.name === mega.registrar)!;
    const source = this.data.sources.find((s) => s.sourceId === mega.sourceId)!;
    const encoded = encodeURIComponent(mega.sourceId);
    this.print(heading(2, "A source is withdrawn: the retraction cascades"));
    this.print(
      wrap(
        `"${source.title}" (tier ${source.tier}) is cited by ${mega.citing.length} results; meta-analyses pooled them, ` +
          "guidelines rest on the meta-analyses, formularies on the guidelines, patient leaflets on the formularies — " +
          "all through signed depends_on links. A data-integrity finding: the trial group withdraws it. First the dry run:",
      ),
    );
    this.print(this.stemedb(`source ${mega.sourceId} --impact`) + `      # GET /v1/sources/${encoded}/impact`);
    const dryRun = await this.impact(mega.sourceId);
    const depths = Object.entries(dryRun.byDepth)
      .filter(([d]) => d !== "0")
      .map(([d, n]) => `depth ${d}: ${n}`)
      .join(", ");
    this.print(`  would flag ${dryRun.sourceRetracted} assertions citing it (source_retracted)`);
    this.print(`  and ${dryRun.cascade} more through depends_on (cascade): ${depths}`);
    for (const item of dryRun.samples) this.print(`    ${item}`);
    const already = (await this.client.source(mega.sourceId)).retracted;
    if (already) this.print(`  (this seed ran on this server before: the trial is already retracted, so "before" is "after")`);
    const { subject, predicate } = mega.probe;
    const expectedBefore = already ? mega.probe.after : mega.probe.before;
    this.print(`\nWarfarin's major-bleeding hazard ratio leans on the trial:`);
    this.print(this.stemedb(`query ${subject} ${predicate} --lens consensus`));
    const before = (await this.lenses(subject, predicate, ["consensus"])).consensus as LensRow;
    this.print(lensTable([before]));

    const signed = signClaim(registrar.key, {
      kind: "source_retraction",
      source_id: mega.sourceId,
      reason: "data-integrity finding at three sites; results withdrawn",
    });
    this.print(`\nThe trial group signs a source_retraction and posts it:`);
    this.print(
      command(
        `curl -X POST ${this.options.server}/v1/sources/${encoded}/retract -d '{"kind":"source_retraction","source_id":"${mega.sourceId}",…,"sig":"${toHex(signed.sig).slice(0, 16)}…"}'`,
      ),
    );
    const answer = await this.client.retractSource(signed);
    const retraction = {
      id: answer.id,
      lsn: answer.lsn,
      sourceRetracted: answer.impact.source_retracted,
      cascade: answer.impact.cascade,
      total: answer.impact.total,
    };
    this.print(
      `  → ${answer.duplicate ? "200 (already retracted)" : "201"} id ${short(answer.id)} lsn ${answer.lsn}: ` +
        `${retraction.sourceRetracted} source_retracted + ${retraction.cascade} cascade = ${retraction.total} assertions flagged`,
    );
    this.print(`\nThe same question now (lenses stop counting flagged claims at once):`);
    this.print(this.stemedb(`query ${subject} ${predicate} --lens consensus`));
    const after = (await this.lenses(subject, predicate, ["consensus"])).consensus as LensRow;
    this.print(lensTable([after]));
    const { flagged, untouched } = await this.readBackFlags();
    this.print(
      wrap(
        `→ read back one by one: ${flagged} of ${mega.citing.length + mega.dependants.flat().length} dependants carry their flag; ` +
          `${untouched} of ${mega.independent.length} results of other trials that the meta-analyses also used carry none.`,
      ),
    );
    this.check(2, `dry run: ${dryRun.cascade} dependants through depends_on (≥ 110)`, dryRun.cascade >= 110);
    this.check(
      2,
      `retraction flags ${retraction.sourceRetracted} + ${retraction.cascade}, as the dry run said`,
      retraction.sourceRetracted === dryRun.sourceRetracted && retraction.cascade === dryRun.cascade && retraction.cascade >= 110,
    );
    this.check(
      2,
      already
        ? `warfarin's hazard ratio is ${fmt(mega.probe.after)} (retracted by an earlier run of this seed)`
        : `warfarin's hazard ratio moves from ${fmt(mega.probe.before)} to ${fmt(mega.probe.after)}`,
      before.value === expectedBefore && after.value === mega.probe.after,
    );
    this.check(
      2,
      "every dependant flagged, every independent result untouched",
      flagged === mega.citing.length + mega.dependants.flat().length && untouched === mega.independent.length,
    );
    return { sourceId: mega.sourceId, dryRun, retraction, before, after, flagged, untouched };
  }

  /** The whole dry run, every page, counted by depth; a few sample lines. */
  private async impact(sourceId: string) {
    const byDepth: Record<number, number> = {};
    const samples: string[] = [];
    let cursor: string | undefined;
    let first: { source_retracted: number; cascade: number; total: number } | undefined;
    do {
      const page = await this.client.sourceImpact(sourceId, { limit: 1000, ...(cursor ? { cursor } : {}) });
      first ??= page;
      for (const item of page.items) {
        byDepth[item.depth] = (byDepth[item.depth] ?? 0) + 1;
        if (byDepth[item.depth] === 1)
          samples.push(
            `${item.flag.padEnd(16)} depth ${item.depth}  ${short(item.id)}  ${item.subject.split("/").pop()} ${item.predicate}`,
          );
      }
      cursor = page.next_cursor ?? undefined;
    } while (cursor);
    return {
      sourceRetracted: first?.source_retracted ?? 0,
      cascade: first?.cascade ?? 0,
      total: first?.total ?? 0,
      byDepth,
      samples,
    };
  }

  /** GET every scenario assertion of the chain: dependants flagged, independent results not. */
  private async readBackFlags(): Promise<{ flagged: number; untouched: number }> {
    const mega = this.data.scenario.mega;
    const flagsOf = async (ids: string[]) =>
      mapLimit(ids, 16, async (id) => ((await this.client.get(id)).flags as string[] | undefined) ?? []);
    const citing = await flagsOf(mega.citing);
    const dependants = await flagsOf(mega.dependants.flat());
    const independent = await flagsOf(mega.independent);
    const flagged =
      citing.filter((f) => f.includes("source_retracted")).length + dependants.filter((f) => f.includes("cascade")).length;
    const untouched = independent.filter((f) => f.length === 0).length;
    return { flagged, untouched };
  }

  // ---- 3 -----------------------------------------------------------------------------------

  private async momentAudit(): Promise<DemoResult["audit"]> {
    const claim = this.data.scenario.mega.leaflet;
    this.print(heading(3, "The audit trail: from a patient leaflet back to its source, signatures checked"));
    this.print(wrap("Why is this warfarin leaflet flagged? Fetch it, then its provenance chain:"));
    this.print(this.stemedb(`get ${claim}`));
    const leaf = (await this.client.get(claim)) as unknown as RecordView & { object?: unknown; flags?: string[] };
    this.print(
      `  ${leaf.predicate} = ${JSON.stringify(leaf.object)}  by ${this.name(leaf.agent)}, flags [${(leaf.flags ?? []).join(", ")}]`,
    );
    this.print(this.stemedb(`provenance ${claim}`) + `      # GET /v1/provenance/${claim.slice(0, 12)}…`);
    const tree = await this.client.provenance(claim, { depth: 8 });
    const verified: Verification[] = [verifyRecord(leaf)];
    const seen = new Set<string>();
    let reachedSource: DemoResult["audit"]["reachedSource"] = null;
    const lines: string[] = [];
    const visit = (node: ProvNode, prefix: string, last: boolean, top: boolean) => {
      const branch = top ? "" : last ? "└─ " : "├─ ";
      const childPrefix = top ? "" : prefix + (last ? "   " : "│  ");
      if (node.dangling || !node.record) {
        lines.push(`${prefix}${branch}${short(node.id)} (not on this node)`);
        return;
      }
      const r = node.record;
      const label = `${r.predicate} = ${clip(JSON.stringify(r.object), 44)}`;
      if (seen.has(node.id)) {
        lines.push(`${prefix}${branch}${label}  ${short(node.id)} (shown above)`);
        return;
      }
      seen.add(node.id);
      const v = verifyRecord(r);
      verified.push(v);
      const src = node.source
        ? `${node.source.source_id.split("/").pop()} (tier ${node.source.tier}${node.source.retracted ? ", RETRACTED" : ""})`
        : "no source";
      if (node.source?.retracted) reachedSource = node.source;
      const flags = node.flags?.length ? ` [${node.flags.join(", ")}]` : "";
      lines.push(`${prefix}${branch}${label}  · ${this.name(r.agent)} · ${src}${flags}  ${mark(v)}`);
      const deps = node.depends_on ?? [];
      for (const [i, d] of deps.entries()) visit(d, childPrefix, i === deps.length - 1, false);
    };
    visit(tree.root as unknown as ProvNode, "", true, true);
    for (const line of lines) this.print(`  ${line}`);
    const sourceChecks = await this.verifySource(this.data.scenario.mega.sourceId);
    verified.push(...sourceChecks);
    const bad = verified.filter((v) => !v.ok);
    const forged = verifyRecord(tampered(leaf, Math.floor(leaf.body.length / 4)));
    this.print(
      wrap(
        `→ checked here, not by the server: ${verified.length} records (${seen.size} in the chain, the leaflet as fetched, ` +
          `the source's registration and its retraction): ` +
          (bad.length === 0
            ? "every id = BLAKE3(body), every Ed25519 signature valid (docs/FORMAT.md#which-signatures-verify, pure JS), every shown field inside the signed body."
            : `${bad.length} FAILED: ${bad.map((b) => short(b.id)).join(", ")}.`) +
          ` Control: with one byte of the leaflet's body flipped, ${forged.idMatches ? "the id still matches (!)" : "BLAKE3 gives another id"} ` +
          `and ${forged.signatureValid ? "the signature still verifies (!)" : "the signature no longer verifies"}.`,
      ),
    );
    const tamperCaught = !forged.ok;
    this.check(3, `the chain reaches the retracted trial's registered source`, reachedSource !== null);
    this.check(3, `${verified.length} ids and signatures verified client-side`, verified.length > 5 && bad.length === 0);
    this.check(3, "a tampered body is caught", tamperCaught);
    return { claim, nodes: tree.nodes, verified, tamperCaught, reachedSource };
  }

  /** The source's registration and retraction records, fetched and checked like the chain. */
  private async verifySource(sourceId: string): Promise<Verification[]> {
    const s = await this.client.source(sourceId);
    const ids = [s.record, (s.retraction as { id?: string } | null)?.id].filter((x): x is string => typeof x === "string");
    const out: Verification[] = [];
    for (const id of ids) {
      const view = (await this.client.get(id)) as unknown as RecordView;
      const v = verifyRecord(view);
      out.push(v);
      this.print(
        `  ${view.kind.padEnd(17)} ${clip(String(view.title ?? view.reason ?? ""), 60)}  · ${this.name(view.agent)}  ${mark(v)}`,
      );
    }
    return out;
  }

  // ---- 4 -----------------------------------------------------------------------------------

  private async momentTimeTravel(): Promise<DemoResult["timeTravel"]> {
    const t = this.data.scenario.timeTravel;
    this.print(heading(4, "Time travel: the same question as of 2023 and as of 2025"));
    this.print(
      wrap(
        "Acetaminophen's maximum daily dose. The regulator's 2023 label said 4000 mg; its 2025 label says 3000 mg and " +
          "supersedes the 2023 claim (same signer). Nothing was overwritten, so the past is still readable:",
      ),
    );
    const lenses = ["authority", "consensus"];
    this.print(this.stemedb(`query ${t.subject} ${t.predicate} --lens authority --lens consensus --as-of ${t.asOfBefore}`));
    const before = await this.lenses(t.subject, t.predicate, lenses, t.asOfBefore);
    this.print(lensTable(Object.values(before)));
    this.print(this.stemedb(`query ${t.subject} ${t.predicate} --lens authority --lens consensus --as-of ${t.asOfAfter}`));
    const after = await this.lenses(t.subject, t.predicate, lenses, t.asOfAfter);
    this.print(lensTable(Object.values(after)));
    this.print(`The 2023 claim is still stored, signed, and says why it no longer counts:`);
    this.print(this.stemedb(`get ${t.label2023}`));
    const old = (await this.client.get(t.label2023)) as { object?: unknown; flags?: string[]; notes?: string[] };
    const oldFlags = old.flags ?? [];
    this.print(`  object ${fmt(old.object)}, flags [${oldFlags.join(", ")}], notes: ${(old.notes ?? []).join("; ")}`);
    this.print(
      wrap(
        `→ as of 2023 the answer is ${fmt(before.authority?.value)} mg; as of 2025, ${fmt(after.authority?.value)} mg. ` +
          "Nothing was overwritten: include=superseded brings the old claim back for history.",
      ),
    );
    this.check(4, `as of 2023: ${t.before} mg`, before.authority?.value === t.before && before.consensus?.value === t.before);
    this.check(4, `as of 2025: ${t.after} mg`, after.authority?.value === t.after && after.consensus?.value === t.after);
    this.check(4, "the 2023 claim is kept, flagged superseded", old.object === t.before && oldFlags.includes("superseded"));
    return { subject: t.subject, predicate: t.predicate, before, after };
  }

  // ---- 5 -----------------------------------------------------------------------------------

  private async momentThreeLenses(): Promise<DemoResult["threeLenses"]> {
    const { subject, predicate, expected } = this.data.scenario.threeLenses;
    this.print(heading(5, "Three lenses, three winners"));
    this.print(
      wrap(
        "Ibuprofen's maximum daily dose: the label's prescription maximum is 3200 mg; a pharmacy blog, a news site " +
          "and forum posters repeat the over-the-counter 1200 mg; the newest word, a 2025 pain-medicine guideline, " +
          "says 2400 mg for short supervised courses. Which is 'the' answer depends on the policy you ask for:",
      ),
    );
    const lenses = ["authority", "consensus", "recency"] as const;
    this.print(this.stemedb(`query ${subject} ${predicate} --lens authority --lens consensus --lens recency`));
    const answers = await this.lenses(subject, predicate, [...lenses]);
    this.print(lensTable(Object.values(answers)));
    const policy = {
      authority: "the best source wins",
      consensus: "the most total confidence wins",
      recency: "the latest claim wins",
    };
    for (const lens of lenses) {
      const row = answers[lens] as LensRow;
      this.print(`\n  ${lens}: ${fmt(row.value)} — ${policy[lens]}`);
      for (const line of row.explain) this.print(`    · ${line}`);
    }
    const winners = new Set(lenses.map((l) => JSON.stringify(answers[l]?.value)));
    this.check(
      5,
      `authority ${expected.authority}, consensus ${expected.consensus}, recency ${expected.recency}`,
      lenses.every((l) => answers[l]?.value === expected[l]),
    );
    this.check(
      5,
      "three distinct winners, each explained",
      winners.size === 3 && lenses.every((l) => (answers[l]?.explain.length ?? 0) > 0),
    );
    return { subject, predicate, answers };
  }
}

function fmt(v: unknown): string {
  return JSON.stringify(v);
}

function plural(role: string): string {
  return role.endsWith("y") ? `${role.slice(0, -1)}ies` : `${role}s`;
}

function count(n: number | undefined): string {
  return String(n ?? 0);
}

function mark(v: Verification): string {
  return v.ok
    ? "id ✓ sig ✓"
    : `id ${v.idMatches ? "✓" : "✗"} sig ${v.signatureValid ? "✓" : "✗"} fields ${v.fieldsMatch ? "✓" : "✗"}`;
}

async function mapLimit<T, R>(items: readonly T[], n: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i] as T);
    }
  };
  await Promise.all(Array.from({ length: Math.min(n, items.length) }, worker));
  return out;
}
