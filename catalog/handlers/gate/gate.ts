/// <reference path="../../core/portable.d.ts" />
/**
 * `gate`: holds a workflow until an approval record says yes. A jq filter
 * selects the record from the envelope (task context, dependency results);
 * two jq conditions over the record decide:
 *
 * - approved → result `{approved: true, approval: <record>}`;
 * - rejected → failure `approval_rejected`, not retryable;
 * - no record yet (no output or null), or a record that is neither →
 *   failure `approval_pending`, retryable, with the backoff hint
 *   `{backoff_type: "Custom", delay_seconds: poll_seconds}` so orchestration
 *   runs the gate again after that delay. The step's `max_attempts` bounds
 *   how long the gate waits.
 *
 * Both conditions are evaluated; a record that satisfies both fails with
 * `approval_conflict` rather than passing.
 *
 * Portable AssemblyScript: the same source is the wasm guest and the native
 * handler.
 */
import { checkConfig } from "../../core/config_check.ts";
import { Envelope } from "../../core/envelope.ts";
import { compileConfigFilter, ConfigFilter, runConfigFilter } from "../../core/handler_jq.ts";
import { HandlerResult } from "../../core/handler_result.ts";
import { JsonValue } from "../../core/json_value.ts";
import { CONFIG_SCHEMA_JSON } from "./config_schema.gen.ts";

/** `approved_when` when the config has none. */
export const DEFAULT_APPROVED_WHEN = ".approved == true";
/** `rejected_when` when the config has none. */
export const DEFAULT_REJECTED_WHEN = ".approved == false";
/** `poll_seconds` when the config has none. */
export const DEFAULT_POLL_SECONDS: i32 = 60;

/** A config filter with its source text. */
class Filter {
  source: string;
  compiled: ConfigFilter;

  constructor(field: string, source: string) {
    this.source = source;
    this.compiled = compileConfigFilter(field, source);
  }
}

/** A condition's verdict, or the failure to return. */
class Verdict {
  value: bool = false;
  failure: HandlerResult | null = null;
}

function stringOr(config: JsonValue, key: string, fallback: string): string {
  const v = config.get(key);
  return v != null ? v.str : fallback;
}

function cardinality(f: Filter, n: i32): HandlerResult {
  const details = JsonValue.object();
  details.set("field", JsonValue.string(f.compiled.field));
  details.set("filter", JsonValue.string(f.source));
  return HandlerResult.fail(
    "jq_cardinality",
    "Cannot use " + f.compiled.field + " as it produced " + n.toString() +
      " outputs; expected exactly one",
    false,
    details,
  );
}

/** Runs a condition on the record: exactly one boolean output. */
function decide(f: Filter, record: JsonValue): Verdict {
  const out = new Verdict();
  const run = runConfigFilter(f.compiled, f.source, record);
  if (run.failure != null) {
    out.failure = run.failure;
    return out;
  }
  if (run.outputs.length != 1) {
    out.failure = cardinality(f, run.outputs.length);
    return out;
  }
  const v = run.outputs[0];
  if (!v.isBool()) {
    const details = JsonValue.object();
    details.set("field", JsonValue.string(f.compiled.field));
    details.set("type", JsonValue.string(v.typeName()));
    out.failure = HandlerResult.fail(
      "condition_not_boolean",
      "Cannot decide the gate with " + f.compiled.field + " as it produced " + v.typeName() +
        ", not a boolean",
      false,
      details,
    );
    return out;
  }
  out.value = v.isTruthy();
  return out;
}

function pending(reason: string, recordFound: bool, pollSeconds: f64): HandlerResult {
  const hint = JsonValue.object();
  hint.set("backoff_type", JsonValue.string("Custom"));
  hint.set("delay_seconds", JsonValue.number(pollSeconds));
  const details = JsonValue.object();
  details.set("backoff_hint", hint);
  details.set("record_found", JsonValue.bool(recordFound));
  return HandlerResult.fail(
    "approval_pending",
    "Cannot pass the gate yet as " + reason + "; polling again in " +
      i32(pollSeconds).toString() + " s",
    true,
    details,
  );
}

/**
 * Runs `gate` on a step envelope.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import "../../native/portable_runtime.ts";
 * import { fromJs } from "../../native/js_bridge.ts";
 * import { handle } from "./gate.ts";
 *
 * const config = { approval: ".context.approval", poll_seconds: 30 };
 * const waiting = handle(fromJs({ context: {}, config }));
 * assert.ok(waiting.error!.code === "approval_pending" && waiting.error!.retryable);
 * const passed = handle(fromJs({ context: { approval: { approved: true, by: "ann" } }, config }));
 * assert.ok(passed.error === null);
 * ```
 */
export function handle(envelope: JsonValue): HandlerResult {
  const config = new Envelope(envelope).config();
  const bad = checkConfig(CONFIG_SCHEMA_JSON, config);
  if (bad != null) return bad;

  // Compile all three first: a broken condition fails even while pending.
  const approval = new Filter("config.approval", config.get("approval")!.str);
  if (approval.compiled.failure != null) return approval.compiled.failure!;
  const approvedWhen = new Filter(
    "config.approved_when",
    stringOr(config, "approved_when", DEFAULT_APPROVED_WHEN),
  );
  if (approvedWhen.compiled.failure != null) return approvedWhen.compiled.failure!;
  const rejectedWhen = new Filter(
    "config.rejected_when",
    stringOr(config, "rejected_when", DEFAULT_REJECTED_WHEN),
  );
  if (rejectedWhen.compiled.failure != null) return rejectedWhen.compiled.failure!;
  const poll = config.get("poll_seconds");
  const pollSeconds = poll != null ? poll.num : f64(DEFAULT_POLL_SECONDS);

  const run = runConfigFilter(approval.compiled, approval.source, envelope);
  if (run.failure != null) return run.failure!;
  if (run.outputs.length > 1) return cardinality(approval, run.outputs.length);
  if (run.outputs.length == 0 || run.outputs[0].isNull()) {
    return pending("no approval record is present", false, pollSeconds);
  }
  const record = run.outputs[0];

  const approved = decide(approvedWhen, record);
  if (approved.failure != null) return approved.failure!;
  const rejected = decide(rejectedWhen, record);
  if (rejected.failure != null) return rejected.failure!;
  if (approved.value && rejected.value) {
    const details = JsonValue.object();
    details.set("approval", record);
    return HandlerResult.fail(
      "approval_conflict",
      "Cannot pass the gate as the approval record satisfies both config.approved_when and config.rejected_when",
      false,
      details,
    );
  }
  if (rejected.value) {
    const details = JsonValue.object();
    details.set("approval", record);
    return HandlerResult.fail(
      "approval_rejected",
      "Cannot pass the gate as the approval was rejected",
      false,
      details,
    );
  }
  if (!approved.value) {
    return pending("the approval record is neither approved nor rejected", true, pollSeconds);
  }
  const result = JsonValue.object();
  result.set("approved", JsonValue.bool(true));
  result.set("approval", record);
  return HandlerResult.ok(result);
}
