/// <reference path="../../core/portable.d.ts" />
/**
 * The `http_request` catalog handler: one HTTP request built from templates
 * over the envelope (`${context.x}`, `${deps.step.y}`, `${secrets.NAME}`
 * left for the host), with status rules, `Retry-After` backoff hints and a
 * jq `response_extract`. It runs in two halves around the request (see
 * catalog/core/http_exchange.ts): {@link planRequest}, then the build's
 * edge sends the request, then {@link finishRequest}.
 */
import { checkConfig } from "../../core/config_check.ts";
import { Envelope } from "../../core/envelope.ts";
import { finishExchange, HttpSpec, planExchange, RequestPlan } from "../../core/http_exchange.ts";
import { HandlerResult } from "../../core/handler_result.ts";
import { JsonValue } from "../../core/json_value.ts";
import { CONFIG_SCHEMA_JSON } from "./config_schema.gen.ts";

/** Checks the config and renders the request. */
export function planRequest(envelope: JsonValue): RequestPlan {
  const config = new Envelope(envelope).config();
  const bad = checkConfig(CONFIG_SCHEMA_JSON, config);
  if (bad != null) return RequestPlan.failed(bad);
  return planExchange(envelope, HttpSpec.fromConfig(config));
}

/** Status rules, body parsing and `response_extract` on the exchange's outcome. */
export function finishRequest(
  _envelope: JsonValue,
  plan: RequestPlan,
  outcome: JsonValue,
): HandlerResult {
  return finishExchange(plan, outcome);
}
