/**
 * Structured logs: one JSON object per line,
 * `{"level","time","msg","correlation_id"?,"task_uuid"?,"step_uuid"?,...fields}`,
 * to an injected sink (default: stderr). Child loggers bind fields — a
 * step's logger carries its correlation id on every line.
 *
 * Logging never throws: cycles, bigints, errors, maps, throwing getters and
 * throwing `toJSON`s are all written as something readable, and a sink that
 * fails (a closed stderr) is ignored. A broker must not fall over because a
 * log line could not be written.
 *
 * @module
 */

/** Severity, lowest first. */
export type LogLevel = "debug" | "info" | "warn" | "error";

const RANK: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

/** Keys written first, in this order; fields cannot replace the first three. */
const RESERVED = ["level", "time", "msg"] as const;
const CORRELATION = ["correlation_id", "task_uuid", "step_uuid"] as const;

/** Deepest nesting written; deeper values become `"[Depth]"`. */
const MAX_DEPTH = 10;

/** Options for {@link createJsonLogger}. */
export interface JsonLoggerOptions {
  /** Lowest level written. Default: `LOG_LEVEL` from the environment, else `info`. */
  level?: LogLevel;
  /** Receives each line without its newline. Default: stderr. */
  sink?: (line: string) => void;
  /** Fields bound to every line. */
  fields?: Record<string, unknown>;
  /** Clock for `time`. Default `Date.now`. */
  now?: () => number;
  /** Applied to every string key and value (e.g. a secret scanner's `redact`). */
  redact?: (text: string) => string;
}

/**
 * The level `LOG_LEVEL`-style text names (`debug`, `info`, `warn`/`warning`,
 * `error`, `trace` as `debug`; any case), or `undefined`.
 */
export function parseLogLevel(value: string | undefined): LogLevel | undefined {
  const v = value?.trim().toLowerCase();
  if (v === "debug" || v === "info" || v === "warn" || v === "error") return v;
  if (v === "warning") return "warn";
  if (v === "trace") return "debug";
  return undefined;
}

/**
 * Creates a logger.
 *
 * @example
 * ```ts
 * import { createJsonLogger } from "./json_logger.ts";
 * const lines: string[] = [];
 * const log = createJsonLogger({ level: "info", sink: (line) => lines.push(line), now: () => 0 });
 * const step = log.child({ correlation_id: "c-1", step_uuid: "s-1" });
 * step.info("step claimed", { attempt: 1, big: 2n ** 64n });
 * step.debug("not written");
 * console.assert(
 *   lines[0] ===
 *     '{"level":"info","time":"1970-01-01T00:00:00.000Z","msg":"step claimed","correlation_id":"c-1","step_uuid":"s-1","attempt":1,"big":"18446744073709551616"}',
 * );
 * console.assert(lines.length === 1);
 * ```
 */
export function createJsonLogger(options: JsonLoggerOptions = {}): JsonLogger {
  let level = options.level;
  let invalid: string | undefined;
  if (!level) {
    const raw = readEnv("LOG_LEVEL");
    level = parseLogLevel(raw) ?? "info";
    if (raw !== undefined && raw.trim() !== "" && !parseLogLevel(raw)) invalid = raw;
  }
  const logger = new JsonLogger({
    level,
    sink: options.sink ?? stderrSink,
    fields: options.fields ?? {},
    now: options.now ?? Date.now,
    redact: options.redact,
  });
  if (invalid !== undefined) {
    logger.warn("LOG_LEVEL is not debug, info, warn or error; using info", { value: invalid });
  }
  return logger;
}

interface LoggerState {
  level: LogLevel;
  sink: (line: string) => void;
  fields: Record<string, unknown>;
  now: () => number;
  redact?: (text: string) => string;
}

/** A structured logger; see {@link createJsonLogger}. */
export class JsonLogger {
  readonly #state: LoggerState;

  /** @internal Use {@link createJsonLogger}. */
  constructor(state: LoggerState) {
    this.#state = state;
  }

  /** The lowest level written. */
  get level(): LogLevel {
    return this.#state.level;
  }

  /** Whether a line at `level` would be written (to skip building costly fields). */
  enabled(level: LogLevel): boolean {
    return RANK[level] >= RANK[this.#state.level];
  }

  /** A logger whose lines also carry `fields` (overriding this one's on a clash). */
  child(fields: Record<string, unknown>): JsonLogger {
    return new JsonLogger({ ...this.#state, fields: { ...this.#state.fields, ...fields } });
  }

  debug(msg: string, fields?: Record<string, unknown>): void {
    this.log("debug", msg, fields);
  }

  info(msg: string, fields?: Record<string, unknown>): void {
    this.log("info", msg, fields);
  }

  warn(msg: string, fields?: Record<string, unknown>): void {
    this.log("warn", msg, fields);
  }

  error(msg: string, fields?: Record<string, unknown>): void {
    this.log("error", msg, fields);
  }

  /** Writes one line at `level` when enabled. Never throws. */
  log(level: LogLevel, msg: string, fields?: Record<string, unknown>): void {
    if (!this.enabled(level)) return;
    const state = this.#state;
    let line: string;
    let time: string;
    try {
      time = new Date(state.now()).toISOString();
    } catch {
      time = new Date().toISOString();
    }
    try {
      line = render(level, time, msg, { ...state.fields, ...fields }, state.redact);
    } catch (error) {
      // Only a throwing redact (or something equally unexpected) gets here.
      // Nothing unredacted goes out when redaction itself failed.
      line = JSON.stringify({
        level,
        time,
        msg: state.redact ? "[message withheld: redaction failed]" : safeText(msg),
        log_error: state.redact
          ? "Cannot write the log line as redaction failed"
          : `Cannot write the log fields: ${safeText(errorMessage(error))}`,
      });
    }
    try {
      state.sink(line);
    } catch {
      // A broken sink (closed stderr) must not take the broker down.
    }
  }
}

function render(
  level: LogLevel,
  time: string,
  msg: unknown,
  fields: Record<string, unknown>,
  redact: ((text: string) => string) | undefined,
): string {
  const record: Record<string, unknown> = {
    level,
    time,
    msg: typeof msg === "string" ? (redact ? redact(msg) : msg) : toSafe(msg, 0, [], redact),
  };
  for (const key of CORRELATION) {
    if (fields[key] !== undefined && fields[key] !== null) {
      record[key] = toSafe(fields[key], 1, [], redact);
    }
  }
  for (const key of Object.keys(fields)) {
    if ((CORRELATION as readonly string[]).includes(key)) continue;
    let value: unknown;
    try {
      value = fields[key];
    } catch {
      value = "[getter threw]";
    }
    const safe = toSafe(value, 1, [], redact);
    if (safe === undefined) continue;
    const name = redact ? redact(key) : key;
    record[(RESERVED as readonly string[]).includes(name) ? `field_${name}` : name] = safe;
  }
  return JSON.stringify(record);
}

/** A JSON-safe copy of `value`; `undefined` for things JSON omits. */
function toSafe(
  value: unknown,
  depth: number,
  ancestors: object[],
  redact: ((text: string) => string) | undefined,
): unknown {
  switch (typeof value) {
    case "string":
      return redact ? redact(value) : value;
    case "number":
      return Number.isFinite(value) ? value : String(value);
    case "boolean":
      return value;
    case "bigint":
      return value.toString();
    case "symbol":
      return value.toString();
    case "undefined":
    case "function":
      return undefined;
  }
  if (value === null) return null;
  const object = value as object;
  if (ancestors.includes(object)) return "[Circular]";
  if (depth > MAX_DEPTH) return "[Depth]";
  const inner = [...ancestors, object];
  const next = (v: unknown) => toSafe(v, depth + 1, inner, redact);
  try {
    if (object instanceof Date) {
      return Number.isNaN(object.getTime()) ? "Invalid Date" : object.toISOString();
    }
    if (object instanceof Error) return errorRecord(object, next);
    if (Array.isArray(object)) return object.map((v) => next(v) ?? null);
    if (object instanceof Map) {
      return [...object.entries()].map(([k, v]) => [next(k) ?? null, next(v) ?? null]);
    }
    if (object instanceof Set) return [...object].map((v) => next(v) ?? null);
    if (ArrayBuffer.isView(object) || object instanceof ArrayBuffer) {
      return `[${object.constructor.name} ${object.byteLength} bytes]`;
    }
    const toJSON = (object as { toJSON?: unknown }).toJSON;
    if (typeof toJSON === "function") {
      try {
        return next(toJSON.call(object));
      } catch {
        return "[toJSON threw]";
      }
    }
    const out: Record<string, unknown> = {};
    for (const key of Object.keys(object)) {
      let v: unknown;
      try {
        v = (object as Record<string, unknown>)[key];
      } catch {
        v = "[getter threw]";
      }
      const safe = next(v);
      if (safe !== undefined) out[redact ? redact(key) : key] = safe;
    }
    return out;
  } catch {
    // A Proxy whose traps throw, and the like.
    return "[unserializable]";
  }
}

function errorRecord(error: Error, next: (v: unknown) => unknown): Record<string, unknown> {
  const out: Record<string, unknown> = { name: next(error.name), message: next(error.message) };
  const extra = error as Error & { code?: unknown; details?: unknown };
  if (extra.code !== undefined) out.code = next(extra.code);
  if (extra.details !== undefined) out.details = next(extra.details);
  if (error.stack) out.stack = next(error.stack);
  if (error.cause !== undefined) out.cause = next(error.cause);
  return out;
}

function safeText(value: unknown): string {
  try {
    return typeof value === "string" ? value : String(value);
  } catch {
    return "[unprintable]";
  }
}

function errorMessage(error: unknown): string {
  try {
    return error instanceof Error ? error.message : String(error);
  } catch {
    return "[unprintable]";
  }
}

function readEnv(name: string): string | undefined {
  try {
    return Deno.env.get(name);
  } catch {
    // No --allow-env: use the default.
    return undefined;
  }
}

const encoder = new TextEncoder();

/**
 * A sink that writes each line and a newline to `writer`, all of it,
 * synchronously (lines never interleave): stderr, or an open file.
 */
export function writerSink(writer: { writeSync(p: Uint8Array): number }): (line: string) => void {
  return (line) => {
    const bytes = encoder.encode(line + "\n");
    let written = 0;
    while (written < bytes.length) written += writer.writeSync(bytes.subarray(written));
  };
}

/** Writes `line` and a newline to stderr (see {@link writerSink}). */
export const stderrSink: (line: string) => void = writerSink(Deno.stderr);
