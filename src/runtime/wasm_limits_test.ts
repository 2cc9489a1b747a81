import assert from "node:assert/strict";
import wabtInit from "wabt";
import { clampModuleLimits, ModuleFormatError, WasmLimitError } from "./wasm_limits.ts";

const wabt = await wabtInit();

/** Compile WAT to a wasm binary with the features these tests need. */
function wat(src: string, features: Record<string, boolean> = {}): Uint8Array {
  // multi_memory and memory64 are supported at runtime but missing from wabt's typings.
  const options = { multi_memory: true, threads: true, exceptions: true, ...features };
  const module = wabt.parseWat("test.wat", src, options as Parameters<typeof wabt.parseWat>[2]);
  try {
    return module.toBinary({}).buffer;
  } finally {
    module.destroy();
  }
}

const limits = { maxMemoryPages: 4, maxTableElements: 8 };

/** Grows memory 0 by the argument and returns the old size, or -1. */
const GROW_MEMORY = `(func (export "grow") (param i32) (result i32) local.get 0 memory.grow 0)`;

function instantiate(bytes: Uint8Array, imports: WebAssembly.Imports = {}): WebAssembly.Instance {
  return new WebAssembly.Instance(new WebAssembly.Module(bytes as BufferSource), imports);
}

function grow(instance: WebAssembly.Instance, delta: number): number {
  return (instance.exports.grow as (delta: number) => number)(delta);
}

// --- hand-built binaries, for encodings wabt cannot produce ---

function leb(value: number): number[] {
  const out: number[] = [];
  do {
    let b = value & 0x7f;
    value >>>= 7;
    if (value !== 0) b |= 0x80;
    out.push(b);
  } while (value !== 0);
  return out;
}

function section(id: number, payload: number[]): number[] {
  return [id, ...leb(payload.length), ...payload];
}

function customSection(name: string, data: number[]): number[] {
  const nameBytes = [...new TextEncoder().encode(name)];
  return section(0, [...leb(nameBytes.length), ...nameBytes, ...data]);
}

function moduleBytes(...sections: number[][]): Uint8Array {
  return new Uint8Array([0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, ...sections.flat()]);
}

/** Offsets at which a section ends, i.e. where cutting the module leaves it well formed. */
function sectionBoundaries(bytes: Uint8Array): Set<number> {
  const ends = new Set([8]);
  let pos = 8;
  while (pos < bytes.length) {
    pos++;
    let size = 0;
    for (let shift = 0;; shift += 7) {
      const b = bytes[pos++];
      size |= (b & 0x7f) << shift;
      if ((b & 0x80) === 0) break;
    }
    pos += size;
    ends.add(pos);
  }
  return ends;
}

Deno.test("clampModuleLimits() caps a memory that declares no maximum", () => {
  const original = wat(`(module (memory (export "memory") 1) ${GROW_MEMORY})`);
  assert.equal(grow(instantiate(original), 10), 1, "unclamped, the guest can grow freely");

  const { bytes, report, changed } = clampModuleLimits(original, limits);

  assert.equal(changed, true);
  assert.deepEqual(report.memories, [
    { index: 0, imported: false, declaredMin: 1, declaredMax: null, max: 4 },
  ]);
  const instance = instantiate(bytes);
  assert.equal(grow(instance, 4), -1);
  assert.equal(grow(instance, 3), 1);
  assert.equal(grow(instance, 1), -1);
  assert.equal((instance.exports.memory as WebAssembly.Memory).buffer.byteLength, 4 * 65536);
});

Deno.test("clampModuleLimits() lowers a declared maximum above the limit", () => {
  const original = wat(`(module (memory 2 1000) ${GROW_MEMORY})`);

  const { bytes, report } = clampModuleLimits(original, limits);

  assert.deepEqual(report.memories, [
    { index: 0, imported: false, declaredMin: 2, declaredMax: 1000, max: 4 },
  ]);
  const instance = instantiate(bytes);
  assert.equal(grow(instance, 3), -1);
  assert.equal(grow(instance, 2), 2);
});

Deno.test("clampModuleLimits() returns the input itself when every maximum is within the limit", () => {
  const original = wat(`(module (memory 1 3) (table 2 8 funcref) ${GROW_MEMORY})`);

  const result = clampModuleLimits(original, limits);

  assert.equal(result.changed, false);
  assert.equal(result.bytes, original);
  assert.deepEqual(result.report.memories, [
    { index: 0, imported: false, declaredMin: 1, declaredMax: 3, max: 3 },
  ]);
  assert.deepEqual(result.report.tables, [
    { index: 0, imported: false, declaredMin: 2, declaredMax: 8, max: 8 },
  ]);
});

Deno.test("clampModuleLimits() returns a module without memories or tables unchanged", () => {
  const original = wat(`(module (func (export "f") (result i32) i32.const 7))`);

  const result = clampModuleLimits(original, limits);

  assert.equal(result.changed, false);
  assert.equal(result.bytes, original);
  assert.deepEqual(result.report, { memories: [], tables: [] });
});

Deno.test("clampModuleLimits() keeps exports and imports intact", () => {
  const original = wat(`(module
    (import "env" "log" (func $log (param i32)))
    (import "env" "g" (global i32))
    (memory (export "memory") 1)
    (table (export "table") 1 funcref)
    (func (export "run") (result i32) i32.const 41 call $log i32.const 42))`);
  const before = new WebAssembly.Module(original as BufferSource);

  const { bytes, changed } = clampModuleLimits(original, limits);
  const after = new WebAssembly.Module(bytes as BufferSource);

  assert.equal(changed, true);
  assert.deepEqual(WebAssembly.Module.exports(after), WebAssembly.Module.exports(before));
  assert.deepEqual(WebAssembly.Module.imports(after), WebAssembly.Module.imports(before));
  const logged: number[] = [];
  const instance = new WebAssembly.Instance(after, {
    env: { log: (n: number) => logged.push(n), g: 0 },
  });
  assert.equal((instance.exports.run as () => number)(), 42);
  assert.deepEqual(logged, [41]);
});

Deno.test("clampModuleLimits() rejects a memory whose minimum exceeds the limit", () => {
  const original = wat(`(module (memory 1 2) (memory 5))`);

  assert.throws(() => clampModuleLimits(original, limits), (error: unknown) => {
    assert.ok(error instanceof WasmLimitError);
    assert.equal(error.code, "memory_limit");
    assert.equal(error.kind, "memory");
    assert.equal(error.index, 1);
    assert.equal(error.declared, 5);
    assert.equal(error.limit, 4);
    assert.match(error.message, /memory 1 declares a minimum of 5 pages/);
    return true;
  });
});

Deno.test("clampModuleLimits() rejects a table whose minimum exceeds the limit", () => {
  const original = wat(`(module (table 9 funcref))`);

  assert.throws(() => clampModuleLimits(original, limits), (error: unknown) => {
    assert.ok(error instanceof WasmLimitError);
    assert.equal(error.code, "table_limit");
    assert.equal(error.kind, "table");
    assert.equal(error.index, 0);
    assert.equal(error.declared, 9);
    assert.equal(error.limit, 8);
    return true;
  });
});

Deno.test("clampModuleLimits() makes table.grow beyond the limit return -1", () => {
  const original = wat(`(module
    (table 1 funcref)
    (func (export "g") (result i32) ref.null func i32.const 100000 table.grow 0)
    (func (export "g7") (result i32) ref.null func i32.const 7 table.grow 0))`);
  const g = (instance: WebAssembly.Instance, name: string) =>
    (instance.exports[name] as () => number)();
  assert.equal(g(instantiate(original), "g"), 1, "unclamped, the guest can grow freely");

  const { bytes, report } = clampModuleLimits(original, limits);

  assert.deepEqual(report.tables, [
    { index: 0, imported: false, declaredMin: 1, declaredMax: null, max: 8 },
  ]);
  const instance = instantiate(bytes);
  assert.equal(g(instance, "g"), -1);
  assert.equal(g(instance, "g7"), 1);
  assert.equal(g(instance, "g7"), -1);
});

Deno.test("clampModuleLimits() clamps imported memories so the host must supply a bounded one", () => {
  const original = wat(`(module (import "env" "memory" (memory 1 100)))`);
  const bounded = () => ({ env: { memory: new WebAssembly.Memory({ initial: 1, maximum: 4 }) } });
  const loose = () => ({ env: { memory: new WebAssembly.Memory({ initial: 1, maximum: 100 }) } });
  instantiate(original, loose());

  const { bytes, report } = clampModuleLimits(original, limits);

  assert.deepEqual(report.memories, [
    { index: 0, imported: true, declaredMin: 1, declaredMax: 100, max: 4 },
  ]);
  instantiate(bytes, bounded());
  assert.throws(() => instantiate(bytes, loose()), WebAssembly.LinkError);
});

Deno.test("clampModuleLimits() adds a maximum to an imported memory that declares none", () => {
  const original = wat(`(module (import "env" "memory" (memory 1)))`);
  const unbounded = () => ({ env: { memory: new WebAssembly.Memory({ initial: 1 }) } });
  instantiate(original, unbounded());

  const { bytes } = clampModuleLimits(original, limits);

  assert.throws(() => instantiate(bytes, unbounded()), WebAssembly.LinkError);
  instantiate(bytes, { env: { memory: new WebAssembly.Memory({ initial: 1, maximum: 4 }) } });
});

Deno.test("clampModuleLimits() clamps imported tables", () => {
  const original = wat(`(module (import "env" "table" (table 1 funcref)))`);
  const table = (maximum?: number) => ({
    env: { table: new WebAssembly.Table({ element: "anyfunc", initial: 1, maximum }) },
  });
  instantiate(original, table());

  const { bytes, report } = clampModuleLimits(original, limits);

  assert.deepEqual(report.tables, [
    { index: 0, imported: true, declaredMin: 1, declaredMax: null, max: 8 },
  ]);
  assert.throws(() => instantiate(bytes, table()), WebAssembly.LinkError);
  assert.throws(() => instantiate(bytes, table(9)), WebAssembly.LinkError);
  instantiate(bytes, table(8));
});

Deno.test("clampModuleLimits() numbers imported memories and tables before defined ones", () => {
  const original = wat(`(module
    (import "env" "f" (func (param i32)))
    (import "env" "mem" (memory 1 2))
    (import "env" "g" (global (mut i64)))
    (import "env" "tab" (table 1 externref))
    (import "env" "e" (tag (param i32)))
    (memory 1 50)
    (table 2 funcref))`);

  const { bytes, report } = clampModuleLimits(original, limits);

  assert.deepEqual(report.memories, [
    { index: 0, imported: true, declaredMin: 1, declaredMax: 2, max: 2 },
    { index: 1, imported: false, declaredMin: 1, declaredMax: 50, max: 4 },
  ]);
  assert.deepEqual(report.tables, [
    { index: 0, imported: true, declaredMin: 1, declaredMax: null, max: 8 },
    { index: 1, imported: false, declaredMin: 2, declaredMax: null, max: 8 },
  ]);
  const module = new WebAssembly.Module(bytes as BufferSource);
  assert.deepEqual(
    WebAssembly.Module.imports(module).map((i) => [i.name, i.kind]),
    [["f", "function"], ["mem", "memory"], ["g", "global"], ["tab", "table"], ["e", "tag"]],
  );
});

Deno.test("clampModuleLimits() clamps every memory of a multi-memory module", () => {
  const original = wat(`(module
    (memory $a 1) (memory $b 1 9)
    (func (export "growA") (result i32) i32.const 4 memory.grow $a)
    (func (export "growB") (result i32) i32.const 4 memory.grow $b))`);

  const { bytes, report } = clampModuleLimits(original, limits);

  assert.deepEqual(report.memories.map((m) => m.max), [4, 4]);
  const instance = instantiate(bytes);
  assert.equal((instance.exports.growA as () => number)(), -1);
  assert.equal((instance.exports.growB as () => number)(), -1);
});

Deno.test("clampModuleLimits() keeps a shared memory shared", () => {
  const original = wat(`(module (memory (export "memory") 1 10 shared) ${GROW_MEMORY})`);

  const { bytes, report } = clampModuleLimits(original, limits);

  assert.deepEqual(report.memories, [
    { index: 0, imported: false, declaredMin: 1, declaredMax: 10, max: 4 },
  ]);
  const instance = instantiate(bytes);
  const memory = instance.exports.memory as WebAssembly.Memory;
  assert.ok(memory.buffer instanceof SharedArrayBuffer);
  assert.equal(grow(instance, 4), -1);
  assert.equal(grow(instance, 3), 1);
});

Deno.test("clampModuleLimits() keeps custom sections byte for byte", () => {
  const compiled = wat(`(module (memory 1))`);
  const bytes = new Uint8Array([
    ...compiled.subarray(0, 8),
    ...customSection("first", [1, 2, 3]),
    ...compiled.subarray(8),
    ...customSection("last", [0xff, 0x00]),
  ]);

  const result = clampModuleLimits(bytes, limits);

  assert.equal(result.changed, true);
  const module = new WebAssembly.Module(result.bytes as BufferSource);
  const first = WebAssembly.Module.customSections(module, "first");
  const last = WebAssembly.Module.customSections(module, "last");
  assert.deepEqual(first.map((s) => [...new Uint8Array(s)]), [[1, 2, 3]]);
  assert.deepEqual(last.map((s) => [...new Uint8Array(s)]), [[0xff, 0x00]]);
});

Deno.test("clampModuleLimits() re-encodes section sizes that change length", () => {
  // 300 pages needs a two-byte LEB128 where the original declared no maximum at all, and a
  // long data section after it must still line up.
  const original = wat(`(module
    (memory 1) ${GROW_MEMORY}
    (data (i32.const 0) "${"x".repeat(200)}"))`);

  const { bytes } = clampModuleLimits(original, { maxMemoryPages: 300, maxTableElements: 0 });

  assert.equal(bytes.length, original.length + 2);
  const instance = instantiate(bytes);
  assert.equal(grow(instance, 300), -1);
  assert.equal(grow(instance, 299), 1);
});

Deno.test("clampModuleLimits() caps a missing memory maximum at the 32-bit page limit", () => {
  const original = wat(`(module (memory 1))`);

  const { bytes, report } = clampModuleLimits(original, {
    maxMemoryPages: 0xffff_ffff,
    maxTableElements: 0xffff_ffff,
  });

  assert.equal(report.memories[0].max, 65536);
  new WebAssembly.Module(bytes as BufferSource);
});

Deno.test("clampModuleLimits() rewrites the limits of a table with an initializer", () => {
  // wabt cannot emit `(table 1 (ref func) (ref.func 0))`, so build it by hand.
  const bytes = moduleBytes(
    section(1, [1, 0x60, 0, 1, 0x7f]), // type 0: [] -> [i32]
    section(3, [1, 0]), // func 0 of type 0
    // table 0: (ref func), min 1, no max, initialized with (ref.func 0); table 1: funcref, min 1
    section(4, [2, 0x40, 0x00, 0x64, 0x70, 0x00, 1, 0xd2, 0, 0x0b, 0x70, 0x00, 1]),
    section(7, [1, 1, 0x67, 0x00, 0]), // export "g" = func 0
    // func 0: (table.grow 0 (ref.func 0) (i32.const 100000))
    section(10, [1, 11, 0, 0xd2, 0, 0x41, 0xa0, 0x8d, 0x06, 0xfc, 15, 0, 0x0b]),
  );
  // Sanity check the hand-built module: unclamped it grows.
  assert.equal((instantiate(bytes).exports.g as () => number)(), 1);

  const result = clampModuleLimits(bytes, limits);

  assert.deepEqual(result.report.tables, [
    { index: 0, imported: false, declaredMin: 1, declaredMax: null, max: 8 },
    { index: 1, imported: false, declaredMin: 1, declaredMax: null, max: 8 },
  ]);
  assert.equal((instantiate(result.bytes).exports.g as () => number)(), -1);
});

Deno.test("clampModuleLimits() rejects bytes that are not WebAssembly", () => {
  for (const input of ["hello world", "{}", ""]) {
    assert.throws(
      () => clampModuleLimits(new TextEncoder().encode(input), limits),
      (error: unknown) => {
        assert.ok(error instanceof ModuleFormatError);
        assert.equal(error.code, "module_invalid");
        return true;
      },
    );
  }
  assert.throws(
    () => clampModuleLimits(new TextEncoder().encode("hello world"), limits),
    /not WebAssembly: missing the \\0asm magic number at offset 0/,
  );
});

Deno.test("clampModuleLimits() rejects unsupported binary versions and components", () => {
  const header = [0x00, 0x61, 0x73, 0x6d];
  assert.throws(
    () => clampModuleLimits(new Uint8Array([...header, 2, 0, 0, 0]), limits),
    /unsupported WebAssembly binary version 2/,
  );
  assert.throws(
    () => clampModuleLimits(new Uint8Array([...header, 0x0d, 0, 1, 0]), limits),
    /WebAssembly component/,
  );
});

Deno.test("clampModuleLimits() rejects a module cut anywhere but a section boundary", () => {
  const original = wat(`(module
    (import "env" "f" (func))
    (import "env" "mem" (memory 1 100))
    (table 2 funcref)
    (func (export "run") call 0)
    (data (i32.const 0) "payload"))`);
  const boundaries = sectionBoundaries(original);

  for (let cut = 0; cut < original.length; cut++) {
    const truncated = original.slice(0, cut);
    if (boundaries.has(cut)) {
      clampModuleLimits(truncated, limits);
      continue;
    }
    assert.throws(
      () => clampModuleLimits(truncated, limits),
      (error: unknown) => {
        assert.ok(error instanceof ModuleFormatError, `cut at ${cut}: ${error}`);
        assert.ok(error.offset <= cut, `cut at ${cut}: offset ${error.offset}`);
        assert.match(error.message, /truncated|ends while reading/);
        return true;
      },
    );
  }
});

Deno.test("clampModuleLimits() rejects a section that runs past the end, naming its offset", () => {
  const bytes = moduleBytes([5, 10, 1, 0x00]);

  assert.throws(() => clampModuleLimits(bytes, limits), (error: unknown) => {
    assert.ok(error instanceof ModuleFormatError);
    assert.equal(error.offset, 8);
    assert.match(error.message, /truncated module: section 5 at offset 8 declares 10 bytes/);
    return true;
  });
});

Deno.test("clampModuleLimits() rejects malformed memory and table sections", () => {
  const cases: [string, Uint8Array, RegExp][] = [
    ["memory64", wat(`(module (memory i64 1))`, { memory64: true }), /memory64 is not supported/],
    ["table64", moduleBytes(section(4, [1, 0x70, 0x04, 1])), /table64 is not supported/],
    ["shared without max", moduleBytes(section(5, [1, 0x02, 1])), /must declare a maximum/],
    ["unknown limits flag", moduleBytes(section(5, [1, 0x08, 1, 0])), /limits flags 0x08/],
    ["trailing bytes", moduleBytes(section(5, [1, 0x00, 1, 0xaa])), /trailing bytes/],
    ["overlong LEB128", moduleBytes(section(5, [1, 0x00, 0x81, 0x80, 0x80, 0x80, 0x10])), /LEB128/],
    ["section ends early", moduleBytes(section(5, [2, 0x00, 1])), /ends while reading/],
    ["unknown import kind", moduleBytes(section(2, [1, 1, 0x61, 1, 0x62, 0x07])), /import kind/],
    ["duplicate", moduleBytes(section(5, [0]), section(5, [0])), /duplicated or out of order/],
    ["out of order", moduleBytes(section(5, [0]), section(2, [0])), /duplicated or out of order/],
    ["bad reftype", moduleBytes(section(4, [1, 0x7f, 0x00, 1])), /element type 0x7f/],
  ];
  for (const [name, bytes, message] of cases) {
    assert.throws(() => clampModuleLimits(bytes, limits), (error: unknown) => {
      assert.ok(error instanceof ModuleFormatError, `${name}: ${error}`);
      assert.match(error.message, message, name);
      assert.match(error.message, /at offset \d+/, name);
      return true;
    });
  }
});

Deno.test("clampModuleLimits() rejects limits that are not 32-bit unsigned integers", () => {
  const bytes = wat(`(module)`);
  for (const bad of [-1, 1.5, NaN, 2 ** 32]) {
    assert.throws(
      () => clampModuleLimits(bytes, { maxMemoryPages: bad, maxTableElements: 1 }),
      RangeError,
    );
    assert.throws(
      () => clampModuleLimits(bytes, { maxMemoryPages: 1, maxTableElements: bad }),
      RangeError,
    );
  }
});
