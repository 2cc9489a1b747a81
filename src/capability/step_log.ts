/**
 * The step's log: structured records tagged with the step, with caps on line
 * length, line count and total bytes. Excess is dropped and counted so a
 * guest can never flood the broker's log.
 *
 * @module
 */
import type { StepInfo } from "./capability_plugin.ts";

/** Log levels, lowest first. */
export const LOG_LEVELS = ["debug", "info", "warn", "error"] as const;
/** A log level. */
export type LogLevel = typeof LOG_LEVELS[number];

/** One structured log record a guest wrote. */
export interface LogRecord {
  level: LogLevel;
  message: string;
  /** Milliseconds since the Unix epoch, from the step's clock. */
  time: number;
  step_id: string;
  handler: string;
  correlation_id: string;
  /** Set when the message was cut to `limits.log.line_bytes`. */
  truncated?: true;
  /** Extra structured fields (e.g. `stream: "stderr"`). */
  fields?: Record<string, unknown>;
}

/** Caps of {@link StepLog}. */
export interface StepLogLimits {
  /** Longest message kept, in UTF-8 bytes; longer ones are cut. */
  lineBytes: number;
  /** Most records kept per step. */
  lines: number;
  /** Most message bytes kept per step. */
  bytes: number;
  /** Records below this level are dropped without counting. */
  minLevel: LogLevel;
}

const encoder = new TextEncoder();

/** Collects a step's log records within its caps. */
export class StepLog {
  readonly records: LogRecord[] = [];
  /** Records refused because a cap was reached. */
  dropped = 0;
  /** Records kept but cut to the line cap. */
  truncated = 0;
  #bytes = 0;
  readonly #limits: StepLogLimits;
  readonly #step: StepInfo;
  readonly #now: () => number;

  constructor(step: StepInfo, limits: StepLogLimits, now: () => number) {
    this.#step = step;
    this.#limits = limits;
    this.#now = now;
  }

  /** The line-length cap in bytes. */
  get lineBytesLimit(): number {
    return this.#limits.lineBytes;
  }

  /** Records one message; returns false when it was dropped. */
  write(level: LogLevel, message: string, fields?: Record<string, unknown>): boolean {
    if (LOG_LEVELS.indexOf(level) < LOG_LEVELS.indexOf(this.#limits.minLevel)) return true;
    if (this.records.length >= this.#limits.lines) {
      this.dropped++;
      return false;
    }
    let bytes = encoder.encode(message);
    let truncated = false;
    if (bytes.length > this.#limits.lineBytes) {
      bytes = bytes.subarray(0, this.#limits.lineBytes);
      truncated = true;
    }
    if (this.#bytes + bytes.length > this.#limits.bytes) {
      this.dropped++;
      return false;
    }
    this.#bytes += bytes.length;
    const record: LogRecord = {
      level,
      message: truncated ? new TextDecoder().decode(bytes).replace(/\uFFFD$/, "") : message,
      time: this.#now(),
      step_id: this.#step.stepId,
      handler: this.#step.handler,
      correlation_id: this.#step.correlationId,
    };
    if (truncated) {
      record.truncated = true;
      this.truncated++;
    }
    if (fields) record.fields = fields;
    this.records.push(record);
    return true;
  }
}
