/// <reference path="./portable.d.ts" />
/**
 * `${...}` templates in handler configs, rendered against the step envelope.
 * Portable AssemblyScript: both builds render the same text and fail the
 * same way.
 *
 * - `${context.a.b}`, `${context.items[0].id}`, `${context["odd key"]}`: the task context.
 * - `${deps.<step>.x}` and its alias `${steps.<step>.result.x}`: dependency results.
 * - `${step.name}`, `${step.attempts}`, `${step.inputs.x}`: the step itself.
 * - `${secrets.NAME}` is never resolved here: it is emitted verbatim and the
 *   `http` capability substitutes the value on the host side, so the guest
 *   never holds it.
 * - `$${` is a literal `${`.
 *
 * A string value is inserted as it is; any other value as its JSON text
 * (`null`, `42`, `{"a":1}`). A path that does not exist fails with
 * `template_missing` naming it (never an empty string); a malformed
 * placeholder fails with `template_invalid`.
 */
import { HandlerResult } from "./handler_result.ts";
// AssemblyScript has no `import type`: type-only names are imported as values.
// deno-lint-ignore verbatim-module-syntax
import { JsonValue } from "./json_value.ts";
import { quoteJsonString, writeJson } from "./json_write.ts";

/** Insert rendered text as it is. */
export const ENCODE_NONE: i32 = 0;
/**
 * Percent-encode rendered text (literal parts and values alike) as UTF-8,
 * keeping only RFC 3986 unreserved characters: for URL query names and
 * values. Secret placeholders stay verbatim (the host encodes the value).
 */
export const ENCODE_QUERY: i32 = 1;

/** Deepest nesting of a JSON template (arrays and objects). */
export const TEMPLATE_MAX_DEPTH: i32 = 1000;

/** The text `${secrets.` that starts every secret placeholder. */
export const SECRET_MARKER: string = "${secrets.";

/** The values templates read: the envelope's `context`, `deps` and `step`. */
export class TemplateScope {
  context: JsonValue;
  deps: JsonValue;
  step: JsonValue;

  constructor(context: JsonValue, deps: JsonValue, step: JsonValue) {
    this.context = context;
    this.deps = deps;
    this.step = step;
  }

  /** The scope of a step envelope; absent members are null. */
  static of(envelope: JsonValue): TemplateScope {
    return new TemplateScope(
      member(envelope, "context"),
      member(envelope, "deps"),
      member(envelope, "step"),
    );
  }
}

function member(envelope: JsonValue, name: string): JsonValue {
  if (!envelope.isObject()) return JsonValue.null();
  const v = envelope.get(name);
  return v == null ? JsonValue.null() : v;
}

/** A rendered string template, or the failure to return. */
export class RenderedText {
  text: string = "";
  /** How many `${secrets.NAME}` placeholders the template itself emitted. */
  secrets: i32 = 0;
  failure: HandlerResult | null = null;
}

/** A rendered JSON template, or the failure to return. */
export class RenderedValue {
  value: JsonValue = JsonValue.null();
  /** How many `${secrets.NAME}` placeholders the template itself emitted. */
  secrets: i32 = 0;
  failure: HandlerResult | null = null;
}

/** One parsed placeholder: `root` and its path segments. */
class Placeholder {
  root: string = "";
  /** Object keys; for an index segment the decimal text of the index. */
  keys: Array<string> = new Array<string>();
  /** True where the segment was written `[n]` (or is all digits after a dot). */
  isIndex: Array<bool> = new Array<bool>();
  /** Offset just past the closing `}`; -1 when malformed. */
  end: i32 = -1;
  /** What was wrong, when malformed. */
  error: string = "";
}

/** The result of resolving a placeholder's path. */
class Lookup {
  value: JsonValue | null = null;
  /** Why the path does not exist, when `value` is null. */
  reason: string = "";
}

/**
 * Renders a string template. `field` names the config path for messages
 * (`config.url`); `encoding` is {@link ENCODE_NONE} or {@link ENCODE_QUERY}.
 *
 * @example
 * ```ts
 * import "../native/portable_runtime.ts";
 * import { fromJs } from "../native/js_bridge.ts";
 * import { ENCODE_NONE, renderTemplate, TemplateScope } from "./interpolate.ts";
 *
 * const scope = TemplateScope.of(fromJs({ context: { user: { id: 7 } } }));
 * const r = renderTemplate("/users/${context.user.id}?t=${secrets.TOKEN}", scope, "config.url", ENCODE_NONE);
 * console.assert(r.failure === null && r.text === "/users/7?t=${secrets.TOKEN}" && r.secrets === 1);
 * ```
 */
export function renderTemplate(
  template: string,
  scope: TemplateScope,
  field: string,
  encoding: i32,
): RenderedText {
  const out = new RenderedText();
  const parts = new Array<string>();
  const n = template.length;
  let literalStart = 0;
  let i = 0;
  while (i < n) {
    if (template.charCodeAt(i) != 0x24 /* $ */) {
      i++;
      continue;
    }
    // `$${` is a literal `${`.
    if (
      i + 2 < n && template.charCodeAt(i + 1) == 0x24 && template.charCodeAt(i + 2) == 0x7b
    ) {
      pushText(parts, template.substring(literalStart, i) + "${", encoding);
      i += 3;
      literalStart = i;
      continue;
    }
    if (i + 1 >= n || template.charCodeAt(i + 1) != 0x7b /* { */) {
      i++;
      continue;
    }
    pushText(parts, template.substring(literalStart, i), encoding);
    const p = parsePlaceholder(template, i);
    if (p.end < 0) {
      out.failure = invalid(field, template, i, p.error);
      return out;
    }
    if (p.root == "secrets") {
      const secret = secretName(p);
      if (secret.length == 0) {
        out.failure = invalid(
          field,
          template,
          i,
          "a secret placeholder is ${secrets.NAME} with NAME of A-Z, 0-9 and _ (not starting with a digit)",
        );
        return out;
      }
      parts.push(SECRET_MARKER + secret + "}");
      out.secrets++;
    } else {
      const found = resolve(p, scope);
      const value = found.value;
      if (value == null) {
        out.failure = missing(field, pathText(p), found.reason);
        return out;
      }
      pushText(parts, value.isString() ? value.str : writeJson(value), encoding);
    }
    i = p.end;
    literalStart = i;
  }
  pushText(parts, template.substring(literalStart, n), encoding);
  out.text = parts.join("");
  return out;
}

/**
 * Renders a JSON template: every string in it is a template, object keys are
 * kept as they are. A string that is exactly one placeholder (other than a
 * secret) is replaced by the value itself, keeping its type, so
 * `{"amount": "${context.total}"}` sends a number.
 *
 * @example
 * ```ts
 * import "../native/portable_runtime.ts";
 * import { fromJs, toJs } from "../native/js_bridge.ts";
 * import { renderJsonTemplate, TemplateScope } from "./interpolate.ts";
 *
 * const scope = TemplateScope.of(fromJs({ context: { total: 12.5, who: "ann" } }));
 * const r = renderJsonTemplate(fromJs({ amount: "${context.total}", note: "for ${context.who}" }), scope, "config.body");
 * console.assert(JSON.stringify(toJs(r.value)) === '{"amount":12.5,"note":"for ann"}');
 * ```
 */
export function renderJsonTemplate(
  template: JsonValue,
  scope: TemplateScope,
  field: string,
): RenderedValue {
  const out = new RenderedValue();
  const value = renderNode(template, scope, field, out, 0);
  if (value != null) out.value = value;
  return out;
}

function renderNode(
  node: JsonValue,
  scope: TemplateScope,
  field: string,
  out: RenderedValue,
  depth: i32,
): JsonValue | null {
  if (depth > TEMPLATE_MAX_DEPTH) {
    out.failure = HandlerResult.fail(
      "template_invalid",
      "Cannot render " + field + " as it is nested deeper than " +
        TEMPLATE_MAX_DEPTH.toString() + " levels",
      false,
      fieldDetails(field),
    );
    return null;
  }
  if (node.isString()) return renderStringNode(node.str, scope, field, out);
  if (node.isArray()) {
    const items = node.items!;
    const rendered = new Array<JsonValue>();
    for (let i = 0; i < items.length; i++) {
      const v = renderNode(items[i], scope, field + "[" + i.toString() + "]", out, depth + 1);
      if (v == null) return null;
      rendered.push(v);
    }
    return JsonValue.array(rendered);
  }
  if (node.isObject()) {
    const keys = node.keys!;
    const vals = node.vals!;
    const rendered = JsonValue.object();
    for (let i = 0; i < keys.length; i++) {
      const v = renderNode(vals[i], scope, fieldPath(field, keys[i]), out, depth + 1);
      if (v == null) return null;
      rendered.set(keys[i], v);
    }
    return rendered;
  }
  return node;
}

function renderStringNode(
  text: string,
  scope: TemplateScope,
  field: string,
  out: RenderedValue,
): JsonValue | null {
  // A whole-string placeholder keeps the value's type.
  if (text.length > 3 && text.charCodeAt(0) == 0x24 && text.charCodeAt(1) == 0x7b) {
    const p = parsePlaceholder(text, 0);
    if (p.end == text.length && p.root != "secrets") {
      const found = resolve(p, scope);
      const value = found.value;
      if (value == null) {
        out.failure = missing(field, pathText(p), found.reason);
        return null;
      }
      return value;
    }
  }
  const r = renderTemplate(text, scope, field, ENCODE_NONE);
  if (r.failure != null) {
    out.failure = r.failure;
    return null;
  }
  out.secrets += r.secrets;
  return JsonValue.string(r.text);
}

/** How many times {@link SECRET_MARKER} occurs in `text`. */
export function countSecretMarkers(text: string): i32 {
  let count = 0;
  let at = text.indexOf(SECRET_MARKER);
  while (at >= 0) {
    count++;
    at = text.indexOf(SECRET_MARKER, at + SECRET_MARKER.length);
  }
  return count;
}

/**
 * `text` as UTF-8 with every byte outside the RFC 3986 unreserved set
 * (`A-Z a-z 0-9 - . _ ~`) written `%XX` (upper-case hex). A lone surrogate
 * is encoded as U+FFFD, as `TextEncoder` does.
 *
 * @example
 * ```ts
 * import "../native/portable_runtime.ts";
 * import { percentEncode } from "./interpolate.ts";
 * console.assert(percentEncode("a b&c=é") === "a%20b%26c%3D%C3%A9");
 * ```
 */
export function percentEncode(text: string): string {
  const parts = new Array<string>();
  const n = text.length;
  let plainStart = 0;
  for (let i = 0; i < n; i++) {
    const c = text.charCodeAt(i);
    if (isUnreserved(c)) continue;
    if (plainStart < i) parts.push(text.substring(plainStart, i));
    if (c < 0x80) {
      parts.push(hexByte(c));
    } else if (c < 0x800) {
      parts.push(hexByte(0xc0 | (c >> 6)));
      parts.push(hexByte(0x80 | (c & 0x3f)));
    } else if (
      c >= 0xd800 && c <= 0xdbff && i + 1 < n && text.charCodeAt(i + 1) >= 0xdc00 &&
      text.charCodeAt(i + 1) <= 0xdfff
    ) {
      const cp = 0x10000 + ((c - 0xd800) << 10) + (text.charCodeAt(i + 1) - 0xdc00);
      parts.push(hexByte(0xf0 | (cp >> 18)));
      parts.push(hexByte(0x80 | ((cp >> 12) & 0x3f)));
      parts.push(hexByte(0x80 | ((cp >> 6) & 0x3f)));
      parts.push(hexByte(0x80 | (cp & 0x3f)));
      i++;
    } else {
      const cp = c >= 0xd800 && c <= 0xdfff ? 0xfffd : c;
      parts.push(hexByte(0xe0 | (cp >> 12)));
      parts.push(hexByte(0x80 | ((cp >> 6) & 0x3f)));
      parts.push(hexByte(0x80 | (cp & 0x3f)));
    }
    plainStart = i + 1;
  }
  if (plainStart == 0) return text;
  if (plainStart < n) parts.push(text.substring(plainStart, n));
  return parts.join("");
}

function isUnreserved(c: i32): bool {
  return (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a) || (c >= 0x30 && c <= 0x39) ||
    c == 0x2d || c == 0x2e || c == 0x5f || c == 0x7e;
}

const HEX: string = "0123456789ABCDEF";

function hexByte(b: i32): string {
  return "%" + HEX.charAt((b >> 4) & 15) + HEX.charAt(b & 15);
}

function pushText(parts: Array<string>, text: string, encoding: i32): void {
  if (text.length == 0) return;
  parts.push(encoding == ENCODE_QUERY ? percentEncode(text) : text);
}

/** `config.body.a` or `config.body["odd key"]`. */
function fieldPath(field: string, key: string): string {
  return isPlainKey(key) ? field + "." + key : field + "[" + quoteJsonString(key) + "]";
}

function isSpace(c: i32): bool {
  return c == 0x20 || c == 0x09 || c == 0x0a || c == 0x0d;
}

/** A character that ends a dotted key. */
function endsKey(c: i32): bool {
  return c == 0x2e || c == 0x5b || c == 0x5d || c == 0x7b || c == 0x7d || c == 0x22 ||
    c == 0x27 || isSpace(c);
}

function isDigit(c: i32): bool {
  return c >= 0x30 && c <= 0x39;
}

function isPlainKey(key: string): bool {
  if (key.length == 0) return false;
  for (let i = 0; i < key.length; i++) {
    if (endsKey(key.charCodeAt(i))) return false;
  }
  return true;
}

/** Parses `${ root(.key | [n] | ["key"])* }` starting at the `$` at `start`. */
function parsePlaceholder(text: string, start: i32): Placeholder {
  const p = new Placeholder();
  const n = text.length;
  let i = start + 2;
  while (i < n && isSpace(text.charCodeAt(i))) i++;
  const rootStart = i;
  while (i < n && !endsKey(text.charCodeAt(i))) i++;
  p.root = text.substring(rootStart, i);
  if (p.root.length == 0) {
    p.error = "expected a path such as context.id after ${";
    return p;
  }
  if (
    p.root != "context" && p.root != "deps" && p.root != "steps" && p.root != "step" &&
    p.root != "secrets"
  ) {
    p.error = "a path starts with context, deps, steps, step or secrets, not " +
      quoteJsonString(p.root);
    return p;
  }
  while (i < n) {
    const c = text.charCodeAt(i);
    if (c == 0x2e /* . */) {
      i++;
      const keyStart = i;
      while (i < n && !endsKey(text.charCodeAt(i))) i++;
      if (i == keyStart) {
        p.error = "expected a key after '.'";
        return p;
      }
      const key = text.substring(keyStart, i);
      p.keys.push(key);
      p.isIndex.push(allDigits(key));
    } else if (c == 0x5b /* [ */) {
      i++;
      if (i < n && (text.charCodeAt(i) == 0x22 || text.charCodeAt(i) == 0x27)) {
        const quote = text.charCodeAt(i);
        const keyStart = i + 1;
        i = keyStart;
        while (i < n && text.charCodeAt(i) != quote) i++;
        if (i + 1 >= n || text.charCodeAt(i + 1) != 0x5d) {
          p.error = "expected a quoted key and ']' after '['";
          return p;
        }
        p.keys.push(text.substring(keyStart, i));
        p.isIndex.push(false);
        i += 2;
      } else {
        const digitsStart = i;
        while (i < n && isDigit(text.charCodeAt(i))) i++;
        if (i == digitsStart || i >= n || text.charCodeAt(i) != 0x5d || i - digitsStart > 9) {
          p.error = "expected an index of at most 9 digits, or a quoted key, and ']' after '['";
          return p;
        }
        p.keys.push(stripZeros(text.substring(digitsStart, i)));
        p.isIndex.push(true);
        i++;
      }
    } else {
      break;
    }
  }
  while (i < n && isSpace(text.charCodeAt(i))) i++;
  if (i >= n || text.charCodeAt(i) != 0x7d /* } */) {
    p.error = i >= n ? "expected '}' before the end of the text" : "expected '}', '.' or '['";
    return p;
  }
  p.end = i + 1;
  return p;
}

function allDigits(key: string): bool {
  if (key.length == 0 || key.length > 9) return false;
  for (let i = 0; i < key.length; i++) {
    if (!isDigit(key.charCodeAt(i))) return false;
  }
  return true;
}

function stripZeros(digits: string): string {
  let i = 0;
  while (i < digits.length - 1 && digits.charCodeAt(i) == 0x30) i++;
  return digits.substring(i);
}

/** The key of `${secrets.KEY}`, or "" when the placeholder is no valid secret reference. */
function secretName(p: Placeholder): string {
  if (p.keys.length != 1 || p.isIndex[0]) return "";
  const key = p.keys[0];
  if (key.length == 0 || key.length > 128 || isDigit(key.charCodeAt(0))) return "";
  for (let i = 0; i < key.length; i++) {
    const c = key.charCodeAt(i);
    if (!((c >= 0x41 && c <= 0x5a) || isDigit(c) || c == 0x5f)) return "";
  }
  return key;
}

/** The canonical text of a placeholder's path: `context.items[0]["odd key"]`. */
function pathText(p: Placeholder): string {
  return segmentsText(p, p.keys.length);
}

function segmentsText(p: Placeholder, count: i32): string {
  const parts = new Array<string>();
  parts.push(p.root);
  for (let i = 0; i < count; i++) {
    const key = p.keys[i];
    if (p.isIndex[i]) parts.push("[" + key + "]");
    else if (isPlainKey(key)) parts.push("." + key);
    else parts.push("[" + quoteJsonString(key) + "]");
  }
  return parts.join("");
}

function resolve(p: Placeholder, scope: TemplateScope): Lookup {
  const out = new Lookup();
  let current: JsonValue;
  let first = 0;
  if (p.root == "context") {
    current = scope.context;
  } else if (p.root == "step") {
    current = scope.step;
  } else if (p.root == "deps") {
    current = scope.deps;
  } else {
    // `steps.<name>.result` is `deps.<name>`: deps holds each dependency's `.result`.
    if (p.keys.length == 0) {
      out.value = stepsView(scope.deps);
      return out;
    }
    const name = p.keys[0];
    const dep = scope.deps.isObject() ? scope.deps.get(name) : null;
    if (dep == null) {
      out.reason = "deps has no step " + quoteJsonString(name);
      return out;
    }
    if (p.keys.length == 1) {
      out.value = JsonValue.object().set("result", dep);
      return out;
    }
    if (p.keys[1] != "result" || p.isIndex[1]) {
      out.reason = segmentsText(p, 1) + ' has only "result"';
      return out;
    }
    current = dep;
    first = 2;
  }
  for (let i = first; i < p.keys.length; i++) {
    const key = p.keys[i];
    const at = segmentsText(p, i);
    if (current.isObject() && !p.isIndex[i]) {
      const next = current.get(key);
      if (next == null) {
        out.reason = at + " has no key " + quoteJsonString(key);
        return out;
      }
      current = next;
    } else if (current.isArray() && p.isIndex[i]) {
      const index = i32(parseF64(key));
      if (index >= current.size()) {
        out.reason = at + " has " + current.size().toString() + " items";
        return out;
      }
      current = current.at(index)!;
    } else if (current.isObject() && p.isIndex[i]) {
      // `.0` on an object is a key that happens to be digits.
      const next = current.get(key);
      if (next == null) {
        out.reason = at + " has no key " + quoteJsonString(key);
        return out;
      }
      current = next;
    } else {
      out.reason = at + " is " + article(current.typeName());
      return out;
    }
  }
  out.value = current;
  return out;
}

/** `{<name>: {result: <deps[name]>}}` for `${steps}`. */
function stepsView(deps: JsonValue): JsonValue {
  const out = JsonValue.object();
  if (!deps.isObject()) return out;
  const keys = deps.keys!;
  const vals = deps.vals!;
  for (let i = 0; i < keys.length; i++) out.set(keys[i], JsonValue.object().set("result", vals[i]));
  return out;
}

function article(typeName: string): string {
  if (typeName == "null") return "null";
  return (typeName == "array" || typeName == "object" ? "an " : "a ") + typeName;
}

function fieldDetails(field: string): JsonValue {
  return JsonValue.object().set("field", JsonValue.string(field));
}

function invalid(field: string, template: string, offset: i32, why: string): HandlerResult {
  const details = fieldDetails(field);
  details.set("offset", JsonValue.number(f64(offset)));
  return HandlerResult.fail(
    "template_invalid",
    "Cannot render " + field + " as the placeholder at offset " + offset.toString() +
      " is malformed: " + why,
    false,
    details.set("template", JsonValue.string(template)),
  );
}

function missing(field: string, path: string, reason: string): HandlerResult {
  const details = fieldDetails(field);
  details.set("path", JsonValue.string(path));
  return HandlerResult.fail(
    "template_missing",
    "Cannot render " + field + " as ${" + path + "} does not exist: " + reason,
    false,
    details,
  );
}
