/// <reference path="../../core/portable.d.ts" />
/**
 * The `notify` catalog handler: a webhook. It is `http_request` with method
 * POST, a JSON body and the result `{delivered: true, status}`; the
 * planning, status rules and failure codes are the shared ones of
 * catalog/core/http_exchange.ts.
 */
import { checkConfig } from "../../core/config_check.ts";
import { Envelope } from "../../core/envelope.ts";
import { finishExchange, HttpSpec, planExchange, RequestPlan } from "../../core/http_exchange.ts";
import { HandlerResult } from "../../core/handler_result.ts";
import { JsonValue } from "../../core/json_value.ts";
import { CONFIG_SCHEMA_JSON } from "./config_schema.gen.ts";

/** Checks the config and renders the POST. */
export function planNotify(envelope: JsonValue): RequestPlan {
  const config = new Envelope(envelope).config();
  const bad = checkConfig(CONFIG_SCHEMA_JSON, config);
  if (bad != null) return RequestPlan.failed(bad);
  const spec = HttpSpec.fromConfig(config);
  spec.method = "POST";
  spec.delivery = true;
  return planExchange(envelope, spec);
}

/** Status rules on the exchange's outcome; `{delivered: true, status}` on success. */
export function finishNotify(
  _envelope: JsonValue,
  plan: RequestPlan,
  outcome: JsonValue,
): HandlerResult {
  return finishExchange(plan, outcome);
}
