/// <reference path="../portable.d.ts" />
/**
 * URI references for `$id`, `$ref` and `$dynamicRef` (RFC 3986): parsing,
 * resolution against a base (§5.2, also for relative bases, which JSON
 * Schema allows when the root has no absolute `$id`), fragments and
 * percent-decoding. Portable AssemblyScript.
 */

/** The five components of a URI reference; `has*` tells an empty component from an absent one. */
export class UriParts {
  scheme: string = "";
  hasScheme: bool = false;
  authority: string = "";
  hasAuthority: bool = false;
  path: string = "";
  query: string = "";
  hasQuery: bool = false;
  fragment: string = "";
  hasFragment: bool = false;

  /** Recomposes the reference (RFC 3986 §5.3). */
  toString(): string {
    const out = new Array<string>();
    if (this.hasScheme) {
      out.push(this.scheme);
      out.push(":");
    }
    if (this.hasAuthority) {
      out.push("//");
      out.push(this.authority);
    }
    out.push(this.path);
    if (this.hasQuery) {
      out.push("?");
      out.push(this.query);
    }
    if (this.hasFragment) {
      out.push("#");
      out.push(this.fragment);
    }
    return out.join("");
  }
}

function isAlpha(c: i32): bool {
  return (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a);
}

function isDigit(c: i32): bool {
  return c >= 0x30 && c <= 0x39;
}

/**
 * Splits a URI reference into its components (RFC 3986 Appendix B).
 *
 * @example
 * ```ts
 * import "../../native/portable_runtime.ts";
 * import { parseUri } from "./schema_uri.ts";
 * const u = parseUri("https://example.com/a/b?q#frag");
 * console.assert(u.authority === "example.com" && u.path === "/a/b" && u.fragment === "frag");
 * ```
 */
export function parseUri(text: string): UriParts {
  const u = new UriParts();
  let rest = text;
  const hash = rest.indexOf("#");
  if (hash >= 0) {
    u.hasFragment = true;
    u.fragment = rest.substring(hash + 1);
    rest = rest.substring(0, hash);
  }
  const q = rest.indexOf("?");
  if (q >= 0) {
    u.hasQuery = true;
    u.query = rest.substring(q + 1);
    rest = rest.substring(0, q);
  }
  // A scheme is letters, digits, "+", "-", "." before the first ":", starting with a letter.
  const colon = rest.indexOf(":");
  if (colon > 0 && isAlpha(rest.charCodeAt(0))) {
    let ok = true;
    for (let i = 1; i < colon; i++) {
      const c = rest.charCodeAt(i);
      if (!(isAlpha(c) || isDigit(c) || c == 0x2b || c == 0x2d || c == 0x2e)) {
        ok = false;
        break;
      }
    }
    if (ok) {
      u.hasScheme = true;
      u.scheme = rest.substring(0, colon).toLowerCase();
      rest = rest.substring(colon + 1);
    }
  }
  if (rest.startsWith("//")) {
    u.hasAuthority = true;
    const slash = rest.indexOf("/", 2);
    if (slash < 0) {
      u.authority = rest.substring(2);
      rest = "";
    } else {
      u.authority = rest.substring(2, slash);
      rest = rest.substring(slash);
    }
  }
  u.path = rest;
  return u;
}

/** RFC 3986 §5.2.4: removes "." and ".." segments. */
export function removeDotSegments(path: string): string {
  if (path.indexOf(".") < 0) return path;
  const input = path.split("/");
  const absolute = path.startsWith("/");
  const out = new Array<string>();
  const n = input.length;
  for (let i = 0; i < n; i++) {
    const seg = input[i];
    const last = i == n - 1;
    if (seg == ".") {
      if (last) out.push("");
      continue;
    }
    if (seg == "..") {
      // Never pop the empty segment that stands for the leading "/".
      if (out.length > (absolute ? 1 : 0)) out.pop();
      if (last) out.push("");
      continue;
    }
    out.push(seg);
  }
  let result = out.join("/");
  if (absolute && !result.startsWith("/")) result = "/" + result;
  return result;
}

function mergePaths(base: UriParts, refPath: string): string {
  if (base.hasAuthority && base.path.length == 0) return "/" + refPath;
  const slash = base.path.lastIndexOf("/");
  return slash < 0 ? refPath : base.path.substring(0, slash + 1) + refPath;
}

/**
 * Resolves `ref` against `base` (RFC 3986 §5.2.2). A relative base (or the
 * empty string) gives a relative result, which is how a root schema without
 * an absolute `$id` names its embedded resources.
 *
 * @example
 * ```ts
 * import "../../native/portable_runtime.ts";
 * import { resolveUri } from "./schema_uri.ts";
 * console.assert(resolveUri("https://example.com/a/b.json", "c.json#x") === "https://example.com/a/c.json#x");
 * console.assert(resolveUri("", "#/$defs/a") === "#/$defs/a");
 * ```
 */
export function resolveUri(base: string, ref: string): string {
  const r = parseUri(ref);
  const b = parseUri(base);
  const t = new UriParts();
  if (r.hasScheme) {
    t.hasScheme = true;
    t.scheme = r.scheme;
    t.hasAuthority = r.hasAuthority;
    t.authority = r.authority;
    t.path = removeDotSegments(r.path);
    t.hasQuery = r.hasQuery;
    t.query = r.query;
  } else {
    if (r.hasAuthority) {
      t.hasAuthority = true;
      t.authority = r.authority;
      t.path = removeDotSegments(r.path);
      t.hasQuery = r.hasQuery;
      t.query = r.query;
    } else {
      if (r.path.length == 0) {
        t.path = b.path;
        if (r.hasQuery) {
          t.hasQuery = true;
          t.query = r.query;
        } else {
          t.hasQuery = b.hasQuery;
          t.query = b.query;
        }
      } else {
        t.path = r.path.startsWith("/")
          ? removeDotSegments(r.path)
          : removeDotSegments(mergePaths(b, r.path));
        t.hasQuery = r.hasQuery;
        t.query = r.query;
      }
      t.hasAuthority = b.hasAuthority;
      t.authority = b.authority;
    }
    t.hasScheme = b.hasScheme;
    t.scheme = b.scheme;
  }
  t.hasFragment = r.hasFragment;
  t.fragment = r.fragment;
  return t.toString();
}

/** The URI without its fragment (an empty fragment counts as none). */
export function stripFragment(uri: string): string {
  const hash = uri.indexOf("#");
  return hash < 0 ? uri : uri.substring(0, hash);
}

/** The fragment of `uri` without the "#", or "" when it has none. */
export function fragmentOf(uri: string): string {
  const hash = uri.indexOf("#");
  return hash < 0 ? "" : uri.substring(hash + 1);
}

function hexValue(c: i32): i32 {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x41 && c <= 0x46) return c - 0x41 + 10;
  if (c >= 0x61 && c <= 0x66) return c - 0x61 + 10;
  return -1;
}

/** Result of {@link percentDecode}: the text, or `ok == false` for a bad escape or bad UTF-8. */
export class DecodedText {
  text: string;
  ok: bool;

  constructor(text: string, ok: bool) {
    this.text = text;
    this.ok = ok;
  }
}

/** Decodes `%XX` escapes as UTF-8 (URI fragments carry JSON pointers this way). */
export function percentDecode(text: string): DecodedText {
  if (text.indexOf("%") < 0) return new DecodedText(text, true);
  const out = new Array<string>();
  const n = text.length;
  let i = 0;
  while (i < n) {
    const c = text.charCodeAt(i);
    if (c != 0x25) {
      out.push(String.fromCharCode(c));
      i++;
      continue;
    }
    // Gather a run of escaped bytes and decode them as UTF-8.
    const bytes = new Array<i32>();
    while (i < n && text.charCodeAt(i) == 0x25) {
      if (i + 2 >= n) return new DecodedText("", false);
      const hi = hexValue(text.charCodeAt(i + 1));
      const lo = hexValue(text.charCodeAt(i + 2));
      if (hi < 0 || lo < 0) return new DecodedText("", false);
      bytes.push(hi * 16 + lo);
      i += 3;
    }
    let k = 0;
    while (k < bytes.length) {
      const b0 = bytes[k];
      let need = 0;
      let cp = 0;
      if (b0 < 0x80) {
        cp = b0;
      } else if (b0 >= 0xc2 && b0 <= 0xdf) {
        need = 1;
        cp = b0 & 0x1f;
      } else if (b0 >= 0xe0 && b0 <= 0xef) {
        need = 2;
        cp = b0 & 0x0f;
      } else if (b0 >= 0xf0 && b0 <= 0xf4) {
        need = 3;
        cp = b0 & 0x07;
      } else {
        return new DecodedText("", false);
      }
      if (k + need >= bytes.length) return new DecodedText("", false);
      for (let m = 1; m <= need; m++) {
        const b = bytes[k + m];
        if ((b & 0xc0) != 0x80) return new DecodedText("", false);
        cp = cp * 64 + (b & 0x3f);
      }
      if (
        (need == 2 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
        (need == 3 && (cp < 0x10000 || cp > 0x10ffff))
      ) {
        return new DecodedText("", false);
      }
      if (cp >= 0x10000) {
        const v = cp - 0x10000;
        out.push(String.fromCharCode(0xd800 + (v >> 10)));
        out.push(String.fromCharCode(0xdc00 + (v & 0x3ff)));
      } else {
        out.push(String.fromCharCode(cp));
      }
      k += need + 1;
    }
  }
  return new DecodedText(out.join(""), true);
}

const HEX_DIGITS = "0123456789ABCDEF";

function pushEscapedByte(out: Array<string>, b: i32): void {
  out.push("%");
  out.push(HEX_DIGITS.charAt(b >> 4));
  out.push(HEX_DIGITS.charAt(b & 15));
}

/**
 * ECMAScript `encodeURIComponent`, except that a lone surrogate becomes
 * U+FFFD instead of an exception. Schema paths encode their property-name
 * tokens this way, like ajv's `schemaPath`.
 *
 * @example
 * ```ts
 * import "../../native/portable_runtime.ts";
 * import { encodeUriComponent } from "./schema_uri.ts";
 * console.assert(encodeUriComponent("a b/é") === "a%20b%2F%C3%A9");
 * ```
 */
export function encodeUriComponent(text: string): string {
  const n = text.length;
  let plain = true;
  for (let i = 0; i < n; i++) {
    if (!isUnreserved(text.charCodeAt(i))) {
      plain = false;
      break;
    }
  }
  if (plain) return text;
  const out = new Array<string>();
  for (let i = 0; i < n; i++) {
    const c = text.charCodeAt(i);
    if (isUnreserved(c)) {
      out.push(String.fromCharCode(c));
      continue;
    }
    let cp = c;
    if (c >= 0xd800 && c <= 0xdbff && i + 1 < n) {
      const d = text.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) {
        cp = 0x10000 + ((c - 0xd800) << 10) + (d - 0xdc00);
        i++;
      } else {
        cp = 0xfffd;
      }
    } else if (c >= 0xd800 && c <= 0xdfff) {
      cp = 0xfffd;
    }
    if (cp < 0x80) {
      pushEscapedByte(out, cp);
    } else if (cp < 0x800) {
      pushEscapedByte(out, 0xc0 | (cp >> 6));
      pushEscapedByte(out, 0x80 | (cp & 0x3f));
    } else if (cp < 0x10000) {
      pushEscapedByte(out, 0xe0 | (cp >> 12));
      pushEscapedByte(out, 0x80 | ((cp >> 6) & 0x3f));
      pushEscapedByte(out, 0x80 | (cp & 0x3f));
    } else {
      pushEscapedByte(out, 0xf0 | (cp >> 18));
      pushEscapedByte(out, 0x80 | ((cp >> 12) & 0x3f));
      pushEscapedByte(out, 0x80 | ((cp >> 6) & 0x3f));
      pushEscapedByte(out, 0x80 | (cp & 0x3f));
    }
  }
  return out.join("");
}

/** encodeURIComponent's unescaped set: A-Z a-z 0-9 - _ . ! ~ * ' ( ) */
function isUnreserved(c: i32): bool {
  if (isAlpha(c) || isDigit(c)) return true;
  return c == 0x2d || c == 0x5f || c == 0x2e || c == 0x21 || c == 0x7e || c == 0x2a ||
    c == 0x27 || c == 0x28 || c == 0x29;
}
