/// <reference path="../../core/portable.d.ts" />
/**
 * The `validate` catalog handler: picks a value from the step envelope with
 * a jq filter (`config.select`, default `.context`) and validates it against
 * a JSON Schema (draft 2020-12), optionally coercing scalars and removing
 * forbidden properties. Portable AssemblyScript: the same source is the wasm
 * guest and the native handler.
 *
 * Failures, none retryable (the same envelope fails the same way again):
 * `config_invalid`, `schema_invalid` / `schema_unsupported` (config.schema),
 * `jq_syntax` / `jq_unsupported` / `jq_runtime` / `jq_cardinality`
 * (config.select), `validation_failed` (on_failure "error").
 */
import { checkConfig } from "../../core/config_check.ts";
import { Envelope } from "../../core/envelope.ts";
import { evalOne } from "../../core/handler_jq.ts";
import { HandlerResult } from "../../core/handler_result.ts";
import { JsonValue, Kind } from "../../core/json_value.ts";
import { CompileOptions, compileSchema } from "../../core/json_schema/compile_schema.ts";
import { schemaErrorsJson } from "../../core/json_schema/schema_error.ts";
import { ValidateOptions, validateWith } from "../../core/json_schema/validate.ts";
import { CONFIG_SCHEMA_JSON } from "./config_schema.gen.ts";

const SCHEMA_FIELD = "config.schema";
const COMPILE_PREFIX = "Cannot compile the schema as ";

/**
 * Runs `validate` on an envelope.
 *
 * @example
 * ```ts
 * import "../../native/portable_runtime.ts";
 * import assert from "node:assert/strict";
 * import { fromJs, toJs } from "../../native/js_bridge.ts";
 * import { handle } from "./validate.ts";
 *
 * const config = { schema: { type: "object", properties: { n: { type: "integer" } } }, coerce: true };
 * const r = handle(fromJs({ context: { n: "42" }, config }));
 * assert.deepEqual(toJs(r.value!), { valid: true, value: { n: 42 } });
 * ```
 */
export function handle(envelope: JsonValue): HandlerResult {
  const config = new Envelope(envelope).config();
  const bad = checkConfig(CONFIG_SCHEMA_JSON, config);
  if (bad != null) return bad;
  const select = config.has("select") ? config.get("select")!.str : ".context";
  const onFailure = config.has("on_failure") ? config.get("on_failure")!.str : "error";
  const options = new ValidateOptions();
  options.coerce = flag(config, "coerce");
  options.filterExtra = flag(config, "filter_extra");
  const compileOptions = new CompileOptions();
  compileOptions.assertFormats = flag(config, "assert_formats");

  const compiled = compileSchema(config.get("schema")!, compileOptions);
  if (compiled.schema == null) {
    return schemaFailure(compiled.code!, compiled.error!, compiled.path!);
  }
  const selected = evalOne("config.select", select, envelope);
  if (selected.failure != null) return selected.failure!;

  let instance = selected.outputs[0];
  // Coercion and filtering change containers in place. A jq output may hold
  // the same container twice (`[.a, .a]`), and each occurrence must be
  // coerced on its own, as it would be after a JSON round trip.
  if (options.coerce || options.filterExtra) instance = copyContainers(instance);
  const result = validateWith(compiled.schema!, instance, options);
  const errors = result.errors;
  const out = JsonValue.object();
  if (errors.length == 0) {
    out.set("valid", JsonValue.bool(true));
    out.set("value", result.value);
    return HandlerResult.ok(out);
  }
  if (onFailure == "skip") {
    out.set("valid", JsonValue.bool(false));
    out.set("skipped", JsonValue.bool(true));
    out.set("error_count", JsonValue.number(f64(errors.length)));
    return HandlerResult.ok(out);
  }
  if (onFailure == "warn") {
    out.set("valid", JsonValue.bool(false));
    out.set("value", result.value);
    out.set("errors", schemaErrorsJson(errors));
    return HandlerResult.ok(out);
  }
  const first = errors[0];
  const where = first.instancePath.length > 0 ? "value" + first.instancePath : "value";
  out.set("errors", schemaErrorsJson(errors));
  return HandlerResult.fail(
    "validation_failed",
    "Cannot accept the value selected by config.select as it does not match " + SCHEMA_FIELD +
      ": " + where + " " + first.message +
      (errors.length > 1 ? " (and " + (errors.length - 1).toString() + " more)" : ""),
    false,
    out,
  );
}

function flag(config: JsonValue, name: string): bool {
  const v = config.get(name);
  return v != null && v.kind == Kind.True;
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

/**
 * Copies every array and object of `root` (scalars are never changed in
 * place, so they are shared). Iterative: jq can build values nested deeper
 * than the call stack allows.
 */
function copyContainers(root: JsonValue): JsonValue {
  if (root.kind != Kind.Array && root.kind != Kind.Object) return root;
  const top = emptyLike(root);
  const from = new Array<JsonValue>();
  const to = new Array<JsonValue>();
  from.push(root);
  to.push(top);
  while (from.length > 0) {
    const src = from.pop() as JsonValue;
    const dst = to.pop() as JsonValue;
    if (src.kind == Kind.Array) {
      const items = src.items!;
      const copied = dst.items!;
      for (let i = 0; i < items.length; i++) {
        const item = items[i];
        if (item.kind == Kind.Array || item.kind == Kind.Object) {
          const child = emptyLike(item);
          copied.push(child);
          from.push(item);
          to.push(child);
        } else {
          copied.push(item);
        }
      }
    } else {
      const keys = src.keys!;
      const vals = src.vals!;
      for (let i = 0; i < keys.length; i++) {
        const val = vals[i];
        if (val.kind == Kind.Array || val.kind == Kind.Object) {
          const child = emptyLike(val);
          dst.set(keys[i], child);
          from.push(val);
          to.push(child);
        } else {
          dst.set(keys[i], val);
        }
      }
    }
  }
  return top;
}

function emptyLike(container: JsonValue): JsonValue {
  return container.kind == Kind.Array
    ? JsonValue.array(new Array<JsonValue>())
    : JsonValue.object();
}
