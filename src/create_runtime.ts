/**
 * `createRuntime`: a {@link Runtime} with the built-in capability plugins (plus
 * any of yours) whose guests run in sandbox processes.
 *
 * @module
 */
import { builtinPlugins } from "../plugins/builtin_plugins.ts";
import type { HttpPluginOptions } from "../plugins/http/mod.ts";
import { mapSecretSource, type SecretSource } from "../plugins/secrets/mod.ts";
import type { CapabilityPlugin } from "./capability/capability_plugin.ts";
import { InProcessExecutor } from "./runtime/in_process_executor.ts";
import { Runtime } from "./runtime/runtime.ts";
import { SandboxPool, type SandboxPoolOptions } from "./sandbox/sandbox_pool.ts";

/** Options for {@link createRuntime}. */
export interface CreateRuntimeOptions {
  /**
   * Where the `secrets` capability reads values, in this (the broker's)
   * process: a {@link SecretSource} or a plain record. Default:
   * `WASM_BROKER_SECRET_<KEY>` environment variables.
   */
  secrets?: SecretSource | Readonly<Record<string, string>>;
  /** Capability plugins to register besides the built-in ones. */
  plugins?: readonly CapabilityPlugin[];
  /** Effects of the `http` plugin's broker half (DNS lookup, clock), for tests. */
  http?: HttpPluginOptions;
  /**
   * `"sandbox"` (default): guests run in sandbox processes with hard
   * deadlines. `"in-process"`: in this process, without hard deadlines or a
   * process boundary — for trusted guests in tests and tools only.
   */
  isolation?: "sandbox" | "in-process";
  /** Sandbox pool options. */
  sandbox?: Omit<SandboxPoolOptions, "registry">;
}

function isSource(value: unknown): value is SecretSource {
  return typeof (value as SecretSource | undefined)?.get === "function";
}

/**
 * Creates a runtime. Close it when done: it owns sandbox processes.
 *
 * @example
 * ```ts ignore
 * const runtime = createRuntime({ secrets: { API_TOKEN: "s3cr3t-t0ken" } });
 * const guest = await runtime.load(await Deno.readFile("guest.wasm"), { capabilities: { io: {} } });
 * const outcome = await runtime.execute(guest, { context: {} });
 * await runtime.close();
 * ```
 */
export function createRuntime(options: CreateRuntimeOptions = {}): Runtime {
  const secrets = options.secrets === undefined
    ? undefined
    : isSource(options.secrets)
    ? options.secrets
    : mapSecretSource(options.secrets);
  return new Runtime({
    plugins: [...builtinPlugins({ secrets, http: options.http }), ...(options.plugins ?? [])],
    executor: (registry) =>
      options.isolation === "in-process"
        ? new InProcessExecutor({ registry })
        : new SandboxPool({ ...options.sandbox, registry }),
  });
}
