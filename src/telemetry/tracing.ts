/**
 * Spans for one step, through `@opentelemetry/api` (tracer `wasm-broker`).
 * With Deno's built-in OpenTelemetry on (`OTEL_DENO=true`, see
 * `docs/operations.md`) they are exported over OTLP; otherwise the API's
 * no-op tracer is used and a {@link StepTrace} does almost nothing.
 *
 * The tree for one step:
 *
 * ```
 * worker.step_execution           correlation_id, task_uuid, step_uuid, step_name, namespace
 * ├─ worker.claim                  (phase: timed around the claim transaction)
 * ├─ worker.compile                (derived, only when the module was compiled for this step)
 * ├─ worker.instantiate            (derived from StepMetrics.instantiate_us)
 * ├─ worker.run                    (derived from StepMetrics.run_ms)
 * │  └─ wasm.host_call  × one per host call (the first 64, timed), then one per
 * │                      host function for the calls beyond them (count)
 * └─ worker.report                 (phase: timed around the report transaction)
 * ```
 *
 * Phases (`claim`, `report`, anything else the broker wraps) are measured
 * where they run. Compile, instantiate and run happen inside a sandbox
 * process, which reports only durations; their spans are laid out backwards
 * from the moment the outcome came back, and carry `wasm.timing = "derived"`.
 * When the step's spans are recorded, the broker asks the sandbox to time
 * the step's first `HOST_CALL_LOG_LIMIT` (64) host calls
 * (`StepOutcome.host_call_log`): each gets a `wasm.host_call` span of its
 * own, at its measured offset in `worker.run` and with its measured length
 * (`wasm.timing = "measured"`; the run itself is placed as derived, so the
 * calls share its offset from real time). Calls beyond those are only
 * counted: one derived span per host function stands for them, spans the
 * whole run and says how many in `wasm.host_call.count`.
 *
 * Every attribute value and status message goes through
 * {@link redactAttributes} with the step's secrets first.
 *
 * @module
 */
import {
  type Attributes,
  type AttributeValue,
  type Context,
  context,
  type Span,
  SpanKind,
  SpanStatusCode,
  trace,
  type Tracer,
} from "@opentelemetry/api";
import { WasmBrokerError } from "../errors.ts";
import { createSecretScanner, REDACTED, type SecretScanner } from "../runtime/secret_scan.ts";
import type { StepOutcome } from "../runtime/step_outcome.ts";

/** The tracer name (the span's instrumentation scope). */
export const TRACER_NAME = "wasm-broker";

/** A value callers may pass as an attribute; `undefined`/`null` are dropped. */
export type AttributeInput = AttributeValue | undefined | null;

/** Tasker's attributes on `worker.step_execution`, plus any extras. */
export interface StepSpanAttributes {
  correlation_id: string;
  task_uuid: string;
  step_uuid: string;
  step_name: string;
  namespace: string;
  [key: string]: AttributeInput;
}

/** The secrets to redact: values, or a scanner built from them. */
export type SecretsInput = readonly string[] | SecretScanner;

/** Options for {@link startStepTrace}. */
export interface StepTraceOptions {
  /** Values never to export (the step's resolved secrets). */
  secrets?: SecretsInput;
  /** Default: `trace.getTracer("wasm-broker")` (Deno's provider when OTel is on, else no-op). */
  tracer?: Tracer;
  /** Parent context. Default: the active one. */
  parent?: Context;
}

/** A coded failure to put on a span. */
export interface SpanError {
  /** Broker error code (`trap`, `timeout`, ...) or broker-side code (`db_error`, ...). */
  code: string;
  message?: string;
  /** Tasker's error type, when the failure was reported to Tasker. */
  error_type?: string;
  retryable?: boolean;
}

/** Epoch milliseconds with sub-millisecond precision. */
export function epochNow(): number {
  return performance.timeOrigin + performance.now();
}

/**
 * `attrs` with secrets redacted from every value: strings (and strings in
 * arrays) have each occurrence, in any encoding the scanner knows, replaced
 * by `[REDACTED]`; a number or boolean whose text is a secret becomes
 * `"[REDACTED]"`. `undefined` and `null` values are dropped.
 *
 * @example
 * ```ts
 * import { redactAttributes } from "./tracing.ts";
 * const attrs = redactAttributes(
 *   { "http.url": "https://api.example/?key=s3cr3t-token", attempt: 2, skipped: undefined },
 *   ["s3cr3t-token"],
 * );
 * console.assert(attrs["http.url"] === "https://api.example/?key=[REDACTED]");
 * console.assert(attrs.attempt === 2 && !("skipped" in attrs));
 * ```
 */
export function redactAttributes(
  attrs: Readonly<Record<string, AttributeInput>>,
  secrets: SecretsInput | undefined,
): Attributes {
  const scanner = toSecretScanner(secrets);
  const out: Attributes = {};
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null) continue;
    out[key] = scanner ? redactValue(value, scanner) : value;
  }
  return out;
}

/**
 * The scanner for `secrets`: itself when it already is one, undefined when
 * there is no secret to find. Building one derives every secret's encodings,
 * so callers that trace many steps with the same secrets build it once.
 */
export function toSecretScanner(secrets: SecretsInput | undefined): SecretScanner | undefined {
  if (!secrets) return undefined;
  if (isScanner(secrets)) return secrets;
  return secrets.some((s) => s.length > 0) ? createSecretScanner(secrets) : undefined;
}

function isScanner(secrets: SecretsInput): secrets is SecretScanner {
  return typeof (secrets as SecretScanner).redact === "function";
}

function redactValue(value: AttributeValue, scanner: SecretScanner): AttributeValue {
  if (typeof value === "string") return scanner.redact(value);
  if (typeof value === "number" || typeof value === "boolean") {
    return scanner.found(String(value)) ? REDACTED : value;
  }
  if (Array.isArray(value)) {
    const items = value as unknown[];
    if (items.some((v) => typeof v === "string")) {
      return items.map((v) => (typeof v === "string" ? scanner.redact(v) : v)) as AttributeValue;
    }
    // A number array whose element is a secret: redact the whole array.
    return items.some((v) => v !== null && v !== undefined && scanner.found(String(v)))
      ? [REDACTED]
      : value;
  }
  return value;
}

/**
 * Starts `worker.step_execution` for one step.
 *
 * @example
 * ```ts
 * import { startStepTrace } from "./tracing.ts";
 * const step = startStepTrace({
 *   correlation_id: "c-1",
 *   task_uuid: "t-1",
 *   step_uuid: "s-1",
 *   step_name: "validate",
 *   namespace: "catalog",
 * });
 * const claimed = await step.phase("worker.claim", () => "claimed");
 * step.end();
 * console.assert(claimed === "claimed");
 * ```
 */
export function startStepTrace(
  attributes: StepSpanAttributes,
  options: StepTraceOptions = {},
): StepTrace {
  return new StepTrace(attributes, options);
}

/** The spans of one step; see the module docs for the tree. */
export class StepTrace {
  /** The `worker.step_execution` span. */
  readonly span: Span;
  /** False when no tracer provider records (then every method is nearly free). */
  readonly recording: boolean;
  readonly #tracer: Tracer;
  readonly #context: Context;
  readonly #scanner: SecretScanner | undefined;
  #ended = false;

  constructor(attributes: StepSpanAttributes, options: StepTraceOptions = {}) {
    this.#tracer = options.tracer ?? trace.getTracer(TRACER_NAME);
    const parent = options.parent ?? context.active();
    this.span = this.#tracer.startSpan(
      "worker.step_execution",
      { kind: SpanKind.CONSUMER },
      parent,
    );
    this.recording = this.span.isRecording();
    this.#scanner = this.recording ? toSecretScanner(options.secrets) : undefined;
    this.#context = trace.setSpan(parent, this.span);
    if (this.recording) this.span.setAttributes(this.#redact(attributes));
  }

  /** The context whose active span is `worker.step_execution`. */
  get context(): Context {
    return this.#context;
  }

  /** Trace and span ids for log lines; `undefined` when not recording. */
  get ids(): { trace_id: string; span_id: string } | undefined {
    if (!this.recording) return undefined;
    const { traceId, spanId } = this.span.spanContext();
    return { trace_id: traceId, span_id: spanId };
  }

  /** Adds attributes to `worker.step_execution` (redacted). */
  setAttributes(attributes: Readonly<Record<string, AttributeInput>>): void {
    if (this.recording && !this.#ended) this.span.setAttributes(this.#redact(attributes));
  }

  /**
   * Runs `fn` inside a child span named `name` (`worker.claim`,
   * `worker.report`, ...), active while `fn` runs so spans Deno makes for
   * `fetch` or database calls nest under it. A throw is recorded on the
   * child (status error, `error.type` = the error's code) and rethrown.
   */
  async phase<T>(
    name: string,
    fn: (span: Span) => T | Promise<T>,
    attributes: Readonly<Record<string, AttributeInput>> = {},
  ): Promise<T> {
    if (!this.recording) return await fn(this.span);
    const child = this.#tracer.startSpan(
      name,
      { attributes: this.#redact(attributes) },
      this.#context,
    );
    try {
      return await context.with(trace.setSpan(this.#context, child), () => fn(child));
    } catch (error) {
      this.#markError(child, errorOf(error));
      throw error;
    } finally {
      child.end();
    }
  }

  /**
   * Adds the spans of the part that ran in the sandbox, from the outcome's
   * durations: `worker.compile` (when compiled for this step),
   * `worker.instantiate` (when it reported one), `worker.run` and under it
   * one `wasm.host_call` per timed host call, plus one per host function for
   * the calls beyond the timed ones. They are placed so that
   * the run ends at `window.end` (when the outcome came back; default now)
   * and nothing starts before `window.start`. Nothing is added when the
   * outcome reports neither an instantiation nor a run time (a guest
   * refused at load).
   */
  recordExecution(outcome: StepOutcome, window: { start?: number; end?: number } = {}): void {
    if (!this.recording || this.#ended) return;
    const m = outcome.metrics;
    if (m.instantiate_us <= 0 && m.run_ms <= 0) return;
    const end = window.end ?? epochNow();
    const floor = window.start ?? -Infinity;
    const at = (t: number) => Math.max(floor, t);
    const runStart = at(end - m.run_ms);
    const instantiateStart = at(runStart - m.instantiate_us / 1000);
    const derived = { "wasm.timing": "derived" };

    if (m.compile_ms > 0) {
      this.#span("worker.compile", at(instantiateStart - m.compile_ms), instantiateStart, {
        ...derived,
        "wasm.compile_ms": m.compile_ms,
      });
    }
    // A step killed at its deadline may report a run time but no
    // instantiation (the sandbox never answered): no empty span for it.
    if (m.instantiate_us > 0) {
      this.#span("worker.instantiate", instantiateStart, runStart, {
        ...derived,
        "wasm.instantiate_us": m.instantiate_us,
      });
    }
    const hostCallTotal = Object.values(m.host_calls).reduce((a, b) => a + b, 0);
    const run = this.#tracer.startSpan("worker.run", {
      startTime: runStart,
      attributes: this.#redact({
        ...derived,
        "wasm.run_ms": m.run_ms,
        "wasm.memory_high_water_bytes": m.memory_high_water_bytes,
        "wasm.host_calls": hostCallTotal,
        "wasm.policy_denials": m.policy_denials,
        "wasm.status": outcome.status,
        "wasm.error_code": outcome.error?.code,
        "wasm.trap_kind": outcome.error?.code === "trap"
          ? String(outcome.error.details?.trap ?? "other")
          : undefined,
      }),
    }, this.#context);
    const runContext = trace.setSpan(this.#context, run);
    const names = (key: string) => {
      const dot = key.indexOf(".");
      const capability = dot < 0 ? key : key.slice(0, dot);
      return { capability, fn: dot < 0 ? "" : key.slice(dot + 1) };
    };
    // The calls the sandbox timed, one span each at its offset in the run.
    const timed = new Map<string, number>();
    for (const c of outcome.host_call_log ?? []) {
      timed.set(c.call, (timed.get(c.call) ?? 0) + 1);
      const { capability, fn } = names(c.call);
      const start = Math.min(runStart + c.at_us / 1000, end);
      const call = this.#tracer.startSpan("wasm.host_call", {
        startTime: start,
        attributes: this.#redact({
          "wasm.timing": "measured",
          "wasm.capability": capability,
          "wasm.function": fn,
          "wasm.host_call.us": c.us,
          "wasm.host_call.denied": c.denied === true,
        }),
      }, runContext);
      call.end(Math.min(start + c.us / 1000, end));
    }
    // Calls beyond the timed ones: one span per function, over the whole run, with their count.
    for (const [key, total] of Object.entries(m.host_calls)) {
      const count = total - (timed.get(key) ?? 0);
      if (!(count > 0)) continue;
      const { capability, fn } = names(key);
      const denials = Object.entries(m.denials_by_code)
        .filter(([k]) => k.startsWith(`${capability}.`))
        .reduce((sum, [, n]) => sum + n, 0);
      const call = this.#tracer.startSpan("wasm.host_call", {
        startTime: runStart,
        attributes: this.#redact({
          ...derived,
          "wasm.capability": capability,
          "wasm.function": fn,
          "wasm.host_call.count": count,
          "wasm.capability.denials": denials,
        }),
      }, runContext);
      call.end(end);
    }
    if (outcome.status === "failed" && outcome.error) {
      this.#markError(run, { code: outcome.error.code, message: outcome.error.message });
    }
    run.end(end);
  }

  /**
   * Ends `worker.step_execution`, with status error when `error` is given.
   * Later calls do nothing.
   */
  end(error?: SpanError): void {
    if (this.#ended) return;
    this.#ended = true;
    if (!this.recording) return;
    if (error) this.#markError(this.span, error);
    else this.span.setStatus({ code: SpanStatusCode.OK });
    this.span.end();
  }

  #span(name: string, start: number, end: number, attributes: Record<string, AttributeInput>) {
    const span = this.#tracer.startSpan(name, {
      startTime: start,
      attributes: this.#redact(attributes),
    }, this.#context);
    span.end(end);
  }

  #markError(span: Span, error: SpanError): void {
    const message = error.message === undefined ? error.code : error.message;
    span.setStatus({
      code: SpanStatusCode.ERROR,
      message: this.#scanner ? this.#scanner.redact(message) : message,
    });
    span.setAttributes(this.#redact({
      "error.type": error.code,
      "tasker.error_type": error.error_type,
      "tasker.retryable": error.retryable,
    }));
  }

  #redact(attributes: Readonly<Record<string, AttributeInput>>): Attributes {
    return redactAttributes(attributes, this.#scanner);
  }
}

/** The code and message of anything thrown. */
function errorOf(error: unknown): SpanError {
  if (error instanceof WasmBrokerError) return { code: error.code, message: error.message };
  const code = (error as { code?: unknown })?.code;
  return {
    code: typeof code === "string" && code ? code : "internal",
    message: error instanceof Error ? error.message : String(error),
  };
}
