/**
 * The built-in capability plugins, created with one options object.
 *
 * @module
 */
import type { CapabilityPlugin } from "../src/capability/capability_plugin.ts";
import { httpPlugin, type HttpPluginOptions } from "./http/mod.ts";
import { ioPlugin } from "./io/mod.ts";
import { logPlugin } from "./log/mod.ts";
import { type SecretSource, secretsPlugin } from "./secrets/mod.ts";
import { timePlugin } from "./time/mod.ts";

/** Options for {@link builtinPlugins}. */
export interface BuiltinPluginsOptions {
  /** Where `secrets` reads values (broker process). Default: `WASM_BROKER_SECRET_<KEY>` env vars. */
  secrets?: SecretSource;
  /** Effects of the `http` plugin's broker half (DNS lookup, clock) for tests. */
  http?: HttpPluginOptions;
}

/**
 * `io`, `log`, `time`, `secrets` and `http`.
 *
 * @example
 * ```ts
 * import { builtinPlugins } from "./builtin_plugins.ts";
 * console.assert(builtinPlugins().map((p) => p.name).join() === "io,log,time,secrets,http");
 * ```
 */
export function builtinPlugins(options: BuiltinPluginsOptions = {}): CapabilityPlugin[] {
  return [
    ioPlugin(),
    logPlugin(),
    timePlugin(),
    secretsPlugin(options.secrets ? { source: options.secrets } : {}),
    httpPlugin({ secrets: options.secrets, ...options.http }),
  ] as CapabilityPlugin[];
}
