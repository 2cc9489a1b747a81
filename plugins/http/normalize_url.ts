/**
 * Normalizes a request URL into the parts the `http` policy checks: scheme,
 * host, effective port and a canonical path. Parsing is WHATWG URL's (the
 * same parser `fetch` uses), so numeric IPv4 forms (`2130706433`,
 * `0177.0.0.1`, `0x7f.1`), IDN host names and dot segments are already
 * resolved; on top of that a trailing dot is removed from the host, userinfo
 * is refused and paths whose percent-encoding a server could decode into a
 * different path (`..%2f`, `%2e%2e;`, `%252f`) are refused.
 *
 * @module
 */
import { parseIp } from "./address_policy.ts";

/** A request URL ready for the policy checks. */
export interface NormalizedUrl {
  /** The URL to fetch: host without a trailing dot, no userinfo. */
  readonly url: URL;
  readonly scheme: "http" | "https";
  /** Host as WHATWG URL prints it: lowercase, punycode, IPv6 in brackets. */
  readonly host: string;
  /** The IP when the host is an IP literal (no brackets), else `null`. */
  readonly ip: string | null;
  /** The effective port (the scheme's default when the URL has none). */
  readonly port: number;
  /** Canonical path (see {@link canonicalPath}). */
  readonly path: string;
}

/** Why a URL was refused, with the policy code to report. */
export interface UrlRejection {
  readonly code:
    | "url_invalid"
    | "scheme_denied"
    | "userinfo_denied"
    | "host_denied"
    | "path_denied";
  readonly message: string;
}

/** Default port of each scheme the capability speaks. */
export const DEFAULT_PORTS: Readonly<Record<"http" | "https", number>> = { http: 80, https: 443 };

const LABEL = /^[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?$/;

/**
 * Normalizes a WHATWG URL host: removes one trailing dot (`example.com.` is
 * `example.com`) and checks that a name is a valid DNS name. Returns `null`
 * for anything else (`a..b`, `example.com..`, `*.x.com`).
 *
 * @example
 * ```ts
 * import { normalizeHost } from "./normalize_url.ts";
 * console.assert(normalizeHost("example.com.") === "example.com");
 * console.assert(normalizeHost("*.example.com") === null);
 * ```
 */
export function normalizeHost(hostname: string): string | null {
  if (hostname.startsWith("[")) return parseIp(hostname) ? hostname : null;
  if (parseIp(hostname)) return hostname;
  const name = hostname.endsWith(".") ? hostname.slice(0, -1) : hostname;
  if (name.length === 0 || name.length > 253) return null;
  return name.split(".").every((label) => LABEL.test(label)) ? name : null;
}

const UNRESERVED = /^[A-Za-z0-9\-._~]$/;
const ESCAPE = /%([0-9A-Fa-f]{2})/g;

function percentDecode(text: string): string {
  return text.replace(ESCAPE, (_, hex: string) => String.fromCharCode(parseInt(hex, 16)));
}

/**
 * Canonicalizes a WHATWG URL pathname for prefix matching, or returns `null`
 * when a server could read it as a different path: a segment that decodes
 * (once or twice, ignoring `;` parameters) to `.` or `..`, or that decodes to
 * `/`, `\` or NUL. Escapes of unreserved characters are decoded and the
 * remaining escapes upper-cased, so `/%61pi` and `/api` compare equal.
 *
 * @example
 * ```ts
 * import { canonicalPath } from "./normalize_url.ts";
 * console.assert(canonicalPath("/%61pi/v1") === "/api/v1");
 * console.assert(canonicalPath("/api/..%2fadmin") === null);
 * ```
 */
export function canonicalPath(pathname: string): string | null {
  const out: string[] = [];
  for (const segment of pathname.split("/")) {
    const once = percentDecode(segment);
    const layers = [segment, once, percentDecode(once)];
    for (let i = 0; i < layers.length; i++) {
      const bare = layers[i].split(";")[0];
      if (bare === "." || bare === "..") return null;
      if (i > 0 && /[/\\\0]/.test(layers[i])) return null;
    }
    out.push(segment.replace(ESCAPE, (_, hex: string) => {
      const char = String.fromCharCode(parseInt(hex, 16));
      return UNRESERVED.test(char) ? char : `%${hex.toUpperCase()}`;
    }));
  }
  return out.join("/");
}

/** The authority of a URL as written (between `//` and the path), for the userinfo check. */
function rawAuthority(raw: string): string | null {
  const match = /^(?:[a-zA-Z][a-zA-Z0-9+.-]*:)?[/\\]{2}([^/\\?#]*)/.exec(raw.trim());
  return match ? match[1] : null;
}

/**
 * Parses and normalizes a request URL (relative ones against `base`, as for
 * a redirect's `Location`); returns the parts or why it is refused.
 *
 * @example
 * ```ts
 * import { normalizeRequestUrl } from "./normalize_url.ts";
 * const url = normalizeRequestUrl("http://0x7f.1:8080/a/../b");
 * console.assert("host" in url && url.host === "127.0.0.1" && url.path === "/b");
 * ```
 */
export function normalizeRequestUrl(raw: string, base?: URL): NormalizedUrl | UrlRejection {
  let url: URL;
  try {
    url = new URL(raw, base);
  } catch {
    return { code: "url_invalid", message: `Cannot parse URL as it is invalid: "${clip(raw)}"` };
  }
  const scheme = url.protocol.slice(0, -1);
  if (scheme !== "http" && scheme !== "https") {
    return {
      code: "scheme_denied",
      message: `Cannot request ${scheme}: URLs as only http and https are allowed`,
    };
  }
  if (url.username !== "" || url.password !== "" || rawAuthority(raw)?.includes("@")) {
    return {
      code: "userinfo_denied",
      message: `Cannot request a URL with userinfo ("user@host"): send credentials in headers`,
    };
  }
  const host = normalizeHost(url.hostname);
  if (host === null) {
    return {
      code: "host_denied",
      message: `Cannot request host "${clip(url.hostname)}" as it is no valid host name`,
    };
  }
  const path = canonicalPath(url.pathname);
  if (path === null) {
    return {
      code: "path_denied",
      message: `Cannot request path "${
        clip(url.pathname)
      }" as it encodes a path separator or dot segment`,
    };
  }
  if (host !== url.hostname) url.hostname = host;
  url.hash = "";
  const ip = parseIp(host) ? (host.startsWith("[") ? host.slice(1, -1) : host) : null;
  return {
    url,
    scheme,
    host,
    ip,
    port: url.port === "" ? DEFAULT_PORTS[scheme] : Number(url.port),
    path,
  };
}

/** Shortens untrusted text for an error message. */
export function clip(text: string, max = 120): string {
  return text.length > max ? `${text.slice(0, max)}...` : text;
}
