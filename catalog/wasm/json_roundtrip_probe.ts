// Test-only AssemblyScript entry (catalog/wasm/json_text_test.ts builds it):
// exposes the portable JSON parser and writer of the wasm build, step by step,
// so the test can compare their bytes with the native build and time them.
// `run` is a minimal catalog guest on top of guest_io.ts: it echoes its
// envelope re-serialized, or fails the step when the envelope is not JSON.
//
// Host usage: p = alloc(n); copy UTF-8 JSON to p; decode(p, n); parse();
// write(indent); n = encode(); read n bytes at outputPtr(). Or, after
// parse(), stream() to get the result writer's bytes through io.write_output.
import { JsonValue } from "../core/json_value.ts";
import { parseJson } from "../core/json_parse.ts";
import { writeJsonPretty } from "../core/json_write.ts";
import { failStep, readEnvelope, writeResult } from "./guest_io.ts";
import { writeResultValue } from "./json_output.ts";

let text: string = "";
let value: JsonValue | null = null;
let error: string | null = null;
let errorOffset: i32 = -1;
let written: string = "";
let output: ArrayBuffer = new ArrayBuffer(0);
const buffers = new Array<ArrayBuffer>(); // keeps alloc'd input alive under any runtime

/** A fresh buffer of `len` bytes for the host to fill. */
export function alloc(len: i32): usize {
  const buf = new ArrayBuffer(len);
  buffers.push(buf);
  return changetype<usize>(buf);
}

/** Decodes `len` UTF-8 bytes at `ptr` as the text to parse. */
export function decode(ptr: usize, len: i32): void {
  text = String.UTF8.decodeUnsafe(ptr, <usize> len);
}

/** Parses the decoded text with the default depth limit; 1 when it is JSON, else 0. */
export function parse(): i32 {
  return parseWithDepth(-1);
}

/** Parses with nesting limit `maxDepth` (-1: the default); 1 when it is JSON, else 0. */
export function parseWithDepth(maxDepth: i32): i32 {
  const result = maxDepth < 0 ? parseJson(text) : parseJson(text, maxDepth);
  value = result.value;
  error = result.error;
  errorOffset = result.offset;
  return value != null ? 1 : 0;
}

/**
 * Writes the parsed value (`indent` > 0: pretty), or after a failed parse
 * `{"error": message, "offset": n}`; returns the length in code units.
 */
export function write(indent: i32): i32 {
  if (value != null) {
    written = writeJsonPretty(value!, indent);
  } else {
    const report = JsonValue.object();
    report.set("error", JsonValue.string(error != null ? error! : ""));
    report.set("offset", JsonValue.number(<f64> errorOffset));
    written = writeJsonPretty(report, 0);
  }
  return written.length;
}

/**
 * Writes the parsed value to the `io` output with the wasm build's result
 * writer (json_output.ts), which streams UTF-8 in chunks instead of building
 * the text: its bytes must equal those of `write(0)` + `encode()`.
 */
export function stream(): void {
  writeResultValue(value!);
}

/** Encodes the written text as UTF-8; returns its byte length (bytes at {@link outputPtr}). */
export function encode(): i32 {
  output = String.UTF8.encode(written);
  return output.byteLength;
}

export function outputPtr(): usize {
  return changetype<usize>(output);
}

/**
 * A catalog-style guest entry: the envelope back as compact JSON, or a
 * structured failure when it is not JSON. An envelope
 * `{"fail": {"message", "code", "retryable", "details_json"}}` calls
 * {@link failStep} with those arguments instead (to test the failure path).
 */
export function run(): i32 {
  const parsed = parseJson(readEnvelope());
  if (parsed.error != null) {
    failStep(
      "the envelope is not JSON: " + parsed.error!,
      "envelope_invalid",
      false,
      '{"offset":' + parsed.offset.toString() + "}",
    );
    return 1;
  }
  const envelope = parsed.value!;
  const fail = envelope.isObject() ? envelope.get("fail") : null;
  if (fail != null && fail.isObject()) {
    failStep(
      member(fail, "message"),
      member(fail, "code"),
      fail.has("retryable") && fail.get("retryable")!.isTruthy(),
      member(fail, "details_json"),
    );
    return 1;
  }
  writeResult(writeJsonPretty(envelope, 0));
  return 0;
}

function member(object: JsonValue, key: string): string {
  const v = object.get(key);
  return v != null && v.isString() ? v.str : "";
}
