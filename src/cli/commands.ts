/**
 * The `stemedb` subcommands. Each parses its own flags, prints its own `--help`, and returns
 * an exit code: 0 success, 1 a problem found (verify), 2 bad usage or an operating error.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import { startServer, version } from "../api/serve.ts";
import { StemeClient, StemeClientError, signClaim } from "../client/index.ts";
import { describeConfig, loadConfig, settings } from "../config/config.ts";
import { StemeError } from "../core/errors.ts";
import { toHex } from "../core/hex.ts";
import { createLogger } from "../core/logger.ts";
import { validateRecord } from "../core/record.ts";
import { recordId } from "../crypto/hash.ts";
import { decodeCanonical } from "../core/cbor.ts";
import { generateKeyPair } from "../crypto/sign.ts";
import { verifyId } from "../crypto/verify.ts";
import { applyRepair, planRepair, verifyLog } from "../log/index.ts";
import { initDataDir, isInitialized, openDataDir, readKeyFile, writeKeyFile } from "../store/datadir.ts";
import { lockDataDir } from "../store/lock.ts";
import { KeyStore } from "../auth/keys.ts";
import { bundleCommands } from "./bundle-commands.ts";
import { archiveOnce, parseS3Url } from "../backup/archive.ts";
import { restoreBackup } from "../backup/restore.ts";
import { dataDirRoot } from "../backup/root.ts";
import { recordBackupStatus } from "../backup/status.ts";
import { takeBackup } from "../backup/take.ts";
import { verifyBackup } from "../backup/verify.ts";
import { demoCommands } from "./demo-command.ts";
import { verifyIndexCommand } from "./verify-index-command.ts";
import { type ProvenanceTree, renderProvenance } from "../provenance/tree.ts";
import { Store } from "../store/store.ts";

export interface Command {
  summary: string;
  usage: string;
  run(argv: string[]): Promise<number>;
}

const serverFlag = { server: { type: "string" as const, default: process.env.STEMEDB_URL ?? "http://127.0.0.1:18180" } };
const dataDirFlag = { "data-dir": { type: "string" as const, default: process.env.STEMEDB_DATA_DIR ?? "./data" } };
const helpFlag = { help: { type: "boolean" as const, short: "h" } };

/** A client for `server`, sending $STEMEDB_API_KEY as the bearer key when it is set. */
function clientFor(server: string): StemeClient {
  const key = process.env.STEMEDB_API_KEY;
  return new StemeClient({ url: server, ...(key ? { headers: { authorization: `Bearer ${key}` } } : {}) });
}

function out(line: string): void {
  process.stdout.write(`${line}\n`);
}

export const commands: Record<string, Command> = {
  serve: {
    summary: "run the server",
    usage: `stemedb serve [--data-dir DIR] [--bind HOST:PORT] [--sync batch|none] [options]\n\nOptions (flag, environment variable, meaning):\n${describeConfig()}`,
    async run(argv) {
      const options = Object.fromEntries(
        settings
          .filter((s) => s.flag !== "insecure")
          .map((s) => [s.flag, { type: s.boolean ? ("boolean" as const) : ("string" as const) }]),
      );
      const { values } = parseArgs({
        args: argv,
        options: { ...options, insecure: { type: "boolean" }, ...helpFlag },
        strict: true,
      });
      const config = loadConfig({ ...values, insecure: values.insecure ? "true" : undefined });
      const logger = createLogger({ level: config.logLevel });
      const server = await startServer(config, { logger });
      await new Promise<void>((resolve) => {
        const stop = (signal: string) => {
          logger.info("signal received; stopping", { signal });
          server.stop().then(resolve, resolve);
        };
        process.once("SIGINT", () => stop("SIGINT"));
        process.once("SIGTERM", () => stop("SIGTERM"));
      });
      return 0;
    },
  },

  init: {
    summary: "create a data directory with a node key",
    usage: "stemedb init [--data-dir DIR]",
    async run(argv) {
      const { values } = parseArgs({ args: argv, options: { ...dataDirFlag, ...helpFlag } });
      const dir = values["data-dir"];
      const dd = initDataDir(dir);
      out(`initialised ${dir}`);
      out(`node id:        ${dd.meta.node_id}`);
      out(`authority key:  ${toHex(dd.nodeKey.publicKey)}  (secret in ${path.join(dir, "node.key")}, mode 0600)`);
      return 0;
    },
  },

  keygen: {
    summary: "generate an agent key pair",
    usage:
      "stemedb keygen [--out FILE]\n\nWrites {public_key, secret_key} (hex) to FILE with mode 0600, or prints it when no FILE is given.",
    async run(argv) {
      const { values } = parseArgs({ args: argv, options: { out: { type: "string" }, ...helpFlag } });
      const key = generateKeyPair();
      if (values.out) {
        writeKeyFile(values.out, key);
        out(`wrote ${values.out}`);
        out(`public key: ${toHex(key.publicKey)}`);
      } else {
        out(JSON.stringify({ public_key: toHex(key.publicKey), secret_key: toHex(key.secretKey) }, null, 2));
      }
      return 0;
    },
  },

  assert: {
    summary: "sign a record with a key file and submit it",
    usage: `stemedb assert --key FILE [--server URL] (--record FILE|- | SUBJECT PREDICATE OBJECT [--confidence C] [--source S] [--unit U] [--note N])

OBJECT is JSON (0.2, "text", true, {"a":1}); a bare word is taken as text.
--record reads the record's fields as JSON (kind defaults to assertion; v, agent, ts are filled in).
Prints the server's answer: {"id", "lsn", "status", "duplicate"}.`,
    async run(argv) {
      const { values, positionals } = parseArgs({
        args: argv,
        allowPositionals: true,
        options: {
          key: { type: "string" },
          record: { type: "string" },
          confidence: { type: "string", default: "1" },
          source: { type: "string" },
          unit: { type: "string" },
          note: { type: "string" },
          ...serverFlag,
          ...helpFlag,
        },
      });
      if (!values.key) throw usage("assert: --key FILE is required (make one with `stemedb keygen --out FILE`)");
      const key = readKeyFile(values.key);
      let fields: Record<string, unknown>;
      if (values.record) {
        const text = values.record === "-" ? await Bun.stdin.text() : fs.readFileSync(values.record, "utf8");
        fields = { kind: "assertion", ...(JSON.parse(text) as Record<string, unknown>) };
      } else {
        const [subject, predicate, object] = positionals;
        if (subject === undefined || predicate === undefined || object === undefined)
          throw usage("assert: give SUBJECT PREDICATE OBJECT, or --record FILE");
        fields = { kind: "assertion", subject, predicate, object: parseObject(object), confidence: Number(values.confidence) };
        for (const k of ["source", "unit", "note"] as const) if (values[k] !== undefined) fields[k] = values[k];
      }
      const signed = signClaim(key, fields as { kind: string });
      const result = await clientFor(values.server).submit(signed);
      out(JSON.stringify(result));
      return 0;
    },
  },

  vote: {
    summary: "endorse (+1) or dispute (-1) an assertion, signed with a key file",
    usage: "stemedb vote --key FILE TARGET_ID +1|-1 [--reason TEXT] [--server URL]   (up/down work too)",
    async run(argv) {
      // "-1" looks like a flag to parseArgs: name the values before parsing.
      const named = argv.map((a) => (a === "-1" ? "down" : a === "+1" || a === "1" ? "up" : a));
      const { key, server, reason, positionals } = targetedArgs(named);
      const [target, value] = positionals;
      if (target === undefined || (value !== "up" && value !== "down")) throw usage("vote: give --key FILE TARGET_ID +1|-1");
      const signed = signClaim(key, { kind: "vote", target, value: value === "down" ? -1 : 1, ...reason });
      out(JSON.stringify(await clientFor(server).vote(signed)));
      return 0;
    },
  },

  retract: {
    summary: "withdraw an assertion (your own, or any as an authority), signed with a key file",
    usage: "stemedb retract --key FILE TARGET_ID [--reason TEXT] [--server URL]",
    async run(argv) {
      const { key, server, reason, positionals } = targetedArgs(argv);
      const [target] = positionals;
      if (target === undefined) throw usage("retract: give --key FILE TARGET_ID");
      const signed = signClaim(key, { kind: "retraction", target, ...reason });
      out(JSON.stringify(await clientFor(server).retract(signed)));
      return 0;
    },
  },

  query: {
    summary: "resolve SUBJECT PREDICATE through lenses (a table, or --json)",
    usage: `stemedb query SUBJECT PREDICATE [--lens L]... [--as-of T] [--valid-at T] [--tolerance X] [--include FLAGS]
                     [--layers L,L] [--fresh] [--escalate K] [--json] [--server URL]

Lenses: recency, consensus, vote, authority, trust, skeptic, layered (default: consensus).
Several --lens flags answer side by side. Times are milliseconds since the epoch or ISO 8601.
--fresh resolves now (index and TrustRank current) instead of reading a materialized view;
--escalate K opens an escalation for human review when κ ≥ K.`,
    async run(argv) {
      const { values, positionals } = parseArgs({
        args: argv,
        allowPositionals: true,
        options: {
          lens: { type: "string", multiple: true },
          "as-of": { type: "string" },
          "valid-at": { type: "string" },
          tolerance: { type: "string" },
          include: { type: "string" },
          layers: { type: "string" },
          fresh: { type: "boolean" },
          escalate: { type: "string" },
          json: { type: "boolean" },
          ...serverFlag,
          ...helpFlag,
        },
      });
      const [subject, predicate] = positionals;
      if (subject === undefined || predicate === undefined) throw usage("query: give SUBJECT PREDICATE");
      const lenses = values.lens?.length ? values.lens : ["consensus"];
      const options = {
        ...(values["as-of"] !== undefined ? { asOf: values["as-of"] } : {}),
        ...(values["valid-at"] !== undefined ? { validAt: values["valid-at"] } : {}),
        ...(values.tolerance !== undefined ? { tolerance: Number(values.tolerance) } : {}),
        ...(values.include !== undefined ? { include: values.include.split(",") } : {}),
        ...(values.layers !== undefined ? { layers: values.layers.split(",") } : {}),
        ...(values.fresh ? { fresh: true } : {}),
        ...(values.escalate !== undefined ? { escalate: Number(values.escalate) } : {}),
      };
      const { results } = await clientFor(values.server).queryLenses(subject, predicate, lenses, options);
      if (values.json) {
        out(JSON.stringify(results, null, 2));
        return 0;
      }
      const rows = lenses.map((lens) => {
        const r = results[lens];
        return [
          lens,
          r?.winner ? JSON.stringify(r.value) : "(none)",
          r ? r.support.toFixed(2) : "",
          r ? r.conflict.toFixed(2) : "",
          r?.verdict ?? "",
          r?.explain.join("; ") ?? "",
        ];
      });
      out(table(["lens", "value", "support", "κ", "verdict", "why"], rows));
      for (const lens of lenses) {
        const e = results[lens]?.escalation;
        if (e) out(`escalation ${e.id} ${e.opened ? "opened" : "already open"} (${lens})`);
      }
      return 0;
    },
  },

  agents: {
    summary: "agents by TrustRank, or one agent's trust, counts and recent records",
    usage: `stemedb agents [KEY] [--sort trust|key] [--limit N] [--json] [--server URL]

Without KEY: every agent that signed a record, highest τ first. With KEY: that agent's τ, how
it came about (seeded, endorsements, disputes, gold agreement), record counts, recent records.`,
    async run(argv) {
      const { values, positionals } = parseArgs({
        args: argv,
        allowPositionals: true,
        options: { sort: { type: "string" }, limit: { type: "string" }, json: { type: "boolean" }, ...serverFlag, ...helpFlag },
      });
      const client = clientFor(values.server);
      const key = positionals[0];
      if (key !== undefined) {
        const a = await client.agent(key);
        if (values.json) out(JSON.stringify(a, null, 2));
        else {
          const counts = Object.entries(a.counts)
            .filter(([, n]) => n > 0)
            .map(([k, n]) => `${n} ${k}`)
            .join(", ");
          out(`agent      ${a.agent}`);
          out(`trust      ${a.trust.toFixed(3)}${a.authority ? " (authority)" : a.seeded ? " (seeded)" : ""}`);
          out(`endorsed   by ${a.endorsed_by}, disputed by ${a.disputed_by}`);
          out(`gold       ${a.gold.agree} agree, ${a.gold.contradict} contradict`);
          out(`records    ${counts || "none"}`);
        }
        return 0;
      }
      const sort = values.sort ?? "trust";
      if (sort !== "trust" && sort !== "key") throw usage('agents: --sort is "trust" or "key"');
      const page = await client.agents({ sort, ...(values.limit ? { limit: Number(values.limit) } : {}) });
      if (values.json) out(JSON.stringify(page, null, 2));
      else
        out(
          table(
            ["agent", "trust", "role", "endorsed by", "disputed by"],
            page.items.map((a) => [
              a.agent,
              a.trust.toFixed(3),
              a.authority ? "authority" : a.seeded ? "seeded" : "",
              String(a.endorsed_by),
              String(a.disputed_by),
            ]),
          ),
        );
      return 0;
    },
  },

  keys: {
    summary: "create, list or revoke API keys in a data directory (works with the server running)",
    usage: `stemedb keys create --role reader|writer|admin --name NAME [--data-dir DIR]
       stemedb keys list [--data-dir DIR] [--json]
       stemedb keys revoke ID [--data-dir DIR]

create prints the key's id, name and role, then the secret alone on the last line — shown
this once; only its SHA-256 is stored (in DIR/keys.json, mode 0600). A running server sees a
new or revoked key within a second. The first admin key is made this way; later ones can be
made over HTTP (POST /v1/admin/keys).`,
    async run(argv) {
      const { values, positionals } = parseArgs({
        args: argv,
        allowPositionals: true,
        options: { role: { type: "string" }, name: { type: "string" }, json: { type: "boolean" }, ...dataDirFlag, ...helpFlag },
      });
      const [action, id] = positionals;
      const dir = values["data-dir"];
      if (!isInitialized(dir))
        throw new StemeError("not_initialized", 2, `${dir} is not a StemeDB data directory`, {
          hint: `stemedb init --data-dir ${dir}`,
        });
      const keys = new KeyStore(dir);
      if (action === "create") {
        if (!values.role || !values.name) throw usage("keys create: give --role and --name");
        const k = keys.create(values.name, values.role);
        out(`id      ${k.id}`);
        out(`name    ${k.name}`);
        out(`role    ${k.role}`);
        out("secret (shown once; send it as Authorization: Bearer <secret>):");
        out(k.secret);
        return 0;
      }
      if (action === "list") {
        const list = keys.list();
        if (values.json) out(JSON.stringify(list, null, 2));
        else
          out(
            table(
              ["id", "name", "role", "created", "revoked"],
              list.map((k) => [k.id, k.name, k.role, k.created_at, k.revoked_at ?? ""]),
            ),
          );
        return 0;
      }
      if (action === "revoke") {
        if (!id) throw usage("keys revoke: give the key id");
        if (!keys.revoke(id)) throw new StemeError("not_found", 2, `no API key ${id} in ${dir}`);
        out(`revoked ${id}`);
        return 0;
      }
      throw usage("keys: create, list or revoke");
    },
  },

  quarantine: {
    summary: "assertions held by content defense: list them, approve or reject one (admin)",
    usage: `stemedb quarantine [--json] [--server URL]
       stemedb quarantine --approve ID [--note TEXT] [--server URL]
       stemedb quarantine --reject ID [--note TEXT] [--server URL]

Each decision is a review record signed by the node's authority key. Needs an admin key in
$STEMEDB_API_KEY when the server has keys.`,
    async run(argv) {
      const { values } = parseArgs({
        args: argv,
        options: {
          approve: { type: "string" },
          reject: { type: "string" },
          note: { type: "string" },
          json: { type: "boolean" },
          ...serverFlag,
          ...helpFlag,
        },
      });
      const client = clientFor(values.server);
      if (values.approve !== undefined || values.reject !== undefined) {
        if (values.approve !== undefined && values.reject !== undefined)
          throw usage("quarantine: --approve or --reject, not both");
        const action = values.approve !== undefined ? "approve" : "reject";
        const id = (values.approve ?? values.reject) as string;
        const r = await client.decideQuarantine(id, action, values.note);
        out(`${action === "approve" ? "approved" : "rejected"} ${id} (record ${String(r.id)})`);
        return 0;
      }
      const page = await client.quarantine({ limit: 1000 });
      if (values.json) out(JSON.stringify(page, null, 2));
      else
        out(
          table(
            ["id", "subject", "predicate", "rules"],
            page.items.map((i) => {
              const a = (i.assertion ?? {}) as { subject?: string; predicate?: string };
              return [i.id, a.subject ?? "", a.predicate ?? "", ((i.rules as string[]) ?? []).join(", ")];
            }),
          ),
        );
      return 0;
    },
  },

  breakers: {
    summary: "per-agent circuit breakers and the global one; reset an agent's (admin)",
    usage: `stemedb breakers [--state closed|open|half_open] [--json] [--server URL]
       stemedb breakers --reset AGENT [--server URL]`,
    async run(argv) {
      const { values } = parseArgs({
        args: argv,
        options: { state: { type: "string" }, reset: { type: "string" }, json: { type: "boolean" }, ...serverFlag, ...helpFlag },
      });
      const client = clientFor(values.server);
      if (values.reset !== undefined) {
        await client.resetBreaker(values.reset);
        out(`reset the breaker of ${values.reset}`);
        return 0;
      }
      const state = values.state;
      if (state !== undefined && state !== "closed" && state !== "open" && state !== "half_open")
        throw usage('breakers: --state is "closed", "open" or "half_open"');
      const b = await client.breakers(state);
      if (values.json) out(JSON.stringify(b, null, 2));
      else {
        out(
          table(
            ["agent", "state", "writes", "bad", "retry after s", "reason"],
            b.items.map((i) => [
              String(i.agent ?? ""),
              String(i.state ?? ""),
              String(i.writes ?? ""),
              String(i.bad ?? ""),
              String(i.retry_after_s ?? ""),
              String(i.reason ?? ""),
            ]),
          ),
        );
        out(`global: ${JSON.stringify(b.global)}`);
      }
      return 0;
    },
  },

  provenance: {
    summary: "the provenance chain of a record: dependencies, sources, votes, retractions, reviews",
    usage: `stemedb provenance ID [--depth N] [--json] [--server URL]

Prints the assertion and, indented below it, what it depends on, each with its source (tier,
retracted?), votes, retractions, reviews and lifecycle flags. --depth bounds the tree (default 8).`,
    async run(argv) {
      const { values, positionals } = parseArgs({
        args: argv,
        allowPositionals: true,
        options: { depth: { type: "string" }, json: { type: "boolean" }, ...serverFlag, ...helpFlag },
      });
      const id = positionals[0];
      if (!id) throw usage("provenance: give a record id");
      const tree = await clientFor(values.server).provenance(id, {
        ...(values.depth !== undefined ? { depth: Number(values.depth) } : {}),
      });
      if (values.json) out(JSON.stringify(tree, null, 2));
      else {
        out(renderProvenance(tree as unknown as ProvenanceTree));
        if (tree.dangling.length) out(`dangling (not on this node): ${tree.dangling.join(", ")}`);
      }
      return 0;
    },
  },

  source: {
    summary: "a source's entry and citations, or what retracting it would take down (--impact)",
    usage: `stemedb source ID [--impact] [--json] [--server URL]`,
    async run(argv) {
      const { values, positionals } = parseArgs({
        args: argv,
        allowPositionals: true,
        options: { impact: { type: "boolean" }, json: { type: "boolean" }, ...serverFlag, ...helpFlag },
      });
      const id = positionals[0];
      if (!id) throw usage("source: give a source id");
      const client = clientFor(values.server);
      if (values.impact) {
        const first = await client.sourceImpact(id, { limit: 1000 });
        if (values.json) out(JSON.stringify(first, null, 2));
        else {
          out(
            `retracting ${id} would flag ${first.source_retracted} citing assertions and ${first.cascade} more through depends_on`,
          );
          for (const i of first.items.slice(0, 20))
            out(`  ${i.flag.padEnd(16)} depth ${i.depth}  ${i.id.slice(0, 12)}…  ${i.subject} ${i.predicate}`);
          if (first.total > 20) out(`  … ${first.total - 20} more (--json for the first 1000)`);
        }
        return 0;
      }
      const s = await client.source(id);
      out(
        values.json
          ? JSON.stringify(s, null, 2)
          : table(
              ["field", "value"],
              Object.entries(s).map(([k, v]) => [k, typeof v === "object" ? JSON.stringify(v) : String(v)]),
            ),
      );
      return 0;
    },
  },

  escalations: {
    summary: "list escalations opened by contested queries, or resolve one",
    usage: `stemedb escalations [--status open|resolved|all] [--json] [--server URL]
       stemedb escalations --resolve ID [--note TEXT] [--gold ASSERTION_ID] [--server URL]

--gold also marks that assertion a gold standard (an authority decision).`,
    async run(argv) {
      const { values } = parseArgs({
        args: argv,
        options: {
          status: { type: "string" },
          resolve: { type: "string" },
          note: { type: "string" },
          gold: { type: "string" },
          json: { type: "boolean" },
          ...serverFlag,
          ...helpFlag,
        },
      });
      const client = clientFor(values.server);
      if (values.resolve !== undefined) {
        const r = await client.resolveEscalation(values.resolve, values.note, values.gold ? { gold: values.gold } : {});
        out(`resolved ${r.escalation.id} (record ${r.resolution_id}, lsn ${r.lsn})`);
        if (r.gold_id) out(`gold standard ${values.gold} (record ${r.gold_id})`);
        return 0;
      }
      const status = values.status ?? "open";
      if (status !== "open" && status !== "resolved" && status !== "all")
        throw usage('escalations: --status is "open", "resolved" or "all"');
      const { items } = await client.escalations(status);
      if (values.json) out(JSON.stringify(items, null, 2));
      else
        out(
          table(
            ["id", "status", "opened", "subject", "predicate", "lens", "κ"],
            items.map((e) => {
              const c = (typeof e.context === "object" && e.context) || {};
              return [
                e.id,
                e.status,
                e.opened_at,
                String(c.subject ?? ""),
                String(c.predicate ?? ""),
                String(c.lens ?? ""),
                String(c.conflict ?? ""),
              ];
            }),
          ),
        );
      return 0;
    },
  },

  get: {
    summary: "fetch a record by id",
    usage: "stemedb get ID [--server URL]",
    async run(argv) {
      const { values, positionals } = parseArgs({ args: argv, allowPositionals: true, options: { ...serverFlag, ...helpFlag } });
      const id = positionals[0];
      if (!id) throw usage("get: give a record id");
      out(JSON.stringify(await clientFor(values.server).get(id), null, 2));
      return 0;
    },
  },

  reindex: {
    summary: "rebuild the index from the log",
    usage:
      "stemedb reindex [--data-dir DIR]\n\nThe server must be stopped (the directory lock is held throughout). The index is deleted and rebuilt\nfrom the log with a progress bar; if the rebuild is interrupted, the next start finishes it.",
    async run(argv) {
      const { values } = parseArgs({ args: argv, options: { ...dataDirFlag, ...helpFlag } });
      const dir = values["data-dir"];
      openDataDir(dir);
      const started = performance.now();
      const store = await Store.open(dir, { rebuildIndex: true, onReplayProgress: progressBar("reindex") });
      const lsn = store.log.lastLsn;
      await store.close();
      process.stderr.write("\n");
      out(`reindexed ${lsn} records in ${((performance.now() - started) / 1000).toFixed(1)} s`);
      return 0;
    },
  },

  repair: {
    summary: "cut a damaged log back to its last good record (set aside, never deleted)",
    usage: `stemedb repair [--data-dir DIR] [--yes]

Without --yes, only says what it would do. With --yes (server stopped): the bytes from the first
damaged record on, and every later segment, are moved to DIR/log-quarantine/<time>/, the log is
cut there, and the index drops what the log no longer has at the next start. Records after the
damage are lost to the node: restore the segment from a backup instead if you have one.`,
    async run(argv) {
      const { values } = parseArgs({ args: argv, options: { ...dataDirFlag, yes: { type: "boolean" }, ...helpFlag } });
      const dir = values["data-dir"];
      openDataDir(dir);
      const unlock = lockDataDir(dir);
      try {
        const logDir = path.join(dir, "log");
        const plan = planRepair(logDir);
        if (plan.clean || !plan.cut) {
          out("the log is clean; nothing to repair");
          return 0;
        }
        out(`damage: ${plan.cut.file} at byte ${plan.cut.offset}: ${plan.cut.message}`);
        out(
          `would cut ${plan.cut.bytes} bytes there${plan.setAside.length ? ` and set aside ${plan.setAside.length} segment file(s): ${plan.setAside.map((f) => path.basename(f)).join(", ")}` : ""}`,
        );
        if (!values.yes) {
          out("nothing changed; run again with --yes to do it");
          return 1;
        }
        const quarantine = path.join(dir, "log-quarantine", new Date().toISOString().replaceAll(":", "-"));
        applyRepair(plan, quarantine);
        const after = verifyLog(logDir);
        out(
          `repaired: the log now ends at LSN ${after.lastLsn} (${after.records} records); the removed bytes are in ${quarantine}`,
        );
        return after.ok ? 0 : 1;
      } finally {
        unlock();
      }
    },
  },

  verify: {
    summary: "check the log, or a backup: framing, checksums, BLAKE3 (--deep: ids, signatures, Merkle root)",
    usage: `stemedb verify [--data-dir DIR] [--deep] [--json]
       stemedb verify --index [--data-dir DIR] [--json]
       stemedb verify --backup DIR [--deep] [--json] [--data-dir D]

Read-only. Exit 0 when clean, 1 when a problem was found (each named with its file and
offset), 2 on bad usage. With --backup, --data-dir D also records the outcome in D for the
server's metrics (stemedb_backup_last_verify_ok). --index cross-checks the index against the
log instead (page checksums, SQLite's integrity check, every row against its log record); it
takes no lock and reads one consistent snapshot, so it may run beside a server.`,
    async run(argv) {
      const { values } = parseArgs({
        args: argv,
        options: {
          "data-dir": { type: "string" },
          backup: { type: "string" },
          deep: { type: "boolean" },
          index: { type: "boolean" },
          json: { type: "boolean" },
          ...helpFlag,
        },
      });
      if (values.backup !== undefined)
        return verifyBackupCommand(values.backup, values.deep === true, values.json === true, values["data-dir"]);
      const dir = values["data-dir"] ?? process.env.STEMEDB_DATA_DIR ?? "./data";
      if (!isInitialized(dir)) throw new StemeError("not_initialized", 2, `${dir} is not a StemeDB data directory`);
      if (values.index) return verifyIndexCommand(dir, values.json === true);
      const logDir = path.join(dir, "log");
      const report = verifyLog(logDir, values.deep ? { deep: deepCheck } : {});
      if (values.json) out(JSON.stringify(report, null, 2));
      else {
        out(
          `${report.ok ? "ok" : "DAMAGED"}: ${report.segments} segments, ${report.records} records, last LSN ${report.lastLsn}, ${report.bytes} bytes${values.deep ? ", ids and signatures checked" : ""}`,
        );
        if (report.tornTail)
          out(
            `torn tail: ${report.tornTail.file} at offset ${report.tornTail.offset}, ${report.tornTail.bytes} bytes (the server cuts it at start)`,
          );
        for (const p of report.problems) out(`problem: ${p.file} offset ${p.offset}: ${p.message}`);
      }
      return report.ok ? 0 : 1;
    },
  },
  ...bundleCommands,

  backup: {
    summary: "an online backup of a data directory, consistent at one log position",
    usage: `stemedb backup --data-dir D --out DIR

Works beside a running server (nothing is locked or stopped). DIR must be new or empty; it
gets the log up to one LSN, the index and audit trail (SQLite online copies), the node's keys
and a manifest with every file's BLAKE3 and the Merkle root over the record ids. The backup
holds the node's private key: store it as safely as the data directory.`,
    async run(argv) {
      const { values } = parseArgs({ args: argv, options: { ...dataDirFlag, out: { type: "string" }, ...helpFlag } });
      if (!values.out) throw usage("backup: give --out DIR");
      const dir = values["data-dir"];
      // A backup runs beside a live server: yield the CPU to it (the hashing processes inherit this).
      try {
        os.setPriority(10);
      } catch {
        // not permitted here: run at normal priority
      }
      const bar = process.stderr.isTTY ? progressBar("backup") : undefined;
      const result = await takeBackup({ dataDir: dir, outDir: values.out, ...(bar ? { onProgress: bar } : {}) });
      if (bar) process.stderr.write("\n");
      recordBackupStatus(dir, {
        last_backup: { at: result.manifest.created_at, dir: path.resolve(values.out), lsn: result.manifest.lsn },
      });
      const mb = result.bytes / 1e6;
      out(
        `backup ${values.out}: ${result.manifest.records} records to LSN ${result.manifest.lsn}, ${result.manifest.files.length} files, ${mb.toFixed(1)} MB in ${(result.ms / 1000).toFixed(1)} s (${(mb / (result.ms / 1000)).toFixed(0)} MB/s)`,
      );
      out(`merkle root ${result.manifest.merkle_root}`);
      return 0;
    },
  },

  restore: {
    summary: "restore a backup into a new data directory, optionally rolled forward and cut at a point in time",
    usage: `stemedb restore --from BACKUP --data-dir NEW [--archive-dir A] [--target-lsn N | --target-time T]

The backup is verified first and refused if anything is wrong. --archive-dir rolls it forward
with archived segments; --target-lsn keeps records up to LSN N, --target-time those the node
received at or before T (ms since the epoch or ISO 8601). Then: stemedb serve --data-dir NEW.`,
    async run(argv) {
      const { values } = parseArgs({
        args: argv,
        options: {
          from: { type: "string" },
          "data-dir": { type: "string" },
          "archive-dir": { type: "string" },
          "target-lsn": { type: "string" },
          "target-time": { type: "string" },
          ...helpFlag,
        },
      });
      if (!values.from || !values["data-dir"]) throw usage("restore: give --from BACKUP and --data-dir NEW");
      const targetLsn = values["target-lsn"] === undefined ? undefined : Number(values["target-lsn"]);
      if (targetLsn !== undefined && (!Number.isSafeInteger(targetLsn) || targetLsn < 0))
        throw usage("restore: --target-lsn is a log position (an integer ≥ 0)");
      const rawTime = values["target-time"];
      const targetTime = rawTime === undefined ? undefined : /^\d+$/.test(rawTime) ? Number(rawTime) : Date.parse(rawTime);
      if (targetTime !== undefined && Number.isNaN(targetTime))
        throw usage("restore: --target-time is ms since the epoch or ISO 8601");
      const r = await restoreBackup({
        from: values.from,
        dataDir: values["data-dir"],
        ...(values["archive-dir"] ? { archiveDir: values["archive-dir"] } : {}),
        ...(targetLsn !== undefined ? { targetLsn } : {}),
        ...(targetTime !== undefined ? { targetTime } : {}),
      });
      out(
        `restored ${r.records} records (to LSN ${r.lsn}) into ${values["data-dir"]}${r.archivedSegments ? `, ${r.archivedSegments} segments from the archive` : ""}; the index ${r.indexKept ? "catches up" : "is rebuilt"} when the server starts`,
      );
      return 0;
    },
  },

  archive: {
    summary: "copy the log's sealed segments (and the active tail) to an archive, for point-in-time restore",
    usage: `stemedb archive --data-dir D --archive-dir A [--s3 s3://bucket/prefix]

One pass; run it on a timer (deploy/systemd), or let the server do it with --archive-dir.
Safe beside a running server.`,
    async run(argv) {
      const { values } = parseArgs({
        args: argv,
        options: { ...dataDirFlag, "archive-dir": { type: "string" }, s3: { type: "string" }, ...helpFlag },
      });
      if (!values["archive-dir"]) throw usage("archive: give --archive-dir A");
      const dir = values["data-dir"];
      if (!isInitialized(dir)) throw new StemeError("not_initialized", 2, `${dir} is not a StemeDB data directory`);
      const pass = await archiveOnce(dir, values["archive-dir"], values.s3 ? parseS3Url(values.s3) : undefined);
      recordBackupStatus(dir, {
        last_archive: { at: new Date().toISOString(), dir: path.resolve(values["archive-dir"]), lsn: pass.lsn },
      });
      out(`archived ${pass.sealed} sealed segments (${(pass.bytes / 1e6).toFixed(1)} MB); the archive reaches LSN ${pass.lsn}`);
      return 0;
    },
  },

  root: {
    summary: "the Merkle root over every record id in a data directory (compare two nodes or a backup)",
    usage: "stemedb root [--data-dir DIR] [--json]\n\nRead-only; safe beside a running server.",
    async run(argv) {
      const { values } = parseArgs({ args: argv, options: { ...dataDirFlag, json: { type: "boolean" }, ...helpFlag } });
      const dir = values["data-dir"];
      if (!isInitialized(dir)) throw new StemeError("not_initialized", 2, `${dir} is not a StemeDB data directory`);
      const r = dataDirRoot(dir);
      out(values.json ? JSON.stringify(r) : `${r.root}  ${r.records} records, LSN ${r.lsn}`);
      return 0;
    },
  },
  ...demoCommands,
};

async function verifyBackupCommand(dir: string, deep: boolean, json: boolean, dataDir: string | undefined): Promise<number> {
  const started = performance.now();
  const report = await verifyBackup(dir, { deep });
  const s = (performance.now() - started) / 1000;
  if (dataDir && isInitialized(dataDir))
    recordBackupStatus(dataDir, { last_verify: { at: new Date().toISOString(), dir: path.resolve(dir), ok: report.ok, deep } });
  if (json) out(JSON.stringify(report, null, 2));
  else {
    const m = report.manifest;
    out(
      `${report.ok ? "ok" : "DAMAGED"}: backup ${dir}${m ? ` of node ${m.node_id} at LSN ${m.lsn}` : ""}: ${report.files} files, ${report.records} records, ${(report.bytes / 1e6).toFixed(1)} MB in ${s.toFixed(1)} s (${(report.bytes / 1e6 / s).toFixed(0)} MB/s)${deep ? ", ids, signatures and Merkle root checked" : ""}`,
    );
    for (const p of report.problems)
      out(`problem: ${p.file}${p.offset !== undefined ? ` offset ${p.offset}` : ""}: ${p.message}`);
  }
  return report.ok ? 0 : 1;
}

/** `--deep`: every body decodes canonically, validates, hashes to an id its signature covers. */
function deepCheck(entry: { body: Uint8Array; sig: Uint8Array }): string | null {
  try {
    const record = validateRecord(decodeCanonical(entry.body), "cbor");
    const id = recordId(entry.body);
    if (!verifyId(entry.sig, id, record.agent)) return `signature does not verify for id ${toHex(id)}`;
    return null;
  } catch (err) {
    return `body: ${(err as Error).message}`;
  }
}

/** The flags of the commands that sign a record about a target: --key, --reason, --server. */
function targetedArgs(argv: string[]) {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: { key: { type: "string" }, reason: { type: "string" }, ...serverFlag, ...helpFlag },
  });
  if (!values.key) throw usage("--key FILE is required (make one with `stemedb keygen --out FILE`)");
  return {
    key: readKeyFile(values.key),
    server: values.server,
    reason: values.reason ? { reason: values.reason } : {},
    positionals,
  };
}

/** A plain text table: columns padded to their widest cell; the last column runs free. */
function table(header: string[], rows: string[][]): string {
  const all = [header, ...rows];
  const widths = header.map((_, i) => Math.max(...all.map((r) => (r[i] ?? "").length)));
  const line = (r: string[]) => r.map((cell, i) => (i === r.length - 1 ? cell : cell.padEnd(widths[i] ?? 0))).join("  ");
  return [line(header), line(widths.map((w) => "-".repeat(w))), ...rows.map(line)].join("\n");
}

function parseObject(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

function progressBar(label: string): (done: number, total: number) => void {
  const width = 30;
  return (done, total) => {
    const share = total === 0 ? 1 : done / total;
    const filled = Math.round(share * width);
    process.stderr.write(
      `\r${label} [${"#".repeat(filled)}${" ".repeat(width - filled)}] ${done}/${total} (${Math.round(share * 100)}%)`,
    );
  };
}

export class UsageError extends Error {}

function usage(message: string): UsageError {
  return new UsageError(message);
}

export function mainHelp(): string {
  const lines = Object.entries(commands).map(([name, c]) => `  ${name.padEnd(10)} ${c.summary}`);
  return `stemedb ${version}: a database of signed claims for AI agents

Usage: stemedb COMMAND [options]   (stemedb COMMAND --help for its options)

Commands:
${lines.join("\n")}

  --version  print the version
  --help     this text

Client commands (assert, vote, retract, get, query, agents, escalations, provenance, source,
export, import) talk to --server URL, default $STEMEDB_URL or http://127.0.0.1:18180, with the
API key in $STEMEDB_API_KEY when the server has keys. Offline commands (init, reindex, verify,
repair) and serve take --data-dir, default $STEMEDB_DATA_DIR or ./data; verify-bundle needs
only the file.
`;
}

export async function runCli(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === "--help" || name === "-h" || name === "help") {
    out(mainHelp());
    return 0;
  }
  if (name === "--version" || name === "-v" || name === "version") {
    out(`stemedb ${version}`);
    return 0;
  }
  const command = commands[name];
  if (!command) {
    process.stderr.write(`stemedb: unknown command "${name}"\n\n${mainHelp()}`);
    return 2;
  }
  if (rest.includes("--help") || rest.includes("-h")) {
    out(`${command.summary}\n\nUsage: ${command.usage}`);
    return 0;
  }
  try {
    return await command.run(rest);
  } catch (err) {
    if (
      err instanceof UsageError ||
      (err as { code?: string }).code === "ERR_PARSE_ARGS_UNKNOWN_OPTION" ||
      (err as { code?: string }).code === "ERR_PARSE_ARGS_INVALID_OPTION_VALUE" ||
      (err as { code?: string }).code === "ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL"
    ) {
      process.stderr.write(`stemedb ${name}: ${(err as Error).message}\nUsage: ${command.usage}\n`);
      return 2;
    }
    if (err instanceof StemeClientError) {
      process.stderr.write(`stemedb ${name}: server answered ${err.status} ${err.problem.code}: ${err.problem.detail}\n`);
      return 2;
    }
    if (err instanceof StemeError) {
      process.stderr.write(`stemedb ${name}: ${err.message}${err.hint ? `\n  hint: ${err.hint}` : ""}\n`);
      return 2;
    }
    if ((err as { code?: string }).code === "ConnectionRefused" || (err as Error).message?.includes("Unable to connect")) {
      process.stderr.write(
        `stemedb ${name}: cannot reach the server (${(err as Error).message}); is it running? (--server URL)\n`,
      );
      return 2;
    }
    throw err;
  }
}
