/// <reference path="../../core/portable.d.ts" />
/**
 * The `transform` catalog handler: runs a jq filter over the whole step
 * envelope (`{context, deps, step, config}`) and returns its output, checked
 * against `config.output_schema` when one is given. Portable
 * AssemblyScript: the same source is the wasm guest and the native handler.
 *
 * Failures, none retryable (the same envelope fails the same way again):
 * `config_invalid`, `schema_invalid` / `schema_unsupported` (output_schema),
 * `jq_syntax` / `jq_unsupported` (filter), `jq_runtime`, `jq_cardinality`
 * (outputs "single" and not exactly one output), `output_invalid`.
 */
import { checkConfig } from "../../core/config_check.ts";
import { Envelope } from "../../core/envelope.ts";
import { compileConfigFilter, evalOne, runConfigFilter } from "../../core/handler_jq.ts";
import { HandlerResult } from "../../core/handler_result.ts";
import { JsonValue } from "../../core/json_value.ts";
import { CompiledSchema, compileSchema } from "../../core/json_schema/compile_schema.ts";
import { schemaErrorsJson } from "../../core/json_schema/schema_error.ts";
import { validate } from "../../core/json_schema/validate.ts";
import { CONFIG_SCHEMA_JSON } from "./config_schema.gen.ts";

const SCHEMA_FIELD = "config.output_schema";
const COMPILE_PREFIX = "Cannot compile the schema as ";

/**
 * Runs `transform` on an envelope.
 *
 * @example
 * ```ts
 * import "../../native/portable_runtime.ts";
 * import assert from "node:assert/strict";
 * import { fromJs, toJs } from "../../native/js_bridge.ts";
 * import { handle } from "./transform.ts";
 *
 * const envelope = { context: { order: { id: 7, items: [1, 2] } }, config: { filter: "{id: .context.order.id, n: (.context.order.items | length)}" } };
 * const r = handle(fromJs(envelope));
 * assert.deepEqual(toJs(r.value!), { id: 7, n: 2 });
 * ```
 */
export function handle(envelope: JsonValue): HandlerResult {
  const config = new Envelope(envelope).config();
  const bad = checkConfig(CONFIG_SCHEMA_JSON, config);
  if (bad != null) return bad;
  const source = config.get("filter")!.str;
  const mode = config.has("outputs") ? config.get("outputs")!.str : "single";

  // Compile everything before running anything: a bad config fails the same
  // way whatever the data.
  let schema: CompiledSchema | null = null;
  const schemaJson = config.get("output_schema");
  if (schemaJson != null) {
    const compiled = compileSchema(schemaJson, null);
    if (compiled.schema == null) {
      return schemaFailure(compiled.code!, compiled.error!, compiled.path!);
    }
    schema = compiled.schema;
  }

  let result: JsonValue;
  if (mode == "single") {
    const run = evalOne("config.filter", source, envelope);
    if (run.failure != null) return run.failure!;
    result = run.outputs[0];
  } else {
    const filter = compileConfigFilter("config.filter", source);
    if (filter.failure != null) return filter.failure!;
    const run = runConfigFilter(filter, source, envelope);
    if (run.failure != null) return run.failure!;
    result = JsonValue.array(run.outputs);
  }

  if (schema != null) {
    const errors = validate(schema, result);
    if (errors.length > 0) {
      const first = errors[0];
      const where = first.instancePath.length > 0 ? "result" + first.instancePath : "result";
      const details = JsonValue.object();
      details.set("errors", schemaErrorsJson(errors));
      return HandlerResult.fail(
        "output_invalid",
        "Cannot return the result as it does not match " + SCHEMA_FIELD + ": " + where + " " +
          first.message +
          (errors.length > 1 ? " (and " + (errors.length - 1).toString() + " more)" : ""),
        false,
        details,
      );
    }
  }
  return HandlerResult.ok(result);
}

/** `schema_invalid` or `schema_unsupported`, naming the schema location. */
function schemaFailure(code: string, error: string, path: string): HandlerResult {
  const details = JsonValue.object();
  details.set("field", JsonValue.string(SCHEMA_FIELD));
  details.set("path", JsonValue.string(path));
  const reason = error.startsWith(COMPILE_PREFIX) ? error.substring(COMPILE_PREFIX.length) : error;
  return HandlerResult.fail(
    code == "schema_invalid" ? "schema_invalid" : "schema_unsupported",
    "Cannot compile " + SCHEMA_FIELD + " as " + reason,
    false,
    details,
  );
}
