/**
 * Finds secret values in text a step produced, in the encodings a guest (or
 * a library inside it) would plausibly use to carry them out:
 *
 * - exact, and JSON-escaped (`"` `\` and control characters escaped, as in
 *   `JSON.stringify` output; also with every non-ASCII character as `\uXXXX`);
 * - URL-encoded: `encodeURIComponent`, `encodeURI`, form encoding (`+` for
 *   spaces, as `URLSearchParams` writes it) and every byte as `%XX`, with
 *   escapes in either case;
 * - hex of the UTF-8 bytes, in any letter case;
 * - base64, standard and URL-safe, at each of the three byte alignments the
 *   secret can have inside a longer encoded string.
 *
 * Values shorter than {@link MIN_SECRET_BYTES} are only matched exactly and
 * JSON-escaped: their encoded fragments would be a few characters long and
 * match ordinary output. The scanner catches accidents and naive encodings,
 * not a guest that transforms a secret on purpose (reverses it, XORs it,
 * splits it across records): never grant a secret to a guest you would not
 * trust with it.
 *
 * @module
 */

/** Finds and redacts a fixed set of secret values. */
export interface SecretScanner {
  /** True when `text` carries any secret in any known form. */
  found(text: string): boolean;
  /** `text` with every occurrence (overlapping ones merged) replaced by `[REDACTED]`. */
  redact(text: string): string;
  /**
   * Like {@link redact}, for text that was cut at a length cap (a truncated
   * log record): a start of any form at the very end is redacted too, so a
   * guest cannot line a secret up with the cap to get its first bytes out.
   */
  redactCut(text: string): string;
}

/** The placeholder for redacted values. */
export const REDACTED = "[REDACTED]";

/**
 * Shortest value, in UTF-8 bytes, that is scanned in every encoding. At 8
 * bytes each base64 fragment is at least 10 characters (about 1 in 10^18 to
 * appear by chance at a given place); at 4 bytes it would be 4 characters,
 * which a megabyte of unrelated base64 output contains by chance.
 */
export const MIN_SECRET_BYTES = 8;

/** The texts that reveal one secret; see {@link secretForms}. */
export interface SecretForms {
  /** Matched as they are. */
  exact: string[];
  /** Matched ignoring ASCII letter case (hex digits, `%XX` escapes). */
  foldCase: string[];
}

/** One searchable form of a secret. */
interface Pattern {
  readonly text: string;
  /** Matched ignoring ASCII letter case (hex digits, `%XX` escapes). */
  readonly foldCase: boolean;
}

const encoder = new TextEncoder();

/**
 * Every form {@link createSecretScanner} searches for one secret, as
 * case-sensitive texts and texts matched ignoring ASCII case.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { secretForms } from "./secret_scan.ts";
 * const forms = secretForms("pa ss/word");
 * assert.ok(forms.exact.includes("pa%20ss%2Fword"));
 * assert.ok(forms.exact.includes("pa+ss%2Fword"));
 * assert.ok(forms.foldCase.includes("70612073732f776f7264"));
 * ```
 */
export function secretForms(secret: string): SecretForms {
  const exact = new Set<string>([secret, jsonEscape(secret, "none")]);
  const foldCase = new Set<string>();
  const bytes = encoder.encode(secret);
  if (bytes.length >= MIN_SECRET_BYTES) {
    exact.add(jsonEscape(secret, "lower"));
    exact.add(jsonEscape(secret, "upper"));
    for (const form of urlForms(secret)) {
      exact.add(form);
      exact.add(form.replace(/%[0-9A-F]{2}/g, (e) => e.toLowerCase()));
    }
    const hex = Array.from(bytes, (b) => b.toString(16).padStart(2, "0"));
    foldCase.add(hex.join(""));
    foldCase.add(`%${hex.join("%")}`);
    // The whole encoding of the secret on its own (padded and unpadded), so a
    // standalone base64 value is redacted to the last character.
    const whole = base64At(bytes, 0);
    for (const fragment of [...base64Fragments(bytes), whole, whole.replace(/=+$/, "")]) {
      exact.add(fragment);
      exact.add(fragment.replaceAll("+", "-").replaceAll("/", "_"));
    }
  }
  exact.delete("");
  return { exact: [...exact], foldCase: [...foldCase] };
}

const SHORT_ESCAPES: Record<string, string> = {
  '"': '\\"',
  "\\": "\\\\",
  "\b": "\\b",
  "\f": "\\f",
  "\n": "\\n",
  "\r": "\\r",
  "\t": "\\t",
};

/**
 * `JSON.stringify(s)` without the quotes. With `ascii` other than "none",
 * every non-ASCII code unit is also written as `\uXXXX` (hex digits in that
 * case), as ASCII-only JSON encoders do.
 */
function jsonEscape(secret: string, ascii: "none" | "lower" | "upper"): string {
  if (ascii === "none") return JSON.stringify(secret).slice(1, -1);
  let out = "";
  for (let i = 0; i < secret.length; i++) {
    const c = secret[i];
    const code = secret.charCodeAt(i);
    if (SHORT_ESCAPES[c]) out += SHORT_ESCAPES[c];
    else if (code >= 0x20 && code < 0x80) out += c;
    else {
      const hex = code.toString(16).padStart(4, "0");
      out += `\\u${ascii === "upper" ? hex.toUpperCase() : hex}`;
    }
  }
  return out;
}

/** URL encodings; the encoders throw on lone surrogates, which then have no such form. */
function urlForms(secret: string): string[] {
  const forms: string[] = [];
  for (const encode of [encodeURIComponent, encodeURI]) {
    try {
      forms.push(encode(secret));
    } catch { /* URIError: lone surrogate */ }
  }
  if (forms.length) forms.push(forms[0].replaceAll("%20", "+"));
  forms.push(new URLSearchParams([["", secret]]).toString().slice(1));
  return forms;
}

/** Standard base64 of `bytes` preceded by `shift` zero bytes. */
function base64At(bytes: Uint8Array, shift: number): string {
  let binary = "\0".repeat(shift);
  for (const b of bytes) binary += String.fromCharCode(b);
  return btoa(binary);
}

/**
 * The base64 characters that depend only on the secret's bits, for each
 * byte offset (mod 3) it can start at inside a longer encoded stream. A
 * character covers 6 bits; the ones that straddle a neighbouring byte are
 * cut off, so the fragment is found whatever surrounds the secret.
 */
function base64Fragments(bytes: Uint8Array): string[] {
  const fragments: string[] = [];
  for (let shift = 0; shift < 3; shift++) {
    const first = Math.ceil((8 * shift) / 6);
    const end = Math.floor((8 * (shift + bytes.length)) / 6);
    fragments.push(base64At(bytes, shift).slice(first, end));
  }
  return fragments;
}

/**
 * Lowercases `text` keeping every index that of the original, for matching
 * the ASCII-only case-folded forms. `toLowerCase` is fast and keeps the
 * length of every code point but U+0130 (İ → i + U+0307), and maps no
 * non-ASCII character into `[0-9a-f%]`; text with U+0130 takes the slow path.
 */
function foldAscii(text: string): string {
  if (!text.includes("\u0130")) return text.toLowerCase();
  return text.replace(/[A-Z]+/g, (s) => s.toLowerCase());
}

/**
 * Builds a scanner for `secrets`. Empty values are ignored.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { createSecretScanner } from "./secret_scan.ts";
 * const scanner = createSecretScanner(["hunter2-horse"]);
 * assert.ok(scanner.found("x" + btoa("hunter2-horse")));
 * assert.ok(scanner.found("token=68756E746572322D686F727365"));
 * assert.equal(scanner.redact("pw=hunter2-horse!"), "pw=[REDACTED]!");
 * ```
 */
export function createSecretScanner(secrets: readonly string[]): SecretScanner {
  const patterns: Pattern[] = [];
  const seen = new Set<string>();
  for (const secret of new Set(secrets)) {
    if (secret.length === 0) continue;
    const forms = secretForms(secret);
    for (const text of forms.exact) {
      if (!seen.has(`=${text}`)) patterns.push({ text, foldCase: false });
      seen.add(`=${text}`);
    }
    for (const text of forms.foldCase) {
      if (!seen.has(`~${text}`)) patterns.push({ text, foldCase: true });
      seen.add(`~${text}`);
    }
  }
  const anyFolded = patterns.some((p) => p.foldCase);
  const spansOf = (text: string, cut: boolean): [number, number][] => {
    const folded = anyFolded ? foldAscii(text) : text;
    const spans: [number, number][] = [];
    for (const p of patterns) {
      const haystack = p.foldCase ? folded : text;
      // Step by one so overlapping occurrences are all covered.
      for (let at = haystack.indexOf(p.text); at !== -1; at = haystack.indexOf(p.text, at + 1)) {
        spans.push([at, at + p.text.length]);
      }
      if (!cut) continue;
      for (let k = Math.min(p.text.length - 1, haystack.length); k > 0; k--) {
        if (haystack.endsWith(p.text.slice(0, k))) {
          spans.push([haystack.length - k, haystack.length]);
          break;
        }
      }
    }
    return spans;
  };
  return {
    found(text) {
      const folded = anyFolded ? foldAscii(text) : text;
      return patterns.some((p) => (p.foldCase ? folded : text).includes(p.text));
    },
    redact: (text) => replaceSpans(text, spansOf(text, false)),
    redactCut: (text) => replaceSpans(text, spansOf(text, true)),
  };
}

/** Replaces each span (merged where they overlap or touch) with {@link REDACTED}. */
function replaceSpans(text: string, spans: [number, number][]): string {
  if (spans.length === 0) return text;
  spans.sort((a, b) => a[0] - b[0]);
  let out = "";
  let cursor = 0;
  let [start, end] = spans[0];
  for (const [s, e] of spans) {
    if (s <= end) {
      end = Math.max(end, e);
      continue;
    }
    out += text.slice(cursor, start) + REDACTED;
    cursor = end;
    [start, end] = [s, e];
  }
  return out + text.slice(cursor, start) + REDACTED + text.slice(end);
}
