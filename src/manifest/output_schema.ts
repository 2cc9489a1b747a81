/**
 * Compiles a manifest's `output_schema` (JSON Schema draft 2020-12) with ajv.
 * Formats are annotations (not asserted), as the 2020-12 default says.
 *
 * @module
 */
import { Ajv2020 } from "ajv/dist/2020.js";

/** One schema violation in a guest's output. */
export interface OutputSchemaError {
  /** JSON Pointer into the output. */
  instancePath: string;
  /** JSON Pointer into the schema. */
  schemaPath: string;
  message: string;
}

/** A compiled output check. */
export type OutputValidator = (value: unknown) => OutputSchemaError[];

/** Compiles `schema`; throws with ajv's message when the schema itself is invalid. */
export function compileOutputSchema(schema: unknown): OutputValidator {
  const ajv = new Ajv2020({ allErrors: true, strict: false, validateFormats: false });
  const validate = ajv.compile(schema as object);
  return (value) => {
    if (validate(value)) return [];
    return (validate.errors ?? []).map((e) => ({
      instancePath: e.instancePath,
      schemaPath: e.schemaPath,
      message: e.message ?? e.keyword,
    }));
  };
}
