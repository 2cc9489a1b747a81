import assert from "node:assert/strict";
import { ioPlugin } from "../../plugins/io/mod.ts";
import { logPlugin } from "../../plugins/log/mod.ts";
import { wat } from "../../tests/support/wat.ts";
import { CapabilityRegistry } from "../capability/capability_registry.ts";
import { UnknownImportError, WasmBrokerError } from "../errors.ts";
import { parseManifest } from "../manifest/manifest.ts";
import { auditImports } from "./import_audit.ts";
import { inspectGuest } from "./inspect_guest.ts";
import { readModuleImports } from "./module_imports.ts";
import { prepareGuest } from "./prepared_guest.ts";

const registry = new CapabilityRegistry([ioPlugin(), logPlugin()]);
const ioOnly = parseManifest({ capabilities: { io: {} } }, registry);

function auditWat(source: string, manifest = ioOnly) {
  return auditImports(readModuleImports(wat(source)), manifest, registry);
}

function rejects(source: string, expected: Partial<UnknownImportError>, manifest = ioOnly) {
  assert.throws(() => auditWat(source, manifest), (error: unknown) => {
    assert.ok(error instanceof UnknownImportError, String(error));
    assert.equal(error.code, "unknown_import");
    for (const [k, v] of Object.entries(expected)) {
      assert.equal(error[k as keyof UnknownImportError], v);
    }
    return true;
  });
}

Deno.test("auditImports() accepts granted functions with the right signatures", () => {
  const plan = auditWat(`(module
    (import "io" "read_input" (func (param i32 i32) (result i32)))
    (import "io" "last_error" (func (param i32 i32) (result i32)))
    (import "wasi_snapshot_preview1" "fd_write" (func (param i32 i32 i32 i32) (result i32)))
    (import "wasi_snapshot_preview1" "path_open" (func (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32))))`);
  assert.deepEqual(plan.capabilities.get("io"), ["read_input", "last_error"]);
  assert.deepEqual(plan.wasi, ["fd_write", "path_open"]);
});

Deno.test("auditImports() rejects an import of a capability the manifest does not grant", () => {
  rejects(`(module (import "log" "write" (func (param i32 i32 i32) (result i32))))`, {
    module: "log",
    importName: "write",
    reason: "undeclared_capability",
  });
});

Deno.test("auditImports() rejects an unknown namespace", () => {
  rejects(`(module (import "fs" "open" (func)))`, {
    module: "fs",
    importName: "open",
    reason: "unknown_namespace",
  });
});

Deno.test("auditImports() rejects a function the capability does not have", () => {
  rejects(`(module (import "io" "exec" (func)))`, {
    module: "io",
    importName: "exec",
    reason: "unknown_function",
  });
});

Deno.test("auditImports() rejects an import with the wrong signature", () => {
  rejects(`(module (import "io" "read_input" (func (param i64) (result i32))))`, {
    reason: "signature_mismatch",
  });
  rejects(`(module (import "io" "read_input" (global i32)))`, { reason: "signature_mismatch" });
});

Deno.test("auditImports() rejects WASI clocks unless time is granted", () => {
  rejects(
    `(module (import "wasi_snapshot_preview1" "clock_time_get" (func (param i32 i64 i32) (result i32))))`,
    {
      reason: "undeclared_capability",
    },
  );
});

Deno.test("auditImports() rejects names WASI preview1 does not have", () => {
  rejects(
    `(module (import "wasi_snapshot_preview1" "sock_open" (func (param i32) (result i32))))`,
    {
      reason: "unknown_function",
    },
  );
});

Deno.test("auditImports() rejects env imports other than abort, seed and memory", () => {
  rejects(`(module (import "env" "trace" (func (param i32 i32))))`, {
    module: "env",
    reason: "unknown_function",
  });
  const plan = auditWat(`(module (import "env" "memory" (memory 1)))`);
  assert.equal(plan.importsMemory, true);
});

Deno.test("inspectGuest() rejects invalid and truncated binaries with module_invalid", () => {
  const good = wat(`(module (func (export "run") (result i32) i32.const 0))`);
  for (
    const bytes of [new Uint8Array([1, 2, 3]), good.subarray(0, good.length - 3), new Uint8Array(0)]
  ) {
    assert.throws(() => inspectGuest(bytes, ioOnly, registry), (e: unknown) => {
      assert.ok(e instanceof WasmBrokerError);
      assert.equal(e.code, "module_invalid");
      return true;
    });
  }
});

Deno.test("prepareGuest() rejects a module with no entry point", () => {
  assert.throws(
    () => prepareGuest(wat(`(module (func (export "go")))`), ioOnly, registry),
    (e: unknown) => {
      assert.ok(e instanceof WasmBrokerError);
      assert.equal(e.code, "entry_missing");
      return true;
    },
  );
});

Deno.test("prepareGuest() rejects a module whose declared memory exceeds the manifest", () => {
  const small = parseManifest(
    { capabilities: { io: {} }, limits: { memory: { pages: 4 } } },
    registry,
  );
  assert.throws(
    () =>
      prepareGuest(
        wat(`(module (memory 100) (func (export "run") (result i32) i32.const 0))`),
        small,
        registry,
      ),
    (e: unknown) => {
      assert.ok(e instanceof WasmBrokerError);
      assert.equal(e.code, "memory_limit");
      assert.equal(e.details.limit, 4);
      return true;
    },
  );
});
