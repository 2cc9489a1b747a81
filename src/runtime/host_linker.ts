/**
 * Builds one step's import object from an audited import plan: each granted
 * capability's plugin contributes its host functions under its own
 * namespace; the linker wraps every function to count calls, enforce the
 * capability's host-call budget and turn plugin bugs into coded faults.
 *
 * @module
 */
import type {
  CapabilityContext,
  CapabilityPlugin,
  HostErrnoName,
  HostFunction,
  StepInfo,
} from "../capability/capability_plugin.ts";
import { HostErrno } from "../capability/capability_plugin.ts";
import type { CapabilityRegistry } from "../capability/capability_registry.ts";
import type { GuestMemory } from "../capability/guest_memory.ts";
import type { StepClock } from "../capability/step_clock.ts";
import type { StepIo } from "../capability/step_io.ts";
import type { StepLog } from "../capability/step_log.ts";
import { GuestFault, WasmBrokerError } from "../errors.ts";
import type { Manifest } from "../manifest/manifest.ts";
import { WASI_FUNCTIONS } from "../wasi/wasi_functions.ts";
import { createWasiImports } from "../wasi/wasi_preview1.ts";
import type { ImportPlan } from "./import_audit.ts";
import { suspending } from "./jspi.ts";
import { HOST_CALL_LOG_LIMIT, type StepMetrics } from "./step_outcome.ts";

/** Host calls allowed per capability per step when neither plugin nor manifest says. */
export const DEFAULT_HOST_CALL_BUDGET = 10_000;

/** Everything the linker needs for one step. */
export interface LinkContext {
  plan: ImportPlan;
  manifest: Manifest;
  registry: CapabilityRegistry;
  step: StepInfo;
  memory: GuestMemory;
  io: StepIo;
  log: StepLog;
  clock: StepClock;
  signal: AbortSignal;
  metrics: StepMetrics;
  /** Per-capability data from the broker halves (`prepareStep`). */
  data: Readonly<Record<string, unknown>>;
  /** Sends a request to a plugin's broker half. */
  callBroker(capability: string, op: string, payload: unknown): Promise<unknown>;
  /** Supplied when the guest imports `env.memory`. */
  importedMemory?: WebAssembly.Memory;
  /**
   * Receives the first {@link HOST_CALL_LOG_LIMIT} host calls, timed
   * (`start`: `performance.now()`); absent: calls are only counted.
   */
  callLog?: HostCallRecord[];
}

/** A host call as {@link LinkContext.callLog} records it. */
export interface HostCallRecord {
  call: string;
  start: number;
  ms: number;
  denied: boolean;
}

/**
 * One host call, metered: charged to `capability`'s budget (which throws
 * when it is spent), counted under `key`, and timed into `callLog` while the
 * log has room (nothing is allocated for a call past it).
 */
function metered<A extends unknown[], T>(
  call: { key: string; capability: string },
  link: { metrics: StepMetrics; callLog?: HostCallRecord[] },
  budgets: CallBudgets,
  fn: (...args: A) => T,
  args: A,
): T {
  budgets.charge(call.capability, call.key);
  const { metrics, callLog } = link;
  metrics.host_calls[call.key] = (metrics.host_calls[call.key] ?? 0) + 1;
  if (callLog === undefined || callLog.length >= HOST_CALL_LOG_LIMIT) return fn(...args);
  return timed(callLog, call.key, () => metrics.policy_denials, () => fn(...args));
}

/**
 * Runs `fn`, timing it into `log`: until it returns, or for a promise until
 * it settles. The result is returned untouched. `denials` reads the step's
 * policy-denial count: a call during which it rose was denied (the guest
 * makes one call at a time, an async one included).
 */
function timed<T>(
  log: HostCallRecord[],
  call: string,
  denials: () => number,
  fn: () => T,
): T {
  const before = denials();
  const record: HostCallRecord = { call, start: performance.now(), ms: 0, denied: false };
  log.push(record);
  const done = () => {
    record.ms = performance.now() - record.start;
    record.denied = denials() > before;
  };
  let result: T;
  try {
    result = fn();
  } catch (thrown) {
    done();
    throw thrown;
  }
  const then = (result as { then?: unknown } | null)?.then;
  if (typeof then === "function") Promise.resolve(result).then(done, done);
  else done();
  return result;
}

/** Result of {@link linkImports}. */
export interface LinkedImports {
  imports: WebAssembly.Imports;
  /** True when any linked function is async (the entry must run through JSPI). */
  async: boolean;
}

const encoder = new TextEncoder();

/**
 * Per-step host-call budgets, one per capability. WASI calls are charged to
 * the capability they need (`fd_write` to `io`, clocks to `time`); WASI calls
 * that need none share a core budget, so no import is unmetered.
 */
class CallBudgets {
  readonly #used = new Map<string, number>();
  constructor(readonly manifest: Manifest, readonly registry: CapabilityRegistry) {}

  limit(capability: string): number {
    const plugin = this.registry.get(capability);
    return this.manifest.limits.host_calls[capability] ?? plugin?.defaultBudget ??
      DEFAULT_HOST_CALL_BUDGET;
  }

  charge(capability: string, fn: string): void {
    const used = (this.#used.get(capability) ?? 0) + 1;
    this.#used.set(capability, used);
    const limit = this.limit(capability);
    if (used > limit) {
      throw new GuestFault(
        "host_call_budget",
        `Cannot call "${fn}" as capability "${capability}" exceeded its budget of ${limit} host calls per step`,
        { details: { capability, budget: limit } },
      );
    }
  }
}

/** Budget name for WASI and env functions that need no capability. */
export const CORE_BUDGET = "core";

/** Builds the import object for one instantiation. */
export function linkImports(ctx: LinkContext): LinkedImports {
  const imports: WebAssembly.Imports = {};
  const budgets = new CallBudgets(ctx.manifest, ctx.registry);
  let isAsync = false;
  for (const [name, functions] of ctx.plan.capabilities) {
    const plugin = ctx.registry.get(name)!;
    const ns = linkCapability(plugin, functions, ctx, budgets);
    imports[name] = ns.functions;
    isAsync ||= ns.async;
  }
  if (ctx.plan.wasi.length) {
    imports.wasi_snapshot_preview1 = meterCalls(
      "wasi",
      createWasiImports({
        memory: ctx.memory,
        io: ctx.io,
        log: "log" in ctx.manifest.capabilities ? ctx.log : null,
        clock: ctx.clock,
        args: [ctx.step.handler],
      }, ctx.plan.wasi),
      ctx,
      budgets,
    );
  }
  if (ctx.plan.env.length || ctx.plan.importsMemory) {
    imports.env = linkEnv(ctx);
  }
  return { imports, async: isAsync };
}

/** Wraps WASI functions to count calls and charge the budget of the capability each needs. */
function meterCalls(
  prefix: string,
  functions: Record<string, (...args: never[]) => unknown>,
  link: { metrics: StepMetrics; callLog?: HostCallRecord[] },
  budgets: CallBudgets,
): Record<string, (...args: never[]) => unknown> {
  const out: Record<string, (...args: never[]) => unknown> = {};
  for (const [name, fn] of Object.entries(functions)) {
    const key = `${prefix}.${name}`;
    const capability = WASI_FUNCTIONS[name]?.requires ?? CORE_BUDGET;
    const call = { key, capability };
    out[name] = (...args: never[]) => metered(call, link, budgets, fn, args);
  }
  return out;
}

function linkEnv(ctx: LinkContext): WebAssembly.ModuleImports {
  const env: WebAssembly.ModuleImports = {};
  if (ctx.plan.importsMemory && ctx.importedMemory) env.memory = ctx.importedMemory;
  for (const name of ctx.plan.env) {
    if (name === "abort") {
      env.abort = (msgPtr: number, filePtr: number, line: number, column: number) => {
        const message = readAsString(ctx.memory, msgPtr) ?? "abort";
        const file = readAsString(ctx.memory, filePtr) ?? "?";
        throw new GuestFault("trap", `guest aborted: ${message} at ${file}:${line}:${column}`, {
          details: { trap: "abort", file, line, column },
        });
      };
    } else if (name === "seed") {
      env.seed = () => {
        const bytes = new Uint8Array(8);
        ctx.clock.fillRandom(bytes);
        return new DataView(bytes.buffer).getFloat64(0) || 1;
      };
    }
  }
  return env;
}

/** Reads an AssemblyScript string (UTF-16, byte length at ptr-4); null when unreadable. */
function readAsString(memory: GuestMemory, ptr: number): string | null {
  if (!ptr) return null;
  try {
    const len = new DataView(memory.view(ptr - 4, 4).slice().buffer).getUint32(0, true);
    const bytes = memory.read(ptr, Math.min(len, 4096));
    return new TextDecoder("utf-16le").decode(bytes);
  } catch {
    return null;
  }
}

function linkCapability(
  plugin: CapabilityPlugin,
  functionNames: readonly string[],
  link: LinkContext,
  budgets: CallBudgets,
): { functions: WebAssembly.ModuleImports; async: boolean } {
  const key = (fn: string) => `${plugin.name}.${fn}`;
  let lastError = encoder.encode("null");
  let staged = new Uint8Array(0);
  const record = (errno: HostErrnoName, code: string, message: string): number => {
    lastError = encoder.encode(JSON.stringify({ code, message }));
    return HostErrno[errno];
  };
  const ctx: CapabilityContext<unknown> = {
    policy: link.manifest.capabilities[plugin.name],
    step: link.step,
    memory: link.memory,
    io: link.io,
    log: link.log,
    clock: link.clock,
    data: link.data[plugin.name],
    signal: link.signal,
    deny(errno, code, message) {
      link.metrics.policy_denials++;
      const k = key(code);
      link.metrics.denials_by_code[k] = (link.metrics.denials_by_code[k] ?? 0) + 1;
      return record(errno, code, message);
    },
    fail: record,
    stage(bytes) {
      staged = bytes;
      return bytes.length;
    },
    callBroker: (op, payload) => link.callBroker(plugin.name, op, payload),
  };
  const implementations: Record<string, HostFunction> = {
    ...plugin.instantiate(ctx),
    last_error: (ptr: number, len: number) => {
      link.memory.write(ptr, lastError.subarray(0, Math.min(len >>> 0, lastError.length)));
      return lastError.length;
    },
    read_result: (ptr: number, len: number) => {
      const n = Math.min(len >>> 0, staged.length);
      link.memory.write(ptr, staged.subarray(0, n));
      return n;
    },
  };
  const functions: WebAssembly.ModuleImports = {};
  let isAsync = false;
  for (const name of functionNames) {
    const impl = implementations[name];
    if (!impl) {
      throw new WasmBrokerError(
        "internal",
        `Cannot link "${plugin.name}.${name}" as the plugin declared it but did not implement it`,
      );
    }
    const call = { key: key(name), capability: plugin.name };
    const run = impl as (...a: (number | bigint)[]) => ReturnType<HostFunction>;
    const guarded = (...args: (number | bigint)[]) => metered(call, link, budgets, run, args);
    if (plugin.functions[name]?.async) {
      isAsync = true;
      functions[name] = suspending(async (...args: never[]) => await guarded(...args)) as never;
    } else {
      functions[name] = guarded;
    }
  }
  return { functions, async: isAsync };
}
