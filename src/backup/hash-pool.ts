/**
 * File hashing on worker threads (hash-worker.ts), one per core, least-busy first. BLAKE3 in
 * JavaScript runs about 200 MB/s a core; a backup or a verify of many 64 MiB segments spreads
 * over all of them. Where the official `b3sum` is installed (Debian's b3sum package: SIMD and
 * several threads, gigabytes a second) whole files go to it instead; it computes the same
 * function (our BLAKE3 is checked against b3sum's vectors in test/crypto).
 */
import { StemeError } from "../core/errors.ts";
import { workerUrl } from "../core/worker-url.ts";

/** The official BLAKE3 tool, when installed (never in the scratch image: then the workers hash). */
const b3sum = process.env.STEMEDB_NO_B3SUM ? null : Bun.which("b3sum");

interface Pending {
  resolve: (r: { hex: string; bytes: number }) => void;
  reject: (e: Error) => void;
}

export class HashPool {
  private readonly workers: Worker[];
  private readonly load: number[];
  private readonly pending = new Map<number, { pending: Pending; worker: number }>();
  private seq = 0;
  private spawned = 0;
  private readonly waiters: Array<() => void> = [];

  constructor(threads = Math.max(1, navigator.hardwareConcurrency || 2)) {
    this.workers = Array.from({ length: threads }, (_, i) => {
      const w = new Worker(workerUrl(import.meta.url, "backup/hash-worker.ts"));
      w.onmessage = (event: MessageEvent<{ seq: number; ok: boolean; hex?: string; bytes?: number; error?: string }>) => {
        const m = event.data;
        const p = this.pending.get(m.seq);
        if (!p) return;
        this.pending.delete(m.seq);
        this.load[p.worker] = (this.load[p.worker] as number) - 1;
        if (m.ok) p.pending.resolve({ hex: m.hex as string, bytes: m.bytes as number });
        else p.pending.reject(new StemeError("io_error", `hash: ${m.error}`));
      };
      w.onerror = (event) => {
        for (const [seq, p] of this.pending)
          if (p.worker === i) {
            this.pending.delete(seq);
            p.pending.reject(new StemeError("io_error", `hash worker failed: ${event.message}`));
          }
      };
      return w;
    });
    this.load = this.workers.map(() => 0);
  }

  /** BLAKE3-256 (hex) of a file, or of its first `bytes` bytes. */
  async hash(path: string, bytes?: number): Promise<{ hex: string; bytes: number }> {
    if (bytes === undefined && b3sum) {
      // As many b3sum processes as workers, one thread each: a backup beside a live server
      // must leave it the CPU it needs.
      while (this.spawned >= this.workers.length) await new Promise<void>((r) => this.waiters.push(r));
      this.spawned++;
      try {
        const proc = Bun.spawn([b3sum, "--no-names", "--num-threads", "1", path], { stdout: "pipe", stderr: "pipe" });
        const [out, code] = await Promise.all([new Response(proc.stdout).text(), proc.exited]);
        if (code === 0 && /^[0-9a-f]{64}$/.test(out.trim())) return { hex: out.trim(), bytes: Bun.file(path).size };
      } finally {
        this.spawned--;
        this.waiters.shift()?.();
      }
    }
    return this.hashHere(path, bytes);
  }

  private hashHere(path: string, bytes?: number): Promise<{ hex: string; bytes: number }> {
    let best = 0;
    for (let i = 1; i < this.load.length; i++) if ((this.load[i] as number) < (this.load[best] as number)) best = i;
    this.load[best] = (this.load[best] as number) + 1;
    const seq = ++this.seq;
    return new Promise((resolve, reject) => {
      this.pending.set(seq, { pending: { resolve, reject }, worker: best });
      (this.workers[best] as Worker).postMessage({ seq, path, ...(bytes !== undefined ? { bytes } : {}) });
    });
  }

  close(): void {
    for (const w of this.workers) w.terminate();
  }
}
