/**
 * The set of capability plugins a runtime knows. Registering two plugins for
 * one name is an error, as is a name that collides with the namespaces the
 * core owns (`wasi_snapshot_preview1`, `env`).
 *
 * @module
 */
import { WasmBrokerError } from "../errors.ts";
import type { CapabilityPlugin } from "./capability_plugin.ts";

/** Import namespaces the core implements itself. */
export const RESERVED_NAMESPACES: readonly string[] = ["wasi_snapshot_preview1", "env"];

const NAME = /^[a-z][a-z0-9_]{0,31}$/;

/**
 * A registry of capability plugins, keyed by capability name.
 *
 * @example
 * ```ts
 * import { CapabilityRegistry } from "./capability_registry.ts";
 * const registry = new CapabilityRegistry();
 * console.assert(registry.names().length === 0);
 * ```
 */
export class CapabilityRegistry implements Iterable<CapabilityPlugin> {
  readonly #plugins = new Map<string, CapabilityPlugin>();

  constructor(plugins: Iterable<CapabilityPlugin> = []) {
    for (const plugin of plugins) this.register(plugin);
  }

  /** Adds a plugin; throws `plugin_conflict` when its name is taken. */
  register(plugin: CapabilityPlugin): this {
    if (!NAME.test(plugin.name)) {
      throw new TypeError(
        `Cannot register capability plugin as its name must match ${NAME}: current value is "${plugin.name}"`,
      );
    }
    if (RESERVED_NAMESPACES.includes(plugin.name)) {
      throw new WasmBrokerError(
        "plugin_conflict",
        `Cannot register capability plugin "${plugin.name}" as that namespace is reserved by the core`,
        { details: { name: plugin.name } },
      );
    }
    if (this.#plugins.has(plugin.name)) {
      throw new WasmBrokerError(
        "plugin_conflict",
        `Cannot register capability plugin "${plugin.name}" as a plugin with that name is already registered`,
        { details: { name: plugin.name } },
      );
    }
    for (const [fn, spec] of Object.entries(plugin.functions)) {
      if (fn === "last_error" || fn === "read_result") {
        throw new TypeError(
          `Cannot register capability plugin "${plugin.name}" as "${fn}" is added by the core to every namespace`,
        );
      }
      if (spec.results.length > 1) {
        throw new TypeError(
          `Cannot register "${plugin.name}.${fn}" as it returns more than one value`,
        );
      }
    }
    this.#plugins.set(plugin.name, plugin);
    return this;
  }

  /** The plugin for a capability, if registered. */
  get(name: string): CapabilityPlugin | undefined {
    return this.#plugins.get(name);
  }

  /** Registered capability names, sorted. */
  names(): string[] {
    return [...this.#plugins.keys()].sort();
  }

  [Symbol.iterator](): Iterator<CapabilityPlugin> {
    return this.#plugins.values();
  }
}
