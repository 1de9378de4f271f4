/** The arena's report for people: accuracy per lens, trust per persona, what was written, the checks. */
import type { ArenaReport } from "./arena.ts";
import { arenaLenses } from "./measure.ts";

const pct = (v: number | null) => (v === null ? "–" : `${(v * 100).toFixed(1)} %`);

/** Lines of text; `table` lays out rows in aligned columns. */
export function arenaText(report: ArenaReport, table: (head: string[], rows: string[][]) => string): string[] {
  const s = report.scenario;
  const last = <T>(xs: readonly T[]) => xs.at(-1);
  const lines = [
    `arena "${report.name}": seed ${s.seed}, ${s.agents} agents (${Math.round(s.agents * s.trolls)} trolls, ${s.forgers} forgers, ${s.backdaters} backdaters), a ring of ${s.sybils} sybils, ${s.subjects} subjects, ${s.ticks} ticks`,
    `subjects with an honest claim: ${last(report.eligible.honest) ?? 0}; with a confirmed real source: ${last(report.eligible.sourced) ?? 0}`,
    "",
    table(
      ["lens", "truth (honest subjects)", "truth (sourced subjects)", "worst of the last 10 ticks"],
      arenaLenses.map((lens) => {
        const l = report.lenses[lens];
        const tail = l.accuracy.slice(-10).filter((v): v is number => v !== null);
        return [lens, pct(l.final), pct(l.sourced.final), tail.length ? pct(Math.min(...tail)) : "–"];
      }),
    ),
    "",
    table(
      ["persona", "mean τ at the end", "at the start"],
      Object.entries(report.trust).map(([p, v]) => [p, (last(v ?? []) ?? 0).toFixed(4), (v?.[0] ?? 0).toFixed(4)]),
    ),
    "",
    `records written: ${Object.entries(report.records)
      .map(([k, n]) => `${n} ${k}`)
      .join(", ")}`,
    `known_at: ${report.known_at.changed} of ${report.known_at.compared} answers changed since their checkpoint (${report.known_at.checkpoints} checkpoints); as_of: ${report.as_of.changed} of ${report.as_of.compared} changed (backdated writes reach as_of, not known_at)`,
    `log: ${report.log.checked} of ${report.log.written} records looked for, ${report.log.missing} missing; the log holds ${report.log.lsn}${report.log.holds_all ? ": every record written is kept" : ": RECORDS MISSING"}`,
  ];
  const expectations = Object.entries(report.expect);
  if (expectations.length > 0) {
    lines.push("", "expectations:");
    for (const [key, e] of expectations)
      lines.push(
        `  ${e.ok ? "✓" : "✗"} ${key}: ${e.got === null ? "–" : e.got} (${/_changed$|_missing$/.test(key) ? "at most" : "at least"} ${e.want})`,
      );
  }
  return lines;
}
