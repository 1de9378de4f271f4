/**
 * The data directory (SPEC §7):
 *
 *     <data-dir>/
 *       meta.json         format version, node id, creation time
 *       node.key          the node's Ed25519 authority key, mode 0600 (JSON, hex)
 *       authorities.json  agent keys whose reviews and retractions count (the node's key first)
 *       log/              record log segments (the truth)
 *       index.sqlite      the index (derived; `stemedb reindex` rebuilds it; pages checksummed)
 *       index.sqlite.damaged  left when damage was found while serving: the next start rebuilds
 *       stemedb_cksm-<hash>.so  the index's checksum shim, written out by the compiled binary
 *       LOCK              flock'd by the process that has the directory open (its pid inside)
 */
import fs from "node:fs";
import path from "node:path";
import { StemeError } from "../core/errors.ts";
import { fromHex, toHex } from "../core/hex.ts";
import { formatVersion } from "../core/limits.ts";
import { generateKeyPair, type KeyPair, publicKeyOf } from "../crypto/sign.ts";

export interface DataDirMeta {
  format_version: number;
  node_id: string;
  created_at: string;
}

export interface DataDir {
  dir: string;
  meta: DataDirMeta;
  nodeKey: KeyPair;
  authorities: string[];
  logDir: string;
  indexPath: string;
}

const metaFile = "meta.json";

export function isInitialized(dir: string): boolean {
  return fs.existsSync(path.join(dir, metaFile));
}

/** Create a data directory (refuses one that already holds a node). */
export function initDataDir(dir: string, now: () => number = Date.now): DataDir {
  if (isInitialized(dir))
    throw new StemeError("already_initialized", 409, `${dir} already holds a StemeDB node`, {
      hint: "use it with `stemedb serve --data-dir`, or pick an empty directory",
    });
  fs.mkdirSync(dir, { recursive: true, mode: 0o750 });
  const nodeKey = generateKeyPair();
  const meta: DataDirMeta = {
    format_version: formatVersion,
    node_id: toHex(nodeKey.publicKey).slice(0, 16),
    created_at: new Date(now()).toISOString(),
  };
  writeFileDurable(
    path.join(dir, "node.key"),
    `${JSON.stringify({ public_key: toHex(nodeKey.publicKey), secret_key: toHex(nodeKey.secretKey) }, null, 2)}\n`,
    0o600,
  );
  writeFileDurable(path.join(dir, "authorities.json"), `${JSON.stringify([toHex(nodeKey.publicKey)], null, 2)}\n`, 0o644);
  // meta.json last: its presence means the directory is complete.
  writeFileDurable(path.join(dir, metaFile), `${JSON.stringify(meta, null, 2)}\n`, 0o644);
  return openDataDir(dir);
}

export function openDataDir(dir: string): DataDir {
  const metaPath = path.join(dir, metaFile);
  if (!fs.existsSync(metaPath))
    throw new StemeError("not_initialized", 500, `${dir} is not a StemeDB data directory (no ${metaFile})`, {
      hint: `run \`stemedb init --data-dir ${dir}\``,
    });
  const meta = JSON.parse(fs.readFileSync(metaPath, "utf8")) as DataDirMeta;
  if (meta.format_version !== formatVersion) {
    throw new StemeError(
      "format_version",
      500,
      `${dir} has format version ${meta.format_version}; this build reads ${formatVersion}`,
    );
  }
  const keyPath = path.join(dir, "node.key");
  const mode = fs.statSync(keyPath).mode & 0o777;
  if (mode & 0o077)
    throw new StemeError("key_permissions", 500, `${keyPath} is readable by others (mode ${mode.toString(8)})`, {
      hint: `chmod 600 ${keyPath}`,
    });
  const nodeKey = readKeyFile(keyPath);
  const authorities = JSON.parse(fs.readFileSync(path.join(dir, "authorities.json"), "utf8")) as string[];
  return { dir, meta, nodeKey, authorities, logDir: path.join(dir, "log"), indexPath: path.join(dir, "index.sqlite") };
}

/** A key file: JSON `{"public_key", "secret_key"}` in hex, as `stemedb keygen` writes it. */
export function readKeyFile(file: string): KeyPair {
  let parsed: { public_key?: unknown; secret_key?: unknown };
  try {
    parsed = JSON.parse(fs.readFileSync(file, "utf8"));
  } catch (cause) {
    throw new StemeError("bad_key_file", 400, `read key file ${file}: ${(cause as Error).message}`, { cause });
  }
  const secretKey = fromHex(parsed.secret_key, `${file}: secret_key`, 32);
  const publicKey = publicKeyOf(secretKey);
  if (parsed.public_key !== undefined && toHex(publicKey) !== parsed.public_key) {
    throw new StemeError("bad_key_file", 400, `${file}: public_key does not match secret_key`);
  }
  return { publicKey, secretKey };
}

export function writeKeyFile(file: string, key: KeyPair): void {
  if (fs.existsSync(file)) throw new StemeError("exists", 409, `${file} already exists; not overwriting a key`);
  writeFileDurable(
    file,
    `${JSON.stringify({ public_key: toHex(key.publicKey), secret_key: toHex(key.secretKey) }, null, 2)}\n`,
    0o600,
  );
}

/** Write a small file so that it is complete or absent after a crash: temp file, fsync, rename. */
export function writeFileDurable(file: string, content: string, mode: number): void {
  const tmp = `${file}.tmp-${process.pid}`;
  const fd = fs.openSync(tmp, "w", mode);
  try {
    fs.writeSync(fd, content);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  fs.chmodSync(tmp, mode);
  fs.renameSync(tmp, file);
  const dirFd = fs.openSync(path.dirname(file), "r");
  try {
    fs.fsyncSync(dirFd);
  } finally {
    fs.closeSync(dirFd);
  }
}
