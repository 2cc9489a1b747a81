/**
 * Merges a module's active data segments into as few as possible, so that
 * `new WebAssembly.Instance` initialises a handful of segments instead of
 * thousands.
 *
 * Why: AssemblyScript emits every static object (each string literal, each
 * static array) as its own segment, and Binaryen's `memory-packing` pass, which
 * `asc` always runs, splits them further at runs of zeros. A catalog guest ends
 * up with ~1,700 segments for ~80 KB of data, and V8 pays a fixed cost per
 * segment on every instantiation: merging them measured ~45 µs less per fresh
 * instance of a catalog guest (see `docs/performance.md`).
 *
 * What it does, and why that cannot change behaviour:
 * - only modules whose segments are all active, in memory 0, with an
 *   `i32.const` offset, sorted and non-overlapping, are changed; anything else
 *   is returned as it is;
 * - neighbouring segments less than `maxGap` bytes apart become one, the gap
 *   filled with zeros, which is what memory holds there anyway (a fresh memory
 *   is zeroed and no other segment writes the gap). With `maxGap` below the
 *   page size (the default), no page is written that was not written before;
 * - the data-count section is dropped: it is only needed by `memory.init` and
 *   `data.drop`, the only instructions that name segments by index, so the
 *   rewritten module validating without it proves there are none (when it does
 *   not validate, the input is returned unchanged).
 *
 * The rewrite is a pure function of the bytes, so builds stay reproducible.
 *
 * @module
 */

/** Options for {@link mergeDataSegments}. */
export interface MergeDataSegmentsOptions {
  /**
   * Largest run of zero bytes between two segments that is filled to merge
   * them; defaults to 4095 (below a 4 KiB page, so no extra page is touched).
   */
  maxGap?: number;
}

/** What {@link mergeDataSegments} did. */
export interface MergeDataSegmentsResult {
  /** The rewritten module, or the input when nothing was changed. */
  binary: Uint8Array<ArrayBuffer>;
  /** Segments before and after. */
  segmentsBefore: number;
  segmentsAfter: number;
  /** Why the module was left as it is, when it was. */
  skipped?: string;
}

interface Section {
  id: number;
  body: Uint8Array;
}

interface Segment {
  offset: number;
  bytes: Uint8Array;
}

const DATA_SECTION = 11;
const DATA_COUNT_SECTION = 12;
const I32_CONST = 0x41;
const END = 0x0b;

/**
 * Merges adjacent active data segments (see the module doc).
 *
 * @example
 * ```ts
 * import { mergeDataSegments } from "./merge_data_segments.ts";
 * // (module (memory 1) (data (i32.const 0) "a") (data (i32.const 4) "b"))
 * const wasm = new Uint8Array([
 *   0, 97, 115, 109, 1, 0, 0, 0, 5, 3, 1, 0, 1, 11, 13, 2,
 *   0, 65, 0, 11, 1, 97, 0, 65, 4, 11, 1, 98,
 * ]);
 * const merged = mergeDataSegments(wasm);
 * console.assert(merged.segmentsBefore === 2 && merged.segmentsAfter === 1);
 * console.assert(WebAssembly.validate(merged.binary));
 * ```
 */
export function mergeDataSegments(
  binary: Uint8Array,
  options: MergeDataSegmentsOptions = {},
): MergeDataSegmentsResult {
  const maxGap = options.maxGap ?? 4095;
  if (!Number.isInteger(maxGap) || maxGap < 0) {
    throw new RangeError(
      `Cannot merge data segments as maxGap must be a non-negative integer: current value is ${maxGap}`,
    );
  }
  const unchanged = (segments: number, skipped: string): MergeDataSegmentsResult => ({
    binary: new Uint8Array(binary),
    segmentsBefore: segments,
    segmentsAfter: segments,
    skipped,
  });
  const sections = readSections(binary);
  if (sections === null) return unchanged(0, "not a WebAssembly 1.0 binary");
  const data = sections.find((s) => s.id === DATA_SECTION);
  if (!data) return unchanged(0, "no data section");
  const segments = readSegments(data.body);
  if (typeof segments === "string") return unchanged(0, segments);
  for (let i = 1; i < segments.length; i++) {
    const prev = segments[i - 1];
    if (segments[i].offset < prev.offset + prev.bytes.length) {
      return unchanged(segments.length, "segments are not sorted and disjoint");
    }
  }

  const merged: Segment[] = [];
  let start = 0;
  for (let i = 1; i <= segments.length; i++) {
    const prev = segments[i - 1];
    if (i < segments.length && segments[i].offset - (prev.offset + prev.bytes.length) <= maxGap) {
      continue;
    }
    const first = segments[start];
    const bytes = new Uint8Array(prev.offset + prev.bytes.length - first.offset);
    for (let k = start; k < i; k++) bytes.set(segments[k].bytes, segments[k].offset - first.offset);
    merged.push({ offset: first.offset, bytes });
    start = i;
  }

  const out: number[] = [...binary.subarray(0, 8)];
  for (const section of sections) {
    if (section.id === DATA_COUNT_SECTION) continue;
    const body = section.id === DATA_SECTION ? writeSegments(merged) : section.body;
    out.push(section.id, ...uleb(body.length));
    for (let i = 0; i < body.length; i++) out.push(body[i]);
  }
  const rewritten = new Uint8Array(out);
  if (!WebAssembly.validate(rewritten)) {
    return unchanged(segments.length, "the code refers to segments by index");
  }
  return { binary: rewritten, segmentsBefore: segments.length, segmentsAfter: merged.length };
}

/** The module's sections in order, or null when the header is not wasm 1.0. */
function readSections(binary: Uint8Array): Section[] | null {
  const header = [0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00];
  if (binary.length < 8 || header.some((b, i) => binary[i] !== b)) return null;
  const sections: Section[] = [];
  const r = new Reader(binary, 8);
  while (r.pos < binary.length) {
    const id = binary[r.pos++];
    const size = r.uleb();
    sections.push({ id, body: binary.subarray(r.pos, r.pos + size) });
    r.pos += size;
  }
  return r.pos === binary.length ? sections : null;
}

/** Active memory-0 segments with constant offsets, or why the section is not one of those. */
function readSegments(body: Uint8Array): Segment[] | string {
  const r = new Reader(body, 0);
  const count = r.uleb();
  const segments: Segment[] = [];
  for (let i = 0; i < count; i++) {
    if (r.uleb() !== 0) return `segment ${i} is passive or names a memory`;
    if (body[r.pos++] !== I32_CONST) return `segment ${i} has a non-constant offset`;
    const offset = r.sleb() >>> 0;
    if (body[r.pos++] !== END) return `segment ${i} has a non-constant offset`;
    const length = r.uleb();
    segments.push({ offset, bytes: body.subarray(r.pos, r.pos + length) });
    r.pos += length;
  }
  return r.pos === body.length ? segments : "the data section has trailing bytes";
}

function writeSegments(segments: Segment[]): Uint8Array {
  const out: number[] = [...uleb(segments.length)];
  for (const s of segments) {
    out.push(0, I32_CONST, ...sleb(s.offset | 0), END, ...uleb(s.bytes.length));
    for (let i = 0; i < s.bytes.length; i++) out.push(s.bytes[i]);
  }
  return new Uint8Array(out);
}

class Reader {
  constructor(readonly bytes: Uint8Array, public pos: number) {}

  uleb(): number {
    let result = 0;
    let shift = 0;
    let byte: number;
    do {
      byte = this.bytes[this.pos++];
      result += (byte & 0x7f) * 2 ** shift;
      shift += 7;
    } while (byte & 0x80);
    return result;
  }

  sleb(): number {
    let result = 0;
    let shift = 0;
    let byte: number;
    do {
      byte = this.bytes[this.pos++];
      result |= (byte & 0x7f) << shift;
      shift += 7;
    } while (byte & 0x80);
    return shift < 32 && byte & 0x40 ? result | (-1 << shift) : result;
  }
}

function uleb(value: number): number[] {
  const out: number[] = [];
  do {
    let byte = value & 0x7f;
    value = Math.floor(value / 128);
    if (value) byte |= 0x80;
    out.push(byte);
  } while (value);
  return out;
}

function sleb(value: number): number[] {
  const out: number[] = [];
  for (;;) {
    const byte = value & 0x7f;
    value >>= 7;
    if ((value === 0 && !(byte & 0x40)) || (value === -1 && byte & 0x40)) {
      out.push(byte);
      return out;
    }
    out.push(byte | 0x80);
  }
}
