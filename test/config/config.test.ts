import { describe, expect, test } from "bun:test";
import { loadConfig, parseBind } from "../../src/config/config.ts";

describe("configuration", () => {
  test("defaults: ./data on 127.0.0.1:18180, group commit", () => {
    const c = loadConfig({}, {});
    expect(c).toMatchObject({
      dataDir: "./data",
      bindHost: "127.0.0.1",
      bindPort: 18180,
      sync: "batch",
      clockSkewMs: 1000,
      batchRecordsMax: 10000,
    });
  });

  test("flags over environment over defaults", () => {
    const env = { STEMEDB_DATA_DIR: "/env/data", STEMEDB_BIND_ADDR: "0.0.0.0:9000", STEMEDB_SYNC: "none" };
    expect(loadConfig({}, env)).toMatchObject({ dataDir: "/env/data", bindHost: "0.0.0.0", bindPort: 9000, sync: "none" });
    expect(loadConfig({ "data-dir": "/flag/data", sync: "batch" }, env)).toMatchObject({
      dataDir: "/flag/data",
      bindPort: 9000,
      sync: "batch",
    });
  });

  test("bad values are refused with the flag and variable named", () => {
    expect(() => loadConfig({ sync: "sometimes" }, {})).toThrow(/--sync \/ STEMEDB_SYNC/);
    expect(() => loadConfig({}, { STEMEDB_MAX_CLOCK_SKEW_MS: "-5" })).toThrow(
      /STEMEDB_MAX_CLOCK_SKEW_MS: expected a positive integer/,
    );
    expect(() => loadConfig({ "log-level": "loud" }, {})).toThrow(/log-level/);
    expect(() => loadConfig({ bind: "localhost" }, {})).toThrow(/HOST:PORT/);
  });

  test("settings that are threads or open files have a ceiling, said in the error", () => {
    expect(loadConfig({ "syncs-in-flight": "16", "query-workers": "0", "verify-threads": "64" }, {})).toMatchObject({
      syncsInFlight: 16,
      queryWorkers: 0,
      verifyThreads: 64,
    });
    expect(() => loadConfig({ "syncs-in-flight": "17" }, {})).toThrow(
      /--syncs-in-flight \/ STEMEDB_SYNCS_IN_FLIGHT: expected an integer from 1 to 16, got "17"/,
    );
    expect(() => loadConfig({ "syncs-in-flight": "0" }, {})).toThrow(/from 1 to 16/);
    expect(() => loadConfig({}, { STEMEDB_QUERY_WORKERS: "200" })).toThrow(
      /STEMEDB_QUERY_WORKERS: expected an integer from 0 to 64/,
    );
    expect(() => loadConfig({ "verify-threads": "1000" }, {})).toThrow(/--verify-threads .* from 1 to 64/);
    // Past what SQLite (a 32-bit page count) and timers (2^31 − 1 ms) can take.
    expect(() => loadConfig({ "index-wal-bytes-max": String(2 ** 43) }, {})).toThrow(
      /--index-wal-bytes-max .* from 0 to 4294967296/,
    );
    expect(() => loadConfig({ "index-flush-ms": "2147483648" }, {})).toThrow(/--index-flush-ms .* from 1 to 60000/);
    expect(() => loadConfig({ "index-checkpoint-ms": "60001" }, {})).toThrow(/--index-checkpoint-ms .* from 0 to 60000/);
  });

  test("bind addresses, IPv6 included", () => {
    expect(parseBind("[::1]:18180")).toEqual({ host: "::1", port: 18180 });
    expect(parseBind("localhost:0")).toEqual({ host: "localhost", port: 0 });
    expect(() => parseBind("127.0.0.1:70000")).toThrow();
  });
});
