/**
 * wasm-broker runs workflow step handlers ("guests") as sandboxed
 * WebAssembly: every step in a fresh instance, in a sandbox process that
 * holds no credentials, with only the capabilities its manifest grants.
 *
 * ```ts ignore
 * import { createRuntime } from "./mod.ts";
 *
 * const runtime = createRuntime({ secrets: { PRICING_TOKEN: "t0ken-value" } });
 * const guest = await runtime.load(await Deno.readFile("guest.wasm"), {
 *   capabilities: { io: {}, log: {}, http: { allow: ["https://api.pricing.example/v2/"] } },
 *   limits: { memory: "16MiB", timeout_ms: 2000 },
 * });
 * const outcome = await runtime.execute(guest, { context: { sku: "A-1" } });
 * console.log(outcome.status, outcome.result ?? outcome.error);
 * await runtime.close();
 * ```
 *
 * - Runtime: {@link createRuntime}, {@link Runtime}, {@link SandboxPool},
 *   {@link InProcessExecutor}, outcomes ({@link StepOutcome}).
 * - Manifests: {@link parseManifest}, {@link safeParseManifest}, {@link Manifest}.
 * - Capability plugins: the contract ({@link CapabilityPlugin}), the
 *   {@link CapabilityRegistry}, and the built-in plugins (`./plugins/mod.ts`).
 * - Registry: {@link FileRegistry} (versioned, digest-pinned guests),
 *   {@link parseCallable} (Tasker's `handler.callable`).
 * - Broker (the Tasker worker behind `deno task broker`): {@link Broker},
 *   {@link loadBrokerConfig}, {@link HandlerResolver}, {@link openDatabase},
 *   {@link toStepExecutionResult}.
 * - Errors: {@link WasmBrokerError} and its subclasses, with stable codes.
 *
 * @module
 */
export { createRuntime, type CreateRuntimeOptions } from "./src/create_runtime.ts";
export {
  type ExecuteOptions,
  type LoadedGuest,
  type LoadOptions,
  Runtime,
  type RuntimeOptions,
  scrubSecrets,
  sha256Hex,
} from "./src/runtime/runtime.ts";
export type {
  BrokerCallHandler,
  ExecuteRequest,
  GuestHandle,
  StepExecutor,
} from "./src/runtime/executor.ts";
export {
  InProcessExecutor,
  type InProcessExecutorOptions,
} from "./src/runtime/in_process_executor.ts";
export {
  SandboxPool,
  type SandboxPoolOptions,
  type SandboxProcessInfo,
} from "./src/sandbox/sandbox_pool.ts";
export type { SandboxLogEvent } from "./src/sandbox/sandbox_process.ts";
export type { StepError, StepMetrics, StepOutcome } from "./src/runtime/step_outcome.ts";
export {
  defaultManifestInput,
  type Manifest,
  manifestSchema,
  manifestToJson,
  parseManifest,
  type ParseManifestOptions,
  safeParseManifest,
  type SafeParseManifestResult,
} from "./src/manifest/manifest.ts";
export { DEFAULT_LIMITS, type Limits } from "./src/manifest/limits_schema.ts";
export {
  type CapabilityContext,
  type CapabilityPlugin,
  HostErrno,
  type HostErrnoName,
  type HostFunction,
  type HostFunctionSpec,
  type PluginSource,
  type PreparedStepData,
  type StepInfo,
  type WasmValType,
} from "./src/capability/capability_plugin.ts";
export { CapabilityRegistry } from "./src/capability/capability_registry.ts";
export type { GuestMemory } from "./src/capability/guest_memory.ts";
export type { StepClock, VirtualClockOptions } from "./src/capability/step_clock.ts";
export type { GuestReportedError, StepIo } from "./src/capability/step_io.ts";
export type { LogLevel, LogRecord, StepLog } from "./src/capability/step_log.ts";
export {
  FileRegistry,
  type FileRegistryOptions,
  type GuestSummary,
  type LoadedModule,
  type PublishEntry,
  type PublishResult,
} from "./src/registry/file_registry.ts";
export type { GuestMetadata } from "./src/registry/guest_metadata.ts";
export { type GuestRequest, parseCallable } from "./src/registry/parse_callable.ts";
export { selectVersion } from "./src/registry/select_version.ts";
export { RegistryError, type RegistryErrorCode } from "./src/registry/registry_error.ts";
export { defaultRegistryDir } from "./src/registry/default_registry_dir.ts";
export {
  type ErrorCode,
  GuestFault,
  ManifestError,
  type ManifestIssue,
  UnknownImportError,
  type UnknownImportReason,
  WasmBrokerError,
  type WasmBrokerErrorOptions,
} from "./src/errors.ts";
export {
  Broker,
  type BrokerDeps,
  type BrokerSettings,
  type BrokerStatus,
} from "./src/broker/broker.ts";
export {
  type BrokerConfig,
  BrokerConfigSchema,
  loadBrokerConfig,
} from "./src/broker/broker_config.ts";
export type { BrokerObserver, StepScope } from "./src/broker/broker_observer.ts";
export { HandlerResolver, type ServedHandler } from "./src/broker/handler_resolver.ts";
export { createTelemetryObserver } from "./src/broker/telemetry_observer.ts";
export type { SqlClient, SqlExecutor } from "./src/db/sql_client.ts";
export { openDatabase, type OpenedDatabase } from "./src/db/open_database.ts";
export {
  type StepExecutionResult,
  toStepExecutionResult,
} from "./src/tasker/step_execution_result.ts";
