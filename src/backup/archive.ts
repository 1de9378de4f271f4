/**
 * Archival for point-in-time restore: the log's sealed segments are copied to an archive
 * directory as they appear, and the active segment's prefix (up to its last whole frame) as
 * `NNNNNNNNNN.seg.tail`, replaced on every pass. A restore rolls a backup forward with them
 * (restore.ts), so an archive taken every minute bounds the loss to a minute of records.
 *
 *     <archive>/log/0000000001.seg        sealed: copied once, never changed
 *     <archive>/log/0000000007.seg.tail   the active segment as of the last pass
 *
 * Every copy goes to a temporary name, is fsync'd, then renamed, so the archive never holds a
 * half-written file under a real name. With `--archive-s3 s3://bucket/prefix` the same files
 * are uploaded through Bun's S3 client (credentials from the usual AWS_* variables).
 */
import fs from "node:fs";
import path from "node:path";
import { StemeError } from "../core/errors.ts";
import { listSegmentFiles, logDirName, SegmentImage } from "../log/index.ts";

export const archiveTailSuffix = ".tail";

export function archiveLogDir(archiveDir: string): string {
  return path.join(archiveDir, logDirName);
}

export interface ArchivePass {
  /** Sealed segments copied this pass. */
  sealed: number;
  /** The LSN the archive now reaches (sealed segments and tail). */
  lsn: number;
  bytes: number;
}

export interface S3Target {
  bucket: string;
  prefix: string;
}

export function parseS3Url(url: string): S3Target {
  const m = /^s3:\/\/([a-z0-9][a-z0-9.-]{1,61}[a-z0-9])(?:\/(.*))?$/.exec(url);
  if (!m) throw new StemeError("bad_config", `--archive-s3: expected s3://bucket/prefix, got "${url}"`);
  return { bucket: m[1] as string, prefix: (m[2] ?? "").replace(/\/+$/, "") };
}

/** One archival pass over `dataDir`'s log. */
export async function archiveOnce(dataDir: string, archiveDir: string, s3?: S3Target): Promise<ArchivePass> {
  const from = path.join(dataDir, logDirName);
  const to = archiveLogDir(archiveDir);
  fs.mkdirSync(to, { recursive: true, mode: 0o750 });
  const files = listSegmentFiles(from);
  const pass: ArchivePass = { sealed: 0, lsn: 0, bytes: 0 };
  for (const [i, f] of files.entries()) {
    const active = i === files.length - 1;
    if (!active) {
      const dest = path.join(to, f.name);
      const size = fs.statSync(f.path).size;
      if (!fs.existsSync(dest) || fs.statSync(dest).size !== size) {
        const bytes = new Uint8Array(await fs.promises.readFile(f.path));
        await writeAtomically(dest, bytes);
        await upload(s3, f.name, bytes);
        pass.sealed++;
        pass.bytes += bytes.length;
      }
      fs.rmSync(`${dest}${archiveTailSuffix}`, { force: true }); // a tail archived before it was sealed
      continue;
    }
    const image = SegmentImage.of(f, new Uint8Array(await fs.promises.readFile(f.path)));
    if ("error" in image) break; // torn while being created: nothing in it yet
    const walk = image.walk();
    const prefix = image.bytes.subarray(0, walk.goodEnd);
    await writeAtomically(path.join(to, `${f.name}${archiveTailSuffix}`), prefix);
    await upload(s3, `${f.name}${archiveTailSuffix}`, prefix);
    pass.bytes += prefix.length;
    pass.lsn = walk.lastLsn;
  }
  return pass;
}

async function writeAtomically(file: string, bytes: Uint8Array): Promise<void> {
  const tmp = `${file}.tmp-${process.pid}`;
  const fd = fs.openSync(tmp, "w", 0o640);
  try {
    fs.writeSync(fd, bytes);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  fs.renameSync(tmp, file);
  const dirFd = fs.openSync(path.dirname(file), "r");
  try {
    fs.fsyncSync(dirFd);
  } finally {
    fs.closeSync(dirFd);
  }
}

/** Uploads to S3 when configured (Bun's client reads AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_REGION, AWS_ENDPOINT). */
async function upload(s3: S3Target | undefined, name: string, bytes: Uint8Array): Promise<void> {
  if (!s3) return;
  const client = new Bun.S3Client({ bucket: s3.bucket });
  await client.write(s3.prefix ? `${s3.prefix}/log/${name}` : `log/${name}`, bytes);
}
