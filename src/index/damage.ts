/**
 * Index damage: what counts as it, the error it becomes, and the marker a damaged index leaves.
 *
 * The index is derived, so damage is never repaired in place: from the first detection on the
 * process refuses to answer from the index (503 `index_damaged`), and the index is rebuilt from
 * the log — at the next start (the marker file makes sure of it, whatever read found the
 * damage) or by `stemedb reindex`.
 */
import fs from "node:fs";
import { StemeError } from "../core/errors.ts";

export const indexDamagedHint = "run `stemedb reindex` (the log is intact; the index is rebuilt from it)";

/** The problem every refused read answers with. */
export function indexDamaged(found: string, cause?: unknown): StemeError {
  return new StemeError("index_damaged", `the index is damaged: ${found}`, {
    hint: indexDamagedHint,
    ...(cause === undefined ? {} : { cause }),
  });
}

export function isIndexDamaged(err: unknown): err is StemeError {
  return err instanceof StemeError && err.code === "index_damaged";
}

/**
 * SQLite's ways of saying a file is damaged: a malformed page or b-tree (SQLITE_CORRUPT and its
 * extended codes), not a database at all (SQLITE_NOTADB), or a page that failed its checksum in
 * the shim (SQLITE_IOERR_DATA).
 */
const damageCodes = /^SQLITE_(CORRUPT|NOTADB|IOERR_DATA)/;

export function isSqliteDamage(err: unknown): err is Error & { code: string } {
  const code = (err as { code?: unknown } | null)?.code;
  return err instanceof Error && typeof code === "string" && damageCodes.test(code);
}

/** `index.sqlite.damaged`: written when damage is found while serving, read at the next start. */
export function damageMarkerPath(indexPath: string): string {
  return `${indexPath}.damaged`;
}

/** Leaves the marker (best effort: the damage is already reported; the marker only saves a manual reindex). */
export function writeDamageMarker(indexPath: string, found: string, now: number): string | null {
  try {
    fs.writeFileSync(damageMarkerPath(indexPath), `${JSON.stringify({ at: new Date(now).toISOString(), found })}\n`, {
      mode: 0o640,
    });
    return null;
  } catch (err) {
    return (err as Error).message;
  }
}

/** What the marker says was found, or null when there is none. */
export function readDamageMarker(indexPath: string): string | null {
  let text: string;
  try {
    text = fs.readFileSync(damageMarkerPath(indexPath), "utf8");
  } catch {
    return null;
  }
  try {
    const parsed = JSON.parse(text) as { at?: unknown; found?: unknown };
    return `${String(parsed.found)} (at ${String(parsed.at)})`;
  } catch {
    return "a damage marker that does not parse";
  }
}
