// The I/O boundary of every catalog handler's wasm build (AssemblyScript, not
// portable): the step envelope comes in through the `io` capability as UTF-8
// JSON, the result goes out the same way, and a handler failure is reported
// with `io.fail`. The native build has its own boundary; the handler logic
// between the two is the portable core.
//
//   import { readEnvelope, writeResult, failStep } from "../wasm/guest_io";
//
//   export function run(): i32 {
//     const parsed = parseJson(readEnvelope());
//     if (parsed.error != null) {
//       failStep("the envelope is not JSON: " + parsed.error!, "envelope_invalid", false, "");
//       return 1;
//     }
//     writeResult(writeJson(handle(parsed.value!)));
//     return 0;
//   }
//
// The raw imports are catalog/sdk/abi/io.ts (module "io", named after that
// file because `deno fmt` deletes `@external` decorators).
import * as io from "../sdk/abi/io";
import { quoteJsonString } from "../core/json_write.ts";

/** The host's length caps for `io.fail` (UTF-16 code units, as the host counts them). */
const MESSAGE_MAX: i32 = 4096;
const CODE_MAX: i32 = 100;

/**
 * The step's input envelope: the `io` input bytes decoded from UTF-8, exactly
 * as `String.UTF8.decodeUnsafe` decodes them (invalid sequences included).
 *
 * Decoded in place: the bytes are read into the upper half of the string's
 * own buffer (n bytes of UTF-8 never need more than 2n bytes of UTF-16) and
 * decoded towards its start, then the string is shrunk to its length. Each
 * step writes at most 2 bytes per byte consumed (4 for a 4-byte sequence), so
 * the output never overtakes the unread input. Compared with a separate input
 * buffer this saves n bytes of fresh memory per step, which the bump allocator
 * never gives back (at ~3 µs per 4 KiB page faulted in, that is 0.5 ms at 1 MB).
 */
export function readEnvelope(): string {
  const n = io.input_len();
  if (n <= 0) return "";
  const str = __new(<usize> n << 1, idof<string>());
  const input = str + <usize> n;
  const copied = io.read_input(input, n);
  // The host copies min(len, input length) bytes; never more than asked for.
  const end = input + <usize> (copied < 0 ? 0 : copied > n ? n : copied);
  let p = input;
  let q = str;
  // The loop of String.UTF8.decodeUnsafe (AssemblyScript 0.28), reading from p, writing at q,
  // with a fast path for runs of ASCII (most of a JSON envelope): eight bytes at a time become
  // eight UTF-16 units in two stores (about a third of the decoding time of a 7 KB envelope).
  // The 16 bytes written end at most at the first unread byte: with k bytes read before,
  // q <= str + 2k and the unread input starts at str + n + k + 8, and k + 8 <= n.
  while (p < end) {
    if (p + 8 <= end) {
      const w = load<u64>(p);
      if ((w & 0x8080808080808080) == 0) {
        store<u64>(q, widenAscii(<u32> w));
        store<u64>(q + 8, widenAscii(<u32> (w >> 32)));
        p += 8;
        q += 16;
        continue;
      }
    }
    let u0 = <u32> load<u8>(p);
    ++p;
    if (!(u0 & 128)) {
      store<u16>(q, u0);
    } else {
      if (end == p) break;
      const u1 = <u32> load<u8>(p) & 63;
      ++p;
      if ((u0 & 224) == 192) {
        store<u16>(q, ((u0 & 31) << 6) | u1);
      } else {
        if (end == p) break;
        const u2 = <u32> load<u8>(p) & 63;
        ++p;
        if ((u0 & 240) == 224) {
          u0 = ((u0 & 15) << 12) | (u1 << 6) | u2;
        } else {
          if (end == p) break;
          u0 = ((u0 & 7) << 18) | (u1 << 12) | (u2 << 6) | (<u32> load<u8>(p) & 63);
          ++p;
        }
        if (u0 < 0x10000) {
          store<u16>(q, u0);
        } else {
          u0 -= 0x10000;
          const lo = (u0 >> 10) | 0xd800;
          const hi = (u0 & 0x03ff) | 0xdc00;
          store<u32>(q, lo | (hi << 16));
          q += 2;
        }
      }
    }
    q += 2;
  }
  // The string is the newest allocation, so this gives the unused tail back.
  return changetype<string>(__renew(str, q - str));
}

/** Four ASCII bytes (little-endian in `w`) as four UTF-16 code units (inlined by the optimizer). */
function widenAscii(w: u32): u64 {
  const x = <u64> w;
  return (x & 0xff) | ((x & 0xff00) << 8) | ((x & 0xff0000) << 16) | ((x & 0xff000000) << 24);
}

/**
 * Writes the step's result (JSON text) as UTF-8 to the `io` output. Call it
 * once: several calls concatenate. The host fails the step with
 * `output_too_large` past `limits.output_bytes` and with `output_invalid`
 * when the text is not JSON or breaks the manifest's `output_schema`.
 */
export function writeResult(json: string): void {
  const buf = String.UTF8.encode(json);
  io.write_output(changetype<usize>(buf), buf.byteLength);
}

/**
 * Reports that the step failed: the step's error has code `handler_error`,
 * this `message`, `details.guest_code` = `code` (omitted when empty),
 * `details.guest_details` = the JSON text `detailsJson` (omitted when empty)
 * and `retryable` telling the engine whether a retry could succeed.
 * `message` and `code` are cut to the host's caps (4096 and 100 code units).
 * When the host refuses `detailsJson` (not JSON), the failure is reported
 * again without details rather than lost; a refusal of that traps.
 */
export function failStep(
  message: string,
  code: string,
  retryable: bool,
  detailsJson: string,
): void {
  if (report(message, code, retryable, detailsJson) >= 0) return;
  if (detailsJson.length > 0 && report(message, code, retryable, "") >= 0) return;
  throw new Error("io.fail refused the failure report of: " + cut(message, 200));
}

function report(message: string, code: string, retryable: bool, detailsJson: string): i32 {
  const parts = new Array<string>();
  parts.push('{"message":');
  parts.push(quoteJsonString(cut(message, MESSAGE_MAX)));
  if (code.length > 0) {
    parts.push(',"code":');
    parts.push(quoteJsonString(cut(code, CODE_MAX)));
  }
  parts.push(retryable ? ',"retryable":true' : ',"retryable":false');
  if (detailsJson.length > 0) {
    parts.push(',"details":');
    parts.push(detailsJson);
  }
  parts.push("}");
  const buf = String.UTF8.encode(parts.join(""));
  return io.fail(changetype<usize>(buf), buf.byteLength);
}

/** At most `max` code units of `text`, never ending in half a surrogate pair. */
function cut(text: string, max: i32): string {
  if (text.length <= max) return text;
  let end = max;
  const last = text.charCodeAt(end - 1);
  if (last >= 0xd800 && last <= 0xdbff) end--;
  return text.substring(0, end);
}
