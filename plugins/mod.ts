/**
 * The built-in capability plugins. Each also has its own export path
 * (`plugins/http/mod.ts`, ...).
 *
 * @module
 */
export { builtinPlugins, type BuiltinPluginsOptions } from "./builtin_plugins.ts";
export { httpPlugin, type HttpPluginOptions, type HttpPolicy } from "./http/mod.ts";
export { ioPlugin, type IoPolicy } from "./io/mod.ts";
export { logPlugin, type LogPolicy } from "./log/mod.ts";
export {
  envSecretSource,
  mapSecretSource,
  type SecretSource,
  secretsPlugin,
  type SecretsPolicy,
} from "./secrets/mod.ts";
export { timePlugin, type TimePolicy } from "./time/mod.ts";
