/**
 * Host-supplied linear memory: a guest's own memory becomes an import.
 *
 * A fresh instance's memory is a fresh mapping, and every 4 KiB page the
 * guest touches — its data segments first of all — costs a page fault
 * (~2.7 µs measured here; a catalog handler's 90 KB of data alone is ~60 µs
 * per step). {@link hostSuppliedMemory} rewrites a module that defines its
 * single memory into one that imports it as `env.memory` with the same
 * limits, so the runtime can hand each instance a memory from a
 * {@link MemoryPool}: all zero and exactly the declared initial size, as a
 * fresh one would be, but with its pages already mapped. Nothing the guest
 * can observe changes: same memory index (imported memories come first, and
 * there are no others), same limits, same exports, data segments still
 * written at instantiation.
 *
 * Runs on bytes {@link clampModuleLimits} has already framed and clamped, so
 * the sections are known to be well formed; it reads only what it moves.
 *
 * @module
 */
import type { MemoryReuse } from "./memory_pool.ts";
import { concatBytes } from "../concat_bytes.ts";
import type { ClampReport } from "./wasm_limits.ts";

/**
 * Custom section in which a guest declares what memory it may be handed:
 * UTF-8 JSON `{"reuse": "any_size"}` says its allocator starts at its heap
 * base and uses whatever memory it finds before growing, so a larger zeroed
 * memory is as good as a fresh one (memory_pool.ts). Absent or anything
 * else: `exact`. A guest can only make its own memory larger than it
 * declared, never reach past `limits.memory`, so the declaration is trusted.
 */
export const MEMORY_REUSE_SECTION = "wasm-broker.memory";

/** What `module` declared in its {@link MEMORY_REUSE_SECTION}; `exact` when nothing valid. */
export function declaredMemoryReuse(module: WebAssembly.Module): MemoryReuse {
  const sections = WebAssembly.Module.customSections(module, MEMORY_REUSE_SECTION);
  if (sections.length !== 1) return "exact";
  try {
    const declared = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(sections[0]));
    return declared?.reuse === "any_size" ? "any_size" : "exact";
  } catch {
    return "exact";
  }
}

/**
 * `bytes` with a {@link MEMORY_REUSE_SECTION} declaring `reuse` appended (for
 * builds whose runtime allocates from the heap base, such as AssemblyScript's).
 *
 * @example
 * ```ts
 * import { declaredMemoryReuse, withMemoryReuse } from "./host_memory.ts";
 * const empty = new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0]);
 * const module = new WebAssembly.Module(withMemoryReuse(empty, "any_size") as Uint8Array<ArrayBuffer>);
 * console.assert(declaredMemoryReuse(module) === "any_size");
 * ```
 */
export function withMemoryReuse(bytes: Uint8Array, reuse: MemoryReuse): Uint8Array {
  const encoder = new TextEncoder();
  const name = encoder.encode(MEMORY_REUSE_SECTION);
  const payload = encoder.encode(JSON.stringify({ reuse }));
  return concatBytes([bytes, section(0, [u32(name.length), name, payload])]);
}

const IMPORT_SECTION = 2;
const MEMORY_SECTION = 5;
const CUSTOM_SECTION = 0;
const TYPE_SECTION = 1;

/** What {@link hostSuppliedMemory} did. */
export interface HostMemoryResult {
  /** The module to compile: rewritten, or the input itself. */
  bytes: Uint8Array;
  /** The memory's limits when it now imports `env.memory`; null when left as it was. */
  memory: { initial: number; maximum: number } | null;
}

/**
 * Moves the module's one defined memory to an `env.memory` import. Left as
 * they are: modules that import a memory already, define none or several,
 * or define a shared one (a pool must never hand out memory another thread
 * may still hold).
 *
 * @example
 * ```ts
 * import { clampModuleLimits } from "./wasm_limits.ts";
 * import { hostSuppliedMemory } from "./host_memory.ts";
 *
 * const guest = new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0, 5, 3, 1, 0, 1]); // (module (memory 1))
 * const clamped = clampModuleLimits(guest, { maxMemoryPages: 16, maxTableElements: 10 });
 * const { bytes, memory } = hostSuppliedMemory(clamped.bytes, clamped.report);
 * console.assert(memory?.initial === 1 && memory.maximum === 16);
 * const module = new WebAssembly.Module(bytes as Uint8Array<ArrayBuffer>);
 * console.assert(WebAssembly.Module.imports(module)[0].kind === "memory");
 * ```
 */
export function hostSuppliedMemory(bytes: Uint8Array, report: ClampReport): HostMemoryResult {
  const unchanged = { bytes, memory: null };
  if (report.memories.length !== 1 || report.memories[0].imported) return unchanged;
  const sections = readSections(bytes);
  const memorySection = sections.find((s) => s.id === MEMORY_SECTION);
  if (!memorySection) return unchanged;
  // Payload: count (1), then the limits: flags, min, max (clamping always leaves a maximum).
  let at = memorySection.payloadStart;
  const count = readU32(bytes, at);
  at = count.next;
  const flags = bytes[at];
  if (count.value !== 1 || (flags & 0x02) !== 0 || (flags & 0x01) === 0) return unchanged;
  const limits = bytes.subarray(at, memorySection.end);

  // The import entry: "env" "memory" kind 0x02, then the limits byte for byte.
  const entry = concatBytes([
    new Uint8Array([3, 0x65, 0x6e, 0x76, 6, 0x6d, 0x65, 0x6d, 0x6f, 0x72, 0x79, 0x02]),
    limits,
  ]);
  const importSection = sections.find((s) => s.id === IMPORT_SECTION);
  const pieces: Uint8Array[] = [];
  let copiedUpTo = 0;
  const copyTo = (offset: number) => {
    pieces.push(bytes.subarray(copiedUpTo, offset));
    copiedUpTo = offset;
  };
  if (importSection) {
    const imports = readU32(bytes, importSection.payloadStart);
    copyTo(importSection.start);
    pieces.push(
      section(IMPORT_SECTION, [
        u32(imports.value + 1),
        bytes.subarray(imports.next, importSection.end),
        entry,
      ]),
    );
    copiedUpTo = importSection.end;
  } else {
    // The import section goes after the type section and before everything else.
    const next = sections.find((s) => s.id !== CUSTOM_SECTION && s.id !== TYPE_SECTION);
    copyTo(next ? next.start : bytes.length);
    pieces.push(section(IMPORT_SECTION, [u32(1), entry]));
  }
  copyTo(memorySection.start);
  copiedUpTo = memorySection.end; // the memory section goes
  pieces.push(bytes.subarray(copiedUpTo));
  return {
    bytes: concatBytes(pieces),
    memory: { initial: report.memories[0].declaredMin, maximum: report.memories[0].max },
  };
}

interface Section {
  id: number;
  /** Offset of the section id. */
  start: number;
  payloadStart: number;
  /** Offset just past the payload. */
  end: number;
}

function readSections(bytes: Uint8Array): Section[] {
  const sections: Section[] = [];
  let at = 8;
  while (at < bytes.length) {
    const size = readU32(bytes, at + 1);
    sections.push({
      id: bytes[at],
      start: at,
      payloadStart: size.next,
      end: size.next + size.value,
    });
    at = size.next + size.value;
  }
  return sections;
}

function readU32(bytes: Uint8Array, at: number): { value: number; next: number } {
  let value = 0;
  for (let shift = 0;; shift += 7) {
    const b = bytes[at++];
    value += (b & 0x7f) * 2 ** shift;
    if ((b & 0x80) === 0) return { value, next: at };
  }
}

function u32(value: number): Uint8Array {
  const out: number[] = [];
  let v = value >>> 0;
  do {
    const b = v & 0x7f;
    v >>>= 7;
    out.push(v === 0 ? b : b | 0x80);
  } while (v !== 0);
  return new Uint8Array(out);
}

function section(id: number, payload: Uint8Array[]): Uint8Array {
  const body = concatBytes(payload);
  return concatBytes([new Uint8Array([id]), u32(body.length), body]);
}
