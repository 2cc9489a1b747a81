/**
 * The native build of the HTTP catalog handlers (`http_request`, `notify`):
 * the same portable halves as the wasm build (catalog/core/http_exchange.ts),
 * with `fetch` in between instead of the `http` capability.
 *
 * The exchange mirrors what the capability does under its default policy,
 * so both builds hand the handler the same response JSON and the same
 * transport errors (codes and messages): redirects are not followed (the
 * handler sees the 3xx), the body is read under a 1 MiB cap, headers come
 * lower-case with repeats joined by ", ", a body that is not UTF-8 comes as
 * `body_base64`. What the capability adds — the URL allowlist, address
 * checks, rate limits, `${secrets.NAME}` substitution — is the deployment's
 * business in a native worker: pass a `fetch` that does it.
 *
 * @module
 */
import { joinedHeaders, readCappedBody } from "../../plugins/http/read_capped_body.ts";
import "./portable_runtime.ts";
import {
  beginHttpStep,
  endHttpStep,
  ERRNO_INVALID_ARGUMENT,
  ERRNO_TIMEOUT,
  ERRNO_TOO_LARGE,
  ERRNO_UNAVAILABLE,
  type FinishFn,
  hostErrorOutcome,
  type PlanFn,
  type RequestPlan,
} from "../core/http_exchange.ts";
import type { HandlerOutput } from "../core/run_handler.ts";
import type { NativeFailure, NativeOutcome } from "./run_native.ts";

/** The response body cap: the `http` capability's default `max_response_bytes`. */
export const NATIVE_MAX_RESPONSE_BYTES = 1024 * 1024;

const utf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });
const encoder = new TextEncoder();

/**
 * Runs an HTTP handler natively: plan, `await fetch`, finish.
 *
 * @example
 * ```ts
 * import { runNativeHttp } from "./native_http.ts";
 * import { finishRequest, planRequest } from "../handlers/http_request/http_request.ts";
 * const fakeFetch = () => Promise.resolve(Response.json({ id: 7 }));
 * const outcome = await runNativeHttp(planRequest, finishRequest, JSON.stringify({
 *   context: { id: 7 },
 *   config: { url: "https://api.example.com/items/${context.id}", response_extract: ".body.id" },
 * }), fakeFetch as typeof fetch);
 * console.assert(outcome.ok && outcome.resultJson === "7");
 * ```
 */
export async function runNativeHttp(
  plan: PlanFn,
  finish: FinishFn,
  envelopeJson: string,
  fetchFn: typeof fetch = globalThis.fetch,
): Promise<NativeOutcome> {
  const step = beginHttpStep(plan, envelopeJson);
  const output = step.output ?? endHttpStep(step, finish, await exchange(step.plan, fetchFn));
  return nativeOutcome(output);
}

/** Sends the planned request; the outcome JSON text for the handler's second half. */
export async function exchange(plan: RequestPlan, fetchFn: typeof fetch): Promise<string> {
  let url: URL;
  try {
    url = new URL(plan.url);
  } catch {
    return errorOutcome(
      ERRNO_INVALID_ARGUMENT,
      "url_invalid",
      `Cannot parse URL as it is invalid: "${clip(plan.url)}"`,
    );
  }
  const href = url.href;
  const controller = new AbortController();
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    controller.abort(new DOMException("request timed out", "TimeoutError"));
  }, plan.timeoutMs);
  try {
    const headers: [string, string][] = plan.headerNames.map((name, i) => [
      name,
      plan.headerValues[i],
    ]);
    const response = await fetchFn(url, {
      method: plan.method,
      headers,
      body: plan.body === null ? null : encoder.encode(plan.body),
      redirect: "manual",
      signal: controller.signal,
    });
    return await readResponse(response, href);
  } catch (error) {
    if (timedOut) {
      return errorOutcome(
        ERRNO_TIMEOUT,
        "timeout",
        `Cannot finish request to ${
          clip(href)
        } as it took longer than timeout_ms ${plan.timeoutMs}`,
      );
    }
    return errorOutcome(
      ERRNO_UNAVAILABLE,
      "network_error",
      `Cannot complete request to ${clip(href)}: ${
        clip(String((error as Error)?.message ?? error), 200)
      }`,
    );
  } finally {
    clearTimeout(timer);
  }
}

/** Reads the body under the cap into the capability's response JSON. */
async function readResponse(response: Response, href: string): Promise<string> {
  const cap = NATIVE_MAX_RESPONSE_BYTES;
  const tooLarge = (seen: string) =>
    errorOutcome(
      ERRNO_TOO_LARGE,
      "too_large",
      `Cannot read the response of ${
        clip(href)
      } as its body (${seen}) exceeds max_response_bytes ${cap}`,
    );
  const body = await readCappedBody(response, cap);
  if (!body.ok) return tooLarge(body.seen);
  const bytes = body.bytes;
  const headers = joinedHeaders(response);
  const out: Record<string, unknown> = { status: response.status, headers };
  try {
    out.body = utf8.decode(bytes);
  } catch {
    out.body_base64 = bytes.toBase64();
  }
  out.url = href;
  return JSON.stringify(out);
}

function errorOutcome(errno: number, code: string, message: string): string {
  return hostErrorOutcome(errno, JSON.stringify({ code, message }));
}

/** The `http` capability's clip: at most `max` characters, "..." when cut. */
function clip(text: string, max = 120): string {
  return text.length > max ? `${text.slice(0, max)}...` : text;
}

/** A handler output as the native build reports it (see run_native.ts). */
function nativeOutcome(output: HandlerOutput): NativeOutcome {
  const error = output.error;
  if (error === null) return { ok: true, resultJson: output.resultJson };
  const failure: NativeFailure = {
    message: error.message,
    code: error.code,
    retryable: error.retryable,
  };
  if (output.detailsJson !== "") failure.details = JSON.parse(output.detailsJson);
  return { ok: false, failure };
}
