/**
 * `stemedb serve`: its flags are the settings table (config/config.ts), one flag per row, so
 * `--help`, `.env.example` and the configuration itself cannot disagree. loadConfig applies
 * flags over the environment over the defaults; a wrong value is `bad_config` (exit 2).
 */
import { startServer } from "../../api/serve.ts";
import { loadConfig, type Setting, settings, settingValue } from "../../config/config.ts";
import { createLogger } from "../../core/logger.ts";
import { defineCommand } from "../command.ts";
import { nodeDirAllowed } from "../datadir.ts";
import type { Flag } from "../flags.ts";

/** A setting as a flag: passed through raw; the environment and the default are loadConfig's. */
function settingFlag(s: Setting): Flag<string | boolean | undefined> {
  return {
    type: s.boolean ? "boolean" : "string",
    ...(s.multiple ? { multiple: true } : {}),
    help: s.help,
    value: settingValue(s),
    ...(s.key === "dataDir" ? { kind: "data-dir" as const } : {}),
    shownDefault: `$${s.env} or ${s.shownDefault ?? (s.default || '""')}`,
    // A repeatable setting's values reach loadConfig as one comma-separated list, like its variable.
    parse: (raw) =>
      Array.isArray(raw) ? (raw.length ? raw.join(",") : undefined) : typeof raw === "string" || raw === true ? raw : undefined,
  };
}

const flags: Record<string, Flag<string | boolean | undefined>> = Object.fromEntries(
  settings.map((s) => [s.flag, settingFlag(s)]),
);

export const serve = defineCommand({
  name: "serve",
  summary: "run the server",
  usage: ["stemedb serve [--data-dir DIR] [--bind HOST:PORT] [--sync batch|none] [options]"],
  about: `Initialises the data directory when it holds no node yet. Stops cleanly on SIGINT or SIGTERM.
Every option can also be set by its environment variable (.env.example lists them).
On Linux it executes itself again at once (same PID, same command line) with the runtime's heap
growth set to a factor of two whatever the machine's RAM; BUN_JSC_heapGrowthFunctionThresholdInMB,
when set, is kept; not done when it is given a /dev/fd/N path (docs/OPERATIONS.md, "Memory and
background work for reads").`,
  flags,
  async run({ values }, io) {
    const config = loadConfig(values, io.env);
    nodeDirAllowed(config.dataDir);
    const logger = createLogger({ level: config.logLevel });
    // The handlers go in before the server starts: a SIGTERM that comes while it opens the store
    // (or just after it says it listens) stops it cleanly instead of killing it mid-start.
    const signalled = new Promise<string>((resolve) => {
      process.once("SIGINT", () => resolve("SIGINT"));
      process.once("SIGTERM", () => resolve("SIGTERM"));
    });
    const server = await startServer(config, { logger });
    const signal = await signalled;
    logger.info("signal received; stopping", { signal });
    await server.stop();
    return 0;
  },
});
