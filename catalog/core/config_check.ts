/// <reference path="./portable.d.ts" />
/**
 * Checks a handler's config (`handler.initialization`) against the JSON
 * Schema generated from its zod schema, embedded in both builds. The same
 * validator runs in both, so a bad config fails identically everywhere:
 * code `config_invalid`, not retryable, with every error in the details.
 */
import { HandlerResult } from "./handler_result.ts";
import { parseJson } from "./json_parse.ts";
import { JsonValue } from "./json_value.ts";
import { compileSchema } from "./json_schema/compile_schema.ts";
import { schemaErrorsJson } from "./json_schema/schema_error.ts";
import { validate } from "./json_schema/validate.ts";

/** Null when `config` satisfies the schema; else the failed result to return. */
export function checkConfig(schemaJson: string, config: JsonValue): HandlerResult | null {
  const parsed = parseJson(schemaJson);
  if (parsed.error != null) {
    return HandlerResult.fail(
      "internal",
      "Cannot parse the embedded config schema: " + parsed.error!,
      false,
      null,
    );
  }
  const compiled = compileSchema(parsed.value!);
  if (compiled.error != null) {
    return HandlerResult.fail(
      "internal",
      "Cannot compile the embedded config schema: " + compiled.error!,
      false,
      null,
    );
  }
  const errors = validate(compiled.schema!, config);
  if (errors.length == 0) return null;
  const first = errors[0];
  const where = first.instancePath.length > 0 ? "config" + first.instancePath : "config";
  const details = JsonValue.object();
  details.set("errors", schemaErrorsJson(errors));
  return HandlerResult.fail(
    "config_invalid",
    "Cannot run the handler as its config is invalid: " + where + " " + first.message +
      (errors.length > 1 ? " (and " + (errors.length - 1).toString() + " more)" : ""),
    false,
    details,
  );
}
