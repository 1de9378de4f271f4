/**
 * Computes a data directory's Merkle root off the event loop (a million ids take seconds of
 * hashing): the server asks now and then for `/v1/health`'s `root`. `stop` is shared with the
 * server: set to 1, the root in progress gives up and closes its index connection, so a
 * stopping server never leaves it open.
 */
import { dataDirRoot, RootStopped } from "./root.ts";

declare const self: Worker;

self.onmessage = (event: MessageEvent<{ dataDir: string; stop: Int32Array }>) => {
  const { dataDir, stop } = event.data;
  try {
    self.postMessage({ ok: true, report: dataDirRoot(dataDir, { stopped: () => Atomics.load(stop, 0) === 1 }) });
  } catch (err) {
    if (err instanceof RootStopped) self.postMessage({ ok: false, stopped: true });
    else self.postMessage({ ok: false, error: (err as Error).message });
  }
};
