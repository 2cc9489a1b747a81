/// <reference path="../../core/portable.d.ts" />
/**
 * The `decide` catalog handler, a Tasker decision point: evaluates
 * `config.rules` in order and returns the steps of the first rule whose
 * `when` (a jq boolean over the step envelope) is true, as
 * `{"decision_point_outcome": {"type": "create_steps", "step_names": [...]}}`;
 * when none is, `config.default` as create_steps, else `no_branches`.
 * `matched_rule` is the index of the rule that decided (null when none did).
 * Every `when` is compiled before any runs; rules after the match are not
 * evaluated. Portable AssemblyScript: the same source is the wasm guest and
 * the native handler.
 *
 * Failures, none retryable (the same envelope fails the same way again):
 * `config_invalid`, `jq_syntax` / `jq_unsupported` / `jq_runtime` /
 * `jq_cardinality`, `decide_not_boolean`.
 */
import { checkConfig } from "../../core/config_check.ts";
import { Envelope } from "../../core/envelope.ts";
import { compileConfigFilter, ConfigFilter, runConfigFilter } from "../../core/handler_jq.ts";
import { HandlerResult } from "../../core/handler_result.ts";
import { JsonValue, Kind } from "../../core/json_value.ts";
import { CONFIG_SCHEMA_JSON } from "./config_schema.gen.ts";

/**
 * Runs `decide` on an envelope.
 *
 * @example
 * ```ts
 * import "../../native/portable_runtime.ts";
 * import assert from "node:assert/strict";
 * import { fromJs, toJs } from "../../native/js_bridge.ts";
 * import { handle } from "./decide.ts";
 *
 * const config = { rules: [{ when: ".context.amount > 1000", steps: ["manual_review"] }], default: ["auto_approve"] };
 * const r = handle(fromJs({ context: { amount: 5000 }, config }));
 * assert.deepEqual(toJs(r.value!), {
 *   decision_point_outcome: { type: "create_steps", step_names: ["manual_review"] },
 *   matched_rule: 0,
 * });
 * ```
 */
export function handle(envelope: JsonValue): HandlerResult {
  const config = new Envelope(envelope).config();
  const bad = checkConfig(CONFIG_SCHEMA_JSON, config);
  if (bad != null) return bad;
  const rules = config.get("rules")!.items!;

  const filters = new Array<ConfigFilter>();
  for (let i = 0; i < rules.length; i++) {
    const filter = compileConfigFilter(fieldOf(i), whenOf(rules[i]));
    if (filter.failure != null) return filter.failure!;
    filters.push(filter);
  }

  for (let i = 0; i < filters.length; i++) {
    const source = whenOf(rules[i]);
    const run = runConfigFilter(filters[i], source, envelope);
    if (run.failure != null) return run.failure!;
    const outputs = run.outputs;
    if (outputs.length != 1) return notOne(fieldOf(i), source, outputs.length);
    const v = outputs[0];
    if (v.kind == Kind.True) return outcome(rules[i].get("steps")!, JsonValue.number(f64(i)));
    if (v.kind != Kind.False) return notBoolean(fieldOf(i), source, v);
  }
  const fallback = config.get("default");
  if (fallback != null) return outcome(fallback, JsonValue.null());
  const none = JsonValue.object();
  none.set("type", JsonValue.string("no_branches"));
  const out = JsonValue.object();
  out.set("decision_point_outcome", none);
  out.set("matched_rule", JsonValue.null());
  return HandlerResult.ok(out);
}

function whenOf(rule: JsonValue): string {
  return rule.get("when")!.str;
}

function fieldOf(i: i32): string {
  return "config.rules[" + i.toString() + "].when";
}

function outcome(steps: JsonValue, matched: JsonValue): HandlerResult {
  const decision = JsonValue.object();
  decision.set("type", JsonValue.string("create_steps"));
  decision.set("step_names", steps);
  const out = JsonValue.object();
  out.set("decision_point_outcome", decision);
  out.set("matched_rule", matched);
  return HandlerResult.ok(out);
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

function notBoolean(field: string, source: string, v: JsonValue): HandlerResult {
  const details = filterDetails(field, source);
  details.set("type", JsonValue.string(v.typeName()));
  const name = v.typeName();
  const what = name == "null"
    ? name
    : name == "array" || name == "object"
    ? "an " + name
    : "a " + name;
  return HandlerResult.fail(
    "decide_not_boolean",
    "Cannot use " + field + " as a rule condition as it produced " + what + ", not a boolean",
    false,
    details,
  );
}
