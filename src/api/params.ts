/** Query-parameter parsing: times (ms or ISO 8601), limits, cursors, hex keys. */
import { fromHex } from "../core/hex.ts";
import { listLimitDefault, listLimitMax } from "../core/limits.ts";
import { badQuery } from "./problem.ts";

/** Integer milliseconds since the Unix epoch, or an ISO 8601 timestamp, UTC unless it gives an offset (docs/API.md#conventions). */
export function parseTime(field: string, raw: string | null): number | undefined {
  if (raw === null || raw === "") return undefined;
  if (/^-?\d+$/.test(raw)) {
    const n = Number(raw);
    if (!Number.isSafeInteger(n)) throw badQuery(field, "milliseconds out of range");
    return n;
  }
  if (!/^\d{4}-\d{2}-\d{2}([T ][\d:.]+(Z|[+-]\d{2}:?\d{2})?)?$/.test(raw)) {
    throw badQuery(field, `expected milliseconds since the Unix epoch or an ISO 8601 time, got "${raw.slice(0, 40)}"`);
  }
  // A time of day without Z or an offset is UTC: Date.parse would read it in the server's own
  // time zone, and then two nodes would answer the same query differently.
  const hasTime = /[T ]/.test(raw);
  const ms = Date.parse(hasTime && !/(Z|[+-]\d{2}:?\d{2})$/.test(raw) ? `${raw.replace(" ", "T")}Z` : raw);
  // Date.parse rolls impossible dates over (2025-02-30 → March 2); refuse them instead.
  const [y, m, d] = raw.slice(0, 10).split("-").map(Number);
  const day = new Date(Date.UTC(y as number, (m as number) - 1, d as number));
  if (Number.isNaN(ms) || day.getUTCFullYear() !== y || day.getUTCMonth() !== (m as number) - 1 || day.getUTCDate() !== d) {
    throw badQuery(field, `not a valid ISO 8601 time: "${raw.slice(0, 40)}"`);
  }
  return ms;
}

export function parseLimit(raw: string | null): number {
  if (raw === null || raw === "") return listLimitDefault;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1 || n > listLimitMax)
    throw badQuery("limit", `expected an integer 1–${listLimitMax}, got "${raw.slice(0, 20)}"`);
  return n;
}

const cursorPrefix = "lsn:";

export function encodeCursor(lsn: number): string {
  return Buffer.from(`${cursorPrefix}${lsn}`).toString("base64url");
}

export function parseCursor(raw: string | null): number | undefined {
  if (raw === null || raw === "") return undefined;
  const text = Buffer.from(raw, "base64url").toString("utf8");
  const digits = text.slice(cursorPrefix.length);
  const n = Number(digits);
  if (!text.startsWith(cursorPrefix) || !/^\d+$/.test(digits) || !Number.isSafeInteger(n))
    throw badQuery("cursor", "not a cursor this server issued");
  return n;
}

export function parseKey(field: string, raw: string | null): Uint8Array | undefined {
  if (raw === null || raw === "") return undefined;
  try {
    return fromHex(raw, field, 32);
  } catch {
    throw badQuery(field, "expected 64 hex digits (a 32-byte key or id)");
  }
}

export function parseText(field: string, raw: string | null, bytesMax: number): string | undefined {
  if (raw === null || raw === "") return undefined;
  if (Buffer.byteLength(raw) > bytesMax) throw badQuery(field, `at most ${bytesMax} bytes`);
  return raw;
}

/** Refuses a parameter the endpoint does not take, so a typo never silently widens a query. */
export function knownParams(q: URLSearchParams, known: readonly string[]): void {
  for (const key of q.keys())
    if (!known.includes(key)) throw badQuery(key, `unknown parameter; expected one of ${known.join(", ")}`);
}
