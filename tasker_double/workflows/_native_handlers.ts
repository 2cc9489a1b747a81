/**
 * Test-only: the catalog's native build as handlers of the fake SQL worker,
 * so the example workflows run end to end through the simulator without a
 * broker. Private (underscore) test tooling.
 *
 * @module
 */
import { type NativeOutcome, runNative } from "../../catalog/native/run_native.ts";
import { runNativeHttp } from "../../catalog/native/native_http.ts";
import { handle as aggregate } from "../../catalog/handlers/aggregate/aggregate.ts";
import { handle as assertHandler } from "../../catalog/handlers/assert/assert.ts";
import { handle as decide } from "../../catalog/handlers/decide/decide.ts";
import { handle as fanOut } from "../../catalog/handlers/fan_out/fan_out.ts";
import { handle as gate } from "../../catalog/handlers/gate/gate.ts";
import { handle as transform } from "../../catalog/handlers/transform/transform.ts";
import { handle as validate } from "../../catalog/handlers/validate/validate.ts";
import { finishRequest, planRequest } from "../../catalog/handlers/http_request/http_request.ts";
import { finishNotify, planNotify } from "../../catalog/handlers/notify/notify.ts";
import type { FakeHandler, FakeOutcome } from "../_fake_worker.ts";

function toFake(outcome: NativeOutcome): FakeOutcome {
  if (outcome.ok) return { ok: true, result: JSON.parse(outcome.resultJson) };
  const f = outcome.failure;
  const details = f.details as
    | { backoff_hint?: { backoff_type: string; delay_seconds: number } }
    | undefined;
  return {
    ok: false,
    code: f.code,
    message: f.message,
    retryable: f.retryable,
    errorType: "handler_error",
    ...(details?.backoff_hint ? { backoffHint: details.backoff_hint } : {}),
  };
}

/** Every catalog callable, run natively; HTTP goes through `fetchFn`. */
export function nativeCatalogHandlers(fetchFn: typeof fetch): Record<string, FakeHandler> {
  const pure = {
    "catalog.aggregate": aggregate,
    "catalog.assert": assertHandler,
    "catalog.decide": decide,
    "catalog.fan_out": fanOut,
    "catalog.gate": gate,
    "catalog.transform": transform,
    "catalog.validate": validate,
  };
  const handlers: Record<string, FakeHandler> = {};
  for (const [callable, handle] of Object.entries(pure)) {
    handlers[callable] = (envelope) => toFake(runNative(handle, JSON.stringify(envelope)));
  }
  handlers["catalog.http_request"] = async (envelope) =>
    toFake(await runNativeHttp(planRequest, finishRequest, JSON.stringify(envelope), fetchFn));
  handlers["catalog.notify"] = async (envelope) =>
    toFake(await runNativeHttp(planNotify, finishNotify, JSON.stringify(envelope), fetchFn));
  return handlers;
}
