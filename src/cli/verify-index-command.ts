/**
 * `stemedb verify --index`: prints the cross-check of the index against the log
 * (src/store/verify-index.ts) and returns the exit code: 0 clean, 1 damage found.
 */
import { verifyIndex } from "../store/verify-index.ts";

function out(line: string): void {
  process.stdout.write(`${line}\n`);
}

export async function verifyIndexCommand(dataDir: string, json: boolean): Promise<number> {
  const report = await verifyIndex(dataDir);
  if (json) {
    out(JSON.stringify(report, null, 2));
    return report.ok ? 0 : 1;
  }
  if (report.note) {
    out(`ok: ${report.note}`);
    return 0;
  }
  const summary = `${report.records} records and ${report.refs} references to LSN ${report.indexLsn} against the log, ${report.pages} pages`;
  if (report.ok) {
    out(`ok: index checked: ${summary}`);
    return 0;
  }
  const total = Object.values(report.counts).reduce((a, b) => a + (b ?? 0), 0);
  const byArea = Object.entries(report.counts)
    .map(([area, n]) => `${area} ${n}`)
    .join(", ");
  out(`DAMAGED: index: ${total} findings (${byArea}); checked ${summary}`);
  for (const f of report.findings) out(`problem: ${f.area}: ${f.message}`);
  if (report.findings.length < total) out(`… and ${total - report.findings.length} more`);
  out("remedy: run `stemedb reindex` with the server stopped (the log is intact; the index is rebuilt from it),");
  out("        or restart the server: it rebuilds an index found damaged at start");
  return 1;
}
