/**
 * Reads a module's function imports with their signatures from the binary.
 * The JS API (`WebAssembly.Module.imports`) gives names and kinds but not
 * signatures, and the import audit must refuse a guest whose import has the
 * right name but the wrong type before it runs.
 *
 * @module
 */
import type { WasmValType } from "../capability/capability_plugin.ts";

/** A function signature; `null` entries are value types the host never offers (v128, refs). */
export interface FuncSignature {
  params: (WasmValType | null)[];
  results: (WasmValType | null)[];
}

/** One import, with its signature when it is a function. */
export interface ModuleImport {
  module: string;
  name: string;
  kind: "function" | "table" | "memory" | "global" | "tag";
  signature?: FuncSignature;
}

const VALTYPES: Record<number, WasmValType> = {
  0x7f: "i32",
  0x7e: "i64",
  0x7d: "f32",
  0x7c: "f64",
};
const KINDS = ["function", "table", "memory", "global", "tag"] as const;

class Reader {
  offset: number;
  constructor(readonly bytes: Uint8Array, offset: number, readonly end: number) {
    this.offset = offset;
  }
  byte(): number {
    if (this.offset >= this.end) throw new RangeError("unexpected end of section");
    return this.bytes[this.offset++];
  }
  u32(): number {
    let result = 0;
    let shift = 0;
    for (;;) {
      const b = this.byte();
      result += (b & 0x7f) * 2 ** shift;
      if ((b & 0x80) === 0) return result;
      shift += 7;
      if (shift > 35) throw new RangeError("LEB128 value too long");
    }
  }
  name(): string {
    const len = this.u32();
    if (this.offset + len > this.end) throw new RangeError("name runs past its section");
    const text = new TextDecoder().decode(this.bytes.subarray(this.offset, this.offset + len));
    this.offset += len;
    return text;
  }
  limits(): void {
    const flags = this.byte();
    this.u32();
    if (flags & 1) this.u32();
  }
  valtype(): WasmValType | null {
    const b = this.byte();
    // Typed references (0x63/0x64) carry a heap type index.
    if (b === 0x63 || b === 0x64) this.u32();
    return VALTYPES[b] ?? null;
  }
}

/**
 * Lists a module's imports with function signatures. Call it only on bytes
 * that `WebAssembly.Module` accepted: it trusts the section layout.
 */
export function readModuleImports(bytes: Uint8Array): ModuleImport[] {
  const types: FuncSignature[] = [];
  const imports: ModuleImport[] = [];
  let offset = 8;
  while (offset < bytes.length) {
    const header = new Reader(bytes, offset, bytes.length);
    const id = header.byte();
    const size = header.u32();
    const body = new Reader(bytes, header.offset, header.offset + size);
    offset = header.offset + size;
    if (id === 1) {
      for (let n = body.u32(); n > 0; n--) {
        const form = body.byte();
        if (form === 0x4e || form === 0x4f || form === 0x50) {
          // GC rec groups / subtypes: not used by guests this host accepts.
          types.push({ params: [null], results: [] });
          body.offset = body.end;
          break;
        }
        const params = Array.from({ length: body.u32() }, () => body.valtype());
        const results = Array.from({ length: body.u32() }, () => body.valtype());
        types.push({ params, results });
      }
    } else if (id === 2) {
      for (let n = body.u32(); n > 0; n--) {
        const module = body.name();
        const name = body.name();
        const kindByte = body.byte();
        const kind = KINDS[kindByte] ?? "tag";
        const entry: ModuleImport = { module, name, kind };
        if (kindByte === 0) entry.signature = types[body.u32()] ?? { params: [null], results: [] };
        else if (kindByte === 1) (body.valtype(), body.limits());
        else if (kindByte === 2) body.limits();
        else if (kindByte === 3) (body.valtype(), body.byte());
        else (body.byte(), body.u32());
        imports.push(entry);
      }
      return imports;
    } else if (id !== 0) {
      // The import section follows the type section; any other known section means none.
      if (id > 2) return imports;
    }
  }
  return imports;
}
