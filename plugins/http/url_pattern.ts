/**
 * URL patterns of the `http` policy (`allow` and `deny` entries):
 * `scheme://host[:port][/path-prefix]`.
 *
 * - scheme: `http` or `https`;
 * - host: an exact name or IP literal, or `*.example.com` for every
 *   subdomain of `example.com` (at any depth) but not `example.com` itself;
 * - port: optional. In `allow` an omitted port means the scheme's default;
 *   in `deny` it means every port (deny rules are broad on purpose);
 * - path prefix: optional, matched on a segment boundary (`/api` matches
 *   `/api` and `/api/x`, not `/apix`). In `deny` the comparison also ignores
 *   case and `;` parameters, so `/ADMIN;x` is still denied by `/admin`.
 *
 * @module
 */
import { canonicalPath, DEFAULT_PORTS, normalizeHost } from "./normalize_url.ts";
import { parseIp } from "./address_policy.ts";

/** A parsed URL pattern. */
export interface UrlPattern {
  /** The pattern as written in the manifest. */
  readonly source: string;
  readonly scheme: "http" | "https";
  /** Exact host (WHATWG form), or for a wildcard the parent domain (`example.com`). */
  readonly host: string;
  /** True for `*.parent` patterns. */
  readonly wildcard: boolean;
  /** Explicit port, or `null` when the pattern has none. */
  readonly port: number | null;
  /** Canonical path prefix without a trailing slash; `""` matches every path. */
  readonly path: string;
}

/** The parts of a request a pattern is matched against. */
export interface UrlTarget {
  readonly scheme: string;
  readonly host: string;
  readonly port: number;
  readonly path: string;
}

const SHAPE = /^(https?):\/\/([^/?#\\]+)(\/[^?#\\]*)?$/i;
const AUTHORITY = /^(\[[^\]]*\]|[^:\[\]]*)(?::(\d{1,5}))?$/;

/**
 * Parses a URL pattern; throws a `TypeError` whose message says what is
 * wrong (the manifest schema turns it into an issue).
 *
 * @example
 * ```ts
 * import { parseUrlPattern } from "./url_pattern.ts";
 * const p = parseUrlPattern("https://*.example.com/v1/");
 * console.assert(p.wildcard && p.host === "example.com" && p.path === "/v1" && p.port === null);
 * ```
 */
export function parseUrlPattern(source: string): UrlPattern {
  const shape = SHAPE.exec(source);
  if (!shape) {
    if (/^[a-zA-Z][a-zA-Z0-9+.-]*:/.test(source) && !/^https?:\/\//i.test(source)) {
      throw new TypeError("the scheme must be http or https");
    }
    throw new TypeError(
      "write scheme://host[:port][/path] with scheme http or https, no query, fragment or backslash",
    );
  }
  const scheme = shape[1].toLowerCase() as "http" | "https";
  const authority = shape[2];
  if (authority.includes("@")) throw new TypeError("userinfo (user@host) is not allowed");
  const parts = AUTHORITY.exec(authority);
  if (!parts) throw new TypeError("the host or port is malformed");
  let hostText = parts[1];
  const portText = parts[2];
  let wildcard = false;
  if (hostText.startsWith("*.")) {
    wildcard = true;
    hostText = hostText.slice(2);
  }
  if (hostText.includes("*")) {
    throw new TypeError('a wildcard must be the whole leftmost label, as in "*.example.com"');
  }
  let parsed: URL;
  try {
    parsed = new URL(`${scheme}://${hostText}${shape[3] ?? "/"}`);
  } catch {
    throw new TypeError(`"${hostText}" is no valid host`);
  }
  const host = normalizeHost(parsed.hostname);
  if (host === null) throw new TypeError(`"${hostText}" is no valid host name`);
  if (wildcard) {
    if (parseIp(host)) throw new TypeError("a wildcard cannot apply to an IP address");
    if (!host.includes(".")) {
      throw new TypeError(`"*.${host}" is too broad: name a domain such as "*.example.com"`);
    }
  }
  let port: number | null = null;
  if (portText !== undefined) {
    port = Number(portText);
    if (port < 1 || port > 65535) throw new TypeError(`port must be 1-65535, got ${portText}`);
  }
  const path = canonicalPath(parsed.pathname);
  if (path === null) {
    throw new TypeError("the path must not encode separators or dot segments");
  }
  if (shape[3] !== undefined && parsed.pathname !== shape[3]) {
    throw new TypeError(`write the path as a URL parser prints it: "${parsed.pathname}"`);
  }
  return { source, scheme, host, wildcard, port, path: path.replace(/\/+$/, "") };
}

/**
 * True when the pattern's host part admits `host` (WHATWG form): equal, or a
 * proper subdomain of a wildcard's parent domain.
 *
 * @example
 * ```ts
 * import { hostMatches, parseUrlPattern } from "./url_pattern.ts";
 * const p = parseUrlPattern("https://*.example.com");
 * console.assert(hostMatches(p, "a.b.example.com") && !hostMatches(p, "example.com"));
 * ```
 */
export function hostMatches(pattern: UrlPattern, host: string): boolean {
  return pattern.wildcard
    ? host.length > pattern.host.length + 1 && host.endsWith(`.${pattern.host}`)
    : host === pattern.host;
}

function underPrefix(path: string, prefix: string): boolean {
  return prefix === "" || path === prefix || path.startsWith(`${prefix}/`);
}

/** Lower-cased path without `;` parameters: what lenient servers may route on. */
function lenientPath(path: string): string {
  return path.split("/").map((segment) => segment.split(";")[0]).join("/").toLowerCase();
}

/**
 * True when an `allow` pattern admits `target`: same scheme and host, the
 * pattern's port (or the scheme's default) and a path under its prefix.
 *
 * @example
 * ```ts
 * import { allowMatches, parseUrlPattern } from "./url_pattern.ts";
 * const p = parseUrlPattern("https://api.example.com/v1");
 * console.assert(allowMatches(p, { scheme: "https", host: "api.example.com", port: 443, path: "/v1/users" }));
 * console.assert(!allowMatches(p, { scheme: "https", host: "api.example.com", port: 443, path: "/v10" }));
 * ```
 */
export function allowMatches(pattern: UrlPattern, target: UrlTarget): boolean {
  return target.scheme === pattern.scheme && hostMatches(pattern, target.host) &&
    target.port === (pattern.port ?? DEFAULT_PORTS[pattern.scheme]) &&
    underPrefix(target.path, pattern.path);
}

/**
 * True when a `deny` pattern covers `target`: same scheme and host, any port
 * unless the pattern names one, and a path under its prefix compared without
 * case and `;` parameters.
 *
 * @example
 * ```ts
 * import { denyMatches, parseUrlPattern } from "./url_pattern.ts";
 * const p = parseUrlPattern("https://api.example.com/admin");
 * console.assert(denyMatches(p, { scheme: "https", host: "api.example.com", port: 8443, path: "/Admin;x/users" }));
 * ```
 */
export function denyMatches(pattern: UrlPattern, target: UrlTarget): boolean {
  return target.scheme === pattern.scheme && hostMatches(pattern, target.host) &&
    (pattern.port === null || target.port === pattern.port) &&
    underPrefix(lenientPath(target.path), lenientPath(pattern.path));
}
