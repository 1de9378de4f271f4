/** The cluster's settings: defaults, what they come to, and every wrong combination said plainly. */
import { describe, expect, test } from "bun:test";
import os from "node:os";
import { loadConfig } from "../../src/config/config.ts";

const base = { "cluster-bind": "10.0.0.1:18182", "cluster-key-file": "/k" };

describe("cluster settings", () => {
  test("without --cluster-bind the node is single, whatever the defaults", () => {
    const c = loadConfig({}, {});
    expect(c.cluster).toBeNull();
    expect([c.replicationFactor, c.shards, c.clusterPreset]).toEqual([2, 256, "lan"]);
  });

  test("defaults: CPORT 18182, the host name, the bind host advertised, lan", () => {
    const c = loadConfig({ "cluster-bind": "10.0.0.1", "cluster-key-file": "/k" }, {});
    expect(c.cluster).toEqual({
      bindHost: "10.0.0.1",
      port: 18182,
      seeds: [],
      keyFile: "/k",
      nodeName: os.hostname().slice(0, 128),
      replicationFactor: 2,
      shards: 256,
      advertiseHost: "10.0.0.1",
      preset: "lan",
      tls: null,
    });
  });

  test("flags and variables: seeds with default ports, IPv6 in brackets, names, presets, TLS", () => {
    const c = loadConfig(
      { ...base, join: "10.0.0.2,10.0.0.3:19000,[fd00::4]:18182", "node-name": "db1", "cluster-preset": "wan" },
      { STEMEDB_REPLICATION_FACTOR: "3", STEMEDB_SHARDS: "64" },
    );
    expect(c.cluster?.seeds).toEqual(["10.0.0.2:18182", "10.0.0.3:19000", "[fd00::4]:18182"]);
    expect([c.cluster?.nodeName, c.cluster?.preset, c.cluster?.replicationFactor, c.cluster?.shards]).toEqual([
      "db1",
      "wan",
      3,
      64,
    ]);
    const tls = loadConfig({ ...base, "cluster-tls-cert": "c", "cluster-tls-key": "k", "cluster-tls-ca": "a" }, {});
    expect(tls.cluster?.tls).toEqual({ certPath: "c", keyPath: "k", caPath: "a" });
    const v6 = loadConfig({ "cluster-bind": "[::1]:18182", "cluster-key-file": "/k" }, {});
    expect([v6.cluster?.bindHost, v6.cluster?.advertiseHost]).toEqual(["::1", "::1"]);
  });

  test("wrong values and combinations are bad_config naming the setting", () => {
    const bad = (flags: Record<string, string>, pattern: RegExp) => expect(() => loadConfig(flags, {})).toThrow(pattern);
    bad({ join: "10.0.0.2" }, /--join is set but --cluster-bind is not/);
    bad({ "cluster-key-file": "/k" }, /--cluster-key-file is set but --cluster-bind is not/);
    bad({ "cluster-bind": "10.0.0.1" }, /--cluster-bind needs --cluster-key-file/);
    bad({ ...base, "cluster-bind": "0.0.0.0:18182" }, /give --advertise HOST/);
    bad({ ...base, "cluster-bind": "10.0.0.1:65535" }, /CPORT from 1 to 65534/);
    bad({ ...base, "cluster-bind": "10.0.0.1:x" }, /--cluster-bind .*HOST:CPORT/);
    bad({ ...base, join: "a:b:c" }, /--join .*HOST:CPORT/);
    bad({ ...base, "replication-factor": "0" }, /--replication-factor/);
    bad({ ...base, shards: "70000" }, /--shards .*1 to 65536/);
    bad({ ...base, "cluster-preset": "fast" }, /lan, wan or local/);
    bad({ ...base, "node-name": "a b" }, /--node-name/);
    bad({ ...base, "cluster-tls-cert": "c" }, /go together/);
    bad({ ...base, advertise: "10.0.0.1:18182" }, /--advertise .*without a port/);
    bad({ ...base, bind: "127.0.0.1:0" }, /--cluster-bind needs --bind with a port/);
    expect(loadConfig({ ...base, "cluster-bind": "0.0.0.0", advertise: "db1.internal" }, {}).cluster?.advertiseHost).toBe(
      "db1.internal",
    );
  });
});
