/** Worker thread for the verify ceiling: synchronous native Ed25519 verification of a slice. */
import crypto from "node:crypto";

declare const self: Worker;

const spkiPrefix = Buffer.from("302a300506032b6570032100", "hex");

export interface VerifyJob {
  publicKeys: Uint8Array[];
  keyIndex: Uint32Array;
  ids: Uint8Array;
  sigs: Uint8Array;
}

self.onmessage = (e: MessageEvent<VerifyJob>) => {
  const { publicKeys, keyIndex, ids, sigs } = e.data;
  const keys = publicKeys.map((k) =>
    crypto.createPublicKey({ key: Buffer.concat([spkiPrefix, k]), format: "der", type: "spki" }),
  );
  const started = performance.now();
  let ok = 0;
  for (let i = 0; i < keyIndex.length; i++) {
    const key = keys[keyIndex[i] as number];
    if (key && crypto.verify(null, ids.subarray(i * 32, i * 32 + 32), key, sigs.subarray(i * 64, i * 64 + 64))) ok++;
  }
  self.postMessage({ ok, ms: performance.now() - started });
};
