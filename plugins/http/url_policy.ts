/**
 * The URL and method checks of the `http` capability: a parsed policy is
 * compiled once (patterns, method set, address grants), then every request
 * URL, including every redirect target, is normalized and matched: deny
 * patterns first (deny wins), then allow patterns. A refusal names the most
 * specific reason (`scheme_denied`, `host_denied`, `port_denied`,
 * `path_denied`) so operators see what to change.
 *
 * @module
 */
import { type Cidr, parseCidr } from "./address_policy.ts";
import type { HttpPolicy } from "./http_policy_schema.ts";
import { clip, DEFAULT_PORTS, type NormalizedUrl, normalizeRequestUrl } from "./normalize_url.ts";
import {
  allowMatches,
  denyMatches,
  hostMatches,
  parseUrlPattern,
  type UrlPattern,
} from "./url_pattern.ts";

/** A policy with its patterns and address blocks parsed. */
export interface CompiledHttpPolicy {
  readonly policy: HttpPolicy;
  readonly allow: readonly UrlPattern[];
  readonly deny: readonly UrlPattern[];
  readonly methods: ReadonlySet<string>;
  readonly grants: readonly Cidr[];
}

/** Stable codes of URL and method refusals. */
export type UrlDenialCode =
  | "url_invalid"
  | "scheme_denied"
  | "userinfo_denied"
  | "host_denied"
  | "port_denied"
  | "path_denied";

/** The decision of {@link checkUrl}. */
export type UrlDecision =
  | { readonly allowed: true; readonly target: NormalizedUrl }
  | { readonly allowed: false; readonly code: UrlDenialCode; readonly message: string };

const compiled = new WeakMap<HttpPolicy, CompiledHttpPolicy>();

/**
 * Compiles a parsed policy (cached per policy object). Throws a `TypeError`
 * when the policy was not produced by the schema and holds a bad pattern.
 *
 * @example
 * ```ts
 * import { HttpPolicySchema } from "./http_policy_schema.ts";
 * import { compileHttpPolicy } from "./url_policy.ts";
 * const policy = compileHttpPolicy(HttpPolicySchema.parse({ allow: ["https://example.com"] }));
 * console.assert(policy.methods.has("GET") && policy.allow.length === 1);
 * ```
 */
export function compileHttpPolicy(policy: HttpPolicy): CompiledHttpPolicy {
  let entry = compiled.get(policy);
  if (!entry) {
    entry = {
      policy,
      allow: policy.allow.map(parseUrlPattern),
      deny: policy.deny.map(parseUrlPattern),
      methods: new Set(policy.methods.map((m) => m.toUpperCase())),
      grants: policy.allow_private_addresses.map(parseCidr),
    };
    compiled.set(policy, entry);
  }
  return entry;
}

/**
 * Normalizes `raw` (relative to `base`, for redirects) and matches it against
 * the policy's deny and allow patterns.
 *
 * @example
 * ```ts
 * import { HttpPolicySchema } from "./http_policy_schema.ts";
 * import { checkUrl, compileHttpPolicy } from "./url_policy.ts";
 * const policy = compileHttpPolicy(HttpPolicySchema.parse({ allow: ["https://example.com/api"] }));
 * console.assert(checkUrl("https://example.com./api/x", policy).allowed);
 * const denied = checkUrl("https://example.com:8443/api", policy);
 * console.assert(!denied.allowed && denied.code === "port_denied");
 * ```
 */
export function checkUrl(raw: string, policy: CompiledHttpPolicy, base?: URL): UrlDecision {
  const target = normalizeRequestUrl(raw, base);
  if (!("url" in target)) return { allowed: false, ...target };
  const shown = clip(target.url.href);
  const denied = policy.deny.find((pattern) => denyMatches(pattern, target));
  if (denied) {
    return {
      allowed: false,
      code: denied.path === "" ? "host_denied" : "path_denied",
      message: `Cannot request ${shown} as deny pattern "${denied.source}" matches it`,
    };
  }
  if (policy.allow.some((pattern) => allowMatches(pattern, target))) {
    return { allowed: true, target };
  }
  return { allowed: false, ...closestMiss(policy.allow, target, shown) };
}

/** Explains a miss by the first part no allow pattern matches: host, scheme, port, then path. */
function closestMiss(
  allow: readonly UrlPattern[],
  target: NormalizedUrl,
  shown: string,
): { code: UrlDenialCode; message: string } {
  if (allow.length === 0) {
    return {
      code: "host_denied",
      message: `Cannot request ${shown} as capabilities.http.allow is empty`,
    };
  }
  const sameHost = allow.filter((p) => hostMatches(p, target.host));
  if (sameHost.length === 0) {
    return {
      code: "host_denied",
      message: `Cannot request ${shown} as host "${target.host}" matches no allow pattern`,
    };
  }
  const sameScheme = sameHost.filter((p) => p.scheme === target.scheme);
  if (sameScheme.length === 0) {
    return {
      code: "scheme_denied",
      message: `Cannot request ${shown} as ${target.scheme} is not allowed for "${target.host}"`,
    };
  }
  const samePort = sameScheme.filter((p) => target.port === (p.port ?? DEFAULT_PORTS[p.scheme]));
  if (samePort.length === 0) {
    return {
      code: "port_denied",
      message: `Cannot request ${shown} as port ${target.port} is not allowed for "${target.host}"`,
    };
  }
  return {
    code: "path_denied",
    message: `Cannot request ${shown} as path "${
      clip(target.path)
    }" is under no allowed prefix for "${target.host}"`,
  };
}

/**
 * Checks a request method against the policy; returns the normalized
 * (upper-case) method, or `null` when it is not allowed.
 *
 * @example
 * ```ts
 * import { HttpPolicySchema } from "./http_policy_schema.ts";
 * import { allowedMethod, compileHttpPolicy } from "./url_policy.ts";
 * const policy = compileHttpPolicy(HttpPolicySchema.parse({ methods: ["get", "POST"] }));
 * console.assert(allowedMethod("post", policy) === "POST" && allowedMethod("PUT", policy) === null);
 * ```
 */
export function allowedMethod(method: string, policy: CompiledHttpPolicy): string | null {
  const upper = method.toUpperCase();
  return policy.methods.has(upper) ? upper : null;
}
