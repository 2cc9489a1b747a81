/**
 * The capability plugin contract. A capability plugin is the host-side module
 * that implements one capability (`http`, `log`, ...): its manifest section
 * schema, the host functions it adds under its own import namespace, and its
 * policy. It has two halves that run in different processes:
 *
 * - the **broker half** (`prepareStep`, `onBrokerCall`) runs in the broker
 *   process, which holds secrets and shared state such as rate limits;
 * - the **sandbox half** (`instantiate`) runs next to the guest, in a sandbox
 *   process that holds no credentials.
 *
 * A sandbox process re-creates each plugin from {@link CapabilityPlugin.source}
 * (module URL + factory name + JSON options), so a plugin defined outside this
 * repository works in sandboxes without touching the core.
 *
 * @module
 */
import type { z } from "zod";
import type { ErrorCode } from "../errors.ts";
import type { GuestMemory } from "./guest_memory.ts";
import type { StepClock } from "./step_clock.ts";
import type { StepIo } from "./step_io.ts";
import type { StepLog } from "./step_log.ts";

/** WebAssembly value types a host function may take or return. */
export type WasmValType = "i32" | "i64" | "f32" | "f64";

/** The signature of one host function; the import audit checks guests against it. */
export interface HostFunctionSpec {
  readonly params: readonly WasmValType[];
  /** Zero or one result. */
  readonly results: readonly WasmValType[];
  /**
   * The implementation returns a Promise. It is linked through JSPI
   * (`WebAssembly.Suspending`): the guest suspends until it settles.
   */
  readonly async?: boolean;
  /** One line for docs and `--help` output. */
  readonly doc?: string;
}

/** A host function implementation: wasm numbers in, a wasm number (or nothing) out. */
export type HostFunction = (
  // `never[]` lets implementations declare their exact parameters (ptr: number, ...).
  ...args: never[]
) => number | bigint | void | Promise<number | bigint | void>;

/** Facts about the step being run, safe to show the guest's plugins. */
export interface StepInfo {
  /** Unique id of this execution (the step uuid in Tasker). */
  readonly stepId: string;
  /** Handler name (registry name or file name). */
  readonly handler: string;
  /** Correlation id for logs and traces. */
  readonly correlationId: string;
}

/**
 * Error values a host function returns to the guest (negative i32). The
 * details of the last error are available through `<namespace>.last_error`.
 */
export const HostErrno = {
  denied: -1,
  not_found: -2,
  invalid_argument: -3,
  too_large: -4,
  rate_limited: -5,
  timeout: -6,
  unavailable: -7,
  buffer_too_small: -8,
} as const;

/** Name of a {@link HostErrno} value. */
export type HostErrnoName = keyof typeof HostErrno;

/** The per-step view a plugin's sandbox half gets. */
export interface CapabilityContext<Policy> {
  /** This capability's parsed manifest section. */
  readonly policy: Policy;
  readonly step: StepInfo;
  /**
   * The guest's memory, bounds-checked; out-of-range pointers fault the step
   * with `bad_pointer`. Only usable while a host function runs.
   */
  readonly memory: GuestMemory;
  /** The step's input and output, shared with WASI stdin/stdout. */
  readonly io: StepIo;
  /** The step's capped log, shared with WASI stderr. */
  readonly log: StepLog;
  /** Host-controlled time (real, or virtual when the step is replayed). */
  readonly clock: StepClock;
  /** Whatever this plugin's broker half returned from `prepareStep`. */
  readonly data: unknown;
  /**
   * Aborted when the step's deadline passes, for guests that import an async
   * function (the only ones that can see it fire: any other runs to its end
   * without the event loop turning, and its deadline is the sandbox's kill).
   */
  readonly signal: AbortSignal;
  /**
   * Records a policy denial (counted in the step's metrics), remembers it for
   * `<namespace>.last_error` and returns the errno to hand back to the guest.
   */
  deny(errno: HostErrnoName, code: string, message: string): number;
  /** Records a non-policy error (not counted as a denial) and returns the errno. */
  fail(errno: HostErrnoName, code: string, message: string): number;
  /**
   * Stages bytes for the guest to copy with `<namespace>.read_result(ptr, len)`
   * and returns their length.
   */
  stage(bytes: Uint8Array<ArrayBuffer>): number;
  /** Calls this plugin's broker half (`onBrokerCall`) and resolves with its answer. */
  callBroker(op: string, payload: unknown): Promise<unknown>;
}

/** What a plugin's broker half hands the sandbox half for one step. */
export interface PreparedStepData {
  /** JSON-serializable data delivered as `ctx.data`. */
  readonly data?: unknown;
  /**
   * Values that must never leave the step: the runtime scans results, error
   * messages and log records for them (exact, base64, hex, URL-encoded).
   */
  readonly sensitive?: readonly string[];
}

/** Where a sandbox process loads a plugin from. */
export interface PluginSource {
  /** Absolute module URL (`import.meta.url` of the plugin's module). */
  readonly module: string;
  /** Name of the exported factory, called as `factory(options)`. */
  readonly factory: string;
  /** JSON-serializable factory options for the sandbox half. */
  readonly options?: unknown;
}

/**
 * One capability. Implement it as a small factory taking one options object
 * (effects such as `fetch` or a clock are injected there), and register it in
 * a {@link CapabilityRegistry}.
 */
export interface CapabilityPlugin<Policy = unknown> {
  /** Capability name: manifest key under `capabilities` and the import namespace. */
  readonly name: string;
  /** One line for docs. */
  readonly description: string;
  /**
   * Schema of this capability's manifest section (unknown keys must be errors).
   * The parsed policy must be JSON-serializable: manifests reach sandbox
   * processes as JSON and are parsed there again.
   */
  readonly schema: z.ZodType<Policy>;
  /** The host functions the capability offers, by import name. */
  readonly functions: Readonly<Record<string, HostFunctionSpec>>;
  /** Host calls allowed per step unless `limits.host_calls[name]` says otherwise. */
  readonly defaultBudget?: number;
  /** How a sandbox process re-creates this plugin. Required to run guests in sandboxes. */
  readonly source?: PluginSource;
  /** Host names a sandbox serving this policy must be allowed to reach (`--allow-net`). */
  netHosts?(policy: Policy): readonly string[];
  /** Broker half, once per step before dispatch. */
  prepareStep?(policy: Policy, step: StepInfo): PreparedStepData | Promise<PreparedStepData>;
  /** Broker half: answers `ctx.callBroker(op, payload)` from the sandbox half. */
  onBrokerCall?(policy: Policy, step: StepInfo, op: string, payload: unknown): Promise<unknown>;
  /** Sandbox half, once per step: the implementations of {@link functions}. */
  instantiate(ctx: CapabilityContext<Policy>): Readonly<Record<string, HostFunction>>;
}

/** A coded outcome of a host-side check, for plugins that fault rather than deny. */
export interface FaultInfo {
  readonly code: ErrorCode;
  readonly message: string;
}
