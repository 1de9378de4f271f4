/** Worker thread for bench/records.ts: signs one slice of the records. */
import { type SignJob, signRecords } from "./records.ts";

declare const self: Worker;

self.onmessage = (e: MessageEvent<SignJob>) => {
  const packed = signRecords(e.data);
  self.postMessage(packed, [
    packed.bodies.buffer,
    packed.sigs.buffer,
    packed.ids.buffer,
    packed.offsets.buffer,
    packed.keyIndex.buffer,
  ] as Bun.Transferable[]);
};
