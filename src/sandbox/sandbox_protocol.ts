/**
 * The messages the broker and a sandbox process exchange over the child's
 * stdin/stdout, as frame headers (see `frame_codec.ts`). Bulk bytes (module,
 * step input, step result, broker-call payloads) travel in the frame's
 * payload, never in the JSON header.
 *
 * Broker → sandbox: `init`, `load`, `unload`, `run`, `reply`.
 * Sandbox → broker: `ready`, `fatal`, `done`, `call`.
 *
 * The broker treats everything a sandbox sends as untrusted: a compromised
 * sandbox may send anything, so {@link readOutcome} checks the shape and
 * any violation kills the process.
 *
 * @module
 */
import type { PluginSource, StepInfo } from "../capability/capability_plugin.ts";
import type { LogRecord } from "../capability/step_log.ts";
import type { VirtualClockOptions } from "../capability/step_clock.ts";
import type { ErrorCode } from "../errors.ts";
import type { Manifest } from "../manifest/manifest.ts";
import {
  HOST_CALL_LOG_LIMIT,
  type HostCallTiming,
  type StepError,
  type StepMetrics,
  type StepOutcome,
} from "../runtime/step_outcome.ts";

/** First message to a new sandbox: the plugins to re-create. */
export interface InitMessage {
  t: "init";
  plugins: PluginSource[];
}

/** Compile a module once; payload: the module bytes. */
export interface LoadMessage {
  t: "load";
  digest: string;
  name: string;
  manifest: Manifest;
}

/** Forget a compiled module (the broker keeps each sandbox's cache bounded). */
export interface UnloadMessage {
  t: "unload";
  digest: string;
}

/** Run one step of a loaded module; payload: the input bytes. */
export interface RunMessage {
  t: "run";
  id: number;
  digest: string;
  step: StepInfo;
  data: Readonly<Record<string, unknown>>;
  clock?: VirtualClockOptions;
  /** Wall-clock deadline in ms since the epoch; the sandbox aborts `ctx.signal` then. */
  deadline: number;
  /** Time the first host calls into the outcome's `host_call_log`. */
  time_host_calls?: true;
}

/** The broker's answer to a `call`; payload: the JSON answer when `ok` (empty = undefined). */
export interface ReplyMessage {
  t: "reply";
  id: number;
  ok: boolean;
  /** When not ok: a coded, secret-free error. */
  code?: string;
  message?: string;
}

/** The sandbox re-created its plugins and serves steps. */
export interface ReadyMessage {
  t: "ready";
}

/** The sandbox cannot start (a plugin module or factory is broken); it exits next. */
export interface FatalMessage {
  t: "fatal";
  message: string;
}

/** A step finished; payload: the result as JSON (empty when failed). */
export interface DoneMessage {
  t: "done";
  id: number;
  outcome: Omit<StepOutcome, "result">;
}

/** A plugin's sandbox half calls its broker half; payload: the JSON request (empty = undefined). */
export interface CallMessage {
  t: "call";
  id: number;
  run: number;
  capability: string;
  op: string;
}

/** Messages a sandbox receives. */
export type ToSandbox = InitMessage | LoadMessage | UnloadMessage | RunMessage | ReplyMessage;
/** Messages a sandbox sends. */
export type FromSandbox = ReadyMessage | FatalMessage | DoneMessage | CallMessage;

const encoder = new TextEncoder();
const decoder = new TextDecoder("utf-8", { fatal: true });
const EMPTY = new Uint8Array(0);

/** A JSON value as payload bytes; `undefined` becomes the empty payload. */
export function jsonPayload(value: unknown): Uint8Array {
  const text = JSON.stringify(value);
  return text === undefined ? EMPTY : encoder.encode(text);
}

/** The inverse of {@link jsonPayload}; throws SyntaxError/TypeError on bad bytes. */
export function parseJsonPayload(payload: Uint8Array): unknown {
  return payload.length ? JSON.parse(decoder.decode(payload)) : undefined;
}

/** A sandbox broke the protocol; the broker kills it. */
export class ProtocolError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ProtocolError";
  }
}

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === "object" && v !== null && !Array.isArray(v);

/**
 * Checks a `done` message from an untrusted sandbox and rebuilds the
 * outcome with its result; throws {@link ProtocolError} when malformed.
 *
 * @example
 * ```ts
 * import { readOutcome } from "./sandbox_protocol.ts";
 * import { emptyMetrics } from "../runtime/step_outcome.ts";
 * const outcome = readOutcome(
 *   { t: "done", id: 1, outcome: { status: "completed", error: null, metrics: emptyMetrics(), logs: [] } },
 *   new TextEncoder().encode("[1]"),
 * );
 * console.assert(Array.isArray(outcome.result));
 * ```
 */
export function readOutcome(message: DoneMessage, payload: Uint8Array): StepOutcome {
  const raw: unknown = message.outcome;
  if (!isObject(raw)) throw new ProtocolError("done: outcome is not an object");
  const { status, error, metrics, logs } = raw;
  if (status !== "completed" && status !== "failed") {
    throw new ProtocolError(`done: bad status ${JSON.stringify(status)?.slice(0, 40)}`);
  }
  if (!isObject(metrics)) throw new ProtocolError("done: metrics is not an object");
  if (!Array.isArray(logs) || !logs.every(isObject)) {
    throw new ProtocolError("done: logs is not an array of objects");
  }
  let stepError: StepError | null = null;
  if (status === "failed") {
    if (
      !isObject(error) || typeof error.code !== "string" || typeof error.message !== "string" ||
      typeof error.retryable !== "boolean" ||
      (error.details !== undefined && !isObject(error.details))
    ) {
      throw new ProtocolError("done: a failed outcome needs an error {code, message, retryable}");
    }
    // `started` is the pool's own word on whether a process ever took the step (a step that
    // never started may be handed back with its attempt); a process cannot say it.
    const { started: _, ...details } = (error.details ?? {}) as Record<string, unknown>;
    stepError = {
      code: error.code as ErrorCode,
      message: error.message,
      retryable: error.retryable,
      ...(error.details ? { details } : {}),
    };
  } else if (error !== null) {
    throw new ProtocolError("done: a completed outcome has an error");
  }
  let result: unknown = null;
  if (status === "completed") {
    try {
      result = parseJsonPayload(payload) ?? null;
    } catch (thrown) {
      throw new ProtocolError(`done: result is not JSON: ${(thrown as Error).message}`);
    }
  }
  const hostCallLog = readHostCallLog(raw.host_call_log, metrics.host_calls);
  return {
    status,
    result,
    error: stepError,
    metrics: metrics as unknown as StepMetrics,
    logs: logs as unknown as LogRecord[],
    ...(hostCallLog.length > 0 ? { host_call_log: hostCallLog } : {}),
  };
}

/**
 * A process's timed host calls, kept only as far as they make sense: at most
 * {@link HOST_CALL_LOG_LIMIT} entries, each a call the metrics count (no more
 * of one call than its count) with whole, non-negative µs. Anything else is
 * dropped (the calls are still counted in `metrics.host_calls`): the log only
 * places spans.
 */
function readHostCallLog(raw: unknown, counts: unknown): HostCallTiming[] {
  if (!Array.isArray(raw) || !isObject(counts)) return [];
  const left = new Map(Object.entries(counts));
  const out: HostCallTiming[] = [];
  for (const entry of raw.slice(0, HOST_CALL_LOG_LIMIT)) {
    if (!isObject(entry) || typeof entry.call !== "string") continue;
    const { call, at_us, us, denied } = entry;
    const count = left.get(call);
    if (typeof count !== "number" || !(count > 0) || !isMicros(at_us) || !isMicros(us)) continue;
    left.set(call, count - 1);
    out.push({ call, at_us, us, ...(denied === true ? { denied: true as const } : {}) });
  }
  return out;
}

function isMicros(value: unknown): value is number {
  return Number.isSafeInteger(value) && (value as number) >= 0;
}
