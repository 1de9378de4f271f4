/**
 * Process metrics under the names every Prometheus client exports them by
 * (https://prometheus.io/docs/instrumenting/writing_clientlibs/#process-metrics), so stock
 * dashboards and alerts work: `process_cpu_seconds_total`, `process_resident_memory_bytes`,
 * `process_open_fds`, `process_start_time_seconds`, … — and the JavaScript heap under the
 * names prom-client gives it.
 *
 * Not prom-client's collectDefaultMetrics: its heap-space statistics
 * (v8.getHeapSpaceStatistics) take hundreds of milliseconds in Bun with a few million live
 * objects, and a scrape runs on the event loop that answers queries — a 1M-record node stalled
 * 0.4 s every scrape. Each value here costs microseconds.
 */
import fs from "node:fs";
import { Gauge, type Registry } from "prom-client";
import { mirroredCounter, perScrape } from "./scrape.ts";

export function registerProcessMetrics(registry: Registry): void {
  const registers = [registry];
  registerCpu(registers);
  registerMemory(registers);
  const maxFds = openFilesLimit();
  new Gauge({
    name: "process_open_fds",
    help: "Number of open file descriptors.",
    registers,
    collect() {
      try {
        this.set(fs.readdirSync("/proc/self/fd").length);
      } catch {
        // not Linux: leave it unset
      }
    },
  });
  new Gauge({
    name: "process_max_fds",
    help: "Maximum number of open file descriptors.",
    registers,
    collect() {
      if (maxFds !== null) this.set(maxFds);
    },
  });
  const startedAt = Date.now() / 1000 - process.uptime();
  new Gauge({
    name: "process_start_time_seconds",
    help: "Start time of the process since unix epoch in seconds.",
    registers,
    collect() {
      this.set(startedAt);
    },
  });
}

/** CPU time as counters: user, system, and their sum (the one the guidelines name). */
function registerCpu(registers: Registry[]): void {
  const usage = perScrape(() => process.cpuUsage());
  const seconds = (micros: number) => micros / 1e6;
  mirroredCounter({
    name: "process_cpu_user_seconds_total",
    help: "Total user CPU time spent in seconds.",
    registers,
    counts: () => [[{}, seconds(usage().user)]],
  });
  mirroredCounter({
    name: "process_cpu_system_seconds_total",
    help: "Total system CPU time spent in seconds.",
    registers,
    counts: () => [[{}, seconds(usage().system)]],
  });
  mirroredCounter({
    name: "process_cpu_seconds_total",
    help: "Total user and system CPU time spent in seconds.",
    registers,
    counts: () => [[{}, seconds(usage().user + usage().system)]],
  });
}

function registerMemory(registers: Registry[]): void {
  new Gauge({
    name: "process_resident_memory_bytes",
    help: "Resident memory size in bytes.",
    registers,
    collect() {
      this.set(process.memoryUsage.rss());
    },
  });
  // VmSize, as prom-client reads it on Linux; elsewhere left unset. (Not process_heap_bytes,
  // which prom-client takes from VmData: Bun reserves gigabytes of address space for its heap
  // up front, so VmData reads 6 GB on a process with 85 MB resident — a number that misleads.)
  new Gauge({
    name: "process_virtual_memory_bytes",
    help: "Virtual memory size in bytes.",
    registers,
    collect() {
      const kb = vmSizeKb();
      if (kb !== null) this.set(kb * 1024);
    },
  });
  const heap = perScrape(() => process.memoryUsage());
  new Gauge({
    name: "nodejs_heap_size_used_bytes",
    help: "JavaScript heap in use, bytes (Bun's JavaScriptCore heap, named as prom-client names it).",
    registers,
    collect() {
      this.set(heap().heapUsed);
    },
  });
  new Gauge({
    name: "nodejs_heap_size_total_bytes",
    help: "JavaScript heap allocated, bytes (Bun's JavaScriptCore heap, named as prom-client names it).",
    registers,
    collect() {
      this.set(heap().heapTotal);
    },
  });
}

/** VmSize from /proc/self/status, or null off Linux. */
function vmSizeKb(): number | null {
  try {
    const m = /^VmSize:\s+(\d+) kB$/m.exec(fs.readFileSync("/proc/self/status", "utf8"));
    return m ? Number(m[1]) : null;
  } catch {
    return null;
  }
}

function openFilesLimit(): number | null {
  try {
    const m = /^Max open files\s+(\d+)/m.exec(fs.readFileSync("/proc/self/limits", "utf8"));
    return m ? Number(m[1]) : null;
  } catch {
    return null;
  }
}
