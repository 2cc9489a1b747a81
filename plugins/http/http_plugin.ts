/**
 * The `http` capability: outbound HTTP(S) requests under a deny-by-default
 * policy. The sandbox half checks each request (method, headers, size, URL
 * against allow/deny patterns, the resolved addresses against the private
 * ranges) and sends it with `fetch`; the broker half resolves host names and
 * keeps the per-handler rate limit and concurrency cap, so those hold across
 * every sandbox process. `${secrets.NAME}` placeholders in a request are
 * filled in on the host side (secret_placeholders.ts), so the guest never
 * holds the values. See docs/capabilities/http.md.
 *
 * @module
 */
import { z } from "zod";
import type {
  CapabilityContext,
  CapabilityPlugin,
  StepInfo,
} from "../../src/capability/capability_plugin.ts";
import { GuestFault, WasmBrokerError } from "../../src/errors.ts";
import { DEFAULT_SECRET_ENV_PREFIX, envSecretSource, type SecretSource } from "../secrets/mod.ts";
import { checkHeaders } from "./header_policy.ts";
import { type ExchangeResult, performExchange } from "./http_exchange.ts";
import { type HttpPolicy, HttpPolicySchema } from "./http_policy_schema.ts";
import { netHosts } from "./net_hosts.ts";
import { clip } from "./normalize_url.ts";
import { RateLimiter, type RateLimitRule } from "./rate_limiter.ts";
import { prepareSecretPlaceholders, StepSecrets } from "./secret_placeholders.ts";
import { type Lookup, systemLookup } from "./system_lookup.ts";
import { allowedMethod, checkUrl, compileHttpPolicy } from "./url_policy.ts";
import { hostMatches } from "./url_pattern.ts";

/**
 * Options for {@link httpPlugin}. All of them are injected effects for tests
 * in this process; a sandbox process re-creates the plugin with defaults.
 */
export interface HttpPluginOptions {
  /** Sends requests (sandbox half). Defaults to `globalThis.fetch`. */
  fetch?: typeof fetch;
  /** Resolves host names (broker half). Defaults to {@link systemLookup}. */
  lookup?: Lookup;
  /** Milliseconds clock of the rate limiter (broker half). Defaults to `performance.now`. */
  now?: () => number;
  /**
   * Where the broker half reads the values of `capabilities.http.secrets`
   * (pass the `secrets` capability's source). Defaults to the broker's
   * environment with the prefix `WASM_BROKER_SECRET_`, like `secretsPlugin()`.
   */
  secrets?: SecretSource;
}

/** Extra lifetime of a rate-limit lease beyond the request timeout, for scheduling slack. */
const LEASE_SLACK_MS = 5_000;
// Base64 grows a body by 4/3; the rest of the request JSON (URL, headers) gets 64 KiB.
const REQUEST_JSON_OVERHEAD = 64 * 1024;

const RequestSchema = z.strictObject({
  method: z.string().max(64).default("GET"),
  url: z.string().max(16 * 1024),
  headers: z.record(z.string(), z.unknown()).optional(),
  body: z.string().optional(),
  body_base64: z.string().optional(),
  /** The guest's own deadline for this request; the policy's `timeout_ms` still caps it. */
  timeout_ms: z.number().int().min(1).max(15 * 60 * 1000).optional(),
});

const AcquireAnswer = z.union([
  z.object({ ok: z.literal(true), lease: z.string().nullable() }),
  z.object({
    ok: z.literal(false),
    reason: z.enum(["rate", "concurrency"]),
    retry_after_ms: z.number(),
  }),
]);
const ResolveAnswer = z.union([
  z.object({ addresses: z.array(z.string()) }),
  z.object({ error: z.string() }),
]);

const encoder = new TextEncoder();

function limitRule(policy: HttpPolicy): RateLimitRule | null {
  if (!policy.rate_limit && policy.max_concurrent === undefined) return null;
  return {
    rate: policy.rate_limit &&
      { requests: policy.rate_limit.requests, perMs: policy.rate_limit.per_ms },
    maxConcurrent: policy.max_concurrent,
    leaseTtlMs: policy.timeout_ms + LEASE_SLACK_MS,
  };
}

/** Rejects with the signal's reason when it aborts first. */
function abortable<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener("abort", onAbort, { once: true });
    promise.then(resolve, reject).finally(() => signal.removeEventListener("abort", onAbort));
  });
}

/**
 * Creates the `http` capability plugin.
 *
 * @example
 * ```ts
 * import { httpPlugin } from "./http_plugin.ts";
 * const plugin = httpPlugin();
 * console.assert(plugin.name === "http" && plugin.functions.request.async === true);
 * const policy = plugin.schema.parse({ allow: ["https://api.example.com/v1"] });
 * console.assert(plugin.netHosts!(policy)[0] === "api.example.com:443");
 * ```
 */
export function httpPlugin(options: HttpPluginOptions = {}): CapabilityPlugin<HttpPolicy> {
  const lookup = options.lookup ?? systemLookup;
  const limiter = new RateLimiter({ now: options.now });
  const secretSource = options.secrets ?? envSecretSource(DEFAULT_SECRET_ENV_PREFIX);

  async function onBrokerCall(
    policy: HttpPolicy,
    step: StepInfo,
    op: string,
    payload: unknown,
  ): Promise<unknown> {
    const body = (payload ?? {}) as Record<string, unknown>;
    switch (op) {
      case "acquire": {
        const rule = limitRule(policy);
        if (!rule) return { ok: true, lease: null };
        const got = limiter.acquire(step.handler, rule);
        return got.ok
          ? { ok: true, lease: got.lease }
          : { ok: false, reason: got.reason, retry_after_ms: got.retryAfterMs };
      }
      case "release":
        return {
          released: typeof body.lease === "string" && limiter.release(step.handler, body.lease),
        };
      case "resolve": {
        const host = body.host;
        // The broker resolves only names the policy allows: it is no open resolver.
        if (
          typeof host !== "string" ||
          !compileHttpPolicy(policy).allow.some((p) => hostMatches(p, host))
        ) {
          return {
            error: `host ${JSON.stringify(clip(String(host)))} is not allowed by the policy`,
          };
        }
        try {
          return { addresses: await lookup(host) };
        } catch (error) {
          return { error: (error as Error).message ?? String(error) };
        }
      }
      default:
        throw new WasmBrokerError(
          "internal",
          `Cannot answer broker call "http.${op}" as no such operation exists`,
        );
    }
  }

  return {
    name: "http",
    description:
      "Outbound HTTP(S) requests to allowlisted URLs, with address, size, time and rate limits",
    schema: HttpPolicySchema,
    functions: {
      request: {
        params: ["i32", "i32"],
        results: ["i32"],
        async: true,
        doc:
          "Sends the request JSON {method, url, headers?, body? | body_base64?} at ptr; stages the response JSON {status, headers, body | body_base64, url} and returns its length, or a negative errno",
      },
    },
    defaultBudget: 1_000,
    source: { module: import.meta.url, factory: "httpPlugin" },
    netHosts,
    prepareStep: (policy) => prepareSecretPlaceholders(policy.secrets, secretSource),
    onBrokerCall,
    instantiate(ctx) {
      const fetchFn = options.fetch ?? globalThis.fetch;
      const secrets = new StepSecrets(ctx.policy.secrets, ctx.data);
      return {
        request: (ptr: number, len: number) => request(ctx, secrets, fetchFn, ptr, len),
      };
    },
  };
}

/**
 * A view of `ctx` whose denials and failures never carry a secret value:
 * the guest reads their messages with `http.last_error`.
 */
function sanitizedContext(
  ctx: CapabilityContext<HttpPolicy>,
  secrets: StepSecrets,
): CapabilityContext<HttpPolicy> {
  if (!secrets.active) return ctx;
  const view = Object.create(ctx) as CapabilityContext<HttpPolicy> & {
    deny: CapabilityContext<HttpPolicy>["deny"];
    fail: CapabilityContext<HttpPolicy>["fail"];
  };
  view.deny = (errno, code, message) => ctx.deny(errno, code, secrets.sanitize(message));
  view.fail = (errno, code, message) => ctx.fail(errno, code, secrets.sanitize(message));
  return view;
}

async function request(
  guestCtx: CapabilityContext<HttpPolicy>,
  secrets: StepSecrets,
  fetchFn: typeof fetch,
  ptr: number,
  len: number,
): Promise<number> {
  const ctx = sanitizedContext(guestCtx, secrets);
  const compiled = compileHttpPolicy(ctx.policy);
  const { policy } = compiled;
  const size = len >>> 0;
  if (size > Math.ceil(policy.max_request_bytes * 4 / 3) + REQUEST_JSON_OVERHEAD) {
    ctx.memory.view(ptr, len); // a bad pointer is still the guest's fault
    return ctx.deny(
      "too_large",
      "too_large",
      `Cannot send a request of ${size} bytes of JSON as max_request_bytes is ${policy.max_request_bytes}`,
    );
  }
  const text = ctx.memory.readString(ptr, len);
  let parsed: z.output<typeof RequestSchema>;
  try {
    parsed = RequestSchema.parse(JSON.parse(text ?? ""));
  } catch {
    return ctx.fail(
      "invalid_argument",
      "request_invalid",
      'expected UTF-8 JSON {"method"?: string, "url": string, "headers"?: {name: value}, "body"?: string, "body_base64"?: string}',
    );
  }
  // `${secrets.NAME}` placeholders are filled in before any check, so every check sees what is sent.
  const substituted = secrets.substitute(parsed);
  if (!substituted.ok) {
    return substituted.kind === "deny"
      ? ctx.deny(substituted.errno, substituted.code, substituted.message)
      : ctx.fail(substituted.errno, substituted.code, substituted.message);
  }
  parsed = { ...parsed, ...substituted.request };
  const method = allowedMethod(parsed.method, compiled);
  if (method === null) {
    return ctx.deny(
      "denied",
      "method_denied",
      `Cannot send a ${clip(JSON.stringify(parsed.method), 40)} request as the policy allows only ${
        [...compiled.methods].join(", ")
      }`,
    );
  }
  const headers = checkHeaders(parsed.headers);
  if (!headers.allowed) return ctx.deny("denied", "header_invalid", headers.message);
  let body: Uint8Array<ArrayBuffer> | null = null;
  if (parsed.body !== undefined && parsed.body_base64 !== undefined) {
    return ctx.fail(
      "invalid_argument",
      "request_invalid",
      "Cannot send a request with both body and body_base64",
    );
  }
  if (parsed.body !== undefined) body = encoder.encode(parsed.body);
  if (parsed.body_base64 !== undefined) {
    try {
      body = Uint8Array.fromBase64(parsed.body_base64);
    } catch {
      return ctx.fail(
        "invalid_argument",
        "request_invalid",
        "Cannot decode body_base64 as it is no valid base64",
      );
    }
  }
  if (body !== null && (method === "GET" || method === "HEAD")) {
    return ctx.fail(
      "invalid_argument",
      "request_invalid",
      `Cannot send a body with a ${method} request`,
    );
  }
  if (body !== null && body.length > policy.max_request_bytes) {
    return ctx.deny(
      "too_large",
      "too_large",
      `Cannot send a body of ${body.length} bytes as max_request_bytes is ${policy.max_request_bytes}`,
    );
  }
  const url = checkUrl(parsed.url, compiled);
  if (!url.allowed) {
    return url.code === "url_invalid"
      ? ctx.fail("invalid_argument", url.code, url.message)
      : ctx.deny("denied", url.code, url.message);
  }

  // One deadline for the whole exchange: the policy's timeout or the step's, whichever is first.
  const controller = new AbortController();
  let timedOut = false;
  const timeoutMs = Math.min(policy.timeout_ms, parsed.timeout_ms ?? policy.timeout_ms);
  const timer = setTimeout(() => {
    timedOut = true;
    controller.abort(new DOMException("request timed out", "TimeoutError"));
  }, timeoutMs);
  const onStepAbort = () => controller.abort(ctx.signal.reason);
  if (ctx.signal.aborted) onStepAbort();
  else ctx.signal.addEventListener("abort", onStepAbort, { once: true });
  const signal = controller.signal;
  let lease: string | null = null;
  try {
    const acquired = await acquireLease(ctx, signal);
    if (!acquired.ok) return acquired.errno;
    lease = acquired.lease;
    const result: ExchangeResult = await performExchange({
      method,
      target: url.target,
      headers: headers.headers,
      body,
    }, {
      policy: compiled,
      fetch: fetchFn,
      signal,
      resolve: async (host) => {
        const answer = ResolveAnswer.parse(
          await abortable(ctx.callBroker("resolve", { host }), signal),
        );
        if ("error" in answer) throw new Error(answer.error);
        return answer.addresses;
      },
    });
    if (!result.ok) {
      return result.kind === "deny"
        ? ctx.deny(result.errno, result.code, result.message)
        : ctx.fail(result.errno, result.code, result.message);
    }
    const response = secrets.guardResponse(result.response, substituted.used);
    return ctx.stage(encoder.encode(JSON.stringify(response)));
  } catch (error) {
    if (ctx.signal.aborted) {
      throw new GuestFault(
        "timeout",
        secrets.sanitize(
          `Cannot finish http.request to ${
            clip(url.target.url.href)
          } as the step's deadline passed`,
        ),
        { retryable: true },
      );
    }
    if (timedOut) {
      return ctx.deny(
        "timeout",
        "timeout",
        `Cannot finish request to ${
          clip(url.target.url.href)
        } as it took longer than timeout_ms ${timeoutMs}`,
      );
    }
    if (error instanceof Deno.errors.NotCapable || error instanceof Deno.errors.PermissionDenied) {
      return ctx.deny(
        "denied",
        "sandbox_denied",
        `Cannot reach ${clip(url.target.url.href)} as the sandbox's network permission refuses it`,
      );
    }
    if (error instanceof GuestFault) throw error;
    return ctx.fail(
      "unavailable",
      "network_error",
      `Cannot complete request to ${clip(url.target.url.href)}: ${
        clip(String((error as Error)?.message ?? error), 200)
      }`,
    );
  } finally {
    clearTimeout(timer);
    ctx.signal.removeEventListener("abort", onStepAbort);
    // Awaited so the guest's next request sees the slot free, even across IPC.
    if (lease !== null) {
      await abortable(ctx.callBroker("release", { lease }), ctx.signal).catch(() => {});
    }
  }
}

/** Asks the broker half for a rate-limit lease when the policy sets limits. */
async function acquireLease(
  ctx: CapabilityContext<HttpPolicy>,
  signal: AbortSignal,
): Promise<{ ok: true; lease: string | null } | { ok: false; errno: number }> {
  if (!limitRule(ctx.policy)) return { ok: true, lease: null };
  const pending = ctx.callBroker("acquire", {});
  let answer: z.output<typeof AcquireAnswer>;
  try {
    answer = AcquireAnswer.parse(await abortable(pending, signal));
  } catch (error) {
    // A lease granted after we gave up must still go back.
    pending.then((late) => {
      const parsed = AcquireAnswer.safeParse(late);
      if (parsed.success && parsed.data.ok && parsed.data.lease) {
        ctx.callBroker("release", { lease: parsed.data.lease }).catch(() => {});
      }
    }).catch(() => {});
    if (signal.aborted) throw error;
    return {
      ok: false,
      errno: ctx.fail(
        "unavailable",
        "broker_unavailable",
        `Cannot get a rate-limit lease from the broker: ${
          clip(String((error as Error)?.message ?? error), 200)
        }`,
      ),
    };
  }
  if (answer.ok) return { ok: true, lease: answer.lease };
  const what = answer.reason === "rate"
    ? `rate_limit ${ctx.policy.rate_limit?.requests} per ${ctx.policy.rate_limit?.per_ms} ms`
    : `max_concurrent ${ctx.policy.max_concurrent}`;
  return {
    ok: false,
    errno: ctx.deny(
      "rate_limited",
      "rate_limited",
      `Cannot send request as handler "${ctx.step.handler}" reached its ${what}: retry in ${answer.retry_after_ms} ms`,
    ),
  };
}
