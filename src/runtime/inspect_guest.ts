/**
 * Checks a guest in the broker process without compiling it: the section
 * layout is well formed, declared minimums fit the manifest's limits and
 * every import is granted. Compiling (and V8's full validation) happens in
 * the sandbox, so untrusted code never reaches V8's compiler in the process
 * that holds credentials.
 *
 * @module
 */
import type { CapabilityRegistry } from "../capability/capability_registry.ts";
import { WasmBrokerError } from "../errors.ts";
import type { Manifest } from "../manifest/manifest.ts";
import { auditImports, type ImportPlan } from "./import_audit.ts";
import { readModuleImports } from "./module_imports.ts";
import {
  clampModuleLimits,
  type ClampResult,
  ModuleFormatError,
  WasmLimitError,
} from "./wasm_limits.ts";

/** Clamps the module's limits to the manifest's; throws `module_invalid`, `memory_limit` or `table_limit`. */
export function clampGuest(bytes: Uint8Array, manifest: Manifest): ClampResult {
  try {
    return clampModuleLimits(bytes, {
      maxMemoryPages: manifest.limits.memory,
      maxTableElements: manifest.limits.table_elements,
    });
  } catch (error) {
    if (error instanceof ModuleFormatError) {
      throw new WasmBrokerError("module_invalid", error.message, {
        details: { offset: error.offset },
      });
    }
    if (error instanceof WasmLimitError) {
      throw new WasmBrokerError(error.code, error.message, {
        details: {
          kind: error.kind,
          index: error.index,
          declared: error.declared,
          limit: error.limit,
        },
      });
    }
    throw error;
  }
}

/** Throws `module_invalid`, `memory_limit`, `table_limit` or `unknown_import`. */
export function inspectGuest(
  bytes: Uint8Array,
  manifest: Manifest,
  registry: CapabilityRegistry,
): ImportPlan {
  const clamped = clampGuest(bytes, manifest);
  let imports;
  try {
    imports = readModuleImports(clamped.bytes);
  } catch (error) {
    throw new WasmBrokerError(
      "module_invalid",
      `Cannot read the module's imports: ${(error as Error).message}`,
    );
  }
  return auditImports(imports, manifest, registry);
}
