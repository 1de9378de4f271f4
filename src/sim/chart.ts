/**
 * The arena's chart for people: an SVG with two panels over the ticks — the share of subjects
 * each lens answers truly, and the mean τ of each persona. Built as plain text (no dependency);
 * every label is escaped, and the picture is a function of the report alone, so one seed draws
 * the same bytes every time.
 */
import type { ArenaReport } from "./arena.ts";
import { arenaLenses } from "./measure.ts";

const width = 960;
const panelHeight = 300;
const margin = { left: 64, right: 230, top: 72, gap: 70, bottom: 48 };
const plotWidth = width - margin.left - margin.right;

/** One colour per series, readable on white (Okabe–Ito, plus greys). */
const palette = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000", "#999999"];

interface Line {
  label: string;
  values: Array<number | null>;
  dashed?: boolean;
}

export function arenaChart(report: ArenaReport): string {
  const s = report.scenario;
  const height = margin.top + 2 * panelHeight + margin.gap + margin.bottom;
  const title = `stemedb sim truth — ${report.name}, seed ${s.seed}`;
  const cast = `${s.agents} agents (${Math.round(s.trolls * 100)} % trolls), a ${s.sybils}-key sybil ring, ${s.forgers} forgers, ${s.backdaters} backdaters; ${s.subjects} subjects, ${s.ticks} ticks`;
  const accuracy: Line[] = arenaLenses.map((lens) => ({
    label: `${lens} ${pct(report.lenses[lens].final)}`,
    values: report.lenses[lens].accuracy,
    dashed: lens === "consensus" || lens === "skeptic",
  }));
  accuracy.push({
    label: `authority, sourced ${pct(report.lenses.authority.sourced.final)}`,
    values: report.lenses.authority.sourced.accuracy,
    dashed: true,
  });
  const trust: Line[] = Object.entries(report.trust).map(([persona, values]) => ({ label: persona, values: values ?? [] }));
  const tauMax = niceCeiling(Math.max(0.04, ...trust.flatMap((l) => l.values.filter((v): v is number => v !== null))));
  const parts = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12">`,
    `<rect width="${width}" height="${height}" fill="#ffffff"/>`,
    `<text x="${margin.left}" y="24" font-size="15" font-weight="bold">${xmlText(title)}</text>`,
    `<text x="${margin.left}" y="44">${xmlText(cast)}</text>`,
    panel(
      margin.top,
      "share of subjects (with an honest claim) whose winner is the truth",
      accuracy,
      1,
      (v) => `${Math.round(v * 100)} %`,
      s.ticks,
    ),
    panel(
      margin.top + panelHeight + margin.gap,
      "mean τ per persona (GET /v1/agents)",
      trust,
      tauMax,
      (v) => v.toFixed(2),
      s.ticks,
    ),
    "</svg>",
  ];
  return `${parts.join("\n")}\n`;
}

function panel(top: number, title: string, lines: Line[], yMax: number, yLabel: (v: number) => string, ticks: number): string {
  const h = panelHeight - 40;
  const y0 = top + 20;
  const x = (i: number) => margin.left + (ticks <= 1 ? 0 : (i / (ticks - 1)) * plotWidth);
  const y = (v: number) => y0 + h - (Math.min(v, yMax) / yMax) * h;
  const out = [`<text x="${margin.left}" y="${top + 8}" font-weight="bold">${xmlText(title)}</text>`];
  for (let k = 0; k <= 4; k++) {
    const v = (yMax * k) / 4;
    out.push(
      `<line x1="${margin.left}" x2="${margin.left + plotWidth}" y1="${fix(y(v))}" y2="${fix(y(v))}" stroke="#e0e0e0"/>`,
      `<text x="${margin.left - 8}" y="${fix(y(v) + 4)}" text-anchor="end">${xmlText(yLabel(v))}</text>`,
    );
  }
  const step = Math.max(1, Math.ceil(ticks / 10));
  for (let i = 0; i < ticks; i += step)
    out.push(`<text x="${fix(x(i))}" y="${y0 + h + 18}" text-anchor="middle">${i + 1}</text>`);
  out.push(`<text x="${margin.left + plotWidth / 2}" y="${y0 + h + 36}" text-anchor="middle">tick</text>`);
  out.push(`<rect x="${margin.left}" y="${y0}" width="${plotWidth}" height="${h}" fill="none" stroke="#888888"/>`);
  for (const [n, line] of lines.entries()) {
    const colour = palette[n % palette.length] as string;
    const points = line.values.flatMap((v, i) => (v === null ? [] : [`${fix(x(i))},${fix(y(v))}`]));
    if (points.length > 0)
      out.push(
        `<polyline fill="none" stroke="${colour}" stroke-width="2"${line.dashed ? ' stroke-dasharray="6 4"' : ""} points="${points.join(" ")}"/>`,
      );
    const ly = y0 + 14 + n * 18;
    const lx = margin.left + plotWidth + 14;
    out.push(
      `<line x1="${lx}" x2="${lx + 22}" y1="${ly - 4}" y2="${ly - 4}" stroke="${colour}" stroke-width="2"${line.dashed ? ' stroke-dasharray="6 4"' : ""}/>`,
      `<text x="${lx + 28}" y="${ly}">${xmlText(line.label)}</text>`,
    );
  }
  return out.join("\n");
}

const fix = (n: number) => (Math.round(n * 10) / 10).toString();
const pct = (v: number | null) => (v === null ? "–" : `${(v * 100).toFixed(1)} %`);

/** The smallest of 0.04, 0.08, 0.2, 0.4, 0.8 and 1 at or above `v`: each quarter of it reads in two decimals. */
function niceCeiling(v: number): number {
  for (const c of [0.04, 0.08, 0.2, 0.4, 0.8]) if (v <= c) return c;
  return 1;
}

function xmlText(text: string): string {
  return text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");
}
