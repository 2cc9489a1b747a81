/**
 * The `secrets` capability: a guest reads the secret values its manifest
 * declares by key, and nothing else.
 *
 * - The **broker half** (`prepareStep`) resolves the declared keys from an
 *   injected {@link SecretSource} and hands the values to the step as
 *   `ctx.data`, marking each one `sensitive`: the runtime then redacts them
 *   from log records and fails a step whose result or error carries one
 *   (`secret_leak`), in exact and encoded forms (see
 *   `src/runtime/secret_scan.ts`).
 * - The **sandbox half** answers `secrets.get(key_ptr, key_len)`: an
 *   undeclared key is a policy denial (`secret_undeclared`), a declared key
 *   the source has no value for is `not_found` (`secret_missing`), otherwise
 *   the value's UTF-8 bytes are staged for `secrets.read_result`.
 *
 * Values shorter than {@link MIN_SECRET_BYTES} bytes are refused in
 * `prepareStep`: the scanner could not find their encodings without also
 * matching ordinary output.
 *
 * @module
 */
import { z } from "zod";
import type { CapabilityPlugin } from "../../src/capability/capability_plugin.ts";
import { WasmBrokerError } from "../../src/errors.ts";
import { describeValue } from "../../src/manifest/format_issues.ts";
import { MIN_SECRET_BYTES } from "../../src/runtime/secret_scan.ts";
import { envSecretSource, type SecretSource } from "./secret_source.ts";

export { MIN_SECRET_BYTES };

/** Secret key names: upper-case letters, digits and `_`, not starting with a digit. */
export const SECRET_KEY_PATTERN: RegExp = /^[A-Z_][A-Z0-9_]*$/;
/** Longest key name, in characters. */
export const MAX_SECRET_KEY_LENGTH = 128;
/** Most keys one manifest may declare. */
export const MAX_SECRET_KEYS = 100;
/** Environment prefix of the default source: `secretsPlugin()` reads `WASM_BROKER_SECRET_<KEY>`. */
export const DEFAULT_SECRET_ENV_PREFIX = "WASM_BROKER_SECRET_";

const SecretKeySchema = z.string()
  .max(MAX_SECRET_KEY_LENGTH, {
    error: (issue) =>
      `expected a key name of at most ${MAX_SECRET_KEY_LENGTH} characters, got ${
        describeValue(issue.input)
      }`,
  })
  .regex(SECRET_KEY_PATTERN, {
    error: (issue) =>
      `expected a key name such as "API_TOKEN" (A-Z, 0-9 and _, not starting with a digit), got ${
        describeValue(issue.input)
      }`,
  });

/** The `secrets` manifest section: the keys the guest may read. Empty or absent: none. */
export const SecretsPolicySchema = z.strictObject({
  keys: z.array(SecretKeySchema)
    .max(MAX_SECRET_KEYS, { error: `expected at most ${MAX_SECRET_KEYS} keys` })
    .default([])
    .superRefine((keys, ctx) => {
      const seen = new Set<string>();
      keys.forEach((key, index) => {
        if (seen.has(key)) {
          ctx.addIssue({ code: "custom", message: `duplicate key "${key}"`, path: [index] });
        }
        seen.add(key);
      });
    }),
});
/** Parsed `secrets` section. */
export type SecretsPolicy = z.output<typeof SecretsPolicySchema>;

/** Options for {@link secretsPlugin}. */
export interface SecretsPluginOptions {
  /**
   * Where the broker half reads values. Defaults to the broker's environment
   * with the prefix {@link DEFAULT_SECRET_ENV_PREFIX}, so a manifest can never
   * name the broker's own variables (`DATABASE_URL`, ...).
   */
  source?: SecretSource;
}

const encoder = new TextEncoder();

/**
 * Creates the `secrets` capability plugin.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { mapSecretSource, secretsPlugin } from "./mod.ts";
 * const plugin = secretsPlugin({ source: mapSecretSource({ API_TOKEN: "tok-123456" }) });
 * const step = { stepId: "s-1", handler: "doc", correlationId: "c-1" };
 * const prepared = await plugin.prepareStep!({ keys: ["API_TOKEN", "UNSET"] }, step);
 * assert.deepEqual(prepared, { data: { API_TOKEN: "tok-123456" }, sensitive: ["tok-123456"] });
 * ```
 */
export function secretsPlugin(
  options: SecretsPluginOptions = {},
): CapabilityPlugin<SecretsPolicy> {
  const source = options.source ?? envSecretSource(DEFAULT_SECRET_ENV_PREFIX);
  return {
    name: "secrets",
    description: "Read the secret values the manifest declares, by key",
    schema: SecretsPolicySchema,
    functions: {
      get: {
        params: ["i32", "i32"],
        results: ["i32"],
        doc:
          "Stages the value of the UTF-8 key at (ptr, len); returns its byte length, -1 undeclared, -2 missing",
      },
    },
    defaultBudget: 1_000,
    source: { module: import.meta.url, factory: "secretsPlugin" },
    async prepareStep(policy) {
      const values = await Promise.all(policy.keys.map((key) => resolve(source, key)));
      const data: Record<string, string> = {};
      const sensitive: string[] = [];
      policy.keys.forEach((key, i) => {
        const value = values[i];
        if (value === undefined) return;
        data[key] = value;
        sensitive.push(value);
      });
      return { data, sensitive };
    },
    instantiate(ctx) {
      const values = stepValues(ctx.data);
      const declared = new Set(ctx.policy.keys);
      return {
        get: (ptr: number, len: number) => {
          ctx.memory.view(ptr, len); // bounds check before anything else
          if (len >>> 0 > MAX_SECRET_KEY_LENGTH) {
            return ctx.deny(
              "denied",
              "secret_undeclared",
              `Cannot read secret as no declared key is ${
                len >>> 0
              } bytes long (longest allowed: ${MAX_SECRET_KEY_LENGTH})`,
            );
          }
          const key = ctx.memory.readString(ptr, len);
          if (key === null) {
            return ctx.fail("invalid_argument", "invalid_key", "expected a UTF-8 key name");
          }
          if (!declared.has(key)) {
            return ctx.deny(
              "denied",
              "secret_undeclared",
              `Cannot read secret ${
                JSON.stringify(key)
              } as the manifest does not declare it (declared: ${
                [...declared].join(", ") || "none"
              })`,
            );
          }
          const value = values.get(key);
          if (value === undefined) {
            return ctx.fail(
              "not_found",
              "secret_missing",
              `Cannot read secret ${JSON.stringify(key)} as the secret source has no value for it`,
            );
          }
          return ctx.stage(encoder.encode(value));
        },
      };
    },
  };
}

/** Reads one key from the source; refuses values too short to scan for. */
async function resolve(source: SecretSource, key: string): Promise<string | undefined> {
  let value: unknown;
  try {
    value = await source.get(key);
  } catch (cause) {
    // The cause stays attached for operators; its text may quote the store, so it is not copied.
    throw new WasmBrokerError(
      "internal",
      `Cannot read secret "${key}" as the secret source failed`,
      { cause, retryable: true, details: { capability: "secrets", key } },
    );
  }
  if (value === undefined) return undefined;
  if (typeof value !== "string") {
    throw new TypeError(
      `Cannot read secret "${key}" as the secret source must return a string or undefined: current type is ${typeof value}`,
    );
  }
  const bytes = encoder.encode(value).length;
  if (bytes < MIN_SECRET_BYTES) {
    throw new WasmBrokerError(
      "policy_fault",
      `Cannot provide secret "${key}" as values shorter than ${MIN_SECRET_BYTES} bytes cannot be kept out of step output: current length is ${bytes} bytes`,
      {
        details: {
          capability: "secrets",
          key,
          reason: "secret_too_short",
          min_bytes: MIN_SECRET_BYTES,
        },
      },
    );
  }
  return value;
}

/** The values the broker half prepared for this step (`ctx.data`). */
function stepValues(data: unknown): Map<string, string> {
  const values = new Map<string, string>();
  if (data === undefined || data === null) return values;
  if (typeof data !== "object" || Array.isArray(data)) {
    throw new WasmBrokerError("internal", "Cannot use secrets step data as it is not an object");
  }
  for (const [key, value] of Object.entries(data)) {
    if (typeof value !== "string") {
      throw new WasmBrokerError(
        "internal",
        `Cannot use secrets step data as the value of "${key}" is not a string`,
      );
    }
    values.set(key, value);
  }
  return values;
}
