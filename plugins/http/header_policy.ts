/**
 * The header check of the `http` capability. Guests choose their request
 * headers, but never ones that frame the message or steer the connection
 * (`Host`, `Content-Length`, `Transfer-Encoding`, `Connection` and the other
 * hop-by-hop headers): the host sets those. Names must be RFC 9110 tokens;
 * values must be printable ASCII (no CR, LF, NUL or other controls), so no
 * header can smuggle another one. Count and size are capped.
 *
 * @module
 */

/** Caps on guest-supplied request headers. */
export const HEADER_LIMITS = {
  /** Headers per request. */
  count: 64,
  /** Bytes of one name. */
  nameBytes: 256,
  /** Bytes of one value. */
  valueBytes: 8 * 1024,
  /** Bytes of all names and values together. */
  totalBytes: 32 * 1024,
} as const;

/** Header names the host owns (compared lower-case). */
export const FORBIDDEN_HEADERS: ReadonlySet<string> = new Set([
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
]);

/** The decision of {@link checkHeaders}. */
export type HeaderDecision =
  | { readonly allowed: true; readonly headers: readonly (readonly [string, string])[] }
  | { readonly allowed: false; readonly message: string };

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
// Printable ASCII and horizontal tab.
const VALUE = /^[\t\x20-\x7e]*$/;

function show(text: string): string {
  return JSON.stringify(text.length > 40 ? `${text.slice(0, 40)}...` : text);
}

/**
 * Checks guest-supplied headers; returns them as pairs, or why they are refused.
 *
 * @example
 * ```ts
 * import { checkHeaders } from "./header_policy.ts";
 * console.assert(checkHeaders({ accept: "application/json" }).allowed);
 * console.assert(!checkHeaders({ "x-a": "1\r\nHost: evil" }).allowed);
 * console.assert(!checkHeaders({ Host: "evil.example" }).allowed);
 * ```
 */
export function checkHeaders(headers: Readonly<Record<string, unknown>> = {}): HeaderDecision {
  const entries = Object.entries(headers);
  if (entries.length > HEADER_LIMITS.count) {
    return {
      allowed: false,
      message:
        `Cannot send ${entries.length} headers as at most ${HEADER_LIMITS.count} are allowed`,
    };
  }
  let total = 0;
  const pairs: [string, string][] = [];
  for (const [name, value] of entries) {
    if (name.length > HEADER_LIMITS.nameBytes || !TOKEN.test(name)) {
      return {
        allowed: false,
        message: `Cannot send header ${show(name)} as its name is no HTTP token`,
      };
    }
    if (FORBIDDEN_HEADERS.has(name.toLowerCase())) {
      return {
        allowed: false,
        message: `Cannot send header "${name}" as the host sets it (framing or hop-by-hop)`,
      };
    }
    if (typeof value !== "string" || !VALUE.test(value)) {
      return {
        allowed: false,
        message:
          `Cannot send header "${name}" as its value must be printable ASCII without CR, LF or NUL: current value is ${
            typeof value === "string" ? show(value) : typeof value
          }`,
      };
    }
    if (value.length > HEADER_LIMITS.valueBytes) {
      return {
        allowed: false,
        message:
          `Cannot send header "${name}" as its value exceeds ${HEADER_LIMITS.valueBytes} bytes`,
      };
    }
    total += name.length + value.length;
    pairs.push([name, value]);
  }
  if (total > HEADER_LIMITS.totalBytes) {
    return {
      allowed: false,
      message: `Cannot send headers as together they exceed ${HEADER_LIMITS.totalBytes} bytes`,
    };
  }
  return { allowed: true, headers: pairs };
}
