/// <reference path="../portable.d.ts" />
/**
 * One validation error, shaped like ajv's: where in the instance, which
 * schema keyword, and a message. Portable AssemblyScript.
 */
import { JsonValue } from "../json_value.ts";

/** One failed keyword. */
export class SchemaError {
  /** JSON Pointer into the instance, "" for the root (e.g. `/items/0/name`). */
  instancePath: string;
  /** URI fragment of the failing keyword in the schema (e.g. `#/properties/a/type`). */
  schemaPath: string;
  /** The keyword (`type`, `required`, ...; `false schema` for a `false` subschema). */
  keyword: string;
  /** ajv's message, e.g. `must have required property 'id'`. */
  message: string;

  constructor(instancePath: string, schemaPath: string, keyword: string, message: string) {
    this.instancePath = instancePath;
    this.schemaPath = schemaPath;
    this.keyword = keyword;
    this.message = message;
  }

  /** `{instancePath, schemaPath, keyword, message}` as JSON. */
  toJson(): JsonValue {
    const o = JsonValue.object();
    o.set("instancePath", JsonValue.string(this.instancePath));
    o.set("schemaPath", JsonValue.string(this.schemaPath));
    o.set("keyword", JsonValue.string(this.keyword));
    o.set("message", JsonValue.string(this.message));
    return o;
  }
}

/**
 * The errors as a JSON array (for handler output).
 *
 * @example
 * ```ts
 * import "../../native/portable_runtime.ts";
 * import { SchemaError, schemaErrorsJson } from "./schema_error.ts";
 * const json = schemaErrorsJson([new SchemaError("/a", "#/properties/a/type", "type", "must be string")]);
 * console.assert(json.size() === 1 && json.at(0)!.get("keyword")!.str === "type");
 * ```
 */
export function schemaErrorsJson(errors: Array<SchemaError>): JsonValue {
  const items = new Array<JsonValue>();
  for (let i = 0; i < errors.length; i++) items.push(errors[i].toJson());
  return JsonValue.array(items);
}
