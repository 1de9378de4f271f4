/**
 * The data directory (docs/STORAGE.md#the-data-directory):
 *
 *     <data-dir>/
 *       meta.json         format version, node id, creation time
 *       node.key          the node's Ed25519 authority key, mode 0600 (JSON, hex)
 *       authorities.json  agent keys whose reviews and retractions count (the node's key first)
 *       log/              record log segments (the truth); made empty by init, the first segment by the first open
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

/**
 * Create a data directory (refuses one that already holds a node): the node key, the authority
 * list, an empty `log/`, and `meta.json` last. Every offline command (verify, root, backup,
 * archive, repair) works on the result as on a directory a server has run on.
 */
export function initDataDir(dir: string, now: () => number = Date.now): DataDir {
  if (isInitialized(dir))
    throw new StemeError("already_initialized", `${dir} already holds a StemeDB node`, {
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
  fs.mkdirSync(path.join(dir, "log"), { recursive: true, mode: 0o750 });
  syncDir(dir);
  // meta.json last: its presence means the directory is complete.
  writeFileDurable(path.join(dir, metaFile), `${JSON.stringify(meta, null, 2)}\n`, 0o644);
  return openDataDir(dir);
}

/** Opens an initialised data directory; a damaged meta.json, node.key or authorities.json is `data_file_corrupt`. */
export function openDataDir(dir: string): DataDir {
  const metaPath = path.join(dir, metaFile);
  if (!fs.existsSync(metaPath))
    throw new StemeError("not_initialized", `${dir} is not a StemeDB data directory (no ${metaFile})`, {
      hint: `run \`stemedb init --data-dir ${dir}\``,
    });
  const meta = readJsonFile(metaPath) as Partial<DataDirMeta> | null;
  if (meta === null || typeof meta !== "object" || typeof meta.node_id !== "string")
    throw corrupt(metaPath, "expected an object with format_version and node_id");
  if (meta.format_version !== formatVersion) {
    throw new StemeError("format_version", `${dir} has format version ${meta.format_version}; this build reads ${formatVersion}`);
  }
  const keyPath = path.join(dir, "node.key");
  const mode = statOf(keyPath).mode & 0o777;
  if (mode & 0o077)
    throw new StemeError("key_permissions", `${keyPath} is readable by others (mode ${mode.toString(8)})`, {
      hint: `chmod 600 ${keyPath}`,
    });
  let nodeKey: KeyPair;
  try {
    nodeKey = readKeyFile(keyPath);
  } catch (err) {
    throw corrupt(keyPath, (err as Error).message.replace(`${keyPath}: `, ""));
  }
  const authoritiesPath = path.join(dir, "authorities.json");
  const authorities = readJsonFile(authoritiesPath);
  if (!Array.isArray(authorities) || !authorities.every((a) => typeof a === "string" && /^[0-9a-f]{64}$/.test(a)))
    throw corrupt(authoritiesPath, "expected a list of public keys (64 hex digits each)");
  return {
    dir,
    meta: meta as DataDirMeta,
    nodeKey,
    authorities,
    logDir: path.join(dir, "log"),
    indexPath: path.join(dir, "index.sqlite"),
  };
}

function corrupt(file: string, why: string): StemeError {
  return new StemeError("data_file_corrupt", `${file} is damaged: ${why}`);
}

function statOf(file: string): fs.Stats {
  try {
    return fs.statSync(file);
  } catch (err) {
    throw corrupt(file, `cannot read it (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
}

/** A JSON file of the data directory; unreadable or not JSON is `data_file_corrupt`. */
export function readJsonFile(file: string): unknown {
  let text: string;
  try {
    text = fs.readFileSync(file, "utf8");
  } catch (err) {
    throw corrupt(file, `cannot read it (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
  try {
    return JSON.parse(text);
  } catch (err) {
    throw corrupt(file, `not JSON (${(err as Error).message})`);
  }
}

/**
 * A key file: JSON `{"public_key", "secret_key"}` in hex, as `stemedb keygen` writes it.
 * Anything else — missing, a directory, not JSON, no secret key — is `bad_key_file`.
 */
export function readKeyFile(file: string): KeyPair {
  const bad = (why: string, cause?: unknown) =>
    new StemeError("bad_key_file", `${file}: ${why}`, {
      hint: "a key file is what `stemedb keygen --out FILE` writes",
      ...(cause === undefined ? {} : { cause }),
    });
  let text: string;
  try {
    text = fs.readFileSync(file, "utf8");
  } catch (cause) {
    const code = (cause as NodeJS.ErrnoException).code;
    if (code === "ENOENT") throw bad("no such key file", cause);
    if (code === "EISDIR") throw bad("a directory, not a key file", cause);
    throw bad(`cannot read it (${code ?? (cause as Error).message})`, cause);
  }
  let parsed: { public_key?: unknown; secret_key?: unknown };
  try {
    parsed = JSON.parse(text);
  } catch (cause) {
    throw bad(`not a key file: not JSON (${(cause as Error).message})`, cause);
  }
  if (parsed === null || typeof parsed !== "object") throw bad("not a key file: expected {public_key, secret_key}");
  let secretKey: Uint8Array;
  try {
    secretKey = fromHex(parsed.secret_key, "secret_key", 32);
  } catch (cause) {
    throw bad(`not a key file: ${(cause as Error).message}`, cause);
  }
  const publicKey = publicKeyOf(secretKey);
  if (parsed.public_key !== undefined && toHex(publicKey) !== parsed.public_key)
    throw bad("public_key does not match secret_key");
  return { publicKey, secretKey };
}

export function writeKeyFile(file: string, key: KeyPair): void {
  if (fs.existsSync(file)) throw new StemeError("exists", `${file} already exists; not overwriting a key`);
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
  syncDir(path.dirname(file));
}

/** fsync a directory, so that an entry just created or renamed in it survives a crash. */
function syncDir(dir: string): void {
  const dirFd = fs.openSync(dir, "r");
  try {
    fs.fsyncSync(dirFd);
  } finally {
    fs.closeSync(dirFd);
  }
}
