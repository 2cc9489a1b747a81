// The `io` capability: the step's input and output, and structured failure.
import * as abi from "./abi/io";
// AssemblyScript has no `import type`: type-only names are imported as values.
// deno-lint-ignore verbatim-module-syntax
import { JsonResult, JsonValue, parseJson, quoteJson } from "./json";

/** The step's input JSON as a string. */
export function readInput(): string {
  const n = abi.input_len();
  const buf = new ArrayBuffer(n);
  const copied = abi.read_input(changetype<usize>(buf), n);
  return String.UTF8.decode(copied == n ? buf : buf.slice(0, copied));
}

/** The step's input, parsed. Check `.ok` before using `.value`. */
export function readInputJson(): JsonResult {
  return parseJson(readInput());
}

/**
 * Appends JSON text to the step's output. Call it once with the whole
 * result (several calls concatenate). Output beyond `limits.output_bytes`
 * fails the step with `output_too_large`; output that is not JSON, or that
 * breaks the manifest's `output_schema`, fails it with `output_invalid`.
 */
export function writeOutput(json: string): void {
  const buf = String.UTF8.encode(json);
  abi.write_output(changetype<usize>(buf), buf.byteLength);
}

/** The host's length caps for `io.fail` (longer values are cut, not refused). */
const MESSAGE_MAX: i32 = 4096;
const CODE_MAX: i32 = 100;

/**
 * Reports that the step failed and returns 1, so `run` can `return fail(...)`.
 * The step fails with code `handler_error`; `code` becomes `details.guest_code`.
 * `retryable` tells the engine whether running the step again could succeed.
 *
 * ```ts
 * if (name == null) return fail("expected input {\"name\": string}", "bad_input");
 * ```
 */
export function fail(
  message: string,
  code: string | null = null,
  retryable: bool = false,
  details: JsonValue | null = null,
): i32 {
  let json = '{"message":' +
    quoteJson(message.length > MESSAGE_MAX ? message.substring(0, MESSAGE_MAX) : message);
  if (code != null) {
    json += ',"code":' + quoteJson(code.length > CODE_MAX ? code.substring(0, CODE_MAX) : code);
  }
  if (retryable) json += ',"retryable":true';
  if (details) json += ',"details":' + details.toString();
  json += "}";
  const buf = String.UTF8.encode(json);
  abi.fail(changetype<usize>(buf), buf.byteLength);
  return 1;
}
