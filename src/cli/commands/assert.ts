/** `stemedb assert`: sign a record with an agent's key file and submit it. */
import { signClaim } from "../../client/index.ts";
import { StemeError } from "../../core/errors.ts";
import { keyFlag, loadKey } from "../agent-key.ts";
import { connect } from "../client.ts";
import { defineCommand } from "../command.ts";
import { number, serverFlag, text, usage } from "../flags.ts";
import type { Io } from "../io.ts";
import { readInputText } from "../paths.ts";

export const assert = defineCommand({
  name: "assert",
  summary: "sign a record with a key file and submit it",
  usage: [
    "stemedb assert --key FILE [--server URL] SUBJECT PREDICATE OBJECT [--confidence C] [--source S] [--unit U] [--note N]",
    "stemedb assert --key FILE [--server URL] --record FILE|-",
  ],
  about: `OBJECT is JSON (0.2, "text", true, {"a":1}); a bare word is taken as text.
--record reads the record's fields as a JSON object (kind defaults to assertion; v, agent and ts
are filled in); "-" reads it from standard input.
Prints the server's answer: {"id", "lsn", "status", "duplicate"}.`,
  flags: {
    key: keyFlag,
    record: text({ help: 'the record\'s fields as a JSON object ("-": standard input)', value: "FILE", kind: "in-file" }),
    confidence: number({ help: "how sure the agent is", value: "C", min: 0, max: 1, default: 1 }),
    source: text({ help: "the source the claim cites", value: "S" }),
    unit: text({ help: "the unit of OBJECT", value: "U" }),
    note: text({ help: "a free-text note", value: "N" }),
    server: serverFlag,
  },
  args: [
    { name: "SUBJECT", optional: true },
    { name: "PREDICATE", optional: true },
    { name: "OBJECT", optional: true },
  ],
  async run({ values, args }, io) {
    const key = loadKey(values.key);
    let fields: Record<string, unknown>;
    if (values.record !== undefined) {
      if (args.length > 0) throw usage("give SUBJECT PREDICATE OBJECT or --record FILE, not both");
      fields = { kind: "assertion", ...(await recordFields(values.record, io)) };
    } else {
      const [subject, predicate, object] = args;
      if (subject === undefined || predicate === undefined || object === undefined)
        throw usage("give SUBJECT PREDICATE OBJECT, or --record FILE");
      fields = { kind: "assertion", subject, predicate, object: parseObject(object), confidence: values.confidence };
      for (const k of ["source", "unit", "note"] as const) if (values[k] !== undefined) fields[k] = values[k];
    }
    const signed = signClaim(key, fields as { kind: string });
    io.out(JSON.stringify(await connect(values.server, io.env).submit(signed)));
    return 0;
  },
});

/** The fields of `--record FILE` (or `-`, standard input): a JSON object. */
async function recordFields(file: string, io: Io): Promise<Record<string, unknown>> {
  const where = file === "-" ? "--record - (standard input)" : `--record ${file}`;
  const text = file === "-" ? await io.stdin() : readInputText(file, "--record");
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw new StemeError("malformed_json", `${where}: not JSON (${(err as Error).message})`, {
      hint: 'give the record\'s fields as a JSON object, e.g. {"subject": "a/b", "predicate": "p", "object": 1}',
    });
  }
  if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed))
    throw new StemeError(
      "invalid_record",
      `${where}: expected a JSON object of the record's fields, got ${describeJson(parsed)}`,
    );
  return parsed as Record<string, unknown>;
}

function describeJson(v: unknown): string {
  return v === null ? "null" : Array.isArray(v) ? "an array" : `a ${typeof v}`;
}

function parseObject(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}
