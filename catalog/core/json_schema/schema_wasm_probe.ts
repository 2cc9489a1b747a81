/// <reference path="../portable.d.ts" />
/**
 * Test-only AssemblyScript entry for the JSON Schema validator (built by
 * schema_wasm_probe_test.ts). Portable: the same `runProbe` runs natively,
 * so the test compares both builds' output byte for byte.
 *
 * Host usage of the wasm build (no bindings, strings are raw pointers):
 * `p = newText(n)` returns a fresh string of n UTF-16 units that the host
 * overwrites in memory, once for the schema and once for the instance;
 * `r = runProbe(schemaPtr, instancePtr, flags)` returns a string whose byte
 * length sits at `r - 4`.
 */
import { JsonValue } from "../json_value.ts";
import { parseJson } from "../json_parse.ts";
import { writeJson } from "../json_write.ts";
import { CompileOptions, compileSchema } from "./compile_schema.ts";
import { schemaErrorsJson } from "./schema_error.ts";
import { ValidateOptions, validateWith } from "./validate.ts";

/** `flags` bits of {@link runProbe}. */
export const PROBE_COERCE: i32 = 1;
export const PROBE_FILTER_EXTRA: i32 = 2;
export const PROBE_ASSERT_FORMATS: i32 = 4;

const texts = new Array<string>();

/** A fresh string of `length` spaces for the host to overwrite (kept alive here). */
export function newText(length: i32): string {
  // fromCharCode allocates, so even repeat(1) never hands out a shared literal.
  const s = String.fromCharCode(0x20).repeat(length);
  texts.push(s);
  return s;
}

/**
 * Compiles `schemaText`, validates `instanceText` and reports as JSON text:
 * `{"compileError","code"}` or `{"valid","errors","value"}`.
 */
export function runProbe(schemaText: string, instanceText: string, flags: i32): string {
  const out = JsonValue.object();
  const schema = parseJson(schemaText);
  const instance = parseJson(instanceText);
  if (schema.error != null || instance.error != null) {
    out.set("parseError", JsonValue.string(schema.error != null ? schema.error! : instance.error!));
    return writeJson(out);
  }
  const copts = new CompileOptions();
  copts.assertFormats = (flags & PROBE_ASSERT_FORMATS) != 0;
  const compiled = compileSchema(schema.value!, copts);
  if (compiled.error != null) {
    out.set("compileError", JsonValue.string(compiled.error!));
    out.set("code", JsonValue.string(compiled.code!));
    return writeJson(out);
  }
  const vopts = new ValidateOptions();
  vopts.coerce = (flags & PROBE_COERCE) != 0;
  vopts.filterExtra = (flags & PROBE_FILTER_EXTRA) != 0;
  const result = validateWith(compiled.schema!, instance.value!, vopts);
  out.set("valid", JsonValue.bool(result.valid()));
  out.set("errors", schemaErrorsJson(result.errors));
  out.set("value", result.value);
  return writeJson(out);
}

/**
 * Validates `instanceText` against `schemaText` `rounds` times (compiled
 * once) and returns the error count of the last round: the timing loop of
 * the native/wasm comparison.
 */
export function benchProbe(schemaText: string, instanceText: string, rounds: i32): i32 {
  const compiled = compileSchema(parseJson(schemaText).value!, null).schema!;
  const instance = parseJson(instanceText).value!;
  let count = 0;
  for (let i = 0; i < rounds; i++) {
    const result = validateWith(compiled, instance, new ValidateOptions());
    count = result.errors.length;
  }
  return count;
}
