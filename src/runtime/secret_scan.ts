/**
 * Finds secret values in text a step produced, in the encodings a guest
 * could use to smuggle them out: exact, base64 (standard and URL-safe, at any
 * alignment), hex (either case) and URL-encoded.
 *
 * @module
 */

/** Finds and redacts a fixed set of secret values. */
export interface SecretScanner {
  /** True when `text` carries any secret in any known form. */
  found(text: string): boolean;
  /** `text` with every occurrence replaced by `[REDACTED]`. */
  redact(text: string): string;
}

/** The placeholder for redacted values. */
export const REDACTED = "[REDACTED]";

function encodings(secret: string): string[] {
  const bytes = new TextEncoder().encode(secret);
  const forms = new Set<string>([secret, encodeURIComponent(secret)]);
  const hex = Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  forms.add(hex);
  forms.add(hex.toUpperCase());
  // Base64 of the secret at each of the three byte alignments it can start at
  // inside a longer encoded string; trim the characters that mix in neighbours.
  for (let shift = 0; shift < 3; shift++) {
    const padded = new Uint8Array(shift + bytes.length);
    padded.set(bytes, shift);
    let b64 = btoa(String.fromCharCode(...padded));
    const lead = shift === 0 ? 0 : shift + 1;
    const tailBits = (shift + bytes.length) % 3;
    const trail = tailBits === 0 ? 0 : 4 - tailBits + 1;
    b64 = b64.slice(lead, b64.length - trail);
    if (b64.length >= 4) {
      forms.add(b64);
      forms.add(b64.replaceAll("+", "-").replaceAll("/", "_"));
    }
  }
  return [...forms].filter((f) => f.length > 0);
}

/**
 * Builds a scanner for `secrets`. Empty values are ignored.
 *
 * @example
 * ```ts
 * import { createSecretScanner } from "./secret_scan.ts";
 * const scanner = createSecretScanner(["hunter2"]);
 * console.assert(scanner.found("x" + btoa("hunter2")));
 * console.assert(scanner.redact("pw=hunter2") === "pw=[REDACTED]");
 * ```
 */
export function createSecretScanner(secrets: readonly string[]): SecretScanner {
  const forms = [...new Set(secrets.filter((s) => s.length > 0).flatMap(encodings))]
    // Longest first so a longer form is redacted whole before a shorter one inside it.
    .sort((a, b) => b.length - a.length);
  return {
    found: (text) => forms.some((f) => text.includes(f)),
    redact: (text) => forms.reduce((out, f) => out.replaceAll(f, REDACTED), text),
  };
}
