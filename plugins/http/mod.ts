/**
 * The `http` capability plugin: outbound HTTP(S) requests for guests under a
 * deny-by-default policy (URL allow/deny patterns, methods, private-address
 * checks, redirects, time and size caps, per-handler rate limits). See
 * docs/capabilities/http.md for the policy reference.
 *
 * @example
 * ```ts
 * import { httpPlugin } from "./mod.ts";
 * import { CapabilityRegistry } from "../../src/capability/capability_registry.ts";
 * import { parseManifest } from "../../src/manifest/manifest.ts";
 * const registry = new CapabilityRegistry([httpPlugin()]);
 * const manifest = parseManifest({
 *   capabilities: { http: { allow: ["https://api.example.com/v1"], methods: ["GET", "POST"] } },
 * }, registry);
 * console.assert((manifest.capabilities.http as { redirects: number }).redirects === 0);
 * ```
 *
 * @module
 */
export { httpPlugin, type HttpPluginOptions } from "./http_plugin.ts";
export { HTTP_DEFAULTS, type HttpPolicy, HttpPolicySchema } from "./http_policy_schema.ts";
export { netHosts } from "./net_hosts.ts";
export { type Lookup, systemLookup } from "./system_lookup.ts";
export {
  type AddressCategory,
  type AddressClass,
  type AddressDecision,
  checkAddress,
  type Cidr,
  classifyAddress,
  parseCidr,
  parseIp,
} from "./address_policy.ts";
export {
  checkHeaders,
  FORBIDDEN_HEADERS,
  HEADER_LIMITS,
  type HeaderDecision,
} from "./header_policy.ts";
export {
  canonicalPath,
  type NormalizedUrl,
  normalizeHost,
  normalizeRequestUrl,
  type UrlRejection,
} from "./normalize_url.ts";
export {
  allowMatches,
  denyMatches,
  hostMatches,
  parseUrlPattern,
  type UrlPattern,
  type UrlTarget,
} from "./url_pattern.ts";
export {
  allowedMethod,
  checkUrl,
  type CompiledHttpPolicy,
  compileHttpPolicy,
  type UrlDecision,
  type UrlDenialCode,
} from "./url_policy.ts";
export {
  type AcquireResult,
  RateLimiter,
  type RateLimiterOptions,
  type RateLimitRule,
} from "./rate_limiter.ts";
export {
  type ExchangeContext,
  type ExchangeRefusal,
  type ExchangeRequest,
  type ExchangeResult,
  type GuestResponse,
  performExchange,
} from "./http_exchange.ts";
