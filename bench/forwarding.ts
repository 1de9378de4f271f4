/**
 * How to forward a read to the node that holds its shard (docs/CLUSTER.md#routing): over HTTP to
 * the peer's API port, or as a frame on an open, authenticated session (what the data plane
 * does). The peer runs in its own process and answers a ~1.5 KB query answer either way; the
 * session side MACs every frame with HMAC-SHA256 as sessions do (docs/CLUSTER-WIRE.md).
 *
 *   bun bench/forwarding.ts [--requests N] [--concurrency C]
 *
 * Prints round-trip p50/p99 one at a time, and requests a second with C in flight.
 */
import crypto from "node:crypto";
import { parseArgs } from "node:util";
import { Decoder, Encoder } from "cbor-x";

const { values } = parseArgs({
  args: process.argv.slice(2),
  options: { requests: { type: "string" }, concurrency: { type: "string" }, peer: { type: "string" } },
});
const encoder = new Encoder({ useRecords: false, mapsAsObjects: true, tagUint8Array: false });
const decoder = new Decoder({ useRecords: false, mapsAsObjects: true });
const answer = JSON.stringify({
  subject: "pharma/drug/aspirin",
  predicate: "bleeding_risk_pct",
  lens: "consensus",
  value: 0.2,
  support: 0.8,
  conflict: 0.31,
  groups: [{ value: 0.2, weight: 1.9, count: 2, ids: ["a".repeat(64), "b".repeat(64)] }],
  candidates: 3,
  explain: Array.from({ length: 8 }, (_, i) => `line ${i}: ${"x".repeat(80)}`),
  winner: { id: "c".repeat(64), sig: "d".repeat(128), body: "e".repeat(300) },
});
// The session key both sides derived (the handshake is not what is measured here).
const key = Buffer.from(process.env.BENCH_SESSION_KEY ?? crypto.randomBytes(32).toString("hex"), "hex");
process.env.BENCH_SESSION_KEY = key.toString("hex");
const mac = (payload: Uint8Array) => crypto.createHmac("sha256", key).update(payload).digest();

/** Length-prefixed frames, each `payload ‖ HMAC(payload)`. */
function framer(onFrame: (payload: Uint8Array) => void) {
  let buf = Buffer.alloc(0);
  return (chunk: Uint8Array) => {
    buf = buf.length === 0 ? Buffer.from(chunk) : Buffer.concat([buf, chunk]);
    while (buf.length >= 4) {
      const n = buf.readUInt32BE(0);
      if (buf.length < 4 + n) break;
      const frame = buf.subarray(4, 4 + n);
      buf = buf.subarray(4 + n);
      const payload = frame.subarray(0, n - 32);
      if (!crypto.timingSafeEqual(mac(payload), frame.subarray(n - 32))) throw new Error("bad MAC");
      onFrame(payload);
    }
  };
}

function frame(payload: Uint8Array): Uint8Array {
  const out = Buffer.alloc(4 + payload.length + 32);
  out.writeUInt32BE(payload.length + 32, 0);
  out.set(payload, 4);
  out.set(mac(payload), 4 + payload.length);
  return out;
}

if (values.peer) {
  // The peer: an HTTP API and a session port, both answering the same thing.
  const http = Bun.serve({
    port: 0,
    hostname: "127.0.0.1",
    fetch: () => new Response(answer, { headers: { "content-type": "application/json" } }),
  });
  const tcp = Bun.listen({
    hostname: "127.0.0.1",
    port: 0,
    socket: {
      open(socket) {
        (socket as unknown as { read: (c: Uint8Array) => void }).read = framer((payload) => {
          const m = decoder.decode(payload) as { seq: number };
          const reply = encoder.encode({
            seq: m.seq,
            status: 200,
            headers: [["content-type", "application/json"]],
            body: Buffer.from(answer),
          });
          socket.write(frame(reply));
        });
      },
      data(socket, chunk) {
        (socket as unknown as { read: (c: Uint8Array) => void }).read(chunk);
      },
    },
  });
  console.log(JSON.stringify({ http: http.port, tcp: tcp.port }));
} else {
  await main();
}

async function main(): Promise<void> {
  const requests = Number(values.requests ?? 20_000);
  const concurrency = Number(values.concurrency ?? 32);
  const peer = Bun.spawn([process.execPath, import.meta.path, "--peer", "1"], {
    stdout: "pipe",
    stderr: "inherit",
    env: { ...process.env, BENCH_SESSION_KEY: key.toString("hex") },
  });
  const reader = peer.stdout.getReader();
  const { value } = await reader.read();
  const ports = JSON.parse(new TextDecoder().decode(value).trim().split("\n")[0] as string) as { http: number; tcp: number };
  const path = "/v1/query?subject=pharma%2Fdrug%2Faspirin&predicate=bleeding_risk_pct&lens=consensus";

  const viaHttp = async () => {
    const res = await fetch(`http://127.0.0.1:${ports.http}${path}`, {
      headers: { "x-request-id": "abc", traceparent: `00-${"1".repeat(32)}-${"2".repeat(16)}-01` },
    });
    await res.arrayBuffer();
  };
  const waiting = new Map<number, () => void>();
  let seq = 0;
  const onData = framer((payload) => {
    const m = decoder.decode(payload) as { seq: number };
    waiting.get(m.seq)?.();
    waiting.delete(m.seq);
  });
  const socket = await Bun.connect({ hostname: "127.0.0.1", port: ports.tcp, socket: { data: (_s, chunk) => onData(chunk) } });
  const viaSession = () =>
    new Promise<void>((resolve) => {
      const s = ++seq;
      waiting.set(s, resolve);
      const headers = [
        ["x-request-id", "abc"],
        ["traceparent", `00-${"1".repeat(32)}-${"2".repeat(16)}-01`],
        ["x-stemedb-caller", "key:k1"],
      ];
      socket.write(frame(encoder.encode({ seq: s, method: "GET", path, headers, body: null })));
    });

  const report = async (name: string, call: () => Promise<void>) => {
    for (let i = 0; i < 500; i++) await call(); // warm-up
    const rtts: number[] = [];
    for (let i = 0; i < requests / 4; i++) {
      const t = performance.now();
      await call();
      rtts.push(performance.now() - t);
    }
    rtts.sort((a, b) => a - b);
    const started = performance.now();
    let next = 0;
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        while (next++ < requests) await call();
      }),
    );
    const perSec = requests / ((performance.now() - started) / 1000);
    const q = (p: number) => (rtts[Math.floor(p * (rtts.length - 1))] as number).toFixed(3);
    console.log(
      `${name.padEnd(8)} one at a time: p50 ${q(0.5)} ms  p99 ${q(0.99)} ms   ${concurrency} in flight: ${Math.round(perSec)} req/s`,
    );
  };
  console.log(`load average ${(await Bun.file("/proc/loadavg").text()).split(" ").slice(0, 3).join(" ")}`);
  for (let round = 0; round < 2; round++) {
    await report("http", viaHttp);
    await report("session", viaSession);
  }
  peer.kill();
  process.exit(0);
}
