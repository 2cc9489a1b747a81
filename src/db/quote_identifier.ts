/**
 * Quotes a PostgreSQL identifier (for LISTEN channels, which cannot be
 * parameters and often contain dots, e.g. `pgmq_message_ready.catalog`).
 *
 * @example
 * ```ts
 * import { quoteIdentifier } from "./quote_identifier.ts";
 * console.assert(quoteIdentifier('a."b') === '"a.""b"');
 * ```
 *
 * @module
 */

/** `name` as a double-quoted identifier, inner quotes doubled. */
export function quoteIdentifier(name: string): string {
  if (name.includes("\0")) {
    throw new TypeError("Cannot quote an identifier as it contains a NUL character");
  }
  return `"${name.replaceAll('"', '""')}"`;
}
