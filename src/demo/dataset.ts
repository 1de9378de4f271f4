/**
 * The demo's data set: a pharma "living review" generated in code, deterministic from a seed.
 *
 * A dozen drugs under `<prefix>/drug/<name>`, their properties and side effects as predicates,
 * and the people who make claims about them, each agent with its own Ed25519 key derived from
 * the seed (so one seed gives byte-identical records, ids and signatures):
 *
 *   tier 1  a regulator's labels (2023, some updated by a 2025 label that `supersedes` them)
 *   tier 2  trial groups, a cohort-study group and meta-analysts (meta-analyses `depends_on`
 *           trial results)
 *   tier 3  guideline societies and a hospital formulary committee (depending on meta-analyses)
 *   tier 4  grey literature: a health-news site, a pharmacy blog, patient leaflets
 *   tier 5  patient-forum posters
 *
 * plus pharmacists who vote. Every cited source is registered with a signed `source` record.
 *
 * Most of the set is seeded background (values near a drug's reference value, anecdotes that
 * exaggerate side effects, votes). Four (subject, predicate) pairs are fixed, because the demo's
 * moments assert on them whatever the seed:
 *
 *   - aspirin `bleeding_risk_pct`: the regulator's 0.2 against three anecdotes' 12 (moment 1);
 *   - the MEGA-PRAGMATIC trial: 24 results cited by 72 meta-analyses, 24 guidance items, 12
 *     formulary decisions and 12 patient leaflets, so retracting it cascades to 120 (moment 2);
 *   - acetaminophen `max_daily_dose_mg`: 4000 on the 2023 label, 3000 on the 2025 label that
 *     supersedes it (moment 4);
 *   - ibuprofen `max_daily_dose_mg`: the label's prescription maximum 3200, the over-the-counter
 *     1200 most sources repeat, and a 2025 guideline's 2400 (moment 5).
 *
 * Every stated time `ts` lies between 2022 and 2025, so nothing is in the future.
 */
import { type KeyPair, publicKeyOf, type SignedRecord, signClaim, toHex } from "../client/index.ts";
import { blake3_256 } from "../crypto/blake3.ts";

export const demoDrugs = [
  "aspirin",
  "ibuprofen",
  "naproxen",
  "acetaminophen",
  "warfarin",
  "apixaban",
  "rivaroxaban",
  "clopidogrel",
  "atorvastatin",
  "metformin",
  "lisinopril",
  "omeprazole",
] as const;
export type DemoDrug = (typeof demoDrugs)[number];

type Scalar = number | string | boolean;

/** Reference values the background scatters around (rough, realistic orders of magnitude). */
const reference: Record<DemoDrug, Record<string, Scalar>> = {
  aspirin: {
    max_daily_dose_mg: 4000,
    half_life_h: 0.3,
    hepatotoxicity: "rare",
    gi_ulcer_risk_pct: 1.5,
    renal_dose_adjustment: false,
    common_side_effect: "dyspepsia",
  },
  ibuprofen: {
    bleeding_risk_pct: 0.1,
    half_life_h: 2,
    hepatotoxicity: "rare",
    gi_ulcer_risk_pct: 1,
    renal_dose_adjustment: true,
    common_side_effect: "dyspepsia",
  },
  naproxen: {
    bleeding_risk_pct: 0.15,
    max_daily_dose_mg: 1500,
    half_life_h: 14,
    hepatotoxicity: "rare",
    gi_ulcer_risk_pct: 1.5,
    renal_dose_adjustment: true,
    common_side_effect: "dyspepsia",
  },
  acetaminophen: {
    bleeding_risk_pct: 0.02,
    half_life_h: 2.5,
    hepatotoxicity: "dose-dependent",
    gi_ulcer_risk_pct: 0.1,
    renal_dose_adjustment: false,
    common_side_effect: "nausea",
  },
  warfarin: {
    bleeding_risk_pct: 2.5,
    max_daily_dose_mg: 10,
    half_life_h: 40,
    hepatotoxicity: "rare",
    gi_ulcer_risk_pct: 0.5,
    renal_dose_adjustment: false,
    common_side_effect: "bleeding",
  },
  apixaban: {
    bleeding_risk_pct: 2.1,
    max_daily_dose_mg: 10,
    half_life_h: 12,
    hepatotoxicity: "rare",
    gi_ulcer_risk_pct: 0.3,
    renal_dose_adjustment: true,
    common_side_effect: "bleeding",
  },
  rivaroxaban: {
    bleeding_risk_pct: 3.6,
    max_daily_dose_mg: 20,
    half_life_h: 9,
    hepatotoxicity: "rare",
    gi_ulcer_risk_pct: 0.6,
    renal_dose_adjustment: true,
    common_side_effect: "bleeding",
  },
  clopidogrel: {
    bleeding_risk_pct: 1.4,
    max_daily_dose_mg: 75,
    half_life_h: 6,
    hepatotoxicity: "rare",
    gi_ulcer_risk_pct: 0.4,
    renal_dose_adjustment: false,
    common_side_effect: "bruising",
  },
  atorvastatin: {
    bleeding_risk_pct: 0.05,
    max_daily_dose_mg: 80,
    half_life_h: 14,
    hepatotoxicity: "transaminase elevation",
    gi_ulcer_risk_pct: 0.05,
    renal_dose_adjustment: false,
    common_side_effect: "myalgia",
  },
  metformin: {
    bleeding_risk_pct: 0.05,
    max_daily_dose_mg: 2550,
    half_life_h: 6,
    hepatotoxicity: "none",
    gi_ulcer_risk_pct: 0.05,
    renal_dose_adjustment: true,
    common_side_effect: "diarrhoea",
  },
  lisinopril: {
    bleeding_risk_pct: 0.05,
    max_daily_dose_mg: 80,
    half_life_h: 12,
    hepatotoxicity: "rare",
    gi_ulcer_risk_pct: 0.05,
    renal_dose_adjustment: true,
    common_side_effect: "dry cough",
  },
  omeprazole: {
    bleeding_risk_pct: 0.05,
    max_daily_dose_mg: 40,
    half_life_h: 1,
    hepatotoxicity: "rare",
    gi_ulcer_risk_pct: 0.05,
    renal_dose_adjustment: false,
    common_side_effect: "headache",
  },
};

const units: Record<string, string> = {
  bleeding_risk_pct: "% per year",
  gi_ulcer_risk_pct: "% per year",
  alt_elevation_pct: "%",
  max_daily_dose_mg: "mg",
  half_life_h: "h",
  major_bleeding_hr: "hazard ratio",
};

/** The MEGA-PRAGMATIC results per drug: major bleeding hazard ratio, ALT > 3× ULN in %. */
const megaReference: Record<DemoDrug, { major_bleeding_hr: number; alt_elevation_pct: number }> = {
  aspirin: { major_bleeding_hr: 1.5, alt_elevation_pct: 0.5 },
  ibuprofen: { major_bleeding_hr: 1.3, alt_elevation_pct: 0.6 },
  naproxen: { major_bleeding_hr: 1.4, alt_elevation_pct: 0.6 },
  acetaminophen: { major_bleeding_hr: 1, alt_elevation_pct: 2.1 },
  warfarin: { major_bleeding_hr: 2, alt_elevation_pct: 0.4 },
  apixaban: { major_bleeding_hr: 1.3, alt_elevation_pct: 0.5 },
  rivaroxaban: { major_bleeding_hr: 1.6, alt_elevation_pct: 0.7 },
  clopidogrel: { major_bleeding_hr: 1.5, alt_elevation_pct: 0.4 },
  atorvastatin: { major_bleeding_hr: 1, alt_elevation_pct: 1.8 },
  metformin: { major_bleeding_hr: 1, alt_elevation_pct: 0.3 },
  lisinopril: { major_bleeding_hr: 1, alt_elevation_pct: 0.3 },
  omeprazole: { major_bleeding_hr: 0.9, alt_elevation_pct: 0.4 },
};

export type DemoRole =
  | "regulator"
  | "trial group"
  | "cohort study group"
  | "meta-analyst"
  | "guideline society"
  | "formulary committee"
  | "grey-literature publisher"
  | "forum poster"
  | "pharmacist";

export interface DemoAgent {
  name: string;
  role: DemoRole;
  key: KeyPair;
  /** Hex public key. */
  agent: string;
}

export interface DemoSource {
  sourceId: string;
  title: string;
  tier: number;
  registrar: string;
}

/** The fixed parts of the set the moments read, by the ids and values they expect. */
export interface DemoScenario {
  contradiction: { subject: string; predicate: string; regulatorClaim: string; anecdoteClaims: string[] };
  mega: {
    sourceId: string;
    registrar: string;
    /** Assertions citing the trial (depth 0). */
    citing: string[];
    /** Assertions reaching them through depends_on, by depth (1…4). */
    dependants: string[][];
    /** Results of other trials the meta-analyses also depend on: untouched by the retraction. */
    independent: string[];
    /** A pair whose answer the trial dominates, and what it falls back to. */
    probe: { subject: string; predicate: string; before: number; after: number };
    /** A patient leaflet at the bottom of the chain: the audit trail starts here. */
    leaflet: string;
  };
  timeTravel: {
    subject: string;
    predicate: string;
    label2023: string;
    label2025: string;
    before: number;
    after: number;
    asOfBefore: string;
    asOfAfter: string;
  };
  threeLenses: { subject: string; predicate: string; expected: { authority: number; consensus: number; recency: number } };
}

export interface DemoDataset {
  seed: number;
  prefix: string;
  agents: DemoAgent[];
  sources: DemoSource[];
  /** Every record to load, sources first, in an order that never references ahead. */
  records: SignedRecord[];
  scenario: DemoScenario;
  counts: Record<string, number>;
}

/** A seeded PRNG (mulberry32): floats in [0, 1). */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const utc = (y: number, m: number, d: number) => Date.UTC(y, m - 1, d);
/** Two significant digits: how trials report. */
const sig2 = (x: number) => Number(x.toPrecision(2));

/** The default prefix for a seed: its own namespace, so runs never collide. */
export function demoPrefix(seed: number): string {
  return `pharma-demo-${(seed >>> 0).toString(16).padStart(8, "0")}`;
}

/** Builds the whole set. Pure: the same seed and prefix give byte-identical records. */
export function generateDataset(seed: number, prefix = demoPrefix(seed)): DemoDataset {
  return new Builder(seed, prefix).build();
}

class Builder {
  private readonly rand: () => number;
  private readonly agents = new Map<string, DemoAgent>();
  private readonly sources = new Map<string, DemoSource>();
  private readonly sourceRecords: SignedRecord[] = [];
  private readonly records: SignedRecord[] = [];
  private readonly voteTargets: Array<{ id: string; tier: number; ts: number }> = [];
  /** Off while the fixed pairs are built: votes there would blur what the moments show. */
  private votable = false;

  constructor(
    private readonly seed: number,
    private readonly prefix: string,
  ) {
    this.rand = prng(seed);
  }

  build(): DemoDataset {
    const contradiction = this.contradiction();
    const timeTravel = this.timeTravel();
    const threeLenses = this.threeLenses();
    this.votable = true;
    for (const drug of demoDrugs) this.background(drug);
    const mega = this.megaTrial();
    this.votes();
    const records = [...this.sourceRecords, ...this.records];
    const counts: Record<string, number> = {};
    for (const r of records) counts[r.record.kind] = (counts[r.record.kind] ?? 0) + 1;
    return {
      seed: this.seed,
      prefix: this.prefix,
      agents: [...this.agents.values()],
      sources: [...this.sources.values()],
      records,
      scenario: { contradiction, mega, timeTravel, threeLenses },
      counts,
    };
  }

  // ---- agents, sources, assertions --------------------------------------------------------

  /** An agent's key: BLAKE3(seed, name) as the Ed25519 secret, generated in memory. */
  agent(name: string, role: DemoRole): DemoAgent {
    const known = this.agents.get(name);
    if (known) return known;
    const secretKey = blake3_256(new TextEncoder().encode(`stemedb-demo/${this.seed}/${name}`));
    const key = { secretKey, publicKey: publicKeyOf(secretKey) };
    const agent = { name, role, key, agent: toHex(key.publicKey) };
    this.agents.set(name, agent);
    return agent;
  }

  /** Registers a source (once) with a signed `source` record by its registrar; returns its id. */
  source(name: string, title: string, tier: number, registrar: DemoAgent, publishedAt: number): string {
    const sourceId = `${this.prefix}/source/${name}`;
    if (this.sources.has(sourceId)) return sourceId;
    this.sources.set(sourceId, { sourceId, title, tier, registrar: registrar.name });
    this.sourceRecords.push(
      signClaim(registrar.key, { kind: "source", source_id: sourceId, title, tier, published_at: publishedAt, ts: publishedAt }),
    );
    return sourceId;
  }

  tierOf(sourceId: string): number {
    return this.sources.get(sourceId)?.tier ?? 6;
  }

  subject(drug: DemoDrug): string {
    return `${this.prefix}/drug/${drug}`;
  }

  assert(
    by: DemoAgent,
    drug: DemoDrug,
    predicate: string,
    object: Scalar,
    fields: { confidence: number; source: string; ts: number } & Record<string, unknown>,
  ): string {
    const unit = typeof object === "number" ? units[predicate] : undefined;
    const signed = signClaim(by.key, {
      kind: "assertion",
      subject: this.subject(drug),
      predicate,
      object,
      ...(unit ? { unit } : {}),
      ...fields,
    });
    this.records.push(signed);
    const id = toHex(signed.id);
    if (this.votable) this.voteTargets.push({ id, tier: this.tierOf(fields.source), ts: fields.ts });
    return id;
  }

  /** A time in [from, from + days) at a whole minute, from the seeded stream. */
  when(from: number, days: number): number {
    return from + Math.floor(this.rand() * days * 1440) * 60_000;
  }

  pick<T>(items: readonly T[]): T {
    return items[Math.floor(this.rand() * items.length)] as T;
  }

  // ---- the fixed scenario -----------------------------------------------------------------

  regulator(): DemoAgent {
    return this.agent("regulator", "regulator");
  }

  label(drug: DemoDrug, year: 2023 | 2025): string {
    const published = year === 2023 ? utc(2023, 2, 1) : utc(2025, 2, 3);
    return this.source(`fda-label-${drug}-${year}`, `Regulator label: ${drug} (${year})`, 1, this.regulator(), published);
  }

  forum(): string {
    return this.source("patient-forum", "Patient forum: medicines and side effects", 5, this.poster(0), utc(2021, 6, 1));
  }

  poster(i: number): DemoAgent {
    return this.agent(`forum-poster-${i + 1}`, "forum poster");
  }

  /** Moment 1: the regulator's 0.2 % against three anecdotes' 12 %. */
  contradiction(): DemoScenario["contradiction"] {
    const predicate = "bleeding_risk_pct";
    const regulatorClaim = this.assert(this.regulator(), "aspirin", predicate, 0.2, {
      confidence: 0.95,
      source: this.label("aspirin", 2023),
      ts: utc(2023, 3, 14),
      valid_from: utc(2023, 3, 14),
    });
    const anecdoteClaims = [0, 1, 2].map((i) =>
      this.assert(this.poster(i), "aspirin", predicate, 12, {
        confidence: 0.6,
        source: this.forum(),
        ts: utc(2024, 5, 2 + 9 * i),
        note: ["bruised for weeks on a baby aspirin", "nosebleeds every day since I started", "my gums bleed all the time"][i],
      }),
    );
    return { subject: this.subject("aspirin"), predicate, regulatorClaim, anecdoteClaims };
  }

  /** Moment 4: the 2025 label lowers acetaminophen's maximum daily dose and supersedes 2023's. */
  timeTravel(): DemoScenario["timeTravel"] {
    const predicate = "max_daily_dose_mg";
    const cohort = this.agent("cohort-study-group", "cohort study group");
    this.assert(cohort, "acetaminophen", predicate, 4000, {
      confidence: 0.8,
      source: this.source(
        "cohort-liver-2022",
        "Cohort study: acetaminophen dose and liver injury (2022)",
        2,
        cohort,
        utc(2022, 9, 1),
      ),
      ts: utc(2022, 9, 20),
    });
    const label2023 = this.assert(this.regulator(), "acetaminophen", predicate, 4000, {
      confidence: 0.95,
      source: this.label("acetaminophen", 2023),
      ts: utc(2023, 2, 7),
      valid_from: utc(2023, 2, 7),
    });
    const label2025 = this.assert(this.regulator(), "acetaminophen", predicate, 3000, {
      confidence: 0.95,
      source: this.label("acetaminophen", 2025),
      ts: utc(2025, 2, 11),
      valid_from: utc(2025, 3, 1),
      supersedes: label2023,
      note: "lowered to limit hepatotoxicity",
    });
    return {
      subject: this.subject("acetaminophen"),
      predicate,
      label2023,
      label2025,
      before: 4000,
      after: 3000,
      asOfBefore: "2023-12-31T23:59:59Z",
      asOfAfter: "2025-12-31T23:59:59Z",
    };
  }

  /** Moment 5: the label's 3200, the over-the-counter 1200 most repeat, a 2025 guideline's 2400. */
  threeLenses(): DemoScenario["threeLenses"] {
    const predicate = "max_daily_dose_mg";
    const cohort = this.agent("cohort-study-group", "cohort study group");
    const news = this.agent("health-news-site", "grey-literature publisher");
    const blog = this.agent("pharmacy-blog", "grey-literature publisher");
    const pain = this.agent("pain-medicine-society", "guideline society");
    this.assert(this.regulator(), "ibuprofen", predicate, 3200, {
      confidence: 0.95,
      source: this.label("ibuprofen", 2023),
      ts: utc(2023, 3, 1),
      note: "prescription maximum",
    });
    this.assert(cohort, "ibuprofen", predicate, 3200, {
      confidence: 0.8,
      source: this.source("cohort-nsaid-2022", "Cohort study: NSAID doses in practice (2022)", 2, cohort, utc(2022, 4, 1)),
      ts: utc(2022, 4, 19),
    });
    this.assert(blog, "ibuprofen", predicate, 1200, {
      confidence: 0.7,
      source: this.source("pharmacy-blog-2024", "Pharmacy blog: OTC painkillers explained (2024)", 4, blog, utc(2024, 1, 10)),
      ts: utc(2024, 2, 6),
      note: "over-the-counter maximum",
    });
    this.assert(news, "ibuprofen", predicate, 1200, {
      confidence: 0.6,
      source: this.source(
        "health-news-2024",
        "Health news: what's safe in your medicine cabinet (2024)",
        4,
        news,
        utc(2024, 4, 2),
      ),
      ts: utc(2024, 5, 14),
    });
    for (const i of [3, 4, 5])
      this.assert(this.poster(i), "ibuprofen", predicate, 1200, {
        confidence: 0.5,
        source: this.forum(),
        ts: utc(2024, 7, i * 3),
      });
    this.assert(pain, "ibuprofen", predicate, 2400, {
      confidence: 0.85,
      source: this.source("guideline-pain-2025", "Pain medicine society guideline (2025)", 3, pain, utc(2025, 6, 1)),
      ts: utc(2025, 6, 18),
      note: "short courses under supervision",
    });
    return { subject: this.subject("ibuprofen"), predicate, expected: { authority: 3200, consensus: 1200, recency: 2400 } };
  }

  // ---- the mega-trial and everything that rests on it --------------------------------------

  /**
   * MEGA-PRAGMATIC (2024): results for every drug on two predicates (24, citing the trial);
   * three meta-analysts pool each with an independent trial (72, depth 1, dominated by the
   * mega-trial); guidance per predicate (24, depth 2); a formulary decision (12, depth 3); a
   * patient leaflet (12, depth 4). Retracting the trial flags 24 + 120.
   */
  /** The mega-trial's cast: its group and source, the meta-analysts, guideline societies, a formulary, leaflets. */
  private megaCast() {
    const group = this.agent("mega-trial-group", "trial group");
    const sourceId = this.source(
      "trial-mega-pragmatic-2024",
      "MEGA-PRAGMATIC: 48,000-patient pragmatic trial of bleeding and liver events across 12 common drugs (2024)",
      2,
      group,
      utc(2024, 3, 1),
    );
    const metas = ["cochrane-style-review", "university-evidence-centre", "independent-meta-group"].map((n) =>
      this.agent(n, "meta-analyst"),
    );
    const metaSources = metas.map((m) =>
      this.source(`meta-${m.name}-2025`, `Meta-analysis by ${m.name} (2025)`, 2, m, utc(2025, 1, 6)),
    );
    const guideline = {
      major_bleeding_hr: this.agent("cardiology-society", "guideline society"),
      alt_elevation_pct: this.agent("hepatology-society", "guideline society"),
    };
    const guidanceSources = {
      major_bleeding_hr: this.source(
        "guideline-cardiology-2025",
        "Cardiology society: antithrombotic safety (2025)",
        3,
        guideline.major_bleeding_hr,
        utc(2025, 4, 1),
      ),
      alt_elevation_pct: this.source(
        "guideline-hepatology-2025",
        "Hepatology society: drug-induced liver injury (2025)",
        3,
        guideline.alt_elevation_pct,
        utc(2025, 4, 1),
      ),
    };
    const hospital = this.agent("hospital-formulary-committee", "formulary committee");
    const formulary = this.source("formulary-2025", "Hospital formulary decisions (2025)", 3, hospital, utc(2025, 6, 1));
    const leaflets = this.agent("patient-leaflets", "grey-literature publisher");
    const leafletSource = this.source("leaflets-2025", "Patient information leaflets (2025)", 4, leaflets, utc(2025, 8, 1));
    return { group, sourceId, metas, metaSources, guideline, guidanceSources, hospital, formulary, leaflets, leafletSource };
  }

  megaTrial(): DemoScenario["mega"] {
    const { group, sourceId, metas, metaSources, guideline, guidanceSources, hospital, formulary, leaflets, leafletSource } =
      this.megaCast();
    const citing: string[] = [];
    const independent: string[] = [];
    const dependants: string[][] = [[], [], [], []];
    let leaflet = "";
    for (const drug of demoDrugs) {
      const guidance: string[] = [];
      for (const predicate of ["major_bleeding_hr", "alt_elevation_pct"] as const) {
        const base = megaReference[drug][predicate];
        // The retracted trial overstated every effect by a quarter; the pooled estimates follow it.
        const inflated = sig2(base * 1.25);
        const mega = this.assert(group, drug, predicate, inflated, {
          confidence: 0.9,
          source: sourceId,
          ts: this.when(utc(2024, 4, 1), 30),
        });
        const other = this.independentTrial(drug, predicate, base);
        citing.push(mega);
        independent.push(other);
        const pooled = metas.map((m, i) =>
          this.assert(m, drug, predicate, inflated, {
            confidence: 0.85,
            source: metaSources[i] as string,
            ts: this.when(utc(2025, 1, 10), 60),
            depends_on: [mega, other],
            note: "pooled; MEGA-PRAGMATIC carries 91% of the weight",
          }),
        );
        dependants[0]?.push(...pooled);
        const advice = guidanceText(predicate, inflated);
        const g = this.assert(
          guideline[predicate],
          drug,
          predicate === "major_bleeding_hr" ? "bleeding_precaution" : "liver_monitoring",
          advice,
          {
            confidence: 0.85,
            source: guidanceSources[predicate],
            ts: this.when(utc(2025, 4, 10), 30),
            depends_on: pooled,
          },
        );
        guidance.push(g);
      }
      dependants[1]?.push(...guidance);
      const status = formularyText(megaReference[drug]);
      const f = this.assert(hospital, drug, "formulary_status", status, {
        confidence: 0.8,
        source: formulary,
        ts: this.when(utc(2025, 6, 10), 30),
        depends_on: guidance,
      });
      dependants[2]?.push(f);
      const l = this.assert(leaflets, drug, "patient_advice", leafletText(drug, status), {
        confidence: 0.7,
        source: leafletSource,
        ts: this.when(utc(2025, 8, 10), 30),
        depends_on: [f],
      });
      dependants[3]?.push(l);
      if (drug === "warfarin") leaflet = l;
    }
    const warfarin = megaReference.warfarin.major_bleeding_hr;
    return {
      sourceId,
      registrar: group.name,
      citing,
      dependants,
      independent,
      probe: {
        subject: this.subject("warfarin"),
        predicate: "major_bleeding_hr",
        before: sig2(warfarin * 1.25),
        after: warfarin,
      },
      leaflet,
    };
  }

  /** A smaller trial's result for the pair, from one of three trial groups: not retracted. */
  independentTrial(drug: DemoDrug, predicate: string, value: Scalar): string {
    const groups = [
      ["cardio-trials-consortium", ["ATLAS-2", "HORIZON-B", "PRISM-AF"]],
      ["hepatology-trials-network", ["CORAL-7", "KESTREL", "MERIDIAN"]],
      ["nsaid-outcomes-group", ["ORBIT-GI", "SENTRY-3"]],
    ] as const;
    const [name, trials] = this.pick(groups);
    const group = this.agent(name, "trial group");
    const trial = this.pick(trials);
    const year = 2022 + Math.floor(this.rand() * 2);
    const source = this.source(
      `trial-${trial.toLowerCase()}-${year}`,
      `${trial} randomised trial (${year})`,
      2,
      group,
      utc(year, 1, 15),
    );
    return this.assert(group, drug, predicate, value, { confidence: 0.85, source, ts: this.when(utc(year, 3, 1), 200) });
  }

  // ---- seeded background --------------------------------------------------------------------

  background(drug: DemoDrug): void {
    for (const [predicate, value] of Object.entries(reference[drug])) {
      const label = this.assert(this.regulator(), drug, predicate, value, {
        confidence: 0.95,
        source: this.label(drug, 2023),
        ts: this.when(utc(2023, 2, 1), 120),
      });
      let current: Scalar = value;
      if (typeof value === "number" && this.rand() < 0.12) {
        current = sig2(value * (this.rand() < 0.5 ? 0.8 : 1.2));
        this.assert(this.regulator(), drug, predicate, current, {
          confidence: 0.95,
          source: this.label(drug, 2025),
          ts: this.when(utc(2025, 2, 3), 90),
          valid_from: utc(2025, 6, 1),
          supersedes: label,
        });
      }
      const studies = this.studies(drug, predicate, current);
      if (this.rand() < 0.5) {
        const society = this.agent(
          this.pick(["cardiology-society", "hepatology-society", "pain-medicine-society"]),
          "guideline society",
        );
        this.assert(society, drug, predicate, current, {
          confidence: 0.85,
          source: this.source(`guideline-${society.name}-2024`, `${society.name} guideline (2024)`, 3, society, utc(2024, 1, 15)),
          ts: this.when(utc(2024, 2, 1), 200),
          depends_on: [label, this.pick(studies)],
        });
      }
      if (this.rand() < 0.35) {
        const grey = this.agent(this.pick(["health-news-site", "pharmacy-blog"]), "grey-literature publisher");
        const source = grey.name === "pharmacy-blog" ? "pharmacy-blog-2024" : "health-news-2024";
        this.assert(grey, drug, predicate, typeof current === "number" ? sig2(current * (0.9 + this.rand() * 0.3)) : current, {
          confidence: 0.5 + Math.round(this.rand() * 20) / 100,
          source: this.source(source, `${grey.name} (2024)`, 4, grey, utc(2024, 1, 10)),
          ts: this.when(utc(2024, 3, 1), 300),
        });
      }
      this.anecdotes(drug, predicate, current);
    }
  }

  /** One to three tier-2 results near the reference value. */
  studies(drug: DemoDrug, predicate: string, value: Scalar): string[] {
    const n = 1 + Math.floor(this.rand() * 3);
    const ids: string[] = [];
    for (let i = 0; i < n; i++) {
      const numeric = typeof value === "number";
      const object = numeric ? sig2(value * (0.9 + this.rand() * 0.2)) : value;
      if (this.rand() < 0.5) {
        const cohort = this.agent("cohort-study-group", "cohort study group");
        const year = 2022 + Math.floor(this.rand() * 3);
        ids.push(
          this.assert(cohort, drug, predicate, object, {
            confidence: 0.7 + Math.round(this.rand() * 15) / 100,
            source: this.source(
              `cohort-registry-${year}`,
              `National prescribing registry cohort (${year})`,
              2,
              cohort,
              utc(year, 1, 20),
            ),
            ts: this.when(utc(year, 2, 1), 300),
          }),
        );
      } else {
        ids.push(this.independentTrial(drug, predicate, object));
      }
    }
    return ids;
  }

  /** Forum posters exaggerate side effects; most stay silent on pharmacology. */
  anecdotes(drug: DemoDrug, predicate: string, value: Scalar): void {
    const sideEffect = ["bleeding_risk_pct", "gi_ulcer_risk_pct", "common_side_effect", "hepatotoxicity"].includes(predicate);
    const n = sideEffect ? Math.floor(this.rand() * 5) : this.rand() < 0.2 ? 1 : 0;
    const taken = new Set<number>();
    for (let i = 0; i < n; i++) {
      const who = 6 + Math.floor(this.rand() * 14);
      if (taken.has(who)) continue;
      taken.add(who);
      const object =
        typeof value === "number"
          ? sig2(value * (3 + this.rand() * 30))
          : typeof value === "boolean"
            ? !value
            : this.pick(["hair loss", "insomnia", "brain fog", "severe", "weight gain", "palpitations"]);
      this.assert(this.poster(who), drug, predicate, object, {
        confidence: 0.3 + Math.round(this.rand() * 30) / 100,
        source: this.forum(),
        ts: this.when(utc(2023, 6, 1), 800),
      });
    }
  }

  /** Pharmacists endorse sourced evidence and dispute anecdotes; posters back each other. */
  votes(): void {
    const pharmacists = [1, 2, 3].map((i) => this.agent(`pharmacist-${i}`, "pharmacist"));
    for (const target of this.voteTargets) {
      const votes: Array<[DemoAgent, 1 | -1]> = [];
      if (target.tier <= 3 && this.rand() < 0.3) votes.push([this.pick(pharmacists), 1]);
      if (target.tier === 5 && this.rand() < 0.4) votes.push([this.pick(pharmacists), -1]);
      if (target.tier === 5 && this.rand() < 0.3) votes.push([this.poster(6 + Math.floor(this.rand() * 14)), 1]);
      for (const [voter, value] of votes)
        this.records.push(
          signClaim(voter.key, {
            kind: "vote",
            target: target.id,
            value,
            ts: Math.max(target.ts, utc(2025, 9, 1)) + this.when(0, 20),
          }),
        );
    }
  }
}

function guidanceText(predicate: "major_bleeding_hr" | "alt_elevation_pct", value: number): string {
  if (predicate === "major_bleeding_hr")
    return value >= 1.8 ? "avoid combining with other antithrombotics; review at 3 months" : "standard bleeding precautions";
  return value >= 1.5 ? "ALT at baseline and at 12 weeks" : "no routine liver monitoring";
}

function formularyText(ref: { major_bleeding_hr: number; alt_elevation_pct: number }): string {
  if (ref.major_bleeding_hr * 1.25 >= 1.8) return "restricted: specialist review for combination therapy";
  if (ref.alt_elevation_pct * 1.25 >= 1.5) return "restricted: liver monitoring required";
  return "preferred";
}

function leafletText(drug: DemoDrug, status: string): string {
  if (status.startsWith("restricted: specialist")) return `tell your doctor about any other blood thinners before taking ${drug}`;
  if (status.startsWith("restricted: liver")) return `you will need blood tests for your liver while taking ${drug}`;
  return `${drug} is generally well tolerated; report unusual bleeding or yellowing skin`;
}
