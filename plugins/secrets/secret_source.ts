/**
 * Where the `secrets` capability's broker half gets values from. A source is
 * injected into `secretsPlugin`, so tests and deployments choose it: an
 * in-memory map, the broker's environment, or an adapter to a vault.
 *
 * Sources run in the broker process only. Sandbox processes never read the
 * environment or a vault: they receive the values a step's manifest declares,
 * for that step only.
 *
 * @module
 */

/** Resolves a secret key to its value; `undefined` when the source has none. */
export interface SecretSource {
  get(key: string): string | undefined | Promise<string | undefined>;
}

const PREFIX = /^[A-Za-z0-9_]*$/;

/**
 * A source reading `<prefix><KEY>` from the broker process's environment.
 * Needs `--allow-env` (for those names) in the broker, never in a sandbox.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { envSecretSource } from "./secret_source.ts";
 * Deno.env.set("DOC_EXAMPLE_API_TOKEN", "tok-123456");
 * const source = envSecretSource("DOC_EXAMPLE_");
 * assert.equal(await source.get("API_TOKEN"), "tok-123456");
 * assert.equal(await source.get("NOT_SET_ANYWHERE"), undefined);
 * ```
 */
export function envSecretSource(prefix = ""): SecretSource {
  if (!PREFIX.test(prefix)) {
    throw new TypeError(
      `Cannot create an environment secret source as the prefix must match ${PREFIX}: current value is ${
        JSON.stringify(prefix)
      }`,
    );
  }
  return { get: (key) => Deno.env.get(prefix + key) };
}

/**
 * A source serving a fixed set of values (copied, so later changes to
 * `record` are not seen). For tests and for values loaded at start-up.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { mapSecretSource } from "./secret_source.ts";
 * const source = mapSecretSource({ API_TOKEN: "tok-123456" });
 * assert.equal(await source.get("API_TOKEN"), "tok-123456");
 * assert.equal(await source.get("OTHER"), undefined);
 * ```
 */
export function mapSecretSource(
  record: Readonly<Record<string, string>> | ReadonlyMap<string, string>,
): SecretSource {
  const values = new Map<string, string>(
    record instanceof Map ? record : Object.entries(record as Record<string, string>),
  );
  for (const [key, value] of values) {
    if (typeof value !== "string") {
      throw new TypeError(
        `Cannot create a map secret source as the value of "${key}" must be a string: current type is ${typeof value}`,
      );
    }
  }
  return { get: (key) => values.get(key) };
}
