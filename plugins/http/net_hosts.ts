/**
 * The `--allow-net` entries a sandbox serving an `http` policy needs: one
 * `host:port` per allow pattern. Deno (2.9) accepts `*.example.com:443` and
 * matches subdomains at any depth with it; it also admits the apex
 * `example.com`, which the plugin's own check still refuses. Deny patterns
 * and path prefixes cannot be expressed in `--allow-net`: the plugin's checks
 * are the first layer, the sandbox's permission the second.
 *
 * @module
 */
import type { HttpPolicy } from "./http_policy_schema.ts";
import { DEFAULT_PORTS } from "./normalize_url.ts";
import { compileHttpPolicy } from "./url_policy.ts";

/**
 * Lists `host:port` entries for `--allow-net`, sorted and without duplicates.
 *
 * @example
 * ```ts
 * import { HttpPolicySchema } from "./http_policy_schema.ts";
 * import { netHosts } from "./net_hosts.ts";
 * const policy = HttpPolicySchema.parse({
 *   allow: ["https://*.example.com", "http://[::1]:8080/api", "https://api.example.org/v1"],
 * });
 * console.assert(
 *   netHosts(policy).join(",") === "*.example.com:443,[::1]:8080,api.example.org:443",
 * );
 * ```
 */
export function netHosts(policy: HttpPolicy): string[] {
  const hosts = new Set<string>();
  for (const pattern of compileHttpPolicy(policy).allow) {
    const host = pattern.wildcard ? `*.${pattern.host}` : pattern.host;
    hosts.add(`${host}:${pattern.port ?? DEFAULT_PORTS[pattern.scheme]}`);
  }
  return [...hosts].sort();
}
