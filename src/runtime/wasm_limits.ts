/**
 * Host-enforced memory and table limits for guest WebAssembly modules.
 *
 * A guest module declares the limits of its memories and tables itself, and the
 * engine honours whatever it declares: a module that says `(memory 1)` may grow
 * to 4 GiB, and `(table 1 funcref)` may grow to the engine's implementation
 * limit. The broker must not trust those declarations, so before a module is
 * compiled {@link clampModuleLimits} rewrites the binary so that every memory
 * and table — defined or imported — declares a maximum no larger than the
 * host's limit. The engine then enforces the limit for us: `memory.grow` and
 * `table.grow` past it return `-1`, and an imported memory or table must be
 * supplied with a maximum within the limit or linking fails.
 *
 * Only the import (2), table (4) and memory (5) sections are decoded; every
 * other section, custom sections included, is copied byte for byte. The module
 * is checked at the section level only (header, section framing and the
 * contents of the three decoded sections); full validation is left to
 * `WebAssembly.Module`.
 *
 * @example
 * ```ts
 * import { clampModuleLimits } from "./wasm_limits.ts";
 *
 * // (module (memory 1)): one memory, no maximum declared.
 * const guest = new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0, 5, 3, 1, 0, 1]);
 * const { bytes } = clampModuleLimits(guest, { maxMemoryPages: 256, maxTableElements: 10_000 });
 * const module = new WebAssembly.Module(bytes as Uint8Array<ArrayBuffer>); // memory now caps at 16 MiB
 * console.assert(WebAssembly.Module.imports(module).length === 0);
 * ```
 *
 * @module
 */
import { concatBytes } from "../concat_bytes.ts";

/** Host limits applied to every memory and table of a module. */
export interface ClampOptions {
  /** Largest number of 64 KiB pages any memory may reach. */
  maxMemoryPages: number;
  /** Largest number of elements any table may reach. */
  maxTableElements: number;
}

/** Per-memory and per-table account of what {@link clampModuleLimits} found and did. */
export interface ClampReport {
  /** One entry per memory, in memory index order (imported memories first). */
  memories: {
    /** Index in the memory index space. */
    index: number;
    /** Whether the memory is imported, i.e. the host will supply it. */
    imported: boolean;
    /** Minimum the module declared, in pages. */
    declaredMin: number;
    /** Maximum the module declared, in pages, or `null` when it declared none. */
    declaredMax: number | null;
    /** Maximum the returned bytes declare, in pages. */
    max: number;
  }[];
  /** One entry per table, in table index order (imported tables first); fields as for memories. */
  tables: {
    index: number;
    imported: boolean;
    declaredMin: number;
    declaredMax: number | null;
    max: number;
  }[];
}

type LimitEntry = ClampReport["memories"][number];

/** Result of {@link clampModuleLimits}. */
export interface ClampResult {
  /** The clamped module; the input array itself when nothing was rewritten. */
  bytes: Uint8Array;
  report: ClampReport;
  /** Whether any limit was rewritten. */
  changed: boolean;
}

/** The bytes are not a well-formed WebAssembly binary at the section level. */
export class ModuleFormatError extends Error {
  readonly code = "module_invalid";
  /**
   * @param message What is wrong; it should already name the offset.
   * @param offset Byte offset in the input where the problem was found.
   */
  constructor(message: string, readonly offset: number) {
    super(message);
    this.name = "ModuleFormatError";
  }
}

/** A memory or table declares a minimum size above the host's limit. */
export class WasmLimitError extends Error {
  readonly code: "memory_limit" | "table_limit";
  /**
   * @param kind Whether a memory or a table is too large.
   * @param index Its index in the memory or table index space.
   * @param declared The minimum the module declared.
   * @param limit The host limit it exceeds.
   */
  constructor(
    readonly kind: "memory" | "table",
    readonly index: number,
    readonly declared: number,
    readonly limit: number,
  ) {
    const unit = kind === "memory" ? "pages" : "elements";
    super(
      `${kind} ${index} declares a minimum of ${declared} ${unit}, above the limit of ${limit} ${unit}`,
    );
    this.name = "WasmLimitError";
    this.code = kind === "memory" ? "memory_limit" : "table_limit";
  }
}

/**
 * Rewrites every defined memory's and table's maximum to min(declared max, limit) (adding a
 * maximum when none is declared). Throws WasmLimitError when a declared minimum already exceeds
 * the limit, and ModuleFormatError when the bytes are not a well-formed wasm binary at the
 * section level.
 *
 * Imported memories and tables are clamped the same way, so the host has to supply them with a
 * maximum within the limit. Memory maxima are additionally capped at 65536 pages, the most a
 * 32-bit memory can declare. Limits that are already within bounds are left byte for byte as they
 * were, and when nothing needs rewriting the input array itself is returned.
 *
 * Not supported (rejected with ModuleFormatError): memory64 and table64, custom page sizes,
 * shared memories without a maximum (invalid anyway) and the shared-everything / exact-type
 * reference encodings.
 *
 * @example
 * ```ts
 * import { clampModuleLimits } from "./wasm_limits.ts";
 *
 * const guestBytes = new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0, 5, 3, 1, 0, 1]); // (module (memory 1))
 * const { bytes, report, changed } = clampModuleLimits(guestBytes, {
 *   maxMemoryPages: 160, // 10 MiB
 *   maxTableElements: 1_000,
 * });
 * console.assert(changed && report.memories[0].max === 160 && report.memories[0].declaredMax === null);
 * await WebAssembly.instantiate(bytes as Uint8Array<ArrayBuffer>);
 * ```
 *
 * @throws {RangeError} when an option is not an integer in [0, 2^32 - 1].
 */
export function clampModuleLimits(bytes: Uint8Array, options: ClampOptions): ClampResult {
  const memoryLimit = checkLimitOption("maxMemoryPages", options.maxMemoryPages);
  const tableLimit = checkLimitOption("maxTableElements", options.maxTableElements);
  const p = new Parser(bytes, memoryLimit, tableLimit);
  p.readHeader();

  // Output is assembled as a list of slices of the input plus freshly encoded sections, and
  // concatenated once at the end; untouched sections are never copied twice.
  const pieces: Uint8Array[] = [];
  let copiedUpTo = 0;
  let lastKnown = 0;

  while (p.pos < bytes.length) {
    const sectionStart = p.pos;
    const id = p.byte("section id");
    const size = p.u32("section size");
    const payloadStart = p.pos;
    const payloadEnd = payloadStart + size;
    if (payloadEnd > bytes.length) {
      throw new ModuleFormatError(
        `truncated module: section ${id} at offset ${sectionStart} declares ${size} bytes ` +
          `but only ${bytes.length - payloadStart} remain`,
        sectionStart,
      );
    }
    if (id === IMPORT_SECTION || id === TABLE_SECTION || id === MEMORY_SECTION) {
      // Index numbering (imports first) relies on this order; the engine requires it anyway.
      if (id <= lastKnown) {
        throw new ModuleFormatError(
          `section ${id} at offset ${sectionStart} is duplicated or out of order`,
          sectionStart,
        );
      }
      lastKnown = id;
      p.end = payloadEnd;
      p.section = id;
      p.edits.length = 0;
      if (id === IMPORT_SECTION) p.readImportSection();
      else if (id === TABLE_SECTION) p.readTableSection();
      else p.readMemorySection();
      if (p.pos !== payloadEnd) {
        throw new ModuleFormatError(
          `section ${id} at offset ${sectionStart} has ${payloadEnd - p.pos} unexpected ` +
            `trailing bytes at offset ${p.pos}`,
          p.pos,
        );
      }
      if (p.edits.length > 0) {
        pieces.push(bytes.subarray(copiedUpTo, sectionStart));
        pieces.push(encodeSection(bytes, id, payloadStart, payloadEnd, p.edits));
        copiedUpTo = payloadEnd;
      }
    }
    p.pos = payloadEnd;
    p.end = bytes.length;
    p.section = -1;
  }

  const report: ClampReport = { memories: p.memories, tables: p.tables };
  if (pieces.length === 0) return { bytes, report, changed: false };
  pieces.push(bytes.subarray(copiedUpTo));
  return { bytes: concatBytes(pieces), report, changed: true };
}

const IMPORT_SECTION = 2;
const TABLE_SECTION = 4;
const MEMORY_SECTION = 5;
/** A 32-bit memory can declare at most 2^16 pages (4 GiB). */
const MAX_MEMORY32_PAGES = 65536;
const MAX_U32 = 0xffff_ffff;

function checkLimitOption(name: string, value: number): number {
  if (!Number.isInteger(value) || value < 0 || value > MAX_U32) {
    throw new RangeError(`${name} must be an integer between 0 and ${MAX_U32}, got ${value}`);
  }
  return value;
}

/** Replace input[start, end) with `bytes` in the re-emitted section payload. */
interface Edit {
  start: number;
  end: number;
  bytes: Uint8Array;
}

/** Cursor over the input with bounds checked against the current section's end. */
class Parser {
  pos = 0;
  end: number;
  /** Id of the section being decoded, or -1 between sections. */
  section = -1;
  readonly memories: LimitEntry[] = [];
  readonly tables: LimitEntry[] = [];
  readonly edits: Edit[] = [];

  constructor(
    readonly bytes: Uint8Array,
    readonly memoryLimit: number,
    readonly tableLimit: number,
  ) {
    this.end = bytes.length;
  }

  fail(message: string, offset = this.pos): never {
    throw new ModuleFormatError(`${message} at offset ${offset}`, offset);
  }

  byte(what: string): number {
    if (this.pos >= this.end) this.truncated(what);
    return this.bytes[this.pos++];
  }

  truncated(what: string): never {
    // Section framing is checked against the input length first, so running out inside a
    // section means the section itself is malformed, not that the file was cut short.
    return this.section < 0
      ? this.fail(`truncated module: unexpected end while reading ${what}`)
      : this.fail(`malformed section ${this.section}: it ends while reading ${what}`);
  }

  /** Unsigned LEB128, at most 5 bytes, rejecting bits beyond 32 as engines do. */
  u32(what: string): number {
    const start = this.pos;
    let result = 0;
    for (let shift = 0; shift < 35; shift += 7) {
      const b = this.byte(what);
      if (shift === 28 && (b & 0xf0) !== 0) this.fail(`invalid LEB128 ${what}`, start);
      result += (b & 0x7f) * 2 ** shift;
      if ((b & 0x80) === 0) return result;
    }
    return this.fail(`invalid LEB128 ${what}`, start);
  }

  /** Skip a signed or unsigned LEB128 of at most `maxBytes` bytes; only its length matters. */
  skipLeb(maxBytes: number, what: string): void {
    const start = this.pos;
    for (let i = 0; i < maxBytes; i++) {
      if ((this.byte(what) & 0x80) === 0) return;
    }
    this.fail(`invalid LEB128 ${what}`, start);
  }

  skip(n: number, what: string): void {
    if (this.end - this.pos < n) {
      this.pos = this.end;
      this.truncated(what);
    }
    this.pos += n;
  }

  readHeader(): void {
    const b = this.bytes;
    const magic = [0x00, 0x61, 0x73, 0x6d];
    for (let i = 0; i < 4; i++) {
      if (i >= b.length) {
        this.fail("truncated module: expected the \\0asm magic number", i);
      }
      if (b[i] !== magic[i]) {
        this.fail(
          "Cannot load module as it is not WebAssembly: missing the \\0asm magic number",
          i,
        );
      }
    }
    if (b.length < 8) this.fail("truncated module: expected the 4-byte version", b.length);
    const version = b[4] | (b[5] << 8);
    const layer = b[6] | (b[7] << 8);
    if (layer === 1) {
      this.fail("Cannot load a WebAssembly component: only core modules are supported", 6);
    }
    if (version !== 1 || layer !== 0) {
      this.fail(`unsupported WebAssembly binary version ${(version + layer * 65536) >>> 0}`, 4);
    }
    this.pos = 8;
  }

  readName(what: string): void {
    const length = this.u32(`${what} length`);
    this.skip(length, what);
  }

  readImportSection(): void {
    const count = this.u32("import count");
    for (let i = 0; i < count; i++) {
      this.readName("import module name");
      this.readName("import field name");
      const kindOffset = this.pos;
      const kind = this.byte("import kind");
      switch (kind) {
        case 0x00: // function: type index
          this.u32("function import type index");
          break;
        case 0x01: // table: reftype + limits
          this.readRefType("table import element type");
          this.readTableLimits(true);
          break;
        case 0x02: // memory: limits
          this.readMemoryLimits(true);
          break;
        case 0x03: // global: valtype + mutability
          this.readValType("global import type");
          this.byte("global import mutability");
          break;
        case 0x04: // tag: attribute + type index
          this.byte("tag import attribute");
          this.u32("tag import type index");
          break;
        default:
          this.fail(`unknown import kind 0x${hex(kind)}`, kindOffset);
      }
    }
  }

  readTableSection(): void {
    const count = this.u32("table count");
    for (let i = 0; i < count; i++) {
      const prefixOffset = this.pos;
      if (this.pos < this.end && this.bytes[this.pos] === 0x40) {
        // Table with an initializer (function references): 0x40 0x00 reftype limits expr.
        this.pos++;
        if (this.byte("table initializer prefix") !== 0x00) {
          this.fail("malformed table initializer prefix", prefixOffset);
        }
        this.readRefType("table element type");
        this.readTableLimits(false);
        this.skipConstExpr("table initializer");
      } else {
        this.readRefType("table element type");
        this.readTableLimits(false);
      }
    }
  }

  readMemorySection(): void {
    const count = this.u32("memory count");
    for (let i = 0; i < count; i++) this.readMemoryLimits(false);
  }

  readMemoryLimits(imported: boolean): void {
    const start = this.pos;
    const flags = this.byte("memory limits flags");
    if (flags >= 0x04 && flags <= 0x07) this.fail("memory64 is not supported", start);
    if (flags > 0x03) this.fail(`unsupported memory limits flags 0x${hex(flags)}`, start);
    const shared = (flags & 0x02) !== 0;
    const min = this.u32("memory minimum");
    const declaredMax = (flags & 0x01) !== 0 ? this.u32("memory maximum") : null;
    if (shared && declaredMax === null) {
      this.fail("shared memory must declare a maximum", start);
    }
    const index = this.memories.length;
    if (min > this.memoryLimit) {
      throw new WasmLimitError("memory", index, min, this.memoryLimit);
    }
    const limit = Math.min(this.memoryLimit, MAX_MEMORY32_PAGES);
    const max = this.clamp(start, shared ? 0x03 : 0x01, min, declaredMax, limit);
    this.memories.push({ index, imported, declaredMin: min, declaredMax, max });
  }

  readTableLimits(imported: boolean): void {
    const start = this.pos;
    const flags = this.byte("table limits flags");
    if (flags === 0x04 || flags === 0x05) this.fail("table64 is not supported", start);
    if (flags > 0x01) this.fail(`unsupported table limits flags 0x${hex(flags)}`, start);
    const min = this.u32("table minimum");
    const declaredMax = flags === 0x01 ? this.u32("table maximum") : null;
    const index = this.tables.length;
    if (min > this.tableLimit) {
      throw new WasmLimitError("table", index, min, this.tableLimit);
    }
    const max = this.clamp(start, 0x01, min, declaredMax, this.tableLimit);
    this.tables.push({ index, imported, declaredMin: min, declaredMax, max });
  }

  /** Record an edit for limits that start at `start` and end at `pos`; returns the new max. */
  clamp(
    start: number,
    flags: number,
    min: number,
    declaredMax: number | null,
    limit: number,
  ): number {
    if (declaredMax !== null && declaredMax <= limit) return declaredMax;
    const out = new Uint8Array(11);
    out[0] = flags;
    let n = writeU32(out, 1, min);
    n = writeU32(out, n, limit);
    this.edits.push({ start, end: this.pos, bytes: out.subarray(0, n) });
    return limit;
  }

  readValType(what: string): void {
    const b = this.bytes[this.pos];
    // i32, i64, f32, f64, v128; anything else must be a reference type.
    if (this.pos < this.end && b >= 0x7b && b <= 0x7f) this.pos++;
    else this.readRefType(what);
  }

  /**
   * Reference types are one byte (funcref, externref, the GC abbreviations) or 0x63/0x64
   * followed by a heap type. Encodings this parser can't size (shared, exact) are rejected
   * rather than guessed, so it can never disagree with the engine about where the next
   * memory or table starts.
   */
  readRefType(what: string): void {
    const start = this.pos;
    const b = this.byte(what);
    if (b === 0x63 || b === 0x64) this.readHeapType(what);
    else if (!isAbstractHeapType(b)) this.fail(`unsupported ${what} 0x${hex(b)}`, start);
  }

  readHeapType(what: string): void {
    const start = this.pos;
    const b = this.byte(what);
    if ((b & 0xc0) === 0x40) {
      // Single-byte negative s33: an abstract heap type.
      if (!isAbstractHeapType(b)) this.fail(`unsupported ${what} heap type 0x${hex(b)}`, start);
      return;
    }
    this.pos = start;
    this.skipLeb(5, `${what} type index`);
  }

  /** Skip a constant expression up to and including its `end`, knowing only constant opcodes. */
  skipConstExpr(what: string): void {
    for (;;) {
      const opOffset = this.pos;
      const op = this.byte(what);
      switch (op) {
        case 0x0b: // end
          return;
        case 0x41: // i32.const
          this.skipLeb(5, what);
          break;
        case 0x42: // i64.const
          this.skipLeb(10, what);
          break;
        case 0x43: // f32.const
          this.skip(4, what);
          break;
        case 0x44: // f64.const
          this.skip(8, what);
          break;
        case 0x23: // global.get
        case 0xd2: // ref.func
          this.u32(what);
          break;
        case 0xd0: // ref.null
          this.readHeapType(what);
          break;
        case 0x6a: // i32.add, i32.sub, i32.mul, i64.add, i64.sub, i64.mul (extended-const)
        case 0x6b:
        case 0x6c:
        case 0x7c:
        case 0x7d:
        case 0x7e:
          break;
        case 0xfd: // v128.const
          if (this.u32(what) !== 0x0c) this.fail(`non-constant opcode in ${what}`, opOffset);
          this.skip(16, what);
          break;
        case 0xfb: { // GC constant instructions
          const sub = this.u32(what);
          if (sub === 0 || sub === 1 || sub === 6 || sub === 7) {
            this.u32(what); // struct.new(_default) / array.new(_default) type index
          } else if (sub === 8) {
            this.u32(what); // array.new_fixed type index, length
            this.u32(what);
          } else if (sub < 0x1a || sub > 0x1c) { // any.convert_extern, extern.convert_any, ref.i31
            this.fail(`unsupported opcode 0xfb ${sub} in ${what}`, opOffset);
          }
          break;
        }
        default:
          this.fail(`unsupported opcode 0x${hex(op)} in ${what}`, opOffset);
      }
    }
  }
}

/** exn (0x69) through noexn (0x74): funcref, externref and the GC abstract heap types. */
function isAbstractHeapType(b: number): boolean {
  return b >= 0x69 && b <= 0x74;
}

function hex(b: number): string {
  return b.toString(16).padStart(2, "0");
}

/** Minimal unsigned LEB128 of `value` into `out` at `at`; returns the offset after it. */
function writeU32(out: Uint8Array, at: number, value: number): number {
  let v = value >>> 0;
  for (;;) {
    const b = v & 0x7f;
    v >>>= 7;
    if (v === 0) {
      out[at++] = b;
      return at;
    }
    out[at++] = b | 0x80;
  }
}

/** Re-emit a section: id, new size, then the payload with `edits` (in order) applied. */
function encodeSection(
  input: Uint8Array,
  id: number,
  payloadStart: number,
  payloadEnd: number,
  edits: readonly Edit[],
): Uint8Array {
  let size = payloadEnd - payloadStart;
  for (const e of edits) size += e.bytes.length - (e.end - e.start);
  const header = new Uint8Array(6);
  header[0] = id;
  const headerLength = writeU32(header, 1, size);
  const out = new Uint8Array(headerLength + size);
  out.set(header.subarray(0, headerLength));
  let at = headerLength;
  let from = payloadStart;
  for (const e of edits) {
    out.set(input.subarray(from, e.start), at);
    at += e.start - from;
    out.set(e.bytes, at);
    at += e.bytes.length;
    from = e.end;
  }
  out.set(input.subarray(from, payloadEnd), at);
  return out;
}
