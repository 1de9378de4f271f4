// biome-ignore-all lint/suspicious/noTemplateCurlyInString: unit files write environment variables as ${NAME}, literally
/**
 * deploy/systemd/cluster: the three-node example — a template unit stemedb@.service with the
 * single-node unit's hardening, and one env file per node. The env files name only settings the
 * server reads, give each node its own name and addresses, the same key file, shard count,
 * replication factor and preset, and list every node as a seed; each loads as a valid cluster
 * configuration. `systemd-analyze verify` passes each instance without a warning and
 * `systemd-analyze security` keeps it at the single unit's exposure.
 */
import { afterAll, describe, expect, test } from "bun:test";
import fs from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadConfig, settings } from "../../src/config/config.ts";
import { deployDir, run, withTool } from "./tools.ts";

const dir = join(deployDir, "systemd/cluster");
const names = ["db1", "db2", "db3"];
const made: string[] = [];
afterAll(() => {
  for (const d of made.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});

function envOf(name: string): Record<string, string> {
  return Object.fromEntries(
    fs
      .readFileSync(join(dir, `${name}.env`), "utf8")
      .split("\n")
      .filter((l) => /^[A-Z_]+=/.test(l))
      .map((l) => [l.slice(0, l.indexOf("=")), l.slice(l.indexOf("=") + 1)]),
  );
}
const envs = names.map(envOf);
const template = fs.readFileSync(join(dir, "stemedb@.service"), "utf8");
const hardening = (text: string) =>
  text
    .slice(text.indexOf("NoNewPrivileges=yes"))
    .split("\n")
    .filter((l) => l.trim() && !l.startsWith("#"));

describe("deploy/systemd/cluster", () => {
  test("the template keeps every hardening line of stemedb.service", () => {
    expect(hardening(template)).toEqual(hardening(fs.readFileSync(join(deployDir, "systemd/stemedb.service"), "utf8")));
    expect(template).toContain("EnvironmentFile=/etc/stemedb/cluster/%i.env");
    expect(template).toContain("ReadWritePaths=/var/lib/stemedb/%i ");
    expect(template).toContain("StateDirectory=stemedb/%i");
  });

  test("the env files: known settings, a node each, one cluster", () => {
    const known = new Set(settings.map((s) => s.env));
    for (const env of envs) for (const key of Object.keys(env)) expect(known.has(key), key).toBe(true);
    const configs = envs.map((env) => loadConfig({}, env));
    expect(configs.map((c) => c.cluster?.nodeName)).toEqual(names);
    expect(new Set(configs.map((c) => c.cluster?.advertiseHost)).size).toBe(3);
    for (const [i, c] of configs.entries()) {
      expect(c.dataDir).toBe(`/var/lib/stemedb/${names[i]}`);
      expect(c.cluster?.keyFile).toBe("/etc/stemedb/cluster.key");
      expect([c.cluster?.shards, c.cluster?.replicationFactor, c.cluster?.preset]).toEqual([256, 2, "lan"]);
      expect(c.cluster?.seeds.sort()).toEqual(configs.map((o) => `${o.cluster?.advertiseHost}:${o.cluster?.port}`).sort());
      expect(c.bindHost).toBe(c.cluster?.advertiseHost as string);
    }
  });
});

describe("systemd-analyze, the cluster template", () => {
  function root(): string {
    const r = fs.mkdtempSync(join(tmpdir(), "stemedb-cluster-units-"));
    made.push(r);
    for (const d of ["usr/local/bin", "etc/systemd/system", "etc/stemedb/cluster", "usr/lib/systemd"])
      fs.mkdirSync(join(r, d), { recursive: true });
    fs.cpSync("/usr/lib/systemd/system", join(r, "usr/lib/systemd/system"), { recursive: true, verbatimSymlinks: true });
    fs.writeFileSync(join(r, "usr/local/bin/stemedb"), "#!/bin/sh\n", { mode: 0o755 });
    fs.copyFileSync(join(dir, "stemedb@.service"), join(r, "etc/systemd/system/stemedb@.service"));
    for (const n of names) fs.copyFileSync(join(dir, `${n}.env`), join(r, `etc/stemedb/cluster/${n}.env`));
    return r;
  }

  withTool(
    "verify: each instance, with no warnings",
    "systemd-analyze",
    async (analyze) => {
      const r = root();
      const units = names.map((n) => `/etc/systemd/system/stemedb@${n}.service`);
      const out = await run([analyze, "verify", `--root=${r}`, "--man=no", "--generators=no", ...units]);
      expect(out.stderr + out.stdout).toBe("");
      expect(out.code).toBe(0);
    },
    { timeoutMs: 30_000 },
  );

  withTool(
    'security: the exposure is at most 2.0 ("OK")',
    "systemd-analyze",
    async (analyze) => {
      const out = await run([
        analyze,
        "security",
        "--offline=yes",
        `--root=${root()}`,
        "--threshold=20",
        "/etc/systemd/system/stemedb@db1.service",
      ]);
      const m = /Overall exposure level for \S+: (\d+\.\d)/.exec(out.stdout);
      expect(m, out.stdout.slice(-300) + out.stderr).not.toBeNull();
      expect(Number((m as RegExpExecArray)[1])).toBeLessThanOrEqual(2.0);
    },
    { timeoutMs: 30_000 },
  );
});

test("nothing here is left unchecked: the directory holds the template and the three env files", () => {
  expect(fs.readdirSync(dir).sort()).toEqual(["db1.env", "db2.env", "db3.env", "stemedb@.service"]);
});
