/**
 * Turns guest bytes and a manifest into a {@link PreparedGuest}: limits
 * clamped into the binary, compiled once, imports audited against the
 * manifest, entry point found. Instantiate it as many times as needed.
 *
 * @module
 */
import type { CapabilityRegistry } from "../capability/capability_registry.ts";
import { WasmBrokerError } from "../errors.ts";
import type { Manifest } from "../manifest/manifest.ts";
import { compileOutputSchema, type OutputValidator } from "../manifest/output_schema.ts";
import { auditImports, type ImportPlan } from "./import_audit.ts";
import { readModuleImports } from "./module_imports.ts";
import { declaredMemoryReuse, hostSuppliedMemory } from "./host_memory.ts";
import type { MemoryReuse } from "./memory_pool.ts";
import { clampGuest } from "./inspect_guest.ts";

/** How the guest is entered. */
export type GuestEntry =
  /** WASI command: `_start`, input on stdin, output on stdout. */
  | "command"
  /** Broker ABI: optional `_initialize`, then `run() -> i32` (0 = success). */
  | "run";

/** A compiled, audited guest, ready to instantiate. */
export interface PreparedGuest {
  /** Name used in logs and argv[0]. */
  readonly name: string;
  readonly manifest: Manifest;
  readonly module: WebAssembly.Module;
  readonly plan: ImportPlan;
  readonly entry: GuestEntry;
  /**
   * Limits of `env.memory`, when the guest imports it — which every guest
   * that defines a single unshared memory does once prepared (host_memory.ts).
   */
  readonly importedMemory?: {
    initial: number;
    maximum: number;
    shared: boolean;
    /** What the guest declared it may be handed (host_memory.ts). */
    reuse: MemoryReuse;
    /** This prepared guest, for the memory pool (memory_pool.ts). */
    owner: string;
  };
  readonly validateOutput?: OutputValidator;
  /** Milliseconds spent clamping and compiling. */
  readonly compileMs: number;
}

/** Guests prepared in this process, for their memory pool owner names. */
let preparedCount = 0;

/** Options for {@link prepareGuest}. */
export interface PrepareGuestOptions {
  /** Name for logs; defaults to the manifest's name or "guest". */
  name?: string;
}

/**
 * Validates, clamps, compiles and audits a guest.
 *
 * Throws `module_invalid` (not WebAssembly, truncated, rejected by V8),
 * `memory_limit` / `table_limit` (declared minimum above the manifest's
 * limit), `unknown_import` or `entry_missing`.
 */
export function prepareGuest(
  bytes: Uint8Array,
  manifest: Manifest,
  registry: CapabilityRegistry,
  options: PrepareGuestOptions = {},
): PreparedGuest {
  const started = performance.now();
  const clamped = clampGuest(bytes, manifest);
  // The guest's own memory becomes env.memory, supplied from a pool (host_memory.ts).
  const hosted = hostSuppliedMemory(clamped.bytes, clamped.report);
  let module: WebAssembly.Module;
  try {
    module = new WebAssembly.Module(hosted.bytes as Uint8Array<ArrayBuffer>);
  } catch (error) {
    throw new WasmBrokerError(
      "module_invalid",
      `Cannot compile module as V8 rejects it: ${(error as Error).message}`,
      { cause: error },
    );
  }
  const plan = auditImports(readModuleImports(hosted.bytes), manifest, registry);
  const exports = WebAssembly.Module.exports(module);
  const has = (name: string, kind: string) =>
    exports.some((e) => e.name === name && e.kind === kind);
  const entry: GuestEntry | null = has("_start", "function")
    ? "command"
    : has("run", "function")
    ? "run"
    : null;
  if (!entry) {
    throw new WasmBrokerError(
      "entry_missing",
      "Cannot run module as it exports neither `_start` (WASI command) nor `run` (broker ABI)",
      { details: { exports: exports.map((e) => e.name) } },
    );
  }
  const declared = clamped.report.memories.find((m) => m.imported);
  const importedMem = hosted.memory ??
    (declared && { initial: declared.declaredMin, maximum: declared.max });
  return {
    name: options.name ?? manifest.name ?? "guest",
    manifest,
    module,
    plan,
    entry,
    importedMemory: importedMem && plan.importsMemory
      ? {
        ...importedMem,
        shared: false,
        reuse: declaredMemoryReuse(module),
        owner: `guest-${++preparedCount}`,
      }
      : undefined,
    validateOutput: manifest.output_schema === undefined
      ? undefined
      : compileOutputSchema(manifest.output_schema),
    compileMs: performance.now() - started,
  };
}
