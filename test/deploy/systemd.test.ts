// biome-ignore-all lint/suspicious/noTemplateCurlyInString: unit files write environment variables as ${NAME}, literally
/**
 * deploy/systemd: the units are hardened as promised, agree with the env file and each other,
 * pass `systemd-analyze verify` without a single warning (in a scratch root holding the
 * installed layout) and `systemd-analyze security` under a threshold; the server's system
 * calls, traced through a real run, all fall inside the unit's SystemCallFilter; and the
 * backup script keeps `latest` and its retention right, failures included.
 */
import { afterAll, describe, expect, test } from "bun:test";
import fs from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { settings } from "../../src/config/config.ts";
import { generateKeyPair, signClaim, StemeClient } from "../../src/client/index.ts";
import { freePort } from "../integration/helpers.ts";
import { deployDir, findTool, makeBuildCommand, run, withTool } from "./tools.ts";

const unitDir = join(deployDir, "systemd");
const services = ["stemedb.service", "stemedb-backup.service", "stemedb-verify.service", "stemedb-archive.service"];
const timers = ["stemedb-backup.timer", "stemedb-verify.timer", "stemedb-archive.timer"];
const made: string[] = [];
function scratch(prefix: string): string {
  const dir = fs.mkdtempSync(join(tmpdir(), prefix));
  made.push(dir);
  return dir;
}
afterAll(() => {
  for (const dir of made.splice(0)) fs.rmSync(dir, { recursive: true, force: true });
});

type Unit = Record<string, Record<string, string[]>>;
/** A unit file: section → key → every value given (later ones last). */
function parseUnit(text: string): Unit {
  const unit: Unit = {};
  let section = "";
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (line === "" || line.startsWith("#") || line.startsWith(";")) continue;
    const header = /^\[(.+)\]$/.exec(line);
    if (header) {
      section = header[1] as string;
      unit[section] ??= {};
      continue;
    }
    const eq = line.indexOf("=");
    const key = line.slice(0, eq);
    const s = unit[section] as Record<string, string[]>;
    s[key] ??= [];
    (s[key] as string[]).push(line.slice(eq + 1));
  }
  return unit;
}
const read = (name: string) => parseUnit(fs.readFileSync(join(unitDir, name), "utf8"));
const one = (u: Unit, section: string, key: string) => u[section]?.[key]?.at(-1);
const envFile = new Map(
  fs
    .readFileSync(join(unitDir, "stemedb.env"), "utf8")
    .split("\n")
    .filter((l) => /^[A-Z_]+=/.test(l))
    .map((l) => [l.slice(0, l.indexOf("=")), l.slice(l.indexOf("=") + 1)] as [string, string]),
);

describe("deploy/systemd, read as text", () => {
  for (const name of services)
    test(`${name} is hardened`, () => {
      const s = read(name).Service as Record<string, string[]>;
      const want: Record<string, string> = {
        User: "stemedb",
        Group: "stemedb",
        NoNewPrivileges: "yes",
        ProtectSystem: "strict",
        ProtectHome: "yes",
        PrivateTmp: "yes",
        PrivateDevices: "yes",
        ProtectKernelTunables: "yes",
        ProtectKernelModules: "yes",
        ProtectKernelLogs: "yes",
        ProtectControlGroups: "yes",
        CapabilityBoundingSet: "",
        SystemCallArchitectures: "native",
        EnvironmentFile: "-/etc/stemedb/stemedb.env",
      };
      for (const [key, value] of Object.entries(want)) expect(s[key]?.at(-1), `${name}: ${key}`).toBe(value);
      expect(s.SystemCallFilter, name).toContain("@system-service");
      for (const family of (s.RestrictAddressFamilies?.at(-1) ?? "").split(/\s+/))
        expect(["AF_INET", "AF_INET6", "AF_UNIX"], `${name}: ${family}`).toContain(family);
      expect(s.ReadWritePaths?.at(-1)?.split(/\s+/) ?? [], name).toContain("/var/lib/stemedb");
      // The JIT writes code: this would kill the server at start (see the unit's comment).
      expect(s.MemoryDenyWriteExecute, name).toBeUndefined();
    });

  test("stemedb.service: init and verify before serving, limits and the restart policy", () => {
    const u = read("stemedb.service");
    const s = u.Service as Record<string, string[]>;
    expect(s.ExecStartPre).toEqual([
      "-/usr/local/bin/stemedb init --data-dir ${STEMEDB_DATA_DIR}",
      "/usr/local/bin/stemedb verify --data-dir ${STEMEDB_DATA_DIR}",
    ]);
    expect(s.ExecStart).toEqual(["/usr/local/bin/stemedb serve"]);
    expect(one(u, "Service", "LimitNOFILE")).toBe("65536");
    expect(one(u, "Service", "Restart")).toBe("on-failure");
    expect(one(u, "Service", "RestartSec")).toMatch(/^\d+s$/);
    expect(one(u, "Service", "TimeoutStopSec")).toMatch(/^\d+s$/);
    expect(one(u, "Service", "RestrictAddressFamilies")).toBe("AF_INET AF_INET6 AF_UNIX");
    expect(one(u, "Service", "ReadWritePaths")?.split(" ")).toEqual([
      "/var/lib/stemedb",
      `-${envFile.get("STEMEDB_BACKUP_DIR")}`,
      "-/var/backups/stemedb-archive",
    ]);
    expect(one(u, "Install", "WantedBy")).toBe("multi-user.target");
  });

  test("the jobs run the documented commands on the directories they may write", () => {
    const backup = read("stemedb-backup.service");
    expect(one(backup, "Service", "ExecStart")).toBe("/usr/local/lib/stemedb/stemedb-backup.sh");
    expect(fs.readFileSync(join(unitDir, "stemedb-backup.sh"), "utf8")).toContain(
      '"$bin" backup --data-dir "$data" --out "$out"',
    );
    expect(one(backup, "Service", "ReadWritePaths")?.split(" ")).toEqual(["/var/lib/stemedb", "/var/backups/stemedb"]);

    const verify = read("stemedb-verify.service");
    expect(one(verify, "Service", "ExecStart")).toBe(
      "/usr/local/bin/stemedb verify --backup ${STEMEDB_BACKUP_DIR}/latest --data-dir ${STEMEDB_DATA_DIR} $STEMEDB_VERIFY_FLAGS",
    );
    expect(one(verify, "Service", "ReadWritePaths")?.split(" ")).toEqual(["/var/backups/stemedb", "/var/lib/stemedb"]);

    const archive = read("stemedb-archive.service");
    expect(one(archive, "Service", "ExecStart")).toBe(
      "/usr/local/bin/stemedb archive --data-dir ${STEMEDB_DATA_DIR} --archive-dir ${STEMEDB_ARCHIVE_DIR}",
    );
    expect(one(archive, "Service", "ReadWritePaths")?.split(" ")).toEqual(["/var/backups/stemedb-archive", "/var/lib/stemedb"]);
    for (const u of [backup, verify, archive]) expect(one(u, "Service", "Type")).toBe("oneshot");
  });

  test("each timer starts its service, on a calendar, survives reboots where it should, and is enabled by timers.target", () => {
    for (const name of timers) {
      const t = read(name);
      const service = name.replace(/\.timer$/, ".service");
      expect(one(t, "Timer", "Unit"), name).toBe(service);
      expect(fs.existsSync(join(unitDir, service)), service).toBe(true);
      expect(one(t, "Timer", "OnCalendar"), name).toBeDefined();
      expect(one(t, "Install", "WantedBy"), name).toBe("timers.target");
    }
    expect(one(read("stemedb-backup.timer"), "Timer", "Persistent")).toBe("true");
    expect(one(read("stemedb-verify.timer"), "Timer", "Persistent")).toBe("true");
  });

  test("the env file names only variables the server or the jobs read, with paths the units allow", () => {
    const jobVariables = new Set(["STEMEDB_BACKUP_KEEP", "STEMEDB_VERIFY_FLAGS"]);
    const serverVariables = new Set(settings.map((s) => s.env));
    for (const key of envFile.keys()) expect(serverVariables.has(key) || jobVariables.has(key), key).toBe(true);
    expect(envFile.get("STEMEDB_DATA_DIR")).toBe("/var/lib/stemedb");
    expect(envFile.get("STEMEDB_BACKUP_DIR")).toBe("/var/backups/stemedb");
    expect(envFile.get("STEMEDB_BIND_ADDR")).toBe("127.0.0.1:18180");
    // The archive directory is the archive job's (its unit sets it); set here it would make
    // the server archive too — two archivers.
    expect(envFile.has("STEMEDB_ARCHIVE_DIR")).toBe(false);
    expect(one(read("stemedb-archive.service"), "Service", "Environment")).toBe(
      "STEMEDB_ARCHIVE_DIR=/var/backups/stemedb-archive",
    );
    const tmpfiles = fs.readFileSync(join(unitDir, "stemedb.tmpfiles"), "utf8");
    for (const dir of ["/var/backups/stemedb", "/var/backups/stemedb-archive"])
      expect(tmpfiles).toMatch(new RegExp(`^d ${dir} +0750 stemedb stemedb`, "m"));
  });
});

/** A scratch root with the installed layout: the units, a stand-in binary and script, systemd's own units. */
function installedRoot(units: Record<string, string>): string {
  const root = scratch("stemedb-units-");
  for (const dir of ["usr/local/bin", "usr/local/lib/stemedb", "etc/systemd/system", "etc/stemedb", "usr/lib/systemd"])
    fs.mkdirSync(join(root, dir), { recursive: true });
  fs.cpSync("/usr/lib/systemd/system", join(root, "usr/lib/systemd/system"), { recursive: true, verbatimSymlinks: true });
  fs.writeFileSync(join(root, "usr/local/bin/stemedb"), "#!/bin/sh\n", { mode: 0o755 });
  fs.copyFileSync(join(unitDir, "stemedb-backup.sh"), join(root, "usr/local/lib/stemedb/stemedb-backup.sh"));
  fs.chmodSync(join(root, "usr/local/lib/stemedb/stemedb-backup.sh"), 0o755);
  fs.copyFileSync(join(unitDir, "stemedb.env"), join(root, "etc/stemedb/stemedb.env"));
  for (const [name, text] of Object.entries(units)) fs.writeFileSync(join(root, "etc/systemd/system", name), text);
  return root;
}
const ours = () => Object.fromEntries([...services, ...timers].map((n) => [n, fs.readFileSync(join(unitDir, n), "utf8")]));

describe("systemd-analyze", () => {
  const hasSystemUnits = fs.existsSync("/usr/lib/systemd/system/sysinit.target");
  withTool(
    "verify: every unit and timer, with no warnings",
    "systemd-analyze",
    async (analyze) => {
      expect(hasSystemUnits, "systemd's units in /usr/lib/systemd/system").toBe(true);
      const root = installedRoot(ours());
      const units = [...services, ...timers].map((n) => `/etc/systemd/system/${n}`);
      const r = await run([analyze, "verify", `--root=${root}`, "--man=no", "--generators=no", ...units]);
      // verify exits 0 on unknown keys and bad values, printing them: any output is a failure.
      expect(r.stderr + r.stdout).toBe("");
      expect(r.code).toBe(0);
    },
    { timeoutMs: 30_000 },
  );

  withTool("verify reports a mistake (the check can fail)", "systemd-analyze", async (analyze) => {
    const broken = fs
      .readFileSync(join(unitDir, "stemedb.service"), "utf8")
      .replace("ProtectSystem=strict", "ProtectSystem=strcit");
    const root = installedRoot({ "stemedb.service": broken });
    const r = await run([
      analyze,
      "verify",
      `--root=${root}`,
      "--man=no",
      "--generators=no",
      "/etc/systemd/system/stemedb.service",
    ]);
    expect(r.stderr).toContain("Failed to parse protect system value, ignoring: strcit");
  });

  withTool(
    'security: every service\'s exposure is at most 2.0 ("OK")',
    "systemd-analyze",
    async (analyze) => {
      const root = installedRoot(ours());
      for (const name of services) {
        const r = await run([
          analyze,
          "security",
          "--offline=yes",
          `--root=${root}`,
          "--threshold=20",
          `/etc/systemd/system/${name}`,
        ]);
        const m = /Overall exposure level for \S+: (\d+\.\d)/.exec(r.stdout);
        expect(m, `${name}: ${r.stdout.slice(-300)} ${r.stderr}`).not.toBeNull();
        expect(Number((m as RegExpExecArray)[1]), name).toBeLessThanOrEqual(2.0);
      }
    },
    { timeoutMs: 30_000 },
  );
});

describe("the user and the directories", () => {
  if (process.getuid?.() !== 0) {
    test.skip("systemd-sysusers and systemd-tmpfiles (skipped: chown in a scratch root needs root)", () => {});
    return;
  }
  withTool(
    "systemd-sysusers and systemd-tmpfiles make the stemedb user and its 0750 backup and archive directories",
    "systemd-sysusers",
    async (sysusers) => {
      const root = scratch("stemedb-sysusers-");
      for (const dir of ["etc", "usr/lib/sysusers.d", "usr/lib/tmpfiles.d"]) fs.mkdirSync(join(root, dir), { recursive: true });
      fs.copyFileSync(join(unitDir, "stemedb.sysusers"), join(root, "usr/lib/sysusers.d/stemedb.conf"));
      fs.copyFileSync(join(unitDir, "stemedb.tmpfiles"), join(root, "usr/lib/tmpfiles.d/stemedb.conf"));
      const users = await run([sysusers, `--root=${root}`]);
      expect(users.code, users.stderr).toBe(0);
      const entry = fs
        .readFileSync(join(root, "etc/passwd"), "utf8")
        .split("\n")
        .find((l) => l.startsWith("stemedb:"));
      expect(entry).toMatch(/^stemedb:x:\d+:\d+:StemeDB server:\/var\/lib\/stemedb:\/usr\/sbin\/nologin$/);
      const [uid, gid] = (entry as string).split(":").slice(2, 4).map(Number) as [number, number];
      const tmpfiles = findTool("systemd-tmpfiles");
      expect(tmpfiles).not.toBeNull();
      const made = await run([tmpfiles as string, `--root=${root}`, "--create"]);
      expect(made.code, made.stderr).toBe(0);
      for (const dir of ["var/backups/stemedb", "var/backups/stemedb-archive"]) {
        const st = fs.statSync(join(root, dir));
        expect([st.uid, st.gid, st.mode & 0o777], dir).toEqual([uid, gid, 0o750]);
      }
    },
  );
});

/** Every system call in a group, nested groups expanded (`systemd-analyze syscall-filter`). */
async function syscallGroup(analyze: string, group: string, seen = new Set<string>()): Promise<Set<string>> {
  const out = new Set<string>();
  if (seen.has(group)) return out;
  seen.add(group);
  const r = await run([analyze, "syscall-filter", group]);
  for (const line of r.stdout.split("\n").slice(1)) {
    const item = line.trim();
    if (item === "" || item.startsWith("#")) continue;
    if (item.startsWith("@")) for (const s of await syscallGroup(analyze, item, seen)) out.add(s);
    else out.add(item);
  }
  return out;
}

describe("the server's system calls", () => {
  const strace = findTool("strace");
  const setpriv = findTool("setpriv");
  const root = process.getuid?.() === 0;
  const ready = strace !== null && setpriv !== null && root;
  withTool(
    ready
      ? "init, keys, serve (writes, queries, metrics), verify --deep, backup, verify --backup, archive: every call inside SystemCallFilter=@system-service ~@privileged"
      : `syscall trace (skipped: needs strace, setpriv and root; have strace=${strace !== null}, setpriv=${setpriv !== null}, root=${root})`,
    "systemd-analyze",
    async (analyze) => {
      if (!ready) return;
      const dir = scratch("stemedb-syscalls-");
      fs.chmodSync(dir, 0o777);
      const binary = join(dir, "stemedb");
      const build = await run(makeBuildCommand(binary));
      expect(build.code, build.stderr).toBe(0);
      // As the unit runs it: an unprivileged user (nobody stands in for stemedb), traced.
      const traced = (tag: string, args: string[]) => [
        setpriv as string,
        "--reuid=65534",
        "--regid=65534",
        "--clear-groups",
        strace as string,
        "-f",
        "-qq",
        "-o",
        join(dir, `${tag}.trace`),
        binary,
        ...args,
      ];
      const data = join(dir, "data");
      expect((await run(traced("init", ["init", "--data-dir", data]), { cwd: dir })).code).toBe(0);
      const key = await run(traced("keys", ["keys", "create", "--data-dir", data, "--role", "admin", "--name", "ops"]), {
        cwd: dir,
      });
      expect(key.code, key.stderr).toBe(0);
      const secret = /stm_[A-Za-z0-9_-]+/.exec(key.stdout)?.[0] as string;
      const port = freePort();
      const server = Bun.spawn(traced("serve", ["serve", "--data-dir", data, "--bind", `127.0.0.1:${port}`]), {
        cwd: dir,
        stdout: "ignore",
        stderr: "ignore",
      });
      try {
        const url = `http://127.0.0.1:${port}`;
        const auth = { authorization: `Bearer ${secret}` };
        let up = false;
        for (let i = 0; i < 200 && !up; i++) {
          up = await fetch(`${url}/v1/ready`).then(
            (r) => r.ok,
            () => false,
          );
          if (!up) await Bun.sleep(50);
        }
        expect(up).toBe(true);
        const client = new StemeClient({ url, headers: auth });
        const agent = generateKeyPair();
        const records = Array.from({ length: 100 }, (_, i) =>
          signClaim(agent, { kind: "assertion", subject: "deploy/syscalls", predicate: "n", object: i, confidence: 0.5 }),
        );
        // Large enough for the signature worker threads, as in test/integration/binary.test.ts.
        expect((await client.submitBatch(records, { format: "cbor" })).accepted).toBe(100);
        expect((await client.query("deploy/syscalls", "n", { lens: "consensus" })).candidates).toBe(1);
        expect((await fetch(`${url}/metrics`)).status).toBe(200);
      } finally {
        // strace blocks fatal signals while it runs a program (-I 3), so stop the server
        // itself — strace's child — as systemd would, and strace ends with it.
        const children = fs.readFileSync(`/proc/${server.pid}/task/${server.pid}/children`, "utf8").trim().split(/\s+/);
        for (const pid of children) if (pid) process.kill(Number(pid), "SIGTERM");
        await server.exited;
      }
      expect((await run(traced("verify", ["verify", "--deep", "--data-dir", data]), { cwd: dir })).code).toBe(0);
      // The timers' jobs, once the binary has them (issue 6 lands them beside this file).
      const help = await run([binary, "--help"]);
      if (/^\s+backup\s/m.test(help.stdout) && /^\s+archive\s/m.test(help.stdout)) {
        const out = join(dir, "backups", "b1");
        const steps: Array<[string, string[]]> = [
          ["backup", ["backup", "--data-dir", data, "--out", out]],
          ["verify-backup", ["verify", "--backup", out, "--data-dir", data, "--deep"]],
          ["archive", ["archive", "--data-dir", data, "--archive-dir", join(dir, "archive")]],
        ];
        for (const [tag, args] of steps) {
          const r = await run(traced(tag, args), { cwd: dir });
          expect(r.code, `${tag}: ${r.stderr}`).toBe(0);
        }
      }

      const used = new Set<string>();
      for (const f of fs.readdirSync(dir).filter((n) => n.endsWith(".trace")))
        for (const m of fs.readFileSync(join(dir, f), "utf8").matchAll(/^\d+\s+([a-z0-9_]+)\(/gm)) used.add(m[1] as string);
      const allowed = await syscallGroup(analyze, "@system-service");
      const privileged = await syscallGroup(analyze, "@privileged");
      expect(used.size).toBeGreaterThan(30);
      expect([...used].filter((s) => !allowed.has(s) || privileged.has(s)).sort()).toEqual([]);
    },
    { timeoutMs: 120_000, optional: !ready },
  );
});

describe("stemedb-backup.sh", () => {
  /** A stand-in for the binary: makes a backup directory with a manifest, or fails midway. */
  function fakeBinary(dir: string): string {
    const bin = join(dir, "fake-stemedb");
    fs.writeFileSync(
      bin,
      `#!/bin/sh
# fake: stemedb backup --data-dir D --out OUT
[ "$1" = backup ] && [ "$2" = --data-dir ] && [ "$4" = --out ] || { echo "unexpected: $*" >&2; exit 2; }
mkdir -p "$5/log" && echo partial > "$5/log/0000000001.seg"
[ -e "${dir}/fail" ] && { echo "backup failed" >&2; exit 1; }
echo '{}' > "$5/manifest.json"
`,
      { mode: 0o755 },
    );
    return bin;
  }
  const runScript = (dir: string, keep: string) =>
    run(["/bin/sh", join(unitDir, "stemedb-backup.sh")], {
      env: {
        PATH: process.env.PATH ?? "/usr/bin:/bin",
        STEMEDB_BIN: fakeBinary(dir),
        STEMEDB_DATA_DIR: join(dir, "data"),
        STEMEDB_BACKUP_DIR: join(dir, "backups"),
        STEMEDB_BACKUP_KEEP: keep,
      },
    });

  test("a good run: a new backup, latest moved to it, unfinished ones removed, the newest KEEP kept", async () => {
    const dir = scratch("stemedb-backup-sh-");
    const backups = join(dir, "backups");
    for (const old of ["20240101T000000Z", "20240102T000000Z", "20240103T000000Z"]) {
      fs.mkdirSync(join(backups, old), { recursive: true });
      fs.writeFileSync(join(backups, old, "manifest.json"), "{}");
    }
    fs.mkdirSync(join(backups, "20240104T000000Z")); // killed midway: no manifest
    fs.mkdirSync(join(backups, "before-upgrade")); // a named snapshot: not the script's
    const r = await runScript(dir, "2");
    expect(r.code, r.stderr).toBe(0);
    const names = fs.readdirSync(backups).sort();
    const made = names.filter((n) => /^\d{8}T\d{6}Z$/.test(n) && n > "2025");
    expect(made.length).toBe(1);
    expect(names).toEqual(["20240103T000000Z", made[0] as string, "before-upgrade", "latest"].sort());
    expect(fs.readlinkSync(join(backups, "latest"))).toBe(made[0] as string);
    expect(fs.existsSync(join(backups, "latest", "manifest.json"))).toBe(true);
  });

  test("a failed run: exit non-zero, its partial directory removed, latest still on the last good one", async () => {
    const dir = scratch("stemedb-backup-sh-");
    const backups = join(dir, "backups");
    fs.mkdirSync(join(backups, "20240101T000000Z"), { recursive: true });
    fs.writeFileSync(join(backups, "20240101T000000Z", "manifest.json"), "{}");
    fs.symlinkSync("20240101T000000Z", join(backups, "latest"));
    fs.writeFileSync(join(dir, "fail"), "");
    const r = await runScript(dir, "7");
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain("backup failed");
    expect(fs.readdirSync(backups).sort()).toEqual(["20240101T000000Z", "latest"]);
    expect(fs.readlinkSync(join(backups, "latest"))).toBe("20240101T000000Z");
  });

  test("refuses a KEEP that is not a positive integer", async () => {
    const dir = scratch("stemedb-backup-sh-");
    const r = await runScript(dir, "0");
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("STEMEDB_BACKUP_KEEP");
  });
});
