/**
 * Audits a guest's imports against its manifest before it runs. Every import
 * must be a function of a granted capability (or of the core's WASI/`env`
 * namespaces, whose functions need the capability they touch) with the
 * signature the host implements. The first offending import is reported
 * with its module and name (`unknown_import`).
 *
 * @module
 */
import type { HostFunctionSpec } from "../capability/capability_plugin.ts";
import type { CapabilityRegistry } from "../capability/capability_registry.ts";
import { UnknownImportError } from "../errors.ts";
import type { Manifest } from "../manifest/manifest.ts";
import { ENV_FUNCTIONS, WASI_FUNCTIONS, WASI_NAMESPACE } from "../wasi/wasi_functions.ts";
import type { FuncSignature, ModuleImport } from "./module_imports.ts";

/** Functions the core adds to every capability namespace. */
export const CORE_NAMESPACE_FUNCTIONS: Readonly<Record<string, HostFunctionSpec>> = {
  last_error: {
    params: ["i32", "i32"],
    results: ["i32"],
    doc: "Copies the last error of this namespace as JSON {code, message}; returns its full length",
  },
  read_result: {
    params: ["i32", "i32"],
    results: ["i32"],
    doc: "Copies the bytes the last call staged; returns how many were copied",
  },
};

/** What the audit found the guest needs, grouped by namespace. */
export interface ImportPlan {
  /** Capability name → imported function names. */
  capabilities: Map<string, string[]>;
  /** Imported WASI function names. */
  wasi: string[];
  /** Imported `env` function names. */
  env: string[];
  /** True when the guest imports `env.memory` (the host supplies it). */
  importsMemory: boolean;
}

function sameSignature(actual: FuncSignature | undefined, expected: HostFunctionSpec): boolean {
  if (!actual) return false;
  return actual.params.length === expected.params.length &&
    actual.results.length === expected.results.length &&
    actual.params.every((p, i) => p === expected.params[i]) &&
    actual.results.every((r, i) => r === expected.results[i]);
}

function show(sig: { params: readonly unknown[]; results: readonly unknown[] }): string {
  return `(${sig.params.map((p) => p ?? "?").join(", ")}) -> (${
    sig.results.map((r) => r ?? "?").join(", ")
  })`;
}

function checkFunction(imp: ModuleImport, spec: HostFunctionSpec): void {
  if (imp.kind !== "function") {
    throw new UnknownImportError(
      imp.module,
      imp.name,
      "signature_mismatch",
      `Cannot link import "${imp.module}"."${imp.name}" as it is a ${imp.kind}, not a function`,
    );
  }
  if (!sameSignature(imp.signature, spec)) {
    throw new UnknownImportError(
      imp.module,
      imp.name,
      "signature_mismatch",
      `Cannot link import "${imp.module}"."${imp.name}" as the host implements ${
        show(spec)
      }: current type is ${show(imp.signature ?? { params: ["?"], results: [] })}`,
    );
  }
}

function requireGranted(imp: ModuleImport, capability: string | null, manifest: Manifest): void {
  if (capability && !(capability in manifest.capabilities)) {
    throw new UnknownImportError(
      imp.module,
      imp.name,
      "undeclared_capability",
      `Cannot link import "${imp.module}"."${imp.name}" as it needs capability "${capability}", which the manifest does not grant`,
    );
  }
}

/**
 * Checks every import; throws {@link UnknownImportError} on the first one the
 * manifest does not grant.
 */
export function auditImports(
  imports: readonly ModuleImport[],
  manifest: Manifest,
  registry: CapabilityRegistry,
): ImportPlan {
  const plan: ImportPlan = { capabilities: new Map(), wasi: [], env: [], importsMemory: false };
  for (const imp of imports) {
    if (imp.module === WASI_NAMESPACE) {
      const spec = WASI_FUNCTIONS[imp.name];
      if (!spec) {
        throw new UnknownImportError(
          imp.module,
          imp.name,
          "unknown_function",
          `Cannot link import "${imp.module}"."${imp.name}" as WASI preview1 has no such function`,
        );
      }
      checkFunction(imp, spec);
      requireGranted(imp, spec.requires, manifest);
      plan.wasi.push(imp.name);
      continue;
    }
    if (imp.module === "env") {
      if (imp.name === "memory" && imp.kind === "memory") {
        plan.importsMemory = true;
        continue;
      }
      const spec = ENV_FUNCTIONS[imp.name];
      if (!spec) {
        throw new UnknownImportError(
          imp.module,
          imp.name,
          "unknown_function",
          `Cannot link import "env"."${imp.name}" as the host offers only env.abort, env.seed and env.memory`,
        );
      }
      checkFunction(imp, spec);
      requireGranted(imp, spec.requires, manifest);
      plan.env.push(imp.name);
      continue;
    }
    const plugin = registry.get(imp.module);
    if (!plugin) {
      throw new UnknownImportError(
        imp.module,
        imp.name,
        "unknown_namespace",
        `Cannot link import "${imp.module}"."${imp.name}" as "${imp.module}" is no capability (known: ${
          [...registry.names(), WASI_NAMESPACE, "env"].join(", ")
        })`,
      );
    }
    requireGranted(imp, plugin.name, manifest);
    const spec = plugin.functions[imp.name] ?? CORE_NAMESPACE_FUNCTIONS[imp.name];
    if (!spec) {
      throw new UnknownImportError(
        imp.module,
        imp.name,
        "unknown_function",
        `Cannot link import "${imp.module}"."${imp.name}" as capability "${plugin.name}" has no such function (has: ${
          Object.keys(plugin.functions).join(", ")
        })`,
      );
    }
    checkFunction(imp, spec);
    const names = plan.capabilities.get(plugin.name) ?? [];
    names.push(imp.name);
    plan.capabilities.set(plugin.name, names);
  }
  return plan;
}
