/**
 * Crash-test writer: `bun test/integration/writer.ts URL [CONCURRENCY] [SEED]`.
 *
 * Signs records with the client and submits them with CONCURRENCY requests in flight (a mix
 * of single records and small JSON/CBOR batches). Prints each ACKNOWLEDGED id (2xx answer,
 * not an error slot) on its own stdout line as soon as the answer arrives. When the server
 * goes away (a connection error), each worker stops; the process exits 0 once all have.
 * Other failures go to stderr as `error …` lines and the worker carries on.
 */
import { StemeError } from "../../src/core/errors.ts";
import { generateKeyPair, type SignedRecord, StemeClient, StemeClientError, signClaim } from "../../src/client/index.ts";

const url = process.argv[2];
if (!url) {
  process.stderr.write("usage: writer.ts URL [CONCURRENCY] [SEED]\n");
  process.exit(2);
}
const concurrency = Number(process.argv[3] ?? "16");
let seed = Number(process.argv[4] ?? "1") >>> 0;
function rand(): number {
  seed = (seed + 0x6d2b79f5) >>> 0;
  let t = seed;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
}

const client = new StemeClient({ url });
const key = generateKeyPair();
let n = 0;
let stopped = false;

function record(): SignedRecord {
  n++;
  return signClaim(key, {
    kind: "assertion",
    subject: `crash/w${process.pid}/s${n % 50}`,
    predicate: "n",
    object: n,
    confidence: 0.5,
    note: "x".repeat(1 + Math.floor(rand() * 200)),
  });
}

function ack(id: string): void {
  process.stdout.write(`${id}\n`);
}

async function worker(): Promise<void> {
  while (!stopped) {
    const r = rand();
    try {
      if (r < 0.5) {
        const res = await client.submit(record());
        ack(res.id);
      } else {
        const batch = Array.from({ length: 2 + Math.floor(rand() * 6) }, record);
        const res = await client.submitBatch(batch, { format: r < 0.75 ? "json" : "cbor" });
        for (const item of res.results) if ("id" in item) ack(item.id);
        if (res.rejected > 0)
          process.stderr.write(
            `error batch rejected ${res.rejected}: ${JSON.stringify(res.results.filter((x) => "error" in x)[0])}\n`,
          );
      }
    } catch (err) {
      if (err instanceof StemeError) {
        // A record the writer built is invalid: a bug in this script, reported as an error.
        process.stderr.write(`error local ${err.code}: ${err.message}\n`);
        continue;
      }
      if (err instanceof StemeClientError) {
        process.stderr.write(`error ${err.status} ${err.code}\n`);
        continue;
      }
      // Connection refused / reset: the server is gone.
      process.stderr.write(`stopped ${(err as Error).message}\n`);
      stopped = true;
    }
  }
}

await Promise.all(Array.from({ length: concurrency }, worker));
