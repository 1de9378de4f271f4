/**
 * Followers for bench/changes.ts, in a process of their own (so their reading costs neither
 * the load generator nor the server's process): `bun bench/changes-followers.ts URL QUERY…`
 * opens one `GET /v1/changes?QUERY` stream per argument and reads each as fast as it can,
 * counting record events. Prints `ready` once every stream answered 200, then a JSON line of
 * counts each time a line `report` arrives on stdin; exits on `stop` or end of input.
 *
 * With `TIMING=1` each stream is parsed as SSE and the arrival time of every record event is
 * kept (wall clock, ms, with sub-ms precision: comparable across processes on one machine) and
 * reported as `arrivals: [[lsn, ms], …]`, for the delay measurement.
 */
import { SseParser } from "../src/client/sse.ts";

const [url, ...queries] = process.argv.slice(2);
if (!url || queries.length === 0) {
  process.stderr.write("usage: bun bench/changes-followers.ts URL QUERY…\n");
  process.exit(2);
}

const marker = "event: record";
const counts = { records: 0, bytes: 0, cutoffs: 0, ended: 0, failed: 0 };
const timing = process.env.TIMING === "1";
const arrivals: Array<[number, number]> = [];
const wallNow = () => performance.timeOrigin + performance.now();
const stop = new AbortController();

async function followOne(query: string): Promise<void> {
  const res = await fetch(`${url}/v1/changes?${query}`, { signal: stop.signal });
  if (res.status !== 200 || !res.body) throw new Error(`GET /v1/changes?${query}: ${res.status} ${await res.text()}`);
  opened++;
  if (opened === queries.length) process.stdout.write("ready\n");
  const decoder = new TextDecoder();
  const parser = new SseParser();
  let carry = "";
  try {
    for await (const chunk of res.body) {
      counts.bytes += chunk.length;
      if (timing) {
        const at = wallNow();
        for (const m of parser.push(decoder.decode(chunk, { stream: true }))) {
          if (m.type === "record") {
            counts.records++;
            arrivals.push([Number(m.lastEventId), at]);
          } else if (m.type === "cutoff") counts.cutoffs++;
        }
        continue;
      }
      const text = carry + decoder.decode(chunk, { stream: true });
      for (let at = text.indexOf(marker); at >= 0; at = text.indexOf(marker, at + marker.length)) counts.records++;
      if (text.includes("event: cutoff")) counts.cutoffs++;
      carry = text.slice(-(marker.length - 1));
    }
    counts.ended++;
  } catch {
    if (!stop.signal.aborted) counts.failed++;
  }
}

let opened = 0;
for (const q of queries)
  followOne(q).catch((err) => {
    process.stderr.write(`${(err as Error).message}\n`);
    process.exit(1);
  });

for await (const line of console) {
  if (line === "report") process.stdout.write(`${JSON.stringify(timing ? { ...counts, arrivals } : counts)}\n`);
  if (line === "stop") break;
}
stop.abort();
process.exit(0);
