/**
 * A CBOR writer for hostile-input tests: every head can be written in a chosen width, lengths can
 * be declared that the bytes do not hold, strings and containers can be indefinite, and values
 * can be tagged or encoded as the wrong float width. With no knobs it writes the canonical form
 * (docs/FORMAT.md#records-canonical-encoding), which the suite checks against the client's bodies before it trusts the knobs.
 *
 * Test support only: nothing here is careful about speed, and nothing in src/ uses it.
 */

/** Widths of a head's argument: 0 = in the initial byte (values < 24), else 1, 2, 4 or 8 bytes. */
export type HeadWidth = 0 | 1 | 2 | 4 | 8;

const infoOfWidth: Record<HeadWidth, number> = { 0: -1, 1: 24, 2: 25, 4: 26, 8: 27 };

function shortestWidth(n: bigint): HeadWidth {
  if (n < 24n) return 0;
  if (n <= 0xffn) return 1;
  if (n <= 0xffffn) return 2;
  if (n <= 0xffffffffn) return 4;
  return 8;
}

export function concat(...parts: Uint8Array[]): Uint8Array {
  let n = 0;
  for (const p of parts) n += p.length;
  const out = new Uint8Array(n);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** A head: major type and argument, in the shortest width unless `width` says otherwise. */
export function head(major: number, value: number | bigint, width?: HeadWidth): Uint8Array {
  const n = BigInt(value);
  const w = width ?? shortestWidth(n);
  if (w === 0) return Uint8Array.of((major << 5) | Number(n));
  const out = new Uint8Array(1 + w);
  out[0] = (major << 5) | infoOfWidth[w];
  for (let i = 0; i < w; i++) out[w - i] = Number((n >> BigInt(8 * i)) & 0xffn);
  return out;
}

export const bstr = (b: Uint8Array, width?: HeadWidth): Uint8Array => concat(head(2, b.length, width), b);
export const tstrRaw = (b: Uint8Array, width?: HeadWidth): Uint8Array => concat(head(3, b.length, width), b);
export const tstr = (s: string, width?: HeadWidth): Uint8Array => tstrRaw(new TextEncoder().encode(s), width);
export const arr = (items: Uint8Array[], width?: HeadWidth): Uint8Array => concat(head(4, items.length, width), ...items);
export const map = (entries: Array<[Uint8Array, Uint8Array]>, width?: HeadWidth): Uint8Array =>
  concat(head(5, entries.length, width), ...entries.flat());
export const tag = (t: number | bigint, item: Uint8Array, width?: HeadWidth): Uint8Array => concat(head(6, t, width), item);
/** An indefinite-length container or string: the 0x1f head, the chunks or items, a break. */
export const indefinite = (major: 2 | 3 | 4 | 5, parts: Uint8Array[]): Uint8Array =>
  concat(Uint8Array.of((major << 5) | 31), ...parts, Uint8Array.of(0xff));
export const simple = (n: number): Uint8Array => (n < 24 ? Uint8Array.of(0xe0 | n) : Uint8Array.of(0xf8, n));

export function float(x: number, bits: 16 | 32 | 64): Uint8Array {
  const out = new Uint8Array(1 + bits / 8);
  const view = new DataView(out.buffer);
  if (bits === 16) {
    out[0] = 0xf9;
    view.setFloat16(1, x);
  } else if (bits === 32) {
    out[0] = 0xfa;
    view.setFloat32(1, x);
  } else {
    out[0] = 0xfb;
    view.setFloat64(1, x);
  }
  return out;
}

/** The value model of a record body (JSON's plus byte strings). */
export type Value = null | boolean | number | string | Uint8Array | Value[] | { [key: string]: Value };

/**
 * Ways to break the canonical form, each applied to a node with probability `p`:
 * `long` widens a head, `unsorted` reverses map order, `indefinite` writes a container or string
 * with indefinite length, `wideFloat` writes a float in 64 bits, `intAsFloat` writes an integer
 * as a float, `tag` wraps a value in a tag, `dupKey` repeats a map key.
 */
export interface Knobs {
  rand: () => number;
  p: number;
  use: ReadonlySet<"long" | "unsorted" | "indefinite" | "wideFloat" | "intAsFloat" | "tag" | "dupKey">;
}

const maxSafe = Number.MAX_SAFE_INTEGER;

function fires(k: Knobs | undefined, what: Parameters<Knobs["use"]["has"]>[0]): boolean {
  return k?.use.has(what) === true && k.rand() < k.p;
}

function widerWidth(n: number | bigint, k: Knobs | undefined): HeadWidth | undefined {
  if (!fires(k, "long")) return undefined;
  const w = shortestWidth(BigInt(n));
  const wider = ([1, 2, 4, 8] as const).filter((x) => x > w);
  return wider[Math.floor((k as Knobs).rand() * wider.length)];
}

function number(x: number, k: Knobs | undefined): Uint8Array {
  if (Number.isInteger(x) && Math.abs(x) <= maxSafe) {
    if (fires(k, "intAsFloat")) return float(x, 64);
    return x >= 0 ? head(0, x, widerWidth(x, k)) : head(1, -1 - x, widerWidth(-1 - x, k));
  }
  if (fires(k, "wideFloat")) return float(x, 64);
  if (Math.f16round(x) === x) return float(x, 16);
  if (Math.fround(x) === x) return float(x, 32);
  return float(x, 64);
}

function compareBytes(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return (a[i] as number) - (b[i] as number);
  return a.length - b.length;
}

/** Encode a value: canonical with no knobs, broken in the ways the knobs pick otherwise. */
export function encode(v: Value, k?: Knobs): Uint8Array {
  const out = encodeInner(v, k);
  return fires(k, "tag") ? tag(Math.floor((k as Knobs).rand() * 300), out) : out;
}

function encodeInner(v: Value, k: Knobs | undefined): Uint8Array {
  if (v === null) return Uint8Array.of(0xf6);
  if (v === false) return Uint8Array.of(0xf4);
  if (v === true) return Uint8Array.of(0xf5);
  if (typeof v === "number") return number(v, k);
  if (typeof v === "string") {
    const b = new TextEncoder().encode(v);
    if (b.length > 1 && fires(k, "indefinite")) return indefinite(3, [tstrRaw(b.subarray(0, 1)), tstrRaw(b.subarray(1))]);
    return tstrRaw(b, widerWidth(b.length, k));
  }
  if (v instanceof Uint8Array) {
    if (v.length > 1 && fires(k, "indefinite")) return indefinite(2, [bstr(v.subarray(0, 1)), bstr(v.subarray(1))]);
    return bstr(v, widerWidth(v.length, k));
  }
  if (Array.isArray(v)) {
    const items = v.map((x) => encode(x, k));
    if (fires(k, "indefinite")) return indefinite(4, items);
    return arr(items, widerWidth(items.length, k));
  }
  const entries: Array<[Uint8Array, Uint8Array]> = Object.entries(v).map(([key, x]) => [
    encodeInner(key, undefined),
    encode(x, k),
  ]);
  entries.sort((a, b) => compareBytes(a[0], b[0]));
  if (entries.length > 1 && fires(k, "unsorted")) entries.reverse();
  if (entries.length > 0 && fires(k, "dupKey")) entries.push(entries[0] as [Uint8Array, Uint8Array]);
  if (fires(k, "indefinite")) return indefinite(5, entries.flat());
  return map(entries, widerWidth(entries.length, k));
}
