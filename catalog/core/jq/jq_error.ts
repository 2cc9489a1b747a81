/// <reference path="../portable.d.ts" />
/**
 * The error value of the jq engine. AssemblyScript has no exceptions, so the
 * lexer, parser, compiler and evaluator return errors as values.
 */
// deno-lint-ignore verbatim-module-syntax
import { JsonValue } from "../json_value.ts";

/** A filter that does not parse, or names an undefined variable or function. */
export const JQ_SYNTAX = "syntax";
/** A filter that uses a jq 1.6 feature this engine does not implement. */
export const JQ_UNSUPPORTED = "unsupported";
/** An error raised while running a filter (jq's own runtime errors, `error(v)`, limits). */
export const JQ_RUNTIME = "runtime";

/**
 * What went wrong, with a stable `code` ("syntax" | "unsupported" |
 * "runtime"), a jq-like message and the UTF-16 offset in the filter text of
 * the construct at fault (-1 when unknown).
 *
 * @example
 * ```ts
 * import "../../native/portable_runtime.ts";
 * import { JqError } from "./jq_error.ts";
 * const e = new JqError("unsupported", 'unsupported: builtin "input/0"', 0);
 * console.assert(e.code === "unsupported");
 * ```
 */
export class JqError {
  code: string;
  message: string;
  offset: i32;
  /**
   * For runtime errors: the jq error value (`error(v)` raises `v`; built-in
   * errors raise their message as a string). Null for compile errors.
   */
  value: JsonValue | null = null;

  constructor(code: string, message: string, offset: i32) {
    this.code = code;
    this.message = message;
    this.offset = offset;
  }
}
