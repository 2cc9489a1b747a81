/// <reference path="../../core/portable.d.ts" />
/**
 * `fan_out`: a Tasker batchable step. A jq filter selects an array from the
 * envelope; the handler splits its indices into consecutive ranges and
 * returns `batch_processing_outcome`, from which orchestration creates one
 * `batch_worker` step per range.
 *
 * Cursor convention (Tasker's CursorConfig): `start_cursor` is the 0-based
 * index of the first item (inclusive), `end_cursor` the index after the last
 * (exclusive), so a worker's items are jq's `.[start_cursor:end_cursor]` of
 * the same array; `batch_size` = end_cursor - start_cursor. `batch_id` is the
 * 1-based batch number zero-padded to three digits ("001", ..., "999",
 * "1000"), the suffix Tasker gives worker steps (`<worker_template_name>_001`).
 *
 * Portable AssemblyScript: the same source is the wasm guest and the native
 * handler.
 */
import { checkConfig } from "../../core/config_check.ts";
import { Envelope } from "../../core/envelope.ts";
import { evalOne } from "../../core/handler_jq.ts";
import { HandlerResult } from "../../core/handler_result.ts";
import { JsonValue } from "../../core/json_value.ts";
import { CONFIG_SCHEMA_JSON } from "./config_schema.gen.ts";

/** Most batch workers one fan-out creates; keep equal to MAX_WORKERS in config_schema.ts. */
export const WORKER_LIMIT: i32 = 10000;

/**
 * The split of `total` items: batch size after `max_workers` (0 = no bound)
 * and the number of workers. Every batch is full but the last.
 */
export class BatchPlan {
  batchSize: i32;
  workerCount: i32;

  constructor(batchSize: i32, workerCount: i32) {
    this.batchSize = batchSize;
    this.workerCount = workerCount;
  }
}

/** ceil(a / b) for positive doubles holding integers. */
function ceilDiv(a: f64, b: f64): f64 {
  return Math.ceil(a / b);
}

/**
 * Plans batches for `total` > 0 items. `batchSize` and `maxWorkers` are
 * config integers (>= 1; `maxWorkers` 0 when unset) and may exceed i32, so
 * the arithmetic stays in doubles until the values are bounded by `total`.
 */
export function planBatches(total: i32, batchSize: f64, maxWorkers: f64): BatchPlan {
  const n = f64(total);
  let size = batchSize < n ? batchSize : n;
  if (maxWorkers > 0 && ceilDiv(n, size) > maxWorkers) size = ceilDiv(n, maxWorkers);
  return new BatchPlan(i32(size), i32(ceilDiv(n, size)));
}

/** The 1-based batch number zero-padded to at least three digits. */
export function batchId(index: i32): string {
  const text = (index + 1).toString();
  if (text.length >= 3) return text;
  return (text.length == 1 ? "00" : "0") + text;
}

function cursorConfig(index: i32, start: i32, end: i32): JsonValue {
  const c = JsonValue.object();
  c.set("batch_id", JsonValue.string(batchId(index)));
  c.set("start_cursor", JsonValue.number(f64(start)));
  c.set("end_cursor", JsonValue.number(f64(end)));
  c.set("batch_size", JsonValue.number(f64(end - start)));
  return c;
}

function outcome(body: JsonValue): HandlerResult {
  const result = JsonValue.object();
  result.set("batch_processing_outcome", body);
  return HandlerResult.ok(result);
}

/**
 * Runs `fan_out` on a step envelope.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import "../../native/portable_runtime.ts";
 * import { fromJs, toJs } from "../../native/js_bridge.ts";
 * import { handle } from "./fan_out.ts";
 *
 * const r = handle(fromJs({
 *   context: { ids: [1, 2, 3, 4, 5] },
 *   config: { items: ".context.ids", batch_size: 2, worker_template_name: "process" },
 * }));
 * const outcome = (toJs(r.value!) as { batch_processing_outcome: { worker_count: number } });
 * assert.ok(outcome.batch_processing_outcome.worker_count === 3);
 * ```
 */
export function handle(envelope: JsonValue): HandlerResult {
  const env = new Envelope(envelope);
  const config = env.config();
  const bad = checkConfig(CONFIG_SCHEMA_JSON, config);
  if (bad != null) return bad;

  const source = config.get("items")!.str;
  const run = evalOne("config.items", source, envelope);
  if (run.failure != null) return run.failure!;
  const items = run.outputs[0];
  if (!items.isArray()) {
    const details = JsonValue.object();
    details.set("field", JsonValue.string("config.items"));
    details.set("type", JsonValue.string(items.typeName()));
    return HandlerResult.fail(
      "items_not_array",
      "Cannot split config.items into batches as it selected " + items.typeName() +
        ", not an array",
      false,
      details,
    );
  }

  const total = items.size();
  if (total == 0) {
    const none = JsonValue.object();
    none.set("type", JsonValue.string("no_batches"));
    return outcome(none);
  }

  const maxWorkers = config.get("max_workers");
  const plan = planBatches(
    total,
    config.get("batch_size")!.num,
    maxWorkers != null ? maxWorkers.num : 0,
  );
  if (plan.workerCount > WORKER_LIMIT) {
    const details = JsonValue.object();
    details.set("worker_count", JsonValue.number(f64(plan.workerCount)));
    details.set("limit", JsonValue.number(f64(WORKER_LIMIT)));
    details.set("total_items", JsonValue.number(f64(total)));
    return HandlerResult.fail(
      "too_many_batches",
      "Cannot split " + total.toString() + " items into batches of " +
        plan.batchSize.toString() + " as that needs " + plan.workerCount.toString() +
        " workers, more than " + WORKER_LIMIT.toString() +
        ": raise batch_size or set max_workers",
      false,
      details,
    );
  }
  const cursors = new Array<JsonValue>();
  for (let i = 0; i < plan.workerCount; i++) {
    const start = i * plan.batchSize;
    const end = start + plan.batchSize < total ? start + plan.batchSize : total;
    cursors.push(cursorConfig(i, start, end));
  }
  const body = JsonValue.object();
  body.set("type", JsonValue.string("create_batches"));
  body.set("worker_template_name", config.get("worker_template_name")!);
  body.set("worker_count", JsonValue.number(f64(plan.workerCount)));
  body.set("cursor_configs", JsonValue.array(cursors));
  body.set("total_items", JsonValue.number(f64(total)));
  return outcome(body);
}
