/**
 * The `secrets` capability plugin: a guest reads the secret values its
 * manifest declares (`{"secrets": {"keys": ["API_TOKEN"]}}`), resolved in
 * the broker from an injected source; the runtime keeps them out of results,
 * errors and logs.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { mapSecretSource, secretsPlugin } from "./mod.ts";
 * const plugin = secretsPlugin({ source: mapSecretSource({ API_TOKEN: "tok-123456" }) });
 * assert.equal(plugin.name, "secrets");
 * assert.deepEqual(plugin.schema.parse({}), { keys: [] });
 * ```
 *
 * @module
 */
export { envSecretSource, mapSecretSource, type SecretSource } from "./secret_source.ts";
export {
  DEFAULT_SECRET_ENV_PREFIX,
  MAX_SECRET_KEY_LENGTH,
  MAX_SECRET_KEYS,
  MIN_SECRET_BYTES,
  SECRET_KEY_PATTERN,
  secretsPlugin,
  type SecretsPluginOptions,
  type SecretsPolicy,
  SecretsPolicySchema,
} from "./secrets_plugin.ts";
