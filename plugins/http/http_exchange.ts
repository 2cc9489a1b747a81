/**
 * One guest request as the `http` capability carries it out: the address
 * check of every hop, `fetch` with redirects handled by hand (each hop is
 * re-checked against the whole policy), and the response body read under
 * its cap while it streams: the read stops and the connection is dropped as
 * soon as the cap is passed, so no more than the cap plus one chunk is ever
 * held.
 *
 * Policy refusals come back as values; network errors and aborts are thrown
 * for the caller to classify (it knows which deadline fired).
 *
 * @module
 */
import { joinedHeaders, readCappedBody } from "./read_capped_body.ts";
import type { HostErrnoName } from "../../src/capability/capability_plugin.ts";
import { checkAddress } from "./address_policy.ts";
import { clip, type NormalizedUrl } from "./normalize_url.ts";
import { allowedMethod, checkUrl, type CompiledHttpPolicy } from "./url_policy.ts";

/** A checked request, ready to send. */
export interface ExchangeRequest {
  /** Upper-case, allowed method. */
  readonly method: string;
  /** The first hop, already allowed by {@link checkUrl}. */
  readonly target: NormalizedUrl;
  readonly headers: readonly (readonly [string, string])[];
  readonly body: Uint8Array<ArrayBuffer> | null;
}

/** Effects and context of one exchange. */
export interface ExchangeContext {
  readonly policy: CompiledHttpPolicy;
  readonly fetch: typeof fetch;
  /** Resolves a host name to IP addresses; rejects when it cannot. */
  readonly resolve: (host: string) => Promise<string[]>;
  /** Aborted when the request's or the step's deadline passes. */
  readonly signal: AbortSignal;
}

/** What the guest receives on success (as JSON). */
export interface GuestResponse {
  status: number;
  headers: Record<string, string>;
  /** The body as text when it is valid UTF-8. */
  body?: string;
  /** The body in base64 when it is not valid UTF-8. */
  body_base64?: string;
  /** The URL of the final hop. */
  url: string;
}

/** A refusal or error to hand the guest. */
export interface ExchangeRefusal {
  /** `deny` is a policy decision (counted); `fail` an error (not counted). */
  readonly kind: "deny" | "fail";
  readonly errno: HostErrnoName;
  readonly code: string;
  readonly message: string;
}

/** Result of {@link performExchange}. */
export type ExchangeResult =
  | { readonly ok: true; readonly response: GuestResponse }
  | ({ readonly ok: false } & ExchangeRefusal);

const REDIRECTS = new Set([301, 302, 303, 307, 308]);
// Headers that describe the body; dropped when a redirect turns the request into a GET.
const BODY_HEADERS = new Set([
  "content-type",
  "content-encoding",
  "content-language",
  "content-location",
]);
// Credentials never follow a redirect to another origin.
const CREDENTIAL_HEADERS = new Set(["authorization", "cookie"]);
const utf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

const refuse = (
  kind: "deny" | "fail",
  errno: HostErrnoName,
  code: string,
  message: string,
): ExchangeResult => ({ ok: false, kind, errno, code, message });

/**
 * Sends `request`, following redirects as the policy allows.
 *
 * @example
 * ```ts
 * import { HttpPolicySchema } from "./http_policy_schema.ts";
 * import { normalizeRequestUrl, type NormalizedUrl } from "./normalize_url.ts";
 * import { compileHttpPolicy } from "./url_policy.ts";
 * import { performExchange } from "./http_exchange.ts";
 * const policy = compileHttpPolicy(HttpPolicySchema.parse({ allow: ["https://api.example.com"] }));
 * const result = await performExchange({
 *   method: "GET",
 *   target: normalizeRequestUrl("https://api.example.com/") as NormalizedUrl,
 *   headers: [],
 *   body: null,
 * }, {
 *   policy,
 *   fetch: () => Promise.resolve(new Response("hi")),
 *   resolve: () => Promise.resolve(["93.184.215.14"]),
 *   signal: new AbortController().signal,
 * });
 * console.assert(result.ok && result.response.body === "hi");
 * ```
 */
export async function performExchange(
  request: ExchangeRequest,
  context: ExchangeContext,
): Promise<ExchangeResult> {
  const { policy } = context;
  let target = request.target;
  let method = request.method;
  let body = request.body;
  let headers = request.headers;
  for (let hop = 0;; hop++) {
    const addressRefusal = await checkAddresses(target, context, hop);
    if (addressRefusal) return addressRefusal;
    const response = await context.fetch(target.url, {
      method,
      headers: headers as [string, string][],
      body,
      redirect: "manual",
      signal: context.signal,
    });
    const location = response.headers.get("location");
    if (!REDIRECTS.has(response.status) || location === null || policy.policy.redirects === 0) {
      return await readResponse(response, target, context);
    }
    // Drop the redirect's own body without reading it.
    response.body?.cancel().catch(() => {});
    if (hop >= policy.policy.redirects) {
      return refuse(
        "deny",
        "denied",
        "redirect_denied",
        `Cannot follow redirect to "${
          clip(location)
        }" as the policy allows ${policy.policy.redirects} redirects`,
      );
    }
    const next = checkUrl(location, policy, target.url);
    if (!next.allowed) {
      return refuse(
        "deny",
        "denied",
        "redirect_denied",
        `Cannot follow redirect (${next.code}): ${next.message}`,
      );
    }
    // Fetch's rules: 303 turns anything but HEAD into GET; 301/302 turn POST into GET.
    const toGet = (response.status === 303 && method !== "HEAD") ||
      ((response.status === 301 || response.status === 302) && method === "POST");
    if (toGet) {
      method = "GET";
      body = null;
      headers = headers.filter(([name]) => !BODY_HEADERS.has(name.toLowerCase()));
      if (allowedMethod(method, policy) === null) {
        return refuse(
          "deny",
          "denied",
          "redirect_denied",
          `Cannot follow redirect to ${
            clip(next.target.url.href)
          } as it turns the request into a GET, which the policy does not allow`,
        );
      }
    }
    if (next.target.url.origin !== target.url.origin) {
      headers = headers.filter(([name]) => !CREDENTIAL_HEADERS.has(name.toLowerCase()));
    }
    target = next.target;
  }
}

/** Checks the address(es) the hop would connect to; a refusal, or null when all are allowed. */
async function checkAddresses(
  target: NormalizedUrl,
  context: ExchangeContext,
  hop: number,
): Promise<ExchangeResult | null> {
  let addresses: string[];
  if (target.ip !== null) {
    addresses = [target.ip];
  } else {
    try {
      addresses = await context.resolve(target.host);
    } catch (error) {
      context.signal.throwIfAborted();
      return refuse(
        "fail",
        "unavailable",
        "dns_failed",
        `Cannot resolve "${target.host}": ${(error as Error).message ?? String(error)}`,
      );
    }
    if (addresses.length === 0) {
      return refuse("fail", "unavailable", "dns_failed", `Cannot resolve "${target.host}"`);
    }
  }
  // Every address must pass: fetch may connect to any of them.
  for (const address of addresses) {
    const decision = checkAddress(address, context.policy.grants, {
      host: target.ip === null ? target.host : undefined,
    });
    if (decision.allowed) continue;
    const { message } = decision;
    return hop === 0
      ? refuse("deny", "denied", "address_denied", message)
      : refuse("deny", "denied", "redirect_denied", `Cannot follow redirect: ${message}`);
  }
  return null;
}

/** Reads the body under the cap and builds the guest's response. */
async function readResponse(
  response: Response,
  target: NormalizedUrl,
  context: ExchangeContext,
): Promise<ExchangeResult> {
  const cap = context.policy.policy.max_response_bytes;
  const tooLarge = (seen: string) =>
    refuse(
      "deny",
      "too_large",
      "too_large",
      `Cannot read the response of ${
        clip(target.url.href)
      } as its body (${seen}) exceeds max_response_bytes ${cap}`,
    );
  const body = await readCappedBody(response, cap);
  if (!body.ok) return tooLarge(body.seen);
  const bytes = body.bytes;
  const headers = joinedHeaders(response);
  const result: GuestResponse = { status: response.status, headers, url: target.url.href };
  try {
    result.body = utf8.decode(bytes);
  } catch {
    result.body_base64 = bytes.toBase64();
  }
  return { ok: true, response: result };
}
