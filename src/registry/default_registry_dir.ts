/**
 * Where the registry lives when no directory is given: `<data dir>/registry`,
 * with the data dir from `WASM_BROKER_DATA_DIR` or `./data` (git-ignored).
 *
 * @module
 */
import { resolve } from "node:path";

/** Reads an environment variable; `Deno.env.get` by default. */
export type EnvReader = (name: string) => string | undefined;

const readEnv: EnvReader = (name) => Deno.env.get(name);

/**
 * The project's data directory, absolute: `WASM_BROKER_DATA_DIR` or `./data`.
 *
 * @example
 * ```ts
 * import { defaultDataDir } from "./default_registry_dir.ts";
 * console.assert(defaultDataDir(() => "/srv/broker") === "/srv/broker");
 * ```
 */
export function defaultDataDir(env: EnvReader = readEnv): string {
  const configured = env("WASM_BROKER_DATA_DIR");
  return resolve(configured ? configured : "data");
}

/**
 * The default registry root: `<data dir>/registry`.
 *
 * @example
 * ```ts
 * import { defaultRegistryDir } from "./default_registry_dir.ts";
 * console.assert(defaultRegistryDir(() => "/srv/broker") === "/srv/broker/registry");
 * ```
 */
export function defaultRegistryDir(env: EnvReader = readEnv): string {
  return resolve(defaultDataDir(env), "registry");
}
