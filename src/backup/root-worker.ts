/**
 * Computes a data directory's Merkle root off the event loop (a million ids take seconds of
 * hashing): the server asks now and then for `/v1/health`'s `root`.
 */
import { dataDirRoot } from "./root.ts";

declare const self: Worker;

self.onmessage = (event: MessageEvent<{ dataDir: string }>) => {
  try {
    self.postMessage({ ok: true, report: dataDirRoot(event.data.dataDir) });
  } catch (err) {
    self.postMessage({ ok: false, error: (err as Error).message });
  }
};
