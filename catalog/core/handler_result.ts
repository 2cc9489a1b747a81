/// <reference path="./portable.d.ts" />
/**
 * What a catalog handler returns: its result JSON, or a coded failure that
 * says whether orchestration should retry. Both builds turn it into the same
 * step outcome (the wasm build through `io.write_output` / `io.fail`).
 */
import { JsonValue } from "./json_value.ts";

/** A handler's coded failure. */
export class HandlerError {
  /** Stable code, e.g. `config_invalid`, `jq_runtime`, `http_status`. */
  code: string;
  message: string;
  retryable: bool;
  /** Structured facts for operators (schema errors, status, backoff hint). */
  details: JsonValue | null;

  constructor(code: string, message: string, retryable: bool, details: JsonValue | null) {
    this.code = code;
    this.message = message;
    this.retryable = retryable;
    this.details = details;
  }
}

/** A handler's result or failure. */
export class HandlerResult {
  value: JsonValue | null = null;
  error: HandlerError | null = null;

  static ok(value: JsonValue): HandlerResult {
    const r = new HandlerResult();
    r.value = value;
    return r;
  }

  static fail(
    code: string,
    message: string,
    retryable: bool,
    details: JsonValue | null,
  ): HandlerResult {
    const r = new HandlerResult();
    r.error = new HandlerError(code, message, retryable, details);
    return r;
  }
}
