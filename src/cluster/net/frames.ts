/**
 * Length-prefixed frames on a TCP stream (docs/CLUSTER-WIRE.md#streams-on-tcp):
 *
 *     stream = (u32be(length) ‖ frame)*        1 ≤ length ≤ frameBytesMax
 *
 * TCP delivers bytes, not messages; the prefix restores the frames the sessions above speak
 * in. A length of 0 or past the maximum is not a frame any member sends: the reader refuses it
 * (the connection is then closed and counted), so a peer can never make us buffer more than
 * one maximal frame. Chunks are kept as they arrive and each frame is copied out once, so a
 * 16 MiB frame arriving in 64 KiB pieces costs one copy, not a copy per piece.
 */

export const lengthPrefixBytes = 4;

/** The 4-byte prefix and the frame, in one buffer: one write per frame. */
export function encodeFrame(frame: Uint8Array): Uint8Array {
  const out = new Uint8Array(lengthPrefixBytes + frame.length);
  new DataView(out.buffer).setUint32(0, frame.length);
  out.set(frame, lengthPrefixBytes);
  return out;
}

export type ReadResult = { ok: true; frames: Uint8Array[] } | { ok: false; length: number };

export class FrameReader {
  private chunks: Uint8Array[] = [];
  private buffered = 0;
  /** The length of the frame being read, once its prefix is in. */
  private need: number | null = null;

  constructor(private readonly frameBytesMax: number) {
    if (!(Number.isSafeInteger(frameBytesMax) && frameBytesMax >= 1 && frameBytesMax <= 0xffffffff))
      throw new RangeError(`frameBytesMax: expected 1 to 2^32 − 1, got ${frameBytesMax}`);
  }

  /** Bytes held for a frame not yet whole. */
  get pendingBytes(): number {
    return this.buffered;
  }

  /** Takes a chunk (copied: the caller may reuse its buffer); the frames it completes, or the bad length. */
  push(chunk: Uint8Array): ReadResult {
    if (chunk.length > 0) {
      this.chunks.push(chunk.slice());
      this.buffered += chunk.length;
    }
    const frames: Uint8Array[] = [];
    for (;;) {
      if (this.need === null) {
        if (this.buffered < lengthPrefixBytes) break;
        const prefix = this.take(lengthPrefixBytes);
        const length = new DataView(prefix.buffer, prefix.byteOffset, 4).getUint32(0);
        if (length === 0 || length > this.frameBytesMax) return { ok: false, length };
        this.need = length;
      }
      if (this.buffered < this.need) break;
      frames.push(this.take(this.need));
      this.need = null;
    }
    return { ok: true, frames };
  }

  /** The next `n` bytes (n ≤ buffered), copied into one array. */
  private take(n: number): Uint8Array {
    const first = this.chunks[0] as Uint8Array;
    if (first.length >= n) {
      const out = first.subarray(0, n);
      if (first.length === n) this.chunks.shift();
      else this.chunks[0] = first.subarray(n);
      this.buffered -= n;
      return out;
    }
    const out = new Uint8Array(n);
    let at = 0;
    while (at < n) {
      const c = this.chunks[0] as Uint8Array;
      const part = Math.min(c.length, n - at);
      out.set(c.subarray(0, part), at);
      at += part;
      if (part === c.length) this.chunks.shift();
      else this.chunks[0] = c.subarray(part);
    }
    this.buffered -= n;
    return out;
  }
}
