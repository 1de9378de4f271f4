/**
 * A small network lab for cluster tests: N Linux network namespaces, each with its own address
 * on a private bridge, and faults made with iptables inside them — random loss
 * (`-m statistic --mode random --probability P -j DROP`) and partitions between sets of hosts.
 * The kernel here has no netem, so there is no delay; loss and partitions are what the tests need.
 *
 * Safety, because this runs as root on a shared machine:
 * - Only what this lab made is ever touched: namespaces `stemedb-<tag>-<i>`, the bridge
 *   `sdb<tag>br`, veth pairs `sdb<tag>h<i>` / `sdb<tag>n<i>`, and iptables rules in chains
 *   `STEMEDB-IN` / `STEMEDB-OUT` *inside those namespaces* (the host's own tables are never
 *   changed). `<tag>` carries the creating process's pid, so `sweepStale()` removes only what a
 *   process that is no longer running left behind.
 * - `cleanup()` always runs: call it in afterAll; it is also registered for process exit and
 *   SIGINT/SIGTERM, is idempotent, and deletes each thing separately so one failure does not
 *   leave the rest. Deleting a namespace takes its veth end, its rules and chains with it.
 * - Every command has a timeout, and every loop here is bounded.
 *
 * It needs root, `ip` and `iptables`; `labUnavailable()` says why not (the tests then skip,
 * saying so). `make test-deps` installs iptables when it is missing.
 */
const commandTimeoutMs = 10_000;
let labs = 0;
const open = new Set<NetnsLab>();

export interface LabHost {
  index: number;
  ns: string;
  ip: string;
  /** The veth end in the host's namespace, on the bridge. */
  hostVeth: string;
  /** The veth end inside the namespace. */
  nsVeth: string;
}

/** Runs a command; throws with its output when it fails (unless `allowFail`). */
function sh(args: string[], allowFail = false): { ok: boolean; out: string } {
  const r = Bun.spawnSync(args, { stdout: "pipe", stderr: "pipe", timeout: commandTimeoutMs });
  const out = `${r.stdout.toString()}${r.stderr.toString()}`;
  if (!r.success && !allowFail) throw new Error(`${args.join(" ")} failed (${r.exitCode}): ${out.trim()}`);
  return { ok: r.success, out };
}

function onPath(cmd: string): boolean {
  return sh(["sh", "-c", `command -v ${cmd}`], true).ok;
}

/** Why the lab cannot run here, or null when it can. */
export function labUnavailable(): string | null {
  if (process.platform !== "linux") return "network namespaces need Linux";
  if (process.getuid?.() !== 0) return "network namespaces and iptables need root (CI runs as root)";
  if (!onPath("ip")) return "`ip` (iproute2) is not installed";
  if (!onPath("iptables")) return "`iptables` is not installed (make test-deps installs it)";
  const probe = `stemedb-probe-${process.pid}`;
  const made = sh(["ip", "netns", "add", probe], true);
  if (!made.ok) return `cannot make a network namespace: ${made.out.trim()}`;
  const rules = sh(["ip", "netns", "exec", probe, "iptables", "-w", "5", "-S"], true);
  sh(["ip", "netns", "del", probe], true);
  if (!rules.ok) return `iptables does not work in a namespace: ${rules.out.trim()}`;
  return null;
}

/** Removes namespaces, bridges and veths a lab left behind when its process died. */
export function sweepStale(): void {
  const alive = (pid: number) => {
    try {
      process.kill(pid, 0);
      return true;
    } catch {
      return false;
    }
  };
  const pidOf = (tag: string) => Number.parseInt(tag.slice(0, -1), 36);
  for (const line of sh(["ip", "netns", "list"], true).out.split("\n")) {
    const m = /^stemedb-([0-9a-z]+)-\d+\b/.exec(line.trim());
    if (m && !alive(pidOf(m[1] as string))) sh(["ip", "netns", "del", line.trim().split(" ")[0] as string], true);
  }
  for (const line of sh(["ip", "-o", "link", "show"], true).out.split("\n")) {
    const m = /^\d+: (sdb([0-9a-z]+)(br|h\d+))[@:]/.exec(line);
    if (m && !alive(pidOf(m[2] as string))) sh(["ip", "link", "del", m[1] as string], true);
  }
}

export class NetnsLab {
  readonly hosts: LabHost[] = [];
  readonly tag: string;
  readonly bridge: string;
  readonly bridgeIp: string;
  private readonly subnet: string;
  private cleaned = false;

  private constructor(readonly size: number) {
    if (!(Number.isInteger(size) && size >= 1 && size <= 20)) throw new RangeError(`a lab has 1 to 20 hosts, got ${size}`);
    // The pid in base 36 and one letter per lab of this process: short enough for 15-byte interface names.
    this.tag = `${process.pid.toString(36)}${String.fromCharCode(97 + (labs++ % 26))}`;
    this.bridge = `sdb${this.tag}br`;
    this.subnet = `10.231.${(process.pid + labs) % 250}`;
    this.bridgeIp = `${this.subnet}.254`;
    for (let i = 0; i < size; i++)
      this.hosts.push({
        index: i,
        ns: `stemedb-${this.tag}-${i}`,
        ip: `${this.subnet}.${i + 1}`,
        hostVeth: `sdb${this.tag}h${i}`,
        nsVeth: `sdb${this.tag}n${i}`,
      });
  }

  /** Makes the bridge, the namespaces and their links; cleans up what it made if a step fails. */
  static create(size: number): NetnsLab {
    sweepStale();
    const lab = new NetnsLab(size);
    open.add(lab);
    try {
      lab.build();
    } catch (err) {
      lab.cleanup();
      throw err;
    }
    return lab;
  }

  private build(): void {
    if (sh(["ip", "route", "show", `${this.subnet}.0/24`], true).out.trim() !== "")
      throw new Error(`${this.subnet}.0/24 is already routed on this machine; not touching it`);
    sh(["ip", "link", "add", this.bridge, "type", "bridge"]);
    sh(["ip", "addr", "add", `${this.bridgeIp}/24`, "dev", this.bridge]);
    sh(["ip", "link", "set", this.bridge, "up"]);
    for (const h of this.hosts) {
      sh(["ip", "netns", "add", h.ns]);
      sh(["ip", "link", "add", h.hostVeth, "type", "veth", "peer", "name", h.nsVeth]);
      sh(["ip", "link", "set", h.nsVeth, "netns", h.ns]);
      sh(["ip", "link", "set", h.hostVeth, "master", this.bridge]);
      sh(["ip", "link", "set", h.hostVeth, "up"]);
      const inNs = (...args: string[]) => sh(["ip", "netns", "exec", h.ns, ...args]);
      inNs("ip", "addr", "add", `${h.ip}/24`, "dev", h.nsVeth);
      inNs("ip", "link", "set", h.nsVeth, "up");
      inNs("ip", "link", "set", "lo", "up");
      // Our own chains, hooked once: faults are rules in them, healing flushes them.
      for (const [chain, hook] of [
        ["STEMEDB-IN", "INPUT"],
        ["STEMEDB-OUT", "OUTPUT"],
      ] as const) {
        inNs("iptables", "-w", "5", "-N", chain);
        inNs("iptables", "-w", "5", "-A", hook, "-j", chain);
      }
    }
  }

  /** The command prefix that runs a program inside host `i`'s namespace. */
  wrap(i: number): string[] {
    return ["ip", "netns", "exec", this.host(i).ns];
  }

  host(i: number): LabHost {
    const h = this.hosts[i];
    if (!h) throw new RangeError(`no host ${i} in a lab of ${this.size}`);
    return h;
  }

  private iptables(i: number, args: string[]): void {
    sh(["ip", "netns", "exec", this.host(i).ns, "iptables", "-w", "5", ...args]);
  }

  /** Host `i` drops each packet arriving from the other hosts with probability `p` (all protocols). */
  loss(i: number, p: number): void {
    if (!(p > 0 && p < 1)) throw new RangeError(`loss: a probability in (0, 1), got ${p}`);
    const h = this.host(i);
    this.iptables(i, [
      "-A",
      "STEMEDB-IN",
      "-i",
      h.nsVeth,
      "-s",
      `${this.subnet}.0/24`,
      "-m",
      "statistic",
      "--mode",
      "random",
      "--probability",
      String(p),
      "-j",
      "DROP",
    ]);
  }

  /** Cuts every host in `a` off from every host in `b`, both ways (the test process still reaches all). */
  partition(a: readonly number[], b: readonly number[]): void {
    const cut = (from: readonly number[], to: readonly number[]) => {
      for (const i of from)
        for (const j of to) {
          const ip = this.host(j).ip;
          this.iptables(i, ["-A", "STEMEDB-IN", "-s", ip, "-j", "DROP"]);
          this.iptables(i, ["-A", "STEMEDB-OUT", "-d", ip, "-j", "DROP"]);
        }
    };
    cut(a, b);
    cut(b, a);
  }

  /** Removes every loss and partition rule. */
  heal(): void {
    for (const h of this.hosts) for (const chain of ["STEMEDB-IN", "STEMEDB-OUT"]) this.iptables(h.index, ["-F", chain]);
  }

  /** Packets host `i`'s rules have dropped so far (the iptables counters of its chains). */
  dropped(i: number): number {
    let n = 0;
    for (const chain of ["STEMEDB-IN", "STEMEDB-OUT"]) {
      const out = sh(["ip", "netns", "exec", this.host(i).ns, "iptables", "-w", "5", "-L", chain, "-v", "-n", "-x"]).out;
      for (const line of out.split("\n")) {
        const m = /^\s*(\d+)\s+\d+\s+DROP\b/.exec(line);
        if (m) n += Number(m[1]);
      }
    }
    return n;
  }

  /** Rules now in host `i`'s chains (for tests of the lab itself). */
  rules(i: number): string[] {
    return sh(["ip", "netns", "exec", this.host(i).ns, "iptables", "-w", "5", "-S"])
      .out.split("\n")
      .filter((l) => l.includes("STEMEDB-") && l.startsWith("-A STEMEDB"));
  }

  /** Deletes everything the lab made; safe to call twice, and after a failed build. */
  cleanup(): void {
    if (this.cleaned) return;
    this.cleaned = true;
    open.delete(this);
    for (const h of this.hosts) {
      sh(["ip", "netns", "del", h.ns], true); // takes the namespace's veth end, rules and chains with it
      sh(["ip", "link", "del", h.hostVeth], true); // gone already with its peer, unless the move failed
    }
    sh(["ip", "link", "del", this.bridge], true);
  }

  /** Whether anything of this lab is still on the machine (for the cleanup test). */
  leftovers(): string[] {
    const names = sh(["ip", "netns", "list"], true).out;
    const links = sh(["ip", "-o", "link", "show"], true).out;
    const left: string[] = [];
    for (const h of this.hosts) if (names.includes(h.ns)) left.push(h.ns);
    for (const name of [this.bridge, ...this.hosts.map((h) => h.hostVeth)])
      if (links.includes(`${name}:`) || links.includes(`${name}@`)) left.push(name);
    return left;
  }
}

/** Whatever labs are still open when the process ends are taken down. */
function cleanupOpen(): void {
  for (const lab of [...open]) lab.cleanup();
}
process.on("exit", cleanupOpen);
for (const signal of ["SIGINT", "SIGTERM"] as const)
  process.once(signal, () => {
    cleanupOpen();
    process.exit(130);
  });
