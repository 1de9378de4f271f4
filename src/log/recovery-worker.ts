/**
 * Walks a log's sealed segments off the thread that opens the store (recovery.ts
 * `walkSealed`), so the index's page scan runs meanwhile: at 10M records each is seconds.
 */
import { StemeError } from "../core/errors.ts";
import { type SealedWalkReply, walkSealed } from "./recovery.ts";
import type { SegmentFile } from "./segment.ts";

declare const self: Worker;

self.onmessage = (event: MessageEvent<{ files: SegmentFile[] }>) => {
  let reply: SealedWalkReply;
  try {
    reply = { ok: true, ...walkSealed(event.data.files) };
  } catch (err) {
    reply =
      err instanceof StemeError
        ? { ok: false, code: err.code, message: err.message, ...(err.hint ? { hint: err.hint } : {}), extra: err.extra }
        : { ok: false, code: "bug", message: (err as Error).stack ?? String(err) };
  }
  self.postMessage(reply);
};
