/**
 * The capability manifest: the typed grant a guest runs under. The schema is
 * built from the registered capability plugins (each contributes its section
 * under `capabilities`), so types are inferred once and never written twice.
 *
 * Invalid manifests are rejected before anything runs, with every problem
 * listed by path. Unknown keys are errors. A capability that is absent is not
 * granted; an empty allowlist denies everything.
 *
 * @module
 */
import { z } from "zod";
import type { CapabilityRegistry } from "../capability/capability_registry.ts";
import { ManifestError, type ManifestIssue } from "../errors.ts";
import { toManifestIssues } from "./format_issues.ts";
import { type Limits, LimitsSchema } from "./limits_schema.ts";
import { compileOutputSchema } from "./output_schema.ts";

/** A parsed, validated manifest. `limits.memory` is in pages. */
export interface Manifest {
  name?: string;
  description?: string;
  /** Granted capabilities: name → parsed policy section. */
  capabilities: Record<string, unknown>;
  limits: Limits;
  /** JSON Schema (2020-12) the output must satisfy. */
  output_schema?: Record<string, unknown> | boolean;
}

/** Options for {@link parseManifest}. */
export interface ParseManifestOptions {
  /** Where the manifest came from, for error messages (a file path). */
  source?: string;
}

/** Result of {@link safeParseManifest}. */
export type SafeParseManifestResult =
  | { success: true; manifest: Manifest }
  | { success: false; error: ManifestError };

const schemaCache = new WeakMap<CapabilityRegistry, z.ZodType<Manifest>>();
/** Manifests this module produced: only these skip validation in `Runtime.load`. */
const parsedManifests = new WeakSet<object>();

/** True when `value` came out of {@link parseManifest} / {@link safeParseManifest}. */
export function isParsedManifest(value: unknown): value is Manifest {
  return typeof value === "object" && value !== null && parsedManifests.has(value);
}

/** The zod schema of a manifest for the capabilities in `registry`. */
export function manifestSchema(registry: CapabilityRegistry): z.ZodType<Manifest> {
  const cached = schemaCache.get(registry);
  if (cached) return cached;
  const sections: Record<string, z.ZodType> = {};
  for (const plugin of registry) sections[plugin.name] = plugin.schema.optional();
  const schema = z.strictObject({
    $schema: z.string().optional(),
    name: z.string().min(1).max(200).optional(),
    description: z.string().max(2000).optional(),
    capabilities: z.strictObject(sections).default({}),
    limits: LimitsSchema.prefault({}),
    output_schema: z.union([z.record(z.string(), z.unknown()), z.boolean()]).optional(),
  }).transform(({ $schema: _ignored, ...rest }) => {
    // Drop sections of capabilities that are not granted (undefined values).
    const capabilities: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(rest.capabilities)) {
      if (v !== undefined) capabilities[k] = v;
    }
    return { ...rest, capabilities } as Manifest;
  });
  schemaCache.set(registry, schema);
  return schema;
}

/**
 * Validates a manifest; returns every problem instead of throwing.
 *
 * @example
 * ```ts
 * import { CapabilityRegistry } from "../capability/capability_registry.ts";
 * import { safeParseManifest } from "./manifest.ts";
 * const result = safeParseManifest({ limits: { timeout_ms: -1 } }, new CapabilityRegistry());
 * console.assert(!result.success && result.error.issues[0].path === "limits.timeout_ms");
 * ```
 */
export function safeParseManifest(
  input: unknown,
  registry: CapabilityRegistry,
  options: ParseManifestOptions = {},
): SafeParseManifestResult {
  const parsed = manifestSchema(registry).safeParse(input, { reportInput: true });
  if (!parsed.success) {
    return {
      success: false,
      error: new ManifestError(
        toManifestIssues(parsed.error.issues, registry.names()),
        options.source,
      ),
    };
  }
  const issues: ManifestIssue[] = [];
  const manifest = parsed.data;
  if (manifest.output_schema !== undefined) {
    try {
      compileOutputSchema(manifest.output_schema);
    } catch (error) {
      issues.push({
        path: "output_schema",
        message: `expected a valid JSON Schema (2020-12): ${(error as Error).message}`,
      });
    }
  }
  for (const name of Object.keys(manifest.limits.host_calls)) {
    // "core" budgets the WASI calls that need no capability (args, fd_close, path_* ...).
    if (name !== "core" && !registry.get(name)) {
      issues.push({
        path: `limits.host_calls.${name}`,
        message: `unknown capability (known: ${[...registry.names(), "core"].join(", ")})`,
      });
    }
  }
  if (issues.length) return { success: false, error: new ManifestError(issues, options.source) };
  parsedManifests.add(manifest);
  return { success: true, manifest };
}

/** Validates a manifest; throws {@link ManifestError} listing every problem. */
export function parseManifest(
  input: unknown,
  registry: CapabilityRegistry,
  options: ParseManifestOptions = {},
): Manifest {
  const result = safeParseManifest(input, registry, options);
  if (!result.success) throw result.error;
  return result.manifest;
}

/** JSON form of a parsed manifest that parses back to the same manifest (memory as `{pages}`). */
export function manifestToJson(manifest: Manifest): Record<string, unknown> {
  return { ...manifest, limits: { ...manifest.limits, memory: { pages: manifest.limits.memory } } };
}

/** The manifest used when none is given: only `io` and `log`, default limits. */
export function defaultManifestInput(): Record<string, unknown> {
  return { name: "default", capabilities: { io: {}, log: {} } };
}
