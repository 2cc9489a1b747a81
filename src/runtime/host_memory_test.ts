import assert from "node:assert/strict";
import wabtInit from "wabt";
import { wat } from "../../tests/support/wat.ts";
import { hostSuppliedMemory } from "./host_memory.ts";
import { clampModuleLimits } from "./wasm_limits.ts";

const wabt = await wabtInit();

/** WAT with shared and multiple memories, which tests/support/wat.ts's validation refuses. */
function unvalidatedWat(source: string): Uint8Array {
  const features = { threads: true, multi_memory: true };
  const module = wabt.parseWat("test.wat", source, features as never);
  try {
    return module.toBinary({}).buffer;
  } finally {
    module.destroy();
  }
}

const limits = { maxMemoryPages: 16, maxTableElements: 8 };

function prepare(source: string, features: Record<string, boolean> = {}) {
  const clamped = clampModuleLimits(wat(source, features), limits);
  const hosted = hostSuppliedMemory(clamped.bytes, clamped.report);
  return { ...hosted, module: new WebAssembly.Module(hosted.bytes as Uint8Array<ArrayBuffer>) };
}

const GUEST = `(module
  (type $t (func (result i32)))
  (import "io" "input_len" (func $len (result i32)))
  (memory (export "memory") 2 5)
  (global $g (mut i32) (i32.const 7))
  (data (i32.const 100) "abc")
  (func (export "peek") (param i32) (result i32) (i32.load8_u (local.get 0)))
  (func (export "size") (result i32) (memory.size))
  (func (export "len") (result i32) (call $len)))`;

Deno.test("hostSuppliedMemory() turns the one defined memory into env.memory with the same limits", () => {
  const { module, memory } = prepare(GUEST);
  assert.deepEqual(memory, { initial: 2, maximum: 5 });
  assert.deepEqual(WebAssembly.Module.imports(module), [
    { module: "io", name: "input_len", kind: "function" },
    { module: "env", name: "memory", kind: "memory" },
  ]);
  const supplied = new WebAssembly.Memory({ initial: 2, maximum: 5 });
  const instance = new WebAssembly.Instance(module, {
    io: { input_len: () => 42 },
    env: { memory: supplied },
  });
  const call = (name: string, ...args: number[]) =>
    (instance.exports[name] as (...a: number[]) => number)(...args);
  // Data segments land in the supplied memory; the export is that memory; calls keep their indices.
  assert.equal(call("peek", 101), "b".charCodeAt(0));
  assert.equal(instance.exports.memory, supplied);
  assert.equal(call("size"), 2);
  assert.equal(call("len"), 42);
});

Deno.test("hostSuppliedMemory() adds an import section when the module had none", () => {
  const { module, memory } = prepare(
    `(module (memory 1) (func (export "run") (result i32) (i32.const 0)))`,
  );
  assert.deepEqual(memory, { initial: 1, maximum: 16 }, "clamped maximum carried over");
  assert.deepEqual(WebAssembly.Module.imports(module), [
    { module: "env", name: "memory", kind: "memory" },
  ]);
  assert.throws(
    () => new WebAssembly.Instance(module, {}),
    TypeError,
    "the memory must now come from the host",
  );
  const tooBig = new WebAssembly.Memory({ initial: 1, maximum: 17 });
  assert.throws(
    () => new WebAssembly.Instance(module, { env: { memory: tooBig } }),
    WebAssembly.LinkError,
    "a memory above the clamped maximum does not link",
  );
});

Deno.test("hostSuppliedMemory() leaves modules it must not touch as they were", () => {
  const cases = [
    `(module (func (export "run") (result i32) (i32.const 0)))`, // no memory
    `(module (import "env" "memory" (memory 1)))`, // imports one already
    `(module (memory 1 1 shared))`, // shared: another thread may still hold it
    `(module (memory 1) (memory 1))`, // several
  ];
  for (const source of cases) {
    const clamped = clampModuleLimits(unvalidatedWat(source), limits);
    const result = hostSuppliedMemory(clamped.bytes, clamped.report);
    assert.equal(result.memory, null, source);
    assert.equal(result.bytes, clamped.bytes, source);
  }
});

Deno.test("hostSuppliedMemory() keeps custom sections and a start function working", () => {
  const { module } = prepare(`(module
    (memory 1)
    (global $seen (mut i32) (i32.const 0))
    (func $init (global.set $seen (i32.load8_u (i32.const 8))))
    (start $init)
    (data (i32.const 8) "\\2a")
    (func (export "seen") (result i32) (global.get $seen)))`);
  const instance = new WebAssembly.Instance(module, {
    env: { memory: new WebAssembly.Memory({ initial: 1, maximum: 16 }) },
  });
  assert.equal((instance.exports.seen as () => number)(), 42);
  // wat() writes a "name" section: it survives the rewrite.
  assert.equal(WebAssembly.Module.customSections(module, "name").length, 1);
});

Deno.test("declaredMemoryReuse() reads the guest's declaration, and anything else is exact", async () => {
  const { declaredMemoryReuse, MEMORY_REUSE_SECTION, withMemoryReuse } = await import(
    "./host_memory.ts"
  );
  const base = wat(`(module (memory 1))`);
  const compile = (bytes: Uint8Array) => new WebAssembly.Module(bytes as Uint8Array<ArrayBuffer>);
  assert.equal(declaredMemoryReuse(compile(base)), "exact");
  assert.equal(declaredMemoryReuse(compile(withMemoryReuse(base, "any_size"))), "any_size");
  assert.equal(declaredMemoryReuse(compile(withMemoryReuse(base, "exact"))), "exact");
  const custom = (payload: string) => {
    const enc = new TextEncoder();
    const name = enc.encode(MEMORY_REUSE_SECTION);
    const body = [name.length, ...name, ...enc.encode(payload)];
    return new Uint8Array([...base, 0, body.length, ...body]);
  };
  assert.equal(declaredMemoryReuse(compile(custom('{"reuse":"any_size"}'))), "any_size");
  for (const payload of ["any_size", "{", '{"reuse":"bigger"}', "null"]) {
    assert.equal(declaredMemoryReuse(compile(custom(payload))), "exact", payload);
  }
  const twice = withMemoryReuse(withMemoryReuse(base, "any_size"), "any_size");
  assert.equal(declaredMemoryReuse(compile(twice)), "exact", "two declarations: neither counts");
});
