/** Query parameters: times mean the same instant on every node, whatever its time zone. */
import { afterEach, expect, test } from "bun:test";
import { parseTime } from "../../src/api/params.ts";
import type { StemeError } from "../../src/core/errors.ts";

const zone = process.env.TZ;
afterEach(() => {
  if (zone === undefined) delete process.env.TZ;
  else process.env.TZ = zone;
});

test("an ISO time without an offset is UTC in every time zone; with one, it is honoured", () => {
  for (const tz of ["UTC", "America/New_York", "Asia/Tokyo"]) {
    process.env.TZ = tz;
    expect([tz, parseTime("as_of", "2025-01-01T00:00:00")]).toEqual([tz, 1_735_689_600_000]);
    expect([tz, parseTime("as_of", "2025-01-01 00:00")]).toEqual([tz, 1_735_689_600_000]);
    expect([tz, parseTime("as_of", "2025-01-01")]).toEqual([tz, 1_735_689_600_000]);
    expect([tz, parseTime("as_of", "2025-01-01T02:00:00+02:00")]).toEqual([tz, 1_735_689_600_000]);
    expect([tz, parseTime("as_of", "1735689600000")]).toEqual([tz, 1_735_689_600_000]);
  }
});

test("impossible dates and other shapes are a 400 naming the field", () => {
  for (const bad of ["2025-02-30", "2025-13-01T00:00:00Z", "yesterday", "2025-01-01T00:00:00+2"]) {
    let err: unknown;
    try {
      parseTime("as_of", bad);
    } catch (e) {
      err = e;
    }
    expect([bad, (err as StemeError)?.code, (err as StemeError)?.extra?.field]).toEqual([bad, "invalid_query", "as_of"]);
  }
});
