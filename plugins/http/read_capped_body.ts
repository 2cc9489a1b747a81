/**
 * Reads a response body under a byte cap, stopping (and dropping the
 * connection) as soon as the cap is crossed, so a response bomb never makes
 * the host buffer more than the cap. Shared by the `http` capability and the
 * catalog's native build, which must fail exactly like it.
 *
 * @module
 */

/** The body, or how much was seen when the cap was crossed. */
export type CappedBody = { ok: true; bytes: Uint8Array } | { ok: false; seen: string };

/**
 * Reads `response`'s body, at most `cap` bytes.
 *
 * @example
 * ```ts
 * import { readCappedBody } from "./read_capped_body.ts";
 * const body = await readCappedBody(new Response("hello"), 3);
 * console.assert(!body.ok && body.seen === "more than 3 bytes");
 * ```
 */
export async function readCappedBody(response: Response, cap: number): Promise<CappedBody> {
  const declared = response.headers.get("content-length");
  // Only an unencoded body's length is known up front; decoded bodies are counted below.
  if (
    declared !== null && !response.headers.has("content-encoding") && Number(declared) > cap
  ) {
    response.body?.cancel().catch(() => {});
    return { ok: false, seen: `${declared} bytes declared` };
  }
  const chunks: Uint8Array[] = [];
  let total = 0;
  if (response.body) {
    const reader = response.body.getReader();
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      total += value.length;
      if (total > cap) {
        // Drop the connection now; the rest of the body is never read.
        reader.cancel().catch(() => {});
        return { ok: false, seen: `more than ${cap} bytes` };
      }
      chunks.push(value);
    }
  }
  const bytes = new Uint8Array(total);
  let offset = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, offset);
    offset += chunk.length;
  }
  return { ok: true, bytes };
}

/** Response headers as one object; repeated headers joined with ", ". */
export function joinedHeaders(response: Response): Record<string, string> {
  const headers: Record<string, string> = {};
  response.headers.forEach((value, name) => {
    headers[name] = name in headers ? `${headers[name]}, ${value}` : value;
  });
  return headers;
}
