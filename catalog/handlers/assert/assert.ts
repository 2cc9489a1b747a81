/// <reference path="../../core/portable.d.ts" />
/**
 * The `assert` catalog handler: evaluates jq boolean conditions over the
 * step envelope and passes when the quantifier (`all`, `any`, `none`) holds.
 * Every condition is compiled before any runs and every condition runs (the
 * result lists them all). Portable AssemblyScript: the same source is the
 * wasm guest and the native handler.
 *
 * Failures, none retryable (the same envelope fails the same way again):
 * `config_invalid`, `jq_syntax` / `jq_unsupported` / `jq_runtime` /
 * `jq_cardinality`, `assert_not_boolean`, `assertion_failed`.
 */
import { checkConfig } from "../../core/config_check.ts";
import { Envelope } from "../../core/envelope.ts";
import { compileConfigFilter, ConfigFilter, runConfigFilter } from "../../core/handler_jq.ts";
import { HandlerResult } from "../../core/handler_result.ts";
import { JsonValue, Kind } from "../../core/json_value.ts";
import { CONFIG_SCHEMA_JSON } from "./config_schema.gen.ts";

/** How many condition paths a default failure message lists. */
const LISTED: i32 = 10;

/**
 * Runs `assert` on an envelope.
 *
 * @example
 * ```ts
 * import "../../native/portable_runtime.ts";
 * import assert from "node:assert/strict";
 * import { fromJs, toJs } from "../../native/js_bridge.ts";
 * import { handle } from "./assert.ts";
 *
 * const config = { conditions: [".context.total > 0", ".context.currency == \"EUR\""] };
 * const ok = handle(fromJs({ context: { total: 5, currency: "EUR" }, config }));
 * assert.deepEqual(toJs(ok.value!), { passed: true, results: [true, true] });
 * const bad = handle(fromJs({ context: { total: 0, currency: "EUR" }, config }));
 * assert.equal(bad.error!.code, "assertion_failed");
 * ```
 */
export function handle(envelope: JsonValue): HandlerResult {
  const config = new Envelope(envelope).config();
  const bad = checkConfig(CONFIG_SCHEMA_JSON, config);
  if (bad != null) return bad;
  const sources = config.get("conditions")!.items!;
  const quantifier = config.has("quantifier") ? config.get("quantifier")!.str : "all";

  const filters = new Array<ConfigFilter>();
  for (let i = 0; i < sources.length; i++) {
    const filter = compileConfigFilter(fieldOf(i), sources[i].str);
    if (filter.failure != null) return filter.failure!;
    filters.push(filter);
  }

  const results = new Array<JsonValue>();
  const trues = new Array<i32>();
  const falses = new Array<i32>();
  for (let i = 0; i < filters.length; i++) {
    const source = sources[i].str;
    const run = runConfigFilter(filters[i], source, envelope);
    if (run.failure != null) return run.failure!;
    const outputs = run.outputs;
    if (outputs.length != 1) return notOne(fieldOf(i), source, outputs.length);
    const v = outputs[0];
    if (v.kind != Kind.True && v.kind != Kind.False) return notBoolean(i, source, v);
    results.push(v);
    if (v.kind == Kind.True) trues.push(i);
    else falses.push(i);
  }

  // The conditions that decided a failure: the false ones for all/any, the
  // true ones for none.
  let failed: Array<i32> | null = null;
  if (quantifier == "all" && falses.length > 0) failed = falses;
  else if (quantifier == "any" && trues.length == 0) failed = falses;
  else if (quantifier == "none" && trues.length > 0) failed = trues;

  if (failed == null) {
    const out = JsonValue.object();
    out.set("passed", JsonValue.bool(true));
    out.set("results", JsonValue.array(results));
    return HandlerResult.ok(out);
  }
  const indexes = new Array<JsonValue>();
  for (let i = 0; i < failed.length; i++) indexes.push(JsonValue.number(f64(failed[i])));
  const details = JsonValue.object();
  details.set("results", JsonValue.array(results));
  details.set("failed", JsonValue.array(indexes));
  const custom = config.get("message");
  const message = custom != null ? custom.str : defaultMessage(quantifier, failed, results.length);
  return HandlerResult.fail("assertion_failed", message, false, details);
}

function fieldOf(i: i32): string {
  return "config.conditions[" + i.toString() + "]";
}

/**
 * e.g. `Cannot pass the assertion as not all conditions hold (quantifier
 * "all"): config.conditions[1] is false`.
 */
function defaultMessage(quantifier: string, failed: Array<i32>, total: i32): string {
  let reason: string;
  if (quantifier == "all") reason = "not all " + total.toString() + " conditions hold";
  else if (quantifier == "any") reason = "none of " + total.toString() + " conditions holds";
  else reason = "some of " + total.toString() + " conditions hold";
  const value = quantifier == "none" ? "true" : "false";
  const parts = new Array<string>();
  const n = failed.length < LISTED ? failed.length : LISTED;
  for (let i = 0; i < n; i++) parts.push(fieldOf(failed[i]));
  let list = parts.join(", ");
  if (failed.length > LISTED) list += " and " + (failed.length - LISTED).toString() + " more";
  return "Cannot pass the assertion as " + reason + ' (quantifier "' + quantifier + '"): ' + list +
    (failed.length == 1 ? " is " : " are ") + value;
}

function filterDetails(field: string, source: string): JsonValue {
  const d = JsonValue.object();
  d.set("field", JsonValue.string(field));
  d.set("filter", JsonValue.string(source));
  return d;
}

/** `jq_cardinality`, worded like `evalOne`'s. */
function notOne(field: string, source: string, count: i32): HandlerResult {
  return HandlerResult.fail(
    "jq_cardinality",
    "Cannot use " + field + " as it produced " + count.toString() +
      " outputs; expected exactly one",
    false,
    filterDetails(field, source),
  );
}

function notBoolean(i: i32, source: string, v: JsonValue): HandlerResult {
  const field = fieldOf(i);
  const details = filterDetails(field, source);
  details.set("type", JsonValue.string(v.typeName()));
  return HandlerResult.fail(
    "assert_not_boolean",
    "Cannot use " + field + " as a condition as it produced " + article(v.typeName()) +
      ", not a boolean",
    false,
    details,
  );
}

/** "null", "a number", "an array", ... */
function article(typeName: string): string {
  if (typeName == "null") return typeName;
  return typeName == "array" || typeName == "object" ? "an " + typeName : "a " + typeName;
}
