/**
 * BLAKE3-256 (default hash mode, 32-byte output) in plain TypeScript, tuned for record ids.
 *
 * Spec: "BLAKE3: one function, fast everywhere", J. O'Connor, J.-P. Aumasson, S. Neves,
 * Z. Wilcox-O'Hearn, https://github.com/BLAKE3-team/BLAKE3-specs (blake3.pdf). Section numbers
 * below refer to it.
 *
 * Why this file exists: record ids are BLAKE3 of small canonical CBOR bodies (typically
 * 150-600 bytes). `@noble/hashes/blake3.js` is correct but generic (a streaming hasher object,
 * per-call buffers, the XOF and keyed modes), which costs ≈ 8 µs for 250 bytes; the server's
 * per-record budget is ~30 µs. This implementation keeps the same output and does less:
 *
 * - The compression function (§2.2) keeps the 16-word state and the 16 message words in
 *   local variables, so the JIT can hold them in registers. The 7 rounds are a loop; between
 *   rounds the message words are permuted (MSG_PERMUTATION) by shuffling the locals, which is
 *   exactly "apply the permutation to m" from §2.2, written as its two 8-cycles.
 * - Message words are assembled from little-endian byte loads into one reused Uint32Array
 *   scratch (M). The input may be a subarray at any byteOffset; byte loads need no alignment
 *   check and no per-call DataView/Uint32Array view, and measured at < 5% of the time per
 *   block (the rounds dominate), so there is no separate aligned path.
 * - Chaining values live in one module-level Uint32Array (the CV stack); nothing is allocated
 *   per call except the 32-byte result.
 *
 * Tree mode (§2.1, §5.1.2): the input is split into 1024-byte chunks. Each chunk is hashed as a
 * chain of 64-byte blocks, starting from the key words (the IV in hash mode), with the chunk
 * index as the counter, CHUNK_START on its first block and CHUNK_END on its last. The empty input
 * is a single chunk of one all-zero block with block length 0.
 *
 * - Inputs ≤ 1024 bytes (one chunk: all record bodies) take the specialised path: the chunk's
 *   last block is the root, compressed with CHUNK_END | ROOT; its first 8 output words are
 *   the hash.
 * - Larger inputs use this file's own chunk tree (not noble's): chunk chaining values are merged
 *   pairwise into parent nodes (block = left CV || right CV, counter 0, block length 64, flag
 *   PARENT) on a stack, merging lazily as in the reference implementation's
 *   `add_chunk_chaining_value` (§5.1.2): after chunk number t (1-based) is pushed, one merge
 *   happens per trailing zero bit of t. The last chunk is never merged eagerly; at the end it
 *   is folded with the stack from the top down, and the final parent compression (or the only
 *   chunk's last block) carries ROOT.
 *
 * Only the first 32 bytes of root output are produced (output block counter 0), so the
 * compression function only computes the first 8 output words (state[i] ^ state[i + 8]).
 *
 * Not reentrant across threads by design: each worker loads its own module instance, and JS on
 * one thread cannot interleave two calls, so module-level scratch is safe.
 */

/** Initialisation vector (§2.2): the same constants as SHA-256's initial hash value. */
export const IV: readonly number[] = [
  0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
];

/** Message word permutation applied between rounds (§2.2, Table 2). */
export const MSG_PERMUTATION: readonly number[] = [2, 6, 3, 10, 7, 0, 4, 13, 1, 11, 12, 5, 9, 14, 15, 8];

/** Domain separation flags (§2.1, Table 3). Keyed and derive-key flags are not used here. */
export const CHUNK_START = 1 << 0;
export const CHUNK_END = 1 << 1;
export const PARENT = 1 << 2;
export const ROOT = 1 << 3;

export const BLOCK_LEN = 64;
export const CHUNK_LEN = 1024;
export const OUT_LEN = 32;

// The IV again as module constants, so the hot code reads immediates rather than array slots.
const IV0 = 0x6a09e667;
const IV1 = 0xbb67ae85;
const IV2 = 0x3c6ef372;
const IV3 = 0xa54ff53a;
const IV4 = 0x510e527f;
const IV5 = 0x9b05688c;
const IV6 = 0x1f83d9ab;
const IV7 = 0x5be0cd19;

/** Max CV stack depth: 2^54 chunks is more than any Uint8Array can hold. */
const MAX_DEPTH = 54;

/** Message block scratch: 16 little-endian words of the block being compressed. */
const M = new Uint32Array(16);
/**
 * Chaining values. Slot 0 (words 0..7) is the working CV of the chunk in progress; slots
 * 1..MAX_DEPTH + 1 are the CV stack of finished subtrees (plus the last chunk's CV); the
 * final slot receives the root output.
 */
const CV = new Uint32Array(8 * (MAX_DEPTH + 3));
const OUT = 8 * (MAX_DEPTH + 2);

/**
 * Load block bytes input[pos .. pos+len) (len ≤ 64) into M as little-endian words,
 * zero-padding the rest (§2.1: the last block of a chunk is padded with zeros).
 */
function loadBlock(input: Uint8Array, pos: number, len: number): void {
  if (len === BLOCK_LEN) {
    for (let i = 0; i < 16; i++, pos += 4) {
      M[i] =
        (input[pos] as number) |
        ((input[pos + 1] as number) << 8) |
        ((input[pos + 2] as number) << 16) |
        ((input[pos + 3] as number) << 24);
    }
    return;
  }
  M.fill(0);
  const end = pos + len;
  for (let j = 0; pos < end; pos++, j++) {
    M[j >>> 2] = (M[j >>> 2] as number) | ((input[pos] as number) << ((j & 3) << 3));
  }
}

/**
 * The compression function (§2.2), truncated to its first 8 output words, which is all that
 * chaining values and a 32-byte root output need. Reads the chaining value from
 * CV[cvOff .. cvOff+8) and the message from M; writes the 8 output words to CV[outOff .. outOff+8)
 * (outOff may equal cvOff).
 */
// biome-ignore format: one G step per line is easier to check against the spec than 56 wrapped lines.
function compress(cvOff: number, counter: number, blockLen: number, flags: number, outOff: number): void {
  let m0 = M[0] as number, m1 = M[1] as number, m2 = M[2] as number, m3 = M[3] as number;
  let m4 = M[4] as number, m5 = M[5] as number, m6 = M[6] as number, m7 = M[7] as number;
  let m8 = M[8] as number, m9 = M[9] as number, m10 = M[10] as number, m11 = M[11] as number;
  let m12 = M[12] as number, m13 = M[13] as number, m14 = M[14] as number, m15 = M[15] as number;
  const h0 = CV[cvOff] as number, h1 = CV[cvOff + 1] as number, h2 = CV[cvOff + 2] as number, h3 = CV[cvOff + 3] as number;
  const h4 = CV[cvOff + 4] as number, h5 = CV[cvOff + 5] as number, h6 = CV[cvOff + 6] as number, h7 = CV[cvOff + 7] as number;
  // State (§2.2): h0..h7, IV0..IV3, counter low, counter high, block length, flags.
  let v0 = h0 | 0, v1 = h1 | 0, v2 = h2 | 0, v3 = h3 | 0, v4 = h4 | 0, v5 = h5 | 0, v6 = h6 | 0, v7 = h7 | 0;
  let v8 = IV0 | 0, v9 = IV1 | 0, v10 = IV2 | 0, v11 = IV3 | 0;
  let v12 = counter | 0, v13 = Math.floor(counter / 0x100000000) | 0, v14 = blockLen | 0, v15 = flags | 0;
  for (let r = 0; ; r++) {
    // Round (§2.2): G on the four columns, then on the four diagonals. G(a, b, c, d, mx, my) is
    //   a += b + mx; d = rotr(d ^ a, 16); c += d; b = rotr(b ^ c, 12);
    //   a += b + my; d = rotr(d ^ a, 8);  c += d; b = rotr(b ^ c, 7)      (all mod 2^32)
    // with rotr(x, n) = (x >>> n) | (x << (32 - n)) written out inline. A fully unrolled
    // version (static message indices, no permutation moves) measured ~1.5x slower in Bun.
    // Columns.
    // G(v0, v4, v8, v12, m0, m1)
    v0 = (v0 + v4 + m0) | 0; v12 ^= v0; v12 = (v12 >>> 16) | (v12 << 16);
    v8 = (v8 + v12) | 0; v4 ^= v8; v4 = (v4 >>> 12) | (v4 << 20);
    v0 = (v0 + v4 + m1) | 0; v12 ^= v0; v12 = (v12 >>> 8) | (v12 << 24);
    v8 = (v8 + v12) | 0; v4 ^= v8; v4 = (v4 >>> 7) | (v4 << 25);
    // G(v1, v5, v9, v13, m2, m3)
    v1 = (v1 + v5 + m2) | 0; v13 ^= v1; v13 = (v13 >>> 16) | (v13 << 16);
    v9 = (v9 + v13) | 0; v5 ^= v9; v5 = (v5 >>> 12) | (v5 << 20);
    v1 = (v1 + v5 + m3) | 0; v13 ^= v1; v13 = (v13 >>> 8) | (v13 << 24);
    v9 = (v9 + v13) | 0; v5 ^= v9; v5 = (v5 >>> 7) | (v5 << 25);
    // G(v2, v6, v10, v14, m4, m5)
    v2 = (v2 + v6 + m4) | 0; v14 ^= v2; v14 = (v14 >>> 16) | (v14 << 16);
    v10 = (v10 + v14) | 0; v6 ^= v10; v6 = (v6 >>> 12) | (v6 << 20);
    v2 = (v2 + v6 + m5) | 0; v14 ^= v2; v14 = (v14 >>> 8) | (v14 << 24);
    v10 = (v10 + v14) | 0; v6 ^= v10; v6 = (v6 >>> 7) | (v6 << 25);
    // G(v3, v7, v11, v15, m6, m7)
    v3 = (v3 + v7 + m6) | 0; v15 ^= v3; v15 = (v15 >>> 16) | (v15 << 16);
    v11 = (v11 + v15) | 0; v7 ^= v11; v7 = (v7 >>> 12) | (v7 << 20);
    v3 = (v3 + v7 + m7) | 0; v15 ^= v3; v15 = (v15 >>> 8) | (v15 << 24);
    v11 = (v11 + v15) | 0; v7 ^= v11; v7 = (v7 >>> 7) | (v7 << 25);
    // Diagonals.
    // G(v0, v5, v10, v15, m8, m9)
    v0 = (v0 + v5 + m8) | 0; v15 ^= v0; v15 = (v15 >>> 16) | (v15 << 16);
    v10 = (v10 + v15) | 0; v5 ^= v10; v5 = (v5 >>> 12) | (v5 << 20);
    v0 = (v0 + v5 + m9) | 0; v15 ^= v0; v15 = (v15 >>> 8) | (v15 << 24);
    v10 = (v10 + v15) | 0; v5 ^= v10; v5 = (v5 >>> 7) | (v5 << 25);
    // G(v1, v6, v11, v12, m10, m11)
    v1 = (v1 + v6 + m10) | 0; v12 ^= v1; v12 = (v12 >>> 16) | (v12 << 16);
    v11 = (v11 + v12) | 0; v6 ^= v11; v6 = (v6 >>> 12) | (v6 << 20);
    v1 = (v1 + v6 + m11) | 0; v12 ^= v1; v12 = (v12 >>> 8) | (v12 << 24);
    v11 = (v11 + v12) | 0; v6 ^= v11; v6 = (v6 >>> 7) | (v6 << 25);
    // G(v2, v7, v8, v13, m12, m13)
    v2 = (v2 + v7 + m12) | 0; v13 ^= v2; v13 = (v13 >>> 16) | (v13 << 16);
    v8 = (v8 + v13) | 0; v7 ^= v8; v7 = (v7 >>> 12) | (v7 << 20);
    v2 = (v2 + v7 + m13) | 0; v13 ^= v2; v13 = (v13 >>> 8) | (v13 << 24);
    v8 = (v8 + v13) | 0; v7 ^= v8; v7 = (v7 >>> 7) | (v7 << 25);
    // G(v3, v4, v9, v14, m14, m15)
    v3 = (v3 + v4 + m14) | 0; v14 ^= v3; v14 = (v14 >>> 16) | (v14 << 16);
    v9 = (v9 + v14) | 0; v4 ^= v9; v4 = (v4 >>> 12) | (v4 << 20);
    v3 = (v3 + v4 + m15) | 0; v14 ^= v3; v14 = (v14 >>> 8) | (v14 << 24);
    v9 = (v9 + v14) | 0; v4 ^= v9; v4 = (v4 >>> 7) | (v4 << 25);
    if (r === 6) break;
    // Permute the message words for the next round: m[i] = m[MSG_PERMUTATION[i]]. The
    // permutation is two 8-cycles: 0←2←3←10←12←9←11←5←0 and 1←6←4←7←13←14←15←8←1.
    let t = m0; m0 = m2; m2 = m3; m3 = m10; m10 = m12; m12 = m9; m9 = m11; m11 = m5; m5 = t;
    t = m1; m1 = m6; m6 = m4; m4 = m7; m7 = m13; m13 = m14; m14 = m15; m15 = m8; m8 = t;
  }
  CV[outOff] = v0 ^ v8; CV[outOff + 1] = v1 ^ v9; CV[outOff + 2] = v2 ^ v10; CV[outOff + 3] = v3 ^ v11;
  CV[outOff + 4] = v4 ^ v12; CV[outOff + 5] = v5 ^ v13; CV[outOff + 6] = v6 ^ v14; CV[outOff + 7] = v7 ^ v15;
}

/** Set the working CV (slot 0) to the key words; in hash mode the key words are the IV. */
function resetCv(): void {
  CV[0] = IV0;
  CV[1] = IV1;
  CV[2] = IV2;
  CV[3] = IV3;
  CV[4] = IV4;
  CV[5] = IV5;
  CV[6] = IV6;
  CV[7] = IV7;
}

/**
 * Hash input[pos .. pos+len) (1 ≤ len ≤ 1024, or len 0 for the empty input) as chunk number
 * `counter`, compressing every block but the last into slot 0. The last block is left loaded
 * in M for the caller, who compresses it with CHUNK_END plus ROOT if it is the root. Returns
 * the flags (CHUNK_START or 0) and block length of that last block as `flags | (len << 8)`.
 */
function chunkAllButLast(input: Uint8Array, pos: number, len: number, counter: number): number {
  resetCv();
  let flags = CHUNK_START;
  while (len > BLOCK_LEN) {
    loadBlock(input, pos, BLOCK_LEN);
    compress(0, counter, BLOCK_LEN, flags, 0);
    flags = 0;
    pos += BLOCK_LEN;
    len -= BLOCK_LEN;
  }
  loadBlock(input, pos, len);
  return flags | (len << 8);
}

/** Compress a parent node whose children are CV slots at `leftOff` and `rightOff`. */
function parent(leftOff: number, rightOff: number, flags: number, outOff: number): void {
  for (let i = 0; i < 8; i++) {
    M[i] = CV[leftOff + i] as number;
    M[i + 8] = CV[rightOff + i] as number;
  }
  resetCv();
  compress(0, 0, BLOCK_LEN, PARENT | flags, outOff);
}

/** BLAKE3-256 of `input` (default hash mode). Does not modify `input`; allocates only the result. */
export function blake3_256(input: Uint8Array): Uint8Array {
  const length = input.length;
  if (length <= CHUNK_LEN) {
    // One chunk: its last block is the root.
    const last = chunkAllButLast(input, 0, length, 0);
    compress(0, 0, last >>> 8, (last & 0xff) | CHUNK_END | ROOT, OUT);
    return toBytes();
  }

  // Tree mode (§5.1.2). Every chunk but the last is finished and pushed onto the CV stack
  // (slots 1..depth); after pushing chunk number t (1-based), completed subtrees are merged,
  // one parent per trailing zero bit of t. A merge always has two CVs to pop: t even means
  // t - 1 chunks were pushed before, with popcount(t - 1) ≥ 1 CVs left on the stack.
  const chunks = Math.ceil(length / CHUNK_LEN);
  let depth = 0;
  for (let c = 0; c < chunks - 1; c++) {
    const last = chunkAllButLast(input, c * CHUNK_LEN, CHUNK_LEN, c);
    depth++;
    compress(0, c, last >>> 8, (last & 0xff) | CHUNK_END, 8 * depth);
    for (let total = c + 1; (total & 1) === 0; total >>>= 1) {
      depth--;
      parent(8 * depth, 8 * (depth + 1), 0, 8 * depth);
    }
  }
  // The last chunk (1..1024 bytes) is not merged eagerly: it may be the right edge of every
  // subtree on the stack. Fold it into the stack from the top down; the final parent is the root.
  const c = chunks - 1;
  const last = chunkAllButLast(input, c * CHUNK_LEN, length - c * CHUNK_LEN, c);
  let top = depth + 1;
  compress(0, c, last >>> 8, (last & 0xff) | CHUNK_END, 8 * top);
  for (; top > 2; top--) parent(8 * (top - 1), 8 * top, 0, 8 * (top - 1));
  parent(8, 16, ROOT, OUT);
  return toBytes();
}

/**
 * BLAKE3-256 of `input` written into `out` at `at`, allocating nothing for inputs of one chunk
 * (≤ 1,024 bytes): the Merkle tree over a million ids hashes two million 33- and 65-byte
 * inputs, where allocating each result costs as much as hashing it.
 */
export function blake3_256_into(input: Uint8Array, out: Uint8Array, at: number): void {
  if (input.length > CHUNK_LEN) {
    out.set(blake3_256(input), at);
    return;
  }
  const last = chunkAllButLast(input, 0, input.length, 0);
  compress(0, 0, last >>> 8, (last & 0xff) | CHUNK_END | ROOT, OUT);
  for (let i = 0, j = at; i < 8; i++, j += 4) {
    const w = CV[OUT + i] as number;
    out[j] = w;
    out[j + 1] = w >>> 8;
    out[j + 2] = w >>> 16;
    out[j + 3] = w >>> 24;
  }
}

/** The root output's first 8 words (slot OUT) as 32 little-endian bytes. */
function toBytes(): Uint8Array {
  const out = new Uint8Array(OUT_LEN);
  for (let i = 0, j = 0; i < 8; i++, j += 4) {
    const w = CV[OUT + i] as number;
    out[j] = w;
    out[j + 1] = w >>> 8;
    out[j + 2] = w >>> 16;
    out[j + 3] = w >>> 24;
  }
  return out;
}
