/// <reference path="./portable.d.ts" />
/**
 * The portable logic of the HTTP catalog handlers (`http_request`, `notify`),
 * split around the one thing portable code cannot do — wait for a response:
 *
 * 1. {@link planExchange}: config + envelope → the request JSON
 *    `{method, url, headers, body?}` the `http` capability takes (templates
 *    rendered, query appended, headers checked), or a coded failure;
 * 2. the build's edge sends it: the wasm build through the `http.request`
 *    host function (catalog/wasm/http_call.ts), the native build with
 *    `fetch` (catalog/native/native_http.ts). Either hands back the
 *    capability's response JSON `{status, headers, body | body_base64, url}`
 *    or a transport error `{"error": {errno, code, message}}`;
 * 3. {@link finishExchange}: status rules, `Retry-After` backoff hints, body
 *    parsing and `response_extract` → the handler's result or failure.
 *
 * {@link beginHttpStep} and {@link endHttpStep} wrap 1 and 3 with the
 * envelope text in and the result text out, so both builds run exactly the
 * same code on each side of the request.
 */
import { HandlerError, HandlerResult } from "./handler_result.ts";
import { evalOne } from "./handler_jq.ts";
import {
  countSecretMarkers,
  ENCODE_NONE,
  ENCODE_QUERY,
  percentEncode,
  renderJsonTemplate,
  renderTemplate,
  TemplateScope,
} from "./interpolate.ts";
import { parseJson } from "./json_parse.ts";
import { JsonValue } from "./json_value.ts";
import { quoteJsonString, writeJson } from "./json_write.ts";
import { cutText, FAILURE_CODE_MAX, FAILURE_MESSAGE_MAX, HandlerOutput } from "./run_handler.ts";

/** Request deadline when the config sets no `timeout_ms` (the `http` capability's default too). */
export const DEFAULT_TIMEOUT_MS: f64 = 10000;
/** Characters of a response body kept in an `http_status` failure's details. */
export const BODY_EXCERPT_CHARS: i32 = 512;
/** Largest `delay_seconds` of a backoff hint (fits Tasker's 32-bit field). */
export const MAX_DELAY_SECONDS: f64 = 2147483647;

/** Host errno values (catalog/sdk/abi: HostErrno). */
export const ERRNO_DENIED: i32 = -1;
export const ERRNO_NOT_FOUND: i32 = -2;
export const ERRNO_INVALID_ARGUMENT: i32 = -3;
export const ERRNO_TOO_LARGE: i32 = -4;
export const ERRNO_RATE_LIMITED: i32 = -5;
export const ERRNO_TIMEOUT: i32 = -6;
export const ERRNO_UNAVAILABLE: i32 = -7;

/** What a handler asks for, read from its (already schema-checked) config. */
export class HttpSpec {
  method: string = "GET";
  /** URL template. */
  url: string = "";
  /** `{name: template}` or null. */
  headers: JsonValue | null = null;
  /** `{name: template}` or null. */
  query: JsonValue | null = null;
  /** JSON template or null. */
  body: JsonValue | null = null;
  /** Text template or null. */
  bodyText: string | null = null;
  /** `expected_status` items or null (2xx). */
  expected: JsonValue | null = null;
  /** jq filter over `{status, headers, body}` or null. */
  responseExtract: string | null = null;
  timeoutMs: f64 = DEFAULT_TIMEOUT_MS;
  /** Keep the response headers in the default result. */
  includeHeaders: bool = false;
  /** Result `{delivered: true, status}` (notify) instead of the response. */
  delivery: bool = false;

  /** Reads the fields a handler config may have; absent ones keep their defaults. */
  static fromConfig(config: JsonValue): HttpSpec {
    const spec = new HttpSpec();
    const method = config.get("method");
    if (method != null && method.isString()) spec.method = method.str;
    const url = config.get("url");
    if (url != null && url.isString()) spec.url = url.str;
    const headers = config.get("headers");
    if (headers != null && headers.isObject()) spec.headers = headers;
    const query = config.get("query");
    if (query != null && query.isObject()) spec.query = query;
    const body = config.get("body");
    if (body != null) spec.body = body;
    const bodyText = config.get("body_text");
    if (bodyText != null && bodyText.isString()) spec.bodyText = bodyText.str;
    const expected = config.get("expected_status");
    if (expected != null && expected.isArray()) spec.expected = expected;
    const extract = config.get("response_extract");
    if (extract != null && extract.isString()) spec.responseExtract = extract.str;
    const timeout = config.get("timeout_ms");
    if (timeout != null && timeout.isNumber()) spec.timeoutMs = timeout.num;
    const include = config.get("include_headers");
    if (include != null && include.isBool()) spec.includeHeaders = include.isTruthy();
    return spec;
  }
}

/** A planned request, or the failure that ends the step before sending anything. */
export class RequestPlan {
  failure: HandlerResult | null = null;
  spec: HttpSpec = new HttpSpec();
  method: string = "GET";
  /** Final URL; `${secrets.NAME}` placeholders are left for the host. */
  url: string = "";
  headerNames: Array<string> = new Array<string>();
  headerValues: Array<string> = new Array<string>();
  /** Body text, or null for none. */
  body: string | null = null;
  timeoutMs: f64 = DEFAULT_TIMEOUT_MS;

  static failed(failure: HandlerResult): RequestPlan {
    const plan = new RequestPlan();
    plan.failure = failure;
    return plan;
  }

  /** The request as the `http` capability takes it: `{method, url, headers, body?}`. */
  requestJson(): string {
    const headers = JsonValue.object();
    for (let i = 0; i < this.headerNames.length; i++) {
      headers.set(this.headerNames[i], JsonValue.string(this.headerValues[i]));
    }
    const request = JsonValue.object()
      .set("method", JsonValue.string(this.method))
      .set("url", JsonValue.string(this.url))
      .set("headers", headers);
    const body = this.body;
    if (body != null) request.set("body", JsonValue.string(body));
    // The capability applies min(this, its policy's timeout_ms).
    request.set("timeout_ms", JsonValue.number(this.timeoutMs));
    return writeJson(request);
  }
}

/** A handler's first half: envelope → plan. */
export type PlanFn = (envelope: JsonValue) => RequestPlan;
/** A handler's second half: envelope, plan and the exchange's outcome → result. */
export type FinishFn = (
  envelope: JsonValue,
  plan: RequestPlan,
  outcome: JsonValue,
) => HandlerResult;

/** Header names the `http` capability owns (plugins/http/header_policy.ts), lower-case. */
const HOST_HEADERS: Array<string> = [
  "host",
  "content-length",
  "transfer-encoding",
  "connection",
  "keep-alive",
  "proxy-connection",
  "proxy-authenticate",
  "proxy-authorization",
  "te",
  "trailer",
  "upgrade",
  "expect",
  "http2-settings",
];

/**
 * Renders the request a spec describes for this envelope.
 *
 * @example
 * ```ts
 * import "../native/portable_runtime.ts";
 * import { fromJs } from "../native/js_bridge.ts";
 * import { HttpSpec, planExchange } from "./http_exchange.ts";
 *
 * const envelope = fromJs({ context: { id: 7, q: "a b" } });
 * const spec = HttpSpec.fromConfig(fromJs({
 *   url: "https://api.example.com/items/${context.id}",
 *   query: { q: "${context.q}" },
 * }));
 * const plan = planExchange(envelope, spec);
 * console.assert(plan.url === "https://api.example.com/items/7?q=a%20b");
 * ```
 */
export function planExchange(envelope: JsonValue, spec: HttpSpec): RequestPlan {
  const scope = TemplateScope.of(envelope);
  const plan = new RequestPlan();
  plan.spec = spec;
  plan.method = spec.method;
  plan.timeoutMs = spec.timeoutMs;
  const bodyTemplate = spec.body;
  const bodyText = spec.bodyText;
  if (bodyTemplate != null && bodyText != null) {
    return RequestPlan.failed(configInvalid("config", "set body or body_text, not both"));
  }
  if (
    (bodyTemplate != null || bodyText != null) && (spec.method == "GET" || spec.method == "HEAD")
  ) {
    return RequestPlan.failed(
      configInvalid("config.method", "a " + spec.method + " request cannot have a body"),
    );
  }

  // URL, then the query appended to it.
  const url = renderTemplate(spec.url, scope, "config.url", ENCODE_NONE);
  if (url.failure != null) return RequestPlan.failed(url.failure!);
  if (!hasHttpScheme(url.text)) {
    return RequestPlan.failed(HandlerResult.fail(
      "url_invalid",
      "Cannot send a request to " + quoteJsonString(clip(url.text, 200)) +
        " as only http:// and https:// URLs can be requested",
      false,
      JsonValue.object().set("field", JsonValue.string("config.url")),
    ));
  }
  let urlSecrets = url.secrets;
  const pairs = new Array<string>();
  const query = spec.query;
  if (query != null) {
    const names = query.keys!;
    const templates = query.vals!;
    for (let i = 0; i < names.length; i++) {
      const value = renderTemplate(
        templates[i].str,
        scope,
        "config.query" + fieldKey(names[i]),
        ENCODE_QUERY,
      );
      if (value.failure != null) return RequestPlan.failed(value.failure!);
      urlSecrets += value.secrets;
      pairs.push(percentEncode(names[i]) + "=" + value.text);
    }
  }
  plan.url = appendQuery(url.text, pairs);
  const forged = checkForged(plan.url, urlSecrets, "config.url");
  if (forged != null) return RequestPlan.failed(forged);

  // Headers: names are config keys (checked once), values are rendered.
  let hasContentType = false;
  const headers = spec.headers;
  if (headers != null) {
    const names = headers.keys!;
    const templates = headers.vals!;
    for (let i = 0; i < names.length; i++) {
      const name = names[i];
      const field = "config.headers" + fieldKey(name);
      if (!isToken(name)) {
        return RequestPlan.failed(configInvalid(field, "a header name must be an HTTP token"));
      }
      const lower = asciiLower(name);
      if (HOST_HEADERS.includes(lower)) {
        return RequestPlan.failed(
          configInvalid(field, "the http capability sets " + name + " itself"),
        );
      }
      for (let j = 0; j < i; j++) {
        if (asciiLower(names[j]) == lower) {
          return RequestPlan.failed(
            configInvalid(field, "header " + name + " is set twice (names ignore case)"),
          );
        }
      }
      const value = renderTemplate(templates[i].str, scope, field, ENCODE_NONE);
      if (value.failure != null) return RequestPlan.failed(value.failure!);
      const bad = badHeaderChar(value.text);
      if (bad >= 0) {
        return RequestPlan.failed(HandlerResult.fail(
          "header_invalid",
          "Cannot send header " + name + " as its rendered value has character " +
            codeUnitText(value.text.charCodeAt(bad)) + " at offset " + bad.toString() +
            "; header values must be printable ASCII",
          false,
          JsonValue.object().set("field", JsonValue.string(field)).set(
            "offset",
            JsonValue.number(f64(bad)),
          ),
        ));
      }
      const forgedHeader = checkForged(value.text, value.secrets, field);
      if (forgedHeader != null) return RequestPlan.failed(forgedHeader);
      if (lower == "content-type") hasContentType = true;
      plan.headerNames.push(name);
      plan.headerValues.push(value.text);
    }
  }

  // Body: a JSON template or a text template.
  if (bodyTemplate != null) {
    const rendered = renderJsonTemplate(bodyTemplate, scope, "config.body");
    if (rendered.failure != null) return RequestPlan.failed(rendered.failure!);
    const text = writeJson(rendered.value);
    const forgedBody = checkForged(text, rendered.secrets, "config.body");
    if (forgedBody != null) return RequestPlan.failed(forgedBody);
    plan.body = text;
    if (!hasContentType) {
      plan.headerNames.push("content-type");
      plan.headerValues.push("application/json");
    }
  } else if (bodyText != null) {
    const rendered = renderTemplate(bodyText, scope, "config.body_text", ENCODE_NONE);
    if (rendered.failure != null) return RequestPlan.failed(rendered.failure!);
    const forgedText = checkForged(rendered.text, rendered.secrets, "config.body_text");
    if (forgedText != null) return RequestPlan.failed(forgedText);
    plan.body = rendered.text;
    if (!hasContentType) {
      plan.headerNames.push("content-type");
      plan.headerValues.push("text/plain; charset=utf-8");
    }
  }
  return plan;
}

/**
 * Turns the exchange's outcome (the capability's response JSON, or
 * `{"error": {errno, code, message}}`) into the handler's result.
 *
 * @example
 * ```ts
 * import "../native/portable_runtime.ts";
 * import { fromJs, toJs } from "../native/js_bridge.ts";
 * import { finishExchange, HttpSpec, planExchange } from "./http_exchange.ts";
 *
 * const plan = planExchange(fromJs({}), HttpSpec.fromConfig(fromJs({ url: "https://x.example/" })));
 * const ok = finishExchange(plan, fromJs({
 *   status: 200, headers: { "content-type": "application/json" }, body: '{"a":1}', url: "https://x.example/",
 * }));
 * console.assert(JSON.stringify(toJs(ok.value!)) === '{"status":200,"body":{"a":1}}');
 * const busy = finishExchange(plan, fromJs({
 *   status: 429, headers: { "retry-after": "30" }, body: "", url: "https://x.example/",
 * }));
 * console.assert(busy.error!.retryable && busy.error!.code === "http_status");
 * ```
 */
export function finishExchange(plan: RequestPlan, outcome: JsonValue): HandlerResult {
  const spec = plan.spec;
  if (!outcome.isObject()) return malformedOutcome(plan, "it is " + outcome.typeName());
  const error = outcome.get("error");
  if (error != null) return hostFailure(plan, error);
  const statusValue = outcome.get("status");
  if (statusValue == null || !statusValue.isNumber()) {
    return malformedOutcome(plan, "it has no numeric status");
  }
  const status = i32(statusValue.num);
  const headersValue = outcome.get("headers");
  const headers = headersValue != null && headersValue.isObject()
    ? headersValue
    : JsonValue.object();
  const bodyValue = outcome.get("body");
  const base64Value = outcome.get("body_base64");
  const bodyText = bodyValue != null && bodyValue.isString() ? bodyValue.str : "";
  const isBinary = base64Value != null && base64Value.isString() &&
    (bodyValue == null || !bodyValue.isString());
  const urlValue = outcome.get("url");
  const finalUrl = urlValue != null && urlValue.isString() ? urlValue.str : plan.url;

  if (!statusExpected(status, spec.expected)) {
    return statusFailure(plan, status, headers, isBinary ? "" : bodyText, finalUrl);
  }
  if (spec.delivery) {
    return HandlerResult.ok(
      JsonValue.object()
        .set("delivered", JsonValue.bool(true))
        .set("status", JsonValue.number(f64(status))),
    );
  }

  let body: JsonValue = JsonValue.string(bodyText);
  if (isBinary) {
    body = JsonValue.null();
  } else if (isJsonMedia(headerText(headers, "content-type"))) {
    if (isBlank(bodyText)) {
      body = JsonValue.null();
    } else {
      const parsed = parseJson(bodyText);
      if (parsed.error != null) {
        return HandlerResult.fail(
          "response_invalid",
          "Cannot parse the response of " + plan.method + " " + clip(finalUrl, 200) +
            " as JSON (its content-type says JSON): " + parsed.error!,
          false,
          JsonValue.object()
            .set("status", JsonValue.number(f64(status)))
            .set("url", JsonValue.string(finalUrl)),
        );
      }
      body = parsed.value!;
    }
  }
  const view = JsonValue.object()
    .set("status", JsonValue.number(f64(status)))
    .set("headers", headers)
    .set("body", body);
  if (isBinary) view.set("body_base64", base64Value!);
  const extract = spec.responseExtract;
  if (extract != null) {
    const run = evalOne("config.response_extract", extract, view);
    if (run.failure != null) return run.failure!;
    return HandlerResult.ok(run.outputs[0]);
  }
  if (!spec.includeHeaders) view.remove("headers");
  return HandlerResult.ok(view);
}

/** The step between its two halves: the parsed envelope and the plan, or its end. */
export class HttpStep {
  envelope: JsonValue = JsonValue.null();
  plan: RequestPlan = new RequestPlan();
  /** Set when the step ended before any request: a bad envelope or config. */
  output: HandlerOutput | null = null;
}

/**
 * First half of an HTTP handler run: parses the envelope text and plans the
 * request. When `output` is set the step is over; otherwise send
 * `plan.requestJson()` and call {@link endHttpStep}.
 */
export function beginHttpStep(plan: PlanFn, envelopeText: string): HttpStep {
  const step = new HttpStep();
  const parsed = parseJson(envelopeText);
  if (parsed.error != null) {
    step.output = outputOf(HandlerResult.fail(
      "envelope_invalid",
      "Cannot parse the step envelope: " + parsed.error!,
      false,
      null,
    ));
    return step;
  }
  const envelope = parsed.value!;
  if (!envelope.isObject()) {
    step.output = outputOf(HandlerResult.fail(
      "envelope_invalid",
      "Cannot use the step envelope as it is " + envelope.typeName() + ", not an object",
      false,
      null,
    ));
    return step;
  }
  step.envelope = envelope;
  step.plan = plan(envelope);
  const failure = step.plan.failure;
  if (failure != null) step.output = outputOf(failure);
  return step;
}

/** Second half: the exchange's outcome JSON text → the handler's output. */
export function endHttpStep(step: HttpStep, finish: FinishFn, outcomeText: string): HandlerOutput {
  const parsed = parseJson(outcomeText);
  if (parsed.error != null) {
    return outputOf(malformedOutcome(step.plan, "it is not JSON: " + parsed.error!));
  }
  return outputOf(finish(step.envelope, step.plan, parsed.value!));
}

/**
 * The outcome text of a failed host call: `{"error": {errno, code, message}}`
 * from the errno and the capability's `last_error` JSON `{code, message}`.
 *
 * @example
 * ```ts
 * import "../native/portable_runtime.ts";
 * import { hostErrorOutcome } from "./http_exchange.ts";
 * console.assert(
 *   hostErrorOutcome(-6, '{"code":"timeout","message":"too slow"}') ===
 *     '{"error":{"errno":-6,"code":"timeout","message":"too slow"}}',
 * );
 * ```
 */
export function hostErrorOutcome(errno: i32, lastErrorJson: string): string {
  let code = "unknown";
  let message = "the http capability reported no details";
  const parsed = parseJson(lastErrorJson);
  const value = parsed.value;
  if (value != null && value.isObject()) {
    const c = value.get("code");
    if (c != null && c.isString()) code = c.str;
    const m = value.get("message");
    if (m != null && m.isString()) message = m.str;
  }
  return writeJson(
    JsonValue.object().set(
      "error",
      JsonValue.object()
        .set("errno", JsonValue.number(f64(errno)))
        .set("code", JsonValue.string(code))
        .set("message", JsonValue.string(message)),
    ),
  );
}

/** A handler result as output text, exactly as `runHandler` renders it (failure text cut alike). */
export function outputOf(result: HandlerResult): HandlerOutput {
  const out = new HandlerOutput();
  const error = result.error;
  if (error != null) {
    out.error = new HandlerError(
      cutText(error.code, FAILURE_CODE_MAX),
      cutText(error.message, FAILURE_MESSAGE_MAX),
      error.retryable,
      error.details,
    );
    const details = error.details;
    if (details != null) out.detailsJson = writeJson(details);
  } else {
    out.resultJson = writeJson(result.value!);
  }
  return out;
}

// ---------------------------------------------------------------------------
// Failures

function configInvalid(field: string, why: string): HandlerResult {
  return HandlerResult.fail(
    "config_invalid",
    "Cannot run the handler as its config is invalid: " + field + " " + why,
    false,
    JsonValue.object().set("field", JsonValue.string(field)),
  );
}

/**
 * Refuses a rendered text holding more `${secrets.` markers than the template
 * emitted: data (context, deps) must never name a secret, since the host
 * would substitute it.
 */
function checkForged(text: string, emitted: i32, field: string): HandlerResult | null {
  if (countSecretMarkers(text) <= emitted) return null;
  return HandlerResult.fail(
    "template_injection",
    "Cannot send the request as " + field + " renders a ${secrets. placeholder that its " +
      "template did not write (it came from data or from a $${ escape); the http capability " +
      "would substitute it",
    false,
    JsonValue.object().set("field", JsonValue.string(field)),
  );
}

function malformedOutcome(plan: RequestPlan, why: string): HandlerResult {
  return HandlerResult.fail(
    "internal",
    "Cannot use the outcome of " + plan.method + " " + clip(plan.url, 200) + " as " + why,
    false,
    null,
  );
}

/** Maps a failed host call to the handler's code and retryability. */
function hostFailure(plan: RequestPlan, error: JsonValue): HandlerResult {
  const errnoValue = error.isObject() ? error.get("errno") : null;
  const codeValue = error.isObject() ? error.get("code") : null;
  const messageValue = error.isObject() ? error.get("message") : null;
  const errno = errnoValue != null && errnoValue.isNumber() ? i32(errnoValue.num) : 0;
  const hostCode = codeValue != null && codeValue.isString() ? codeValue.str : "unknown";
  const hostMessage = messageValue != null && messageValue.isString() ? messageValue.str : "";
  let code = "internal";
  let retryable = false;
  let what = "the http capability failed";
  if (errno == ERRNO_TIMEOUT) {
    code = "http_timeout";
    retryable = true;
    what = "it timed out";
  } else if (errno == ERRNO_UNAVAILABLE) {
    code = "http_unavailable";
    retryable = true;
    what = "the server could not be reached";
  } else if (errno == ERRNO_RATE_LIMITED) {
    code = "http_rate_limited";
    retryable = true;
    what = "the http capability's rate limit is reached";
  } else if (errno == ERRNO_DENIED || errno == ERRNO_TOO_LARGE) {
    code = "http_denied";
    what = "the http capability's policy denied it";
  } else if (errno == ERRNO_INVALID_ARGUMENT || errno == ERRNO_NOT_FOUND) {
    code = "http_request_invalid";
    what = "the http capability refused the request";
  }
  return HandlerResult.fail(
    code,
    "Cannot send " + plan.method + " " + clip(plan.url, 200) + " as " + what + " (" + hostCode +
      "): " + hostMessage,
    retryable,
    JsonValue.object()
      .set("method", JsonValue.string(plan.method))
      .set("url", JsonValue.string(plan.url))
      .set("host_code", JsonValue.string(hostCode))
      .set("errno", JsonValue.number(f64(errno))),
  );
}

function statusFailure(
  plan: RequestPlan,
  status: i32,
  headers: JsonValue,
  bodyText: string,
  finalUrl: string,
): HandlerResult {
  const retryable = status == 429 || (status >= 500 && status <= 599);
  const details = JsonValue.object()
    .set("status", JsonValue.number(f64(status)))
    .set("method", JsonValue.string(plan.method))
    .set("url", JsonValue.string(finalUrl));
  if (bodyText.length > 0) details.set("body_excerpt", JsonValue.string(excerpt(bodyText)));
  let hintText = "";
  if (retryable) {
    const delay = retryAfterSeconds(headers);
    if (delay >= 0) {
      details.set(
        "backoff_hint",
        JsonValue.object()
          .set("backoff_type", JsonValue.string(status == 429 ? "RateLimit" : "ServerRequested"))
          .set("delay_seconds", JsonValue.number(delay)),
      );
      hintText = "; the server asks to retry after " + formatF64(delay) + " s";
    }
  }
  return HandlerResult.fail(
    "http_status",
    "Cannot use the response of " + plan.method + " " + clip(finalUrl, 200) + " as its status " +
      status.toString() + " is not expected (expected " + expectedText(plan.spec.expected) + ")" +
      hintText,
    retryable,
    details,
  );
}

// ---------------------------------------------------------------------------
// Status rules

/** Whether `status` matches `expected` (integers, or classes "1xx".."5xx"); null means 2xx. */
export function statusExpected(status: i32, expected: JsonValue | null): bool {
  if (expected == null) return status >= 200 && status <= 299;
  const items = expected.items!;
  for (let i = 0; i < items.length; i++) {
    const item = items[i];
    if (item.isNumber()) {
      if (item.num == f64(status)) return true;
    } else if (item.isString()) {
      const cls = statusClass(item.str);
      if (cls > 0 && i32(status / 100) == cls) return true;
    }
  }
  return false;
}

/** 1..5 for "1xx".."5xx" (case-insensitive x), else 0. */
function statusClass(text: string): i32 {
  if (text.length != 3) return 0;
  const d = text.charCodeAt(0) - 0x30;
  if (d < 1 || d > 5) return 0;
  for (let i = 1; i < 3; i++) {
    const c = text.charCodeAt(i);
    if (c != 0x78 && c != 0x58) return 0;
  }
  return d;
}

function expectedText(expected: JsonValue | null): string {
  if (expected == null) return "2xx";
  const parts = new Array<string>();
  const items = expected.items!;
  for (let i = 0; i < items.length; i++) {
    const item = items[i];
    parts.push(item.isString() ? item.str : writeJson(item));
  }
  return parts.join(", ");
}

// ---------------------------------------------------------------------------
// Retry-After

/**
 * Seconds a `Retry-After` header asks to wait, or -1 when there is none or
 * it cannot be read. Delay-seconds are taken as they are (capped at
 * {@link MAX_DELAY_SECONDS}); an HTTP date is measured from the response's
 * own `Date` header (the handler has no clock), and is ignored without one.
 *
 * @example
 * ```ts
 * import "../native/portable_runtime.ts";
 * import { fromJs } from "../native/js_bridge.ts";
 * import { retryAfterSeconds } from "./http_exchange.ts";
 * console.assert(retryAfterSeconds(fromJs({ "retry-after": "120" })) === 120);
 * console.assert(retryAfterSeconds(fromJs({
 *   "retry-after": "Wed, 21 Oct 2015 07:28:30 GMT",
 *   date: "Wed, 21 Oct 2015 07:28:00 GMT",
 * })) === 30);
 * ```
 */
export function retryAfterSeconds(headers: JsonValue): f64 {
  const raw = headerText(headers, "retry-after");
  if (raw == null) return -1;
  const text = trimSpaces(raw);
  if (text.length == 0) return -1;
  if (allAsciiDigits(text)) {
    const seconds = parseF64(stripLeadingZeros(text));
    return seconds > MAX_DELAY_SECONDS ? MAX_DELAY_SECONDS : seconds;
  }
  const at = parseHttpDate(text);
  if (at != at) return -1;
  const dateText = headerText(headers, "date");
  if (dateText == null) return -1;
  const now = parseHttpDate(trimSpaces(dateText));
  if (now != now) return -1;
  const delay = at - now;
  if (delay <= 0) return 0;
  return delay > MAX_DELAY_SECONDS ? MAX_DELAY_SECONDS : delay;
}

const MONTHS: Array<string> = [
  "Jan",
  "Feb",
  "Mar",
  "Apr",
  "May",
  "Jun",
  "Jul",
  "Aug",
  "Sep",
  "Oct",
  "Nov",
  "Dec",
];
const DAYS: Array<string> = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
const LONG_DAYS: Array<string> = [
  "Monday",
  "Tuesday",
  "Wednesday",
  "Thursday",
  "Friday",
  "Saturday",
  "Sunday",
];

/**
 * Seconds since the Unix epoch of an HTTP date (RFC 9110 §5.6.7): IMF-fixdate
 * `Sun, 06 Nov 1994 08:49:37 GMT`, the obsolete RFC 850
 * `Sunday, 06-Nov-94 08:49:37 GMT` (two-digit years below 70 are 20xx) and
 * asctime `Sun Nov  6 08:49:37 1994`. NaN when `text` is none of these.
 *
 * @example
 * ```ts
 * import "../native/portable_runtime.ts";
 * import { parseHttpDate } from "./http_exchange.ts";
 * console.assert(parseHttpDate("Sun, 06 Nov 1994 08:49:37 GMT") === 784111777);
 * console.assert(parseHttpDate("Sunday, 06-Nov-94 08:49:37 GMT") === 784111777);
 * console.assert(parseHttpDate("Sun Nov  6 08:49:37 1994") === 784111777);
 * console.assert(Number.isNaN(parseHttpDate("tomorrow")));
 * ```
 */
export function parseHttpDate(text: string): f64 {
  const t = splitSpaces(text);
  if (t.length == 6 && isDayName(t[0], true) && t[5] == "GMT") {
    if (t[1].length != 2) return NaN;
    return civilSeconds(digitsValue(t[3], 4), monthOf(t[2]), digitsValue(t[1], 2), t[4]);
  }
  if (t.length == 4 && isDayName(t[0], true) && t[3] == "GMT") {
    const d = t[1];
    if (d.length != 9 || d.charCodeAt(2) != 0x2d || d.charCodeAt(6) != 0x2d) return NaN;
    const yy = digitsValue(d.substring(7, 9), 2);
    if (yy < 0) return NaN;
    return civilSeconds(
      yy < 70 ? 2000 + yy : 1900 + yy,
      monthOf(d.substring(3, 6)),
      digitsValue(d.substring(0, 2), 2),
      t[2],
    );
  }
  if (t.length == 5 && isDayName(t[0], false)) {
    const day = t[2].length == 1 ? digitsValue(t[2], 1) : digitsValue(t[2], 2);
    return civilSeconds(digitsValue(t[4], 4), monthOf(t[1]), day, t[3]);
  }
  return NaN;
}

function isDayName(token: string, withComma: bool): bool {
  let name = token;
  if (withComma) {
    if (token.length < 2 || token.charCodeAt(token.length - 1) != 0x2c) return false;
    name = token.substring(0, token.length - 1);
  }
  return DAYS.includes(name) || (withComma && LONG_DAYS.includes(name));
}

/** 1..12, or 0 when `name` is no month abbreviation. */
function monthOf(name: string): i32 {
  for (let i = 0; i < 12; i++) {
    if (MONTHS[i] == name) return i + 1;
  }
  return 0;
}

/** The value of exactly `count` ASCII digits, or -1. */
function digitsValue(text: string, count: i32): i32 {
  if (text.length != count) return -1;
  let value = 0;
  for (let i = 0; i < count; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x30 || c > 0x39) return -1;
    value = value * 10 + (c - 0x30);
  }
  return value;
}

/** Epoch seconds of a proleptic Gregorian UTC date and `HH:MM:SS`; NaN when out of range. */
function civilSeconds(year: i32, month: i32, day: i32, time: string): f64 {
  if (year < 1 || month < 1 || day < 1 || day > daysInMonth(year, month)) return NaN;
  if (time.length != 8 || time.charCodeAt(2) != 0x3a || time.charCodeAt(5) != 0x3a) return NaN;
  const h = digitsValue(time.substring(0, 2), 2);
  const m = digitsValue(time.substring(3, 5), 2);
  const s = digitsValue(time.substring(6, 8), 2);
  if (h < 0 || h > 23 || m < 0 || m > 59 || s < 0 || s > 60) return NaN;
  // Days from civil (H. Hinnant); year >= 1, so every division is of non-negatives.
  const y = month <= 2 ? year - 1 : year;
  const era = i32(y / 400);
  const yoe = y - era * 400;
  const mp = month > 2 ? month - 3 : month + 9;
  const doy = i32((153 * mp + 2) / 5) + day - 1;
  const doe = yoe * 365 + i32(yoe / 4) - i32(yoe / 100) + doy;
  const days = f64(era) * 146097 + f64(doe) - 719468;
  return days * 86400 + f64(h * 3600 + m * 60 + s);
}

function daysInMonth(year: i32, month: i32): i32 {
  if (month == 2) {
    const leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    return leap ? 29 : 28;
  }
  if (month == 4 || month == 6 || month == 9 || month == 11) return 30;
  return month <= 12 ? 31 : 0;
}

// ---------------------------------------------------------------------------
// Text helpers

/** A header's value from the response's lower-case header object, or null. */
function headerText(headers: JsonValue, name: string): string | null {
  const v = headers.get(name);
  return v != null && v.isString() ? v.str : null;
}

/** `application/json` or any `+json` media type (parameters ignored). */
function isJsonMedia(contentType: string | null): bool {
  if (contentType == null) return false;
  let end = contentType.indexOf(";");
  if (end < 0) end = contentType.length;
  const media = asciiLower(trimSpaces(contentType.substring(0, end)));
  return media == "application/json" ||
    (media.length > 5 && media.indexOf("/") > 0 &&
      media.substring(media.length - 5) == "+json");
}

function hasHttpScheme(url: string): bool {
  const lower = asciiLower(url.substring(0, 8));
  return lower.startsWith("http://") || lower.startsWith("https://");
}

/** `url` with `pairs` appended to its query (before any fragment). */
function appendQuery(url: string, pairs: Array<string>): string {
  if (pairs.length == 0) return url;
  const hash = url.indexOf("#");
  const base = hash < 0 ? url : url.substring(0, hash);
  const fragment = hash < 0 ? "" : url.substring(hash);
  let sep = "?";
  if (base.indexOf("?") >= 0) {
    const last = base.charCodeAt(base.length - 1);
    sep = last == 0x3f || last == 0x26 ? "" : "&";
  }
  return base + sep + pairs.join("&") + fragment;
}

/** `.name` or `["odd name"]` for a config field path. */
function fieldKey(name: string): string {
  return isToken(name) && name.indexOf(".") < 0 ? "." + name : "[" + quoteJsonString(name) + "]";
}

/** RFC 9110 token: one or more of ``!#$%&'*+-.^_`|~`` and ASCII letters and digits. */
function isToken(text: string): bool {
  if (text.length == 0) return false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    const ok = (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5a) ||
      (c >= 0x61 && c <= 0x7a) || c == 0x21 || (c >= 0x23 && c <= 0x27) || c == 0x2a ||
      c == 0x2b || c == 0x2d || c == 0x2e || c == 0x5e || c == 0x5f || c == 0x60 ||
      c == 0x7c || c == 0x7e;
    if (!ok) return false;
  }
  return true;
}

/** Offset of the first character a header value may not hold (not tab or printable ASCII), or -1. */
function badHeaderChar(value: string): i32 {
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c != 0x09 && (c < 0x20 || c > 0x7e)) return i;
  }
  return -1;
}

function codeUnitText(c: i32): string {
  const hex = "0123456789ABCDEF";
  return "U+" + hex.charAt((c >> 12) & 15) + hex.charAt((c >> 8) & 15) +
    hex.charAt((c >> 4) & 15) + hex.charAt(c & 15);
}

function asciiLower(text: string): string {
  let i = 0;
  while (i < text.length) {
    const c = text.charCodeAt(i);
    if (c >= 0x41 && c <= 0x5a) break;
    i++;
  }
  if (i == text.length) return text;
  const parts = new Array<string>();
  parts.push(text.substring(0, i));
  for (; i < text.length; i++) {
    const c = text.charCodeAt(i);
    parts.push(c >= 0x41 && c <= 0x5a ? String.fromCharCode(c + 32) : text.charAt(i));
  }
  return parts.join("");
}

function isSpace(c: i32): bool {
  return c == 0x20 || c == 0x09;
}

function trimSpaces(text: string): string {
  let start = 0;
  let end = text.length;
  while (start < end && isSpace(text.charCodeAt(start))) start++;
  while (end > start && isSpace(text.charCodeAt(end - 1))) end--;
  return start == 0 && end == text.length ? text : text.substring(start, end);
}

function isBlank(text: string): bool {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c != 0x20 && c != 0x09 && c != 0x0a && c != 0x0d) return false;
  }
  return true;
}

function splitSpaces(text: string): Array<string> {
  const out = new Array<string>();
  let i = 0;
  const n = text.length;
  while (i < n) {
    while (i < n && isSpace(text.charCodeAt(i))) i++;
    const start = i;
    while (i < n && !isSpace(text.charCodeAt(i))) i++;
    if (i > start) out.push(text.substring(start, i));
  }
  return out;
}

function allAsciiDigits(text: string): bool {
  if (text.length == 0) return false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x30 || c > 0x39) return false;
  }
  return true;
}

function stripLeadingZeros(digits: string): string {
  let i = 0;
  while (i < digits.length - 1 && digits.charCodeAt(i) == 0x30) i++;
  return digits.substring(i);
}

/** At most `max` code units of `text` (never half a surrogate pair), with "..." when cut. */
function clip(text: string, max: i32): string {
  if (text.length <= max) return text;
  let end = max;
  const last = text.charCodeAt(end - 1);
  if (last >= 0xd800 && last <= 0xdbff) end--;
  return text.substring(0, end) + "...";
}

function excerpt(text: string): string {
  return clip(text, BODY_EXCERPT_CHARS);
}
