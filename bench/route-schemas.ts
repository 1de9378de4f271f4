#!/usr/bin/env bun
/**
 * `make bench-schemas`: the write path's request handling two ways, in one process, A/B
 * alternated, so the choice of how routes validate their bodies rests on a figure.
 *
 * - ours: the route takes the raw request (`parse: "none"`); the body is read with its limit
 *   and deadline and parsed strictly, and the record validated and canonically encoded by
 *   core/record.ts (what every write does today).
 * - typebox: the same route with an Elysia `t.Object` schema for an assertion's JSON, so Elysia
 *   parses and validates the body first; the handler must still validate and encode the record
 *   (byte limits in UTF-8, control characters, concept paths, canonical numbers are not
 *   TypeBox's to say), so this is the price of the schema on top.
 *
 * Both answer through `app.handle(new Request(…))`: no sockets, no signature check, no log —
 * only the part the choice affects. Options: BENCH_REQUESTS (default 20000), BENCH_ROUNDS (5).
 */
import { Elysia, t } from "elysia";
import { readBody, singleSubmission } from "../src/api/body.ts";
import { toJsonSubmission } from "../src/client/index.ts";
import { fromJsonSubmission, signRecord } from "../src/crypto/signed.ts";
import { generateKeyPair } from "../src/crypto/sign.ts";

const requests = Number(process.env.BENCH_REQUESTS ?? 20_000);
const rounds = Number(process.env.BENCH_ROUNDS ?? 5);
const limit = { bytesMax: 1 << 20, deadlineMs: 30_000 };

const key = generateKeyPair();
const bodies = Array.from({ length: 512 }, (_, i) =>
  JSON.stringify(
    toJsonSubmission(
      signRecord(
        {
          v: 1,
          kind: "assertion",
          agent: key.publicKey,
          ts: 1_700_000_000_000 + i,
          subject: `pharma/drug/d${i % 97}`,
          predicate: "bleeding_risk_pct",
          object: (i % 13) / 10,
          confidence: 0.9,
          source: "fda-label-2023",
        },
        key.secretKey,
      ),
    ),
  ),
);

const hex = (n: number) => t.String({ pattern: `^[0-9a-fA-F]{${n}}$` });
const assertionSchema = t.Object(
  {
    v: t.Literal(1),
    kind: t.Literal("assertion"),
    agent: hex(64),
    ts: t.Integer({ minimum: 0 }),
    subject: t.String({ minLength: 1, maxLength: 512 }),
    predicate: t.String({ minLength: 1, maxLength: 128 }),
    object: t.Unknown(),
    confidence: t.Number({ minimum: 0, maximum: 1 }),
    source: t.Optional(t.String({ maxLength: 256 })),
    sig: hex(128),
  },
  { additionalProperties: false },
);

const ours = new Elysia().post(
  "/v1/assert",
  async ({ request }) => {
    const submission = singleSubmission("json", await readBody(request, limit));
    if (submission.shape !== "json") throw new Error("expected JSON");
    const signed = fromJsonSubmission(submission.value);
    return Response.json({ id: signed.id.length });
  },
  { parse: "none" },
);
const typebox = new Elysia().post(
  "/v1/assert",
  ({ body }) => {
    const signed = fromJsonSubmission(body);
    return Response.json({ id: signed.id.length });
  },
  { body: assertionSchema },
);

async function run(app: { handle(r: Request): Promise<Response> }): Promise<number> {
  const started = performance.now();
  for (let i = 0; i < requests; i++) {
    const res = await app.handle(
      new Request("http://localhost/v1/assert", {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: bodies[i % bodies.length] as string,
      }),
    );
    if (res.status !== 200) throw new Error(`status ${res.status}: ${await res.text()}`);
  }
  return requests / ((performance.now() - started) / 1000);
}

await run(ours);
await run(typebox); // warm both
const rates: Record<"ours" | "typebox", number[]> = { ours: [], typebox: [] };
for (let r = 0; r < rounds; r++) {
  rates.ours.push(await run(ours));
  rates.typebox.push(await run(typebox));
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;
const us = (rate: number) => (1e6 / rate).toFixed(1);
const [load] = (await Bun.file("/proc/loadavg").text()).split(" ");
console.log(`route body handling, ${requests} assertion submissions × ${rounds} rounds, load ${load}`);
for (const name of ["ours", "typebox"] as const)
  console.log(
    `  ${name.padEnd(8)} median ${Math.round(median(rates[name]))}/s (${us(median(rates[name]))} µs a request); rounds ${rates[name].map(Math.round).join(", ")}`,
  );
console.log(`  typebox / ours: ${(median(rates.typebox) / median(rates.ours)).toFixed(2)}`);
