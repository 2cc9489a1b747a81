/// <reference path="./portable.d.ts" />
/**
 * The whole text-in, text-out path of a catalog handler, shared by both
 * builds: parse the envelope, run the handler, render the result JSON or the
 * failure (message, code, retryable, details JSON). The wasm and native entry
 * points only move bytes, so both builds produce the same outcome.
 */
import { HandlerError, HandlerResult } from "./handler_result.ts";
import { parseJson } from "./json_parse.ts";
import { JsonValue } from "./json_value.ts";
import { writeJson } from "./json_write.ts";

/** A handler: envelope in, result or coded failure out. */
export type Handler = (envelope: JsonValue) => HandlerResult;

/** What a handler run produced, as text. */
export class HandlerOutput {
  /** The result JSON, when the handler succeeded (and the text was asked for). */
  resultJson: string = "";
  /** The result, when the handler succeeded. */
  result: JsonValue | null = null;
  /** The failure, when it did not. */
  error: HandlerError | null = null;
  /** The failure's details as JSON text ("" when none). */
  detailsJson: string = "";
}

/** The host's caps on a failure's message and code (UTF-16 code units; see plugins/io). */
export const FAILURE_MESSAGE_MAX: i32 = 4096;
export const FAILURE_CODE_MAX: i32 = 100;

/** At most `max` code units of `text`, never ending in half a surrogate pair. */
export function cutText(text: string, max: i32): string {
  if (text.length <= max) return text;
  let end = max;
  const last = text.charCodeAt(end - 1);
  if (last >= 0xd800 && last <= 0xdbff) end--;
  return text.substring(0, end);
}

function failed(code: string, message: string): HandlerOutput {
  const out = new HandlerOutput();
  out.error = new HandlerError(code, message, false, null);
  return out;
}

/** The parsed step envelope, or the output that reports why it cannot be used. */
export class ParsedEnvelope {
  envelope: JsonValue | null = null;
  failure: HandlerOutput | null = null;
}

/** Parses the envelope text; it must be a JSON object. */
export function parseEnvelope(envelopeText: string): ParsedEnvelope {
  const out = new ParsedEnvelope();
  const parsed = parseJson(envelopeText);
  if (parsed.error != null) {
    out.failure = failed("envelope_invalid", "Cannot parse the step envelope: " + parsed.error!);
    return out;
  }
  const envelope = parsed.value!;
  if (!envelope.isObject()) {
    out.failure = failed(
      "envelope_invalid",
      "Cannot use the step envelope as it is " + envelope.typeName() + ", not an object",
    );
    return out;
  }
  out.envelope = envelope;
  return out;
}

/**
 * A handler's result as output. With `resultText` false the result is left
 * as a value (`result`) for the caller to write: the wasm edge streams it as
 * UTF-8 instead of building the text as a string first.
 */
export function handlerOutput(result: HandlerResult, resultText: bool = true): HandlerOutput {
  const out = new HandlerOutput();
  const error = result.error;
  if (error != null) {
    // Cut here, not only at the wasm boundary, so both builds report the same text.
    out.error = new HandlerError(
      cutText(error.code, FAILURE_CODE_MAX),
      cutText(error.message, FAILURE_MESSAGE_MAX),
      error.retryable,
      error.details,
    );
    const details = error.details;
    if (details != null) out.detailsJson = writeJson(details);
  } else {
    out.result = result.value;
    if (resultText) out.resultJson = writeJson(result.value!);
  }
  return out;
}

/**
 * Runs `handle` on the envelope text ({@link parseEnvelope}, then
 * {@link handlerOutput}). The wasm edge calls those two itself, so that each
 * handler's entry calls its `handle` directly (see catalog/wasm/run_handler.ts).
 */
export function runHandler(
  handle: Handler,
  envelopeText: string,
  resultText: bool = true,
): HandlerOutput {
  const parsed = parseEnvelope(envelopeText);
  if (parsed.failure != null) return parsed.failure!;
  return handlerOutput(handle(parsed.envelope!), resultText);
}
