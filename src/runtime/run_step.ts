/**
 * Runs one step of a prepared guest in a fresh instance, in this process,
 * and turns whatever happens into a {@link StepOutcome}. It does not stop a
 * spinning guest: hard deadlines are the sandbox's job (it kills the
 * process), so this runs inside sandbox processes and in trusted tests.
 *
 * @module
 */
import type { StepInfo } from "../capability/capability_plugin.ts";
import type { CapabilityRegistry } from "../capability/capability_registry.ts";
import { GuestMemory } from "../capability/guest_memory.ts";
import { createStepClock, type VirtualClockOptions } from "../capability/step_clock.ts";
import { StepIo } from "../capability/step_io.ts";
import { StepLog } from "../capability/step_log.ts";
import { type ErrorCode, WasmBrokerError } from "../errors.ts";
import { flushWasiStderr, WasiExit } from "../wasi/wasi_preview1.ts";
import { type HostCallRecord, linkImports } from "./host_linker.ts";
import { promising } from "./jspi.ts";
import { type MemoryPool, processMemoryPool } from "./memory_pool.ts";
import type { PreparedGuest } from "./prepared_guest.ts";
import {
  emptyMetrics,
  type HostCallTiming,
  isRetryableCode,
  type StepError,
  type StepOutcome,
} from "./step_outcome.ts";
import { classifyTrap, isTrap } from "./trap.ts";

/** One step's input and context. */
export interface RunRequest {
  /** The step envelope, as UTF-8 JSON bytes. */
  input: Uint8Array;
  step: StepInfo;
  /** Per-capability data from the plugins' broker halves. */
  data?: Readonly<Record<string, unknown>>;
  /** Replay with virtual time and randomness. */
  clock?: VirtualClockOptions;
  /** Answers plugins' `ctx.callBroker`; defaults to refusing. */
  callBroker?(capability: string, op: string, payload: unknown): Promise<unknown>;
  /** Wall-clock deadline (ms since epoch) for async host calls; defaults to now + timeout_ms. */
  deadline?: number;
  /**
   * Time the first host calls into `outcome.host_call_log` (for one span per
   * call). Off by default: a step whose spans nobody records need not pay.
   */
  timeHostCalls?: boolean;
}

/** Options for {@link runStep}. */
export interface RunStepOptions {
  registry: CapabilityRegistry;
  /** Where guest memories come from and go back to; defaults to the process's pool. */
  memoryPool?: MemoryPool;
}

const decoder = new TextDecoder("utf-8", { fatal: true });

function failure(code: ErrorCode, message: string, details?: Record<string, unknown>): StepError {
  const error: StepError = { code, message, retryable: isRetryableCode(code) };
  if (details && Object.keys(details).length) error.details = details;
  return error;
}

/** Maps anything a guest run threw to a step error. */
export function errorFromThrown(thrown: unknown): StepError {
  if (thrown instanceof WasmBrokerError) {
    const error = failure(thrown.code, thrown.message, thrown.details);
    error.retryable = thrown.retryable || error.retryable;
    return error;
  }
  if (thrown instanceof WasiExit) {
    return failure("handler_error", `guest exited with status ${thrown.status}`, {
      exit_status: thrown.status,
    });
  }
  if (thrown instanceof Error && isTrap(thrown)) {
    const trap = classifyTrap(thrown);
    const where = trap.function ? ` in ${trap.function}` : "";
    return failure("trap", `guest trapped (${trap.kind})${where}: ${trap.message}`, {
      trap: trap.kind,
      ...(trap.function ? { function: trap.function } : {}),
    });
  }
  if (thrown instanceof WebAssembly.LinkError) {
    return failure("module_invalid", `Cannot instantiate guest: ${thrown.message}`);
  }
  return failure(
    "internal",
    `host error while running the guest: ${String((thrown as Error)?.message ?? thrown)}`,
  );
}

/**
 * Instantiates `guest` afresh and runs it on `request.input`.
 *
 * @example
 * ```ts ignore
 * const outcome = await runStep(guest, { input, step }, { registry });
 * if (outcome.status === "completed") console.log(outcome.result);
 * ```
 */
export async function runStep(
  guest: PreparedGuest,
  request: RunRequest,
  options: RunStepOptions,
): Promise<StepOutcome> {
  return (await runStepWithOutput(guest, request, options)).outcome;
}

/**
 * {@link runStep}, also giving the guest's output bytes when the step
 * completed: checked to be JSON (and to match the output schema), and
 * exactly what `outcome.result` was parsed from, so a sandbox passes them on
 * instead of serializing the result again.
 */
export async function runStepWithOutput(
  guest: PreparedGuest,
  request: RunRequest,
  options: RunStepOptions,
): Promise<{ outcome: StepOutcome; output: Uint8Array | null }> {
  const { manifest } = guest;
  const metrics = emptyMetrics();
  metrics.compile_ms = 0;
  const clock = createStepClock(request.clock);
  const memory = new GuestMemory();
  const io = new StepIo(request.input, manifest.limits.output_bytes);
  const logLimits = manifest.limits.log;
  const log = new StepLog(request.step, {
    lineBytes: logLimits.line_bytes,
    lines: logLimits.lines,
    bytes: logLimits.bytes,
    minLevel: logLimits.level,
  }, () => Number(clock.wallNs() / 1_000_000n));
  const deadline = request.deadline ?? Date.now() + manifest.limits.timeout_ms;
  const abort = new AbortController();
  let timer: ReturnType<typeof setTimeout> | undefined;
  const pool = options.memoryPool ?? processMemoryPool;
  const memoryLimits = guest.importedMemory;
  const importedMemory = memoryLimits && pool.takeFor(memoryLimits, request.input.length);

  let error: StepError | null = null;
  let exitStatus = 0;
  let runRc = 0;
  const callLog: HostCallRecord[] | undefined = request.timeHostCalls ? [] : undefined;
  let runStarted = performance.now();
  try {
    const { imports, async: isAsync } = linkImports({
      plan: guest.plan,
      manifest,
      registry: options.registry,
      step: request.step,
      memory,
      io,
      log,
      clock,
      signal: abort.signal,
      metrics,
      data: request.data ?? {},
      callBroker: request.callBroker ??
        ((capability) => Promise.reject(new Error(`no broker half reachable for "${capability}"`))),
      importedMemory,
      callLog,
    });
    // Only an async host call can see the signal fire: a guest without one runs
    // to its end without the event loop turning, so the timer could never run
    // (its hard deadline is the sandbox's kill), and arming one cost ~2% of a
    // sandbox's CPU per step.
    if (isAsync) {
      timer = setTimeout(
        () =>
          abort.abort(new WasmBrokerError("timeout", "step deadline passed", { retryable: true })),
        Math.max(0, deadline - Date.now()),
      );
    }
    const t0 = performance.now();
    let instance: WebAssembly.Instance;
    try {
      instance = new WebAssembly.Instance(guest.module, imports);
    } finally {
      metrics.instantiate_us = (performance.now() - t0) * 1000;
      runStarted = performance.now(); // a start function's host calls come before: at 0
    }
    const exported = instance.exports.memory;
    memory.attach(exported instanceof WebAssembly.Memory ? exported : importedMemory);
    const t1 = runStarted;
    try {
      const call = (name: string): unknown => {
        const fn = instance.exports[name] as (...args: never[]) => unknown;
        return isAsync ? promising(fn)() : fn();
      };
      if (guest.entry === "command") {
        try {
          await call("_start");
        } catch (thrown) {
          if (!(thrown instanceof WasiExit)) throw thrown;
          exitStatus = thrown.status;
        }
      } else {
        if (typeof instance.exports._initialize === "function") await call("_initialize");
        runRc = Number(await call("run"));
      }
    } finally {
      metrics.run_ms = performance.now() - t1;
    }
  } catch (thrown) {
    error = errorFromThrown(
      abort.signal.aborted && !(thrown instanceof WasmBrokerError) ? abort.signal.reason : thrown,
    );
  } finally {
    clearTimeout(timer);
    // However the guest stopped, its last unterminated stderr line is a log record.
    flushWasiStderr(io);
    metrics.memory_high_water_bytes = memory.size;
    // The guest has returned, trapped or unwound: it can never run again, and
    // its output, logs and errors are copies, so its memory can be scrubbed
    // and reused. A host call still settling late finds no memory at all.
    memory.attach(undefined);
    if (importedMemory) pool.giveFor(importedMemory, memoryLimits!);
  }
  metrics.log = { records: log.records.length, dropped: log.dropped, truncated: log.truncated };
  let result: unknown = null;
  let output: Uint8Array | null = null;
  if (!error) error = guestReportedFailure(io, exitStatus, runRc);
  if (!error) {
    output = io.output();
    const parsed = parseOutput(output, guest);
    if ("error" in parsed) error = parsed.error;
    else result = parsed.value;
  }
  return {
    outcome: {
      status: error ? "failed" : "completed",
      result: error ? null : result,
      error,
      metrics,
      logs: log.records,
      ...(callLog?.length ? { host_call_log: callLog.map((c) => timing(c, runStarted)) } : {}),
    },
    output: error ? null : output,
  };
}

function guestReportedFailure(io: StepIo, exitStatus: number, runRc: number): StepError | null {
  const reported = io.reportedError;
  if (reported) {
    const error = failure("handler_error", reported.message, {
      ...(reported.code ? { guest_code: reported.code } : {}),
      ...(reported.details !== undefined ? { guest_details: reported.details } : {}),
    });
    error.retryable = reported.retryable ?? false;
    return error;
  }
  if (exitStatus !== 0) {
    return failure("handler_error", `guest exited with status ${exitStatus}`, {
      exit_status: exitStatus,
    });
  }
  if (runRc !== 0) {
    return failure("handler_error", `guest's run() returned ${runRc}`, { return_code: runRc });
  }
  return null;
}

function parseOutput(
  bytes: Uint8Array,
  guest: PreparedGuest,
): { value: unknown } | { error: StepError } {
  if (bytes.length === 0) {
    return { error: failure("no_output", "guest finished without writing output") };
  }
  let text: string;
  try {
    text = decoder.decode(bytes);
  } catch {
    return { error: failure("output_invalid", "Cannot parse output as it is not valid UTF-8") };
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    // V8's message quotes the output around the error; it could carry a secret fragment
    // too short to recognise, so report only where parsing stopped.
    const position = /position (\d+)/.exec((e as Error).message)?.[1];
    return {
      error: failure(
        "output_invalid",
        `Cannot parse output as JSON: invalid ${
          position === undefined ? "document" : `at byte ${position}`
        }`,
        position === undefined ? {} : { position: Number(position) },
      ),
    };
  }
  const schemaErrors = guest.validateOutput?.(value) ?? [];
  if (schemaErrors.length) {
    return {
      error: failure(
        "output_invalid",
        `output does not match the manifest's output_schema (${schemaErrors.length} errors)`,
        {
          schema_errors: schemaErrors.slice(0, 50),
        },
      ),
    };
  }
  return { value };
}

/** A recorded call as the outcome carries it: whole µs from the run's start. */
function timing(c: HostCallRecord, runStarted: number): HostCallTiming {
  return {
    call: c.call,
    at_us: Math.max(0, Math.round((c.start - runStarted) * 1000)),
    us: Math.round(c.ms * 1000),
    ...(c.denied ? { denied: true as const } : {}),
  };
}
