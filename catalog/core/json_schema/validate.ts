/// <reference path="../portable.d.ts" />
/**
 * Validates JSON values against a schema compiled by `compileSchema`,
 * collecting every error (like ajv with `allErrors: true`). Portable
 * AssemblyScript.
 */
import { JsonValue } from "../json_value.ts";
import { CompiledSchema } from "./compile_schema.ts";
import { SchemaError } from "./schema_error.ts";
import { SchemaValidator } from "./schema_validator.ts";

/** Default of {@link ValidateOptions.maxDepth}. */
export const DEFAULT_MAX_DEPTH: i32 = 512;

/** Options for {@link validateWith}. */
export class ValidateOptions {
  /**
   * Coerce scalars to the schema's `type` like ajv's `coerceTypes: true`
   * ("123" → 123, "true" → true, 0 → false, null → "", ...; see coerce_type.ts).
   */
  coerce: bool = false;
  /**
   * Remove properties that `additionalProperties: false` forbids instead of
   * reporting them, like ajv's `removeAdditional: true`.
   */
  filterExtra: bool = false;
  /**
   * How many schema evaluations may nest (instance depth plus in-place
   * applicators such as `$ref`); deeper ones fail with keyword `maxDepth`
   * rather than exhausting the stack.
   */
  maxDepth: i32 = DEFAULT_MAX_DEPTH;
}

/** The outcome of {@link validateWith}. */
export class ValidationResult {
  errors: Array<SchemaError>;
  /**
   * The instance after coercion and filtering. Containers are changed in
   * place (like ajv); a coerced root scalar is a new value.
   */
  value: JsonValue;

  constructor(errors: Array<SchemaError>, value: JsonValue) {
    this.errors = errors;
    this.value = value;
  }

  valid(): bool {
    return this.errors.length == 0;
  }
}

/**
 * Validates `instance` without changing it; returns every error (empty when valid).
 *
 * @example
 * ```ts
 * import "../../native/portable_runtime.ts";
 * import { fromJs } from "../../native/js_bridge.ts";
 * import { compileSchema } from "./compile_schema.ts";
 * import { validate } from "./validate.ts";
 *
 * const compiled = compileSchema(fromJs({ type: "object", required: ["id"] })).schema!;
 * const errors = validate(compiled, fromJs({ name: "x" }));
 * console.assert(errors.length === 1 && errors[0].keyword === "required");
 * ```
 */
export function validate(compiled: CompiledSchema, instance: JsonValue): Array<SchemaError> {
  const v = new SchemaValidator(false, false, DEFAULT_MAX_DEPTH, compiled.dynamic);
  v.evalNode(compiled.root, instance, null);
  return v.errors;
}

/**
 * Validates with options; coercion and filtering change the instance's
 * containers in place and the result carries the final value.
 *
 * @example
 * ```ts
 * import "../../native/portable_runtime.ts";
 * import { fromJs, toJs } from "../../native/js_bridge.ts";
 * import { compileSchema } from "./compile_schema.ts";
 * import { ValidateOptions, validateWith } from "./validate.ts";
 *
 * const schema = { properties: { n: { type: "number" } }, additionalProperties: false };
 * const compiled = compileSchema(fromJs(schema)).schema!;
 * const options = new ValidateOptions();
 * options.coerce = true;
 * options.filterExtra = true;
 * const result = validateWith(compiled, fromJs({ n: "42", extra: 1 }), options);
 * console.assert(result.valid() && JSON.stringify(toJs(result.value)) === '{"n":42}');
 * ```
 */
export function validateWith(
  compiled: CompiledSchema,
  instance: JsonValue,
  options: ValidateOptions,
): ValidationResult {
  const v = new SchemaValidator(
    options.coerce,
    options.filterExtra,
    options.maxDepth,
    compiled.dynamic,
  );
  const value = v.evalNode(compiled.root, instance, null);
  return new ValidationResult(v.errors, value);
}
