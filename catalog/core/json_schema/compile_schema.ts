/// <reference path="../portable.d.ts" />
/**
 * Compiles a JSON Schema (draft 2020-12) into {@link SchemaNode}s once, so
 * validation never reads schema JSON again. Checks every keyword's value
 * (an invalid schema is an error naming its location), registers `$id`
 * resources and `$anchor`/`$dynamicAnchor` names, resolves `$ref` and
 * `$dynamicRef` inside the document (remote references are `unsupported`),
 * and refuses reference cycles that never move into the instance (they
 * would recurse forever). Portable AssemblyScript.
 */
import { JsonValue, Kind } from "../json_value.ts";
import { escapePointerToken, formatPointer, parsePointer, pointerGet } from "../json_pointer.ts";
import { FORMAT_NONE, formatIdOf } from "./schema_format.ts";
import { compileRegex, SchemaRegex } from "./schema_regex.ts";
import {
  GROUP_ARRAY,
  GROUP_NONE,
  GROUP_NUMBER,
  GROUP_OBJECT,
  GROUP_STRING,
  SchemaNode,
  SchemaResource,
  typeBit,
} from "./schema_node.ts";
import {
  encodeUriComponent,
  fragmentOf,
  percentDecode,
  resolveUri,
  stripFragment,
} from "./schema_uri.ts";

/** Error code: the schema breaks a rule of JSON Schema 2020-12. */
export const SCHEMA_INVALID: string = "schema_invalid";
/** Error code: the schema is valid but uses something this validator does not implement. */
export const SCHEMA_UNSUPPORTED: string = "unsupported";

/** Options for {@link compileSchema}. */
export class CompileOptions {
  /**
   * Check `format` (date-time, date, time, email, ipv4, ipv6, uri, uuid)
   * instead of treating it as an annotation. Other formats stay annotations.
   */
  assertFormats: bool = false;
  /** How deeply schema objects may nest inside the document. */
  maxDepth: i32 = 256;
}

/** A compiled schema: compile once, validate many instances. */
export class CompiledSchema {
  root: SchemaNode;
  /** How many schema nodes were compiled. */
  nodeCount: i32;
  /** Whether some `$dynamicRef` resolves dynamically (validation then tracks the dynamic scope). */
  dynamic: bool;

  constructor(root: SchemaNode, nodeCount: i32, dynamic: bool) {
    this.root = root;
    this.nodeCount = nodeCount;
    this.dynamic = dynamic;
  }
}

/** The outcome of {@link compileSchema}: a schema, or an error naming where it went wrong. */
export class SchemaCompileResult {
  schema: CompiledSchema | null;
  /** e.g. `Cannot compile the schema as #/properties/a/minLength must be a non-negative integer: current value is -1` */
  error: string | null;
  /** {@link SCHEMA_INVALID} or {@link SCHEMA_UNSUPPORTED} when `error` is set. */
  code: string | null;
  /** Schema location of the error, e.g. `#/properties/a/minLength`. */
  path: string | null;

  constructor(
    schema: CompiledSchema | null,
    error: string | null,
    code: string | null,
    path: string | null,
  ) {
    this.schema = schema;
    this.error = error;
    this.code = code;
    this.path = path;
  }
}

const META_2020 = "https://json-schema.org/draft/2020-12/schema";

/**
 * Compiles `schema` (draft 2020-12). Never throws: check `error` first.
 *
 * @example
 * ```ts
 * import "../../native/portable_runtime.ts";
 * import { fromJs } from "../../native/js_bridge.ts";
 * import { compileSchema } from "./compile_schema.ts";
 *
 * const ok = compileSchema(fromJs({ type: "object", required: ["id"] }));
 * console.assert(ok.error === null && ok.schema !== null);
 *
 * const bad = compileSchema(fromJs({ properties: { a: { minLength: -1 } } }));
 * console.assert(bad.code === "schema_invalid" && bad.path === "#/properties/a/minLength");
 * ```
 */
export function compileSchema(
  schema: JsonValue,
  options: CompileOptions | null = null,
): SchemaCompileResult {
  const opts = options == null ? new CompileOptions() : options;
  const c = new SchemaCompiler(schema, opts);
  const root = c.compile();
  if (root == null) return new SchemaCompileResult(null, c.error, c.code, c.errorPath);
  let dynamic = false;
  for (let i = 0; i < c.refNodes.length; i++) {
    if (c.refNodes[i].dynamicName.length > 0) dynamic = true;
  }
  return new SchemaCompileResult(
    new CompiledSchema(root, c.nodes.length, dynamic),
    null,
    null,
    null,
  );
}

/** Describes a value for an error message (short; strings quoted). */
export function describeValue(v: JsonValue): string {
  switch (v.kind) {
    case Kind.Null:
      return "null";
    case Kind.False:
      return "false";
    case Kind.True:
      return "true";
    case Kind.Number:
      return formatF64(v.num);
    case Kind.String: {
      const s = v.str.length > 60 ? v.str.substring(0, 57) + "..." : v.str;
      return '"' + s + '"';
    }
    case Kind.Array:
      return "an array of " + v.size().toString();
    default:
      return "an object";
  }
}

/** Keywords ajv's 2020 mode has rules for (an object with none of them is "always valid" to ajv). */
const AJV_RULES: Array<string> = [
  "$dynamicAnchor",
  "$dynamicRef",
  "$recursiveAnchor",
  "$recursiveRef",
  "$comment",
  "id",
  "$ref",
  "maximum",
  "minimum",
  "exclusiveMaximum",
  "exclusiveMinimum",
  "multipleOf",
  "maxLength",
  "minLength",
  "pattern",
  "maxProperties",
  "minProperties",
  "required",
  "maxItems",
  "minItems",
  "uniqueItems",
  "type",
  "nullable",
  "const",
  "enum",
  "not",
  "anyOf",
  "oneOf",
  "allOf",
  "if",
  "then",
  "else",
  "propertyNames",
  "additionalProperties",
  "dependencies",
  "properties",
  "patternProperties",
  "prefixItems",
  "items",
  "contains",
  "format",
  "dependentRequired",
  "dependentSchemas",
  "maxContains",
  "minContains",
  "unevaluatedProperties",
  "unevaluatedItems",
];

/**
 * Sets `refCalled` like ajv decides between inlining and calling a `$ref`
 * target: "#" is called; a target that is only a `$ref` is followed; a final
 * target with a reference keyword anywhere inside is called. (Cycles were
 * refused before, so the chain ends.)
 */
function markCalled(node: SchemaNode): void {
  if (node.refText.length == 0) return;
  if (node.refText == "#" || node.refText == "#/") {
    node.refCalled = true;
    return;
  }
  let target = node.ref!;
  while (target.ref != null && isRefOnly(target.source)) target = target.ref!;
  node.refCalled = containsRefKeyword(target.source);
}

/** An object whose only ajv rule keyword is `$ref`. */
function isRefOnly(schema: JsonValue): bool {
  if (!schema.isObject() || !schema.has("$ref")) return false;
  for (let i = 0; i < AJV_RULES.length; i++) {
    const k = AJV_RULES[i];
    if (k != "$ref" && schema.has(k)) return false;
  }
  return true;
}

/** Whether a subtree has a key ajv treats as a reference (ajv then calls it instead of inlining). */
function containsRefKeyword(value: JsonValue): bool {
  if (value.isArray()) {
    const items = value.items!;
    for (let i = 0; i < items.length; i++) {
      if (containsRefKeyword(items[i])) return true;
    }
    return false;
  }
  if (!value.isObject()) return false;
  const keys = value.keys!;
  const vals = value.vals!;
  for (let i = 0; i < keys.length; i++) {
    const k = keys[i];
    if (
      k == "$ref" || k == "$dynamicRef" || k == "$dynamicAnchor" || k == "$recursiveRef" ||
      k == "$recursiveAnchor"
    ) {
      return true;
    }
    if (containsRefKeyword(vals[i])) return true;
  }
  return false;
}

function hasAjvRule(schema: JsonValue): bool {
  const keys = schema.keys!;
  if (keys.length == 0) return false;
  for (let i = 0; i < AJV_RULES.length; i++) {
    if (schema.has(AJV_RULES[i])) return true;
  }
  return false;
}

/** Whether `name` fits `^[A-Za-z_][-A-Za-z0-9._]*$` (the `$anchor` grammar). */
function isAnchorName(name: string): bool {
  const n = name.length;
  if (n == 0) return false;
  for (let i = 0; i < n; i++) {
    const c = name.charCodeAt(i);
    const letter = (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a) || c == 0x5f;
    if (letter) continue;
    if (i > 0 && ((c >= 0x30 && c <= 0x39) || c == 0x2d || c == 0x2e)) continue;
    return false;
  }
  return true;
}

class SchemaCompiler {
  doc: JsonValue;
  opts: CompileOptions;
  error: string | null = null;
  code: string | null = null;
  errorPath: string | null = null;
  /** Every node, in compile order (`id` is the index). */
  nodes: Array<SchemaNode> = new Array<SchemaNode>();
  /** Document JSON Pointer → node. */
  byPointer: Map<string, SchemaNode> = new Map<string, SchemaNode>();
  /** Resource URI (no fragment) → resource. */
  resources: Map<string, SchemaResource> = new Map<string, SchemaResource>();
  allResources: Array<SchemaResource> = new Array<SchemaResource>();
  /** Nodes with `$ref` or `$dynamicRef`, resolved after the walk. */
  refNodes: Array<SchemaNode> = new Array<SchemaNode>();

  constructor(doc: JsonValue, opts: CompileOptions) {
    this.doc = doc;
    this.opts = opts;
  }

  compile(): SchemaNode | null {
    const rootResource = new SchemaResource("", "");
    let base = "";
    if (this.doc.isObject()) {
      const id = this.doc.get("$id");
      if (id != null && id.isString()) base = stripFragment(resolveUri("", id.str));
    }
    // A root `$id` becomes the root resource's URI inside compileAt.
    if (base.length == 0) this.addResource(rootResource);
    const root = this.compileAt(this.doc, "", "#", "", rootResource, 0);
    if (root == null) return null;
    // Resolving may compile more nodes (targets inside unknown keywords), so loop by index.
    for (let i = 0; i < this.refNodes.length; i++) {
      if (!this.resolveRefs(this.refNodes[i])) return null;
    }
    if (!this.checkCycles()) return null;
    for (let i = 0; i < this.refNodes.length; i++) markCalled(this.refNodes[i]);
    return root;
  }

  fail(code: string, path: string, reason: string): SchemaNode | null {
    if (this.error == null) {
      this.code = code;
      this.errorPath = path;
      this.error = "Cannot compile the schema as " + reason;
    }
    return null;
  }

  /** Fails with "<path> must <rule>: current value is <v>". */
  invalid(path: string, rule: string, value: JsonValue): SchemaNode | null {
    return this.fail(
      SCHEMA_INVALID,
      path,
      path + " must " + rule + ": current value is " + describeValue(value),
    );
  }

  addResource(r: SchemaResource): void {
    this.resources.set(r.uri, r);
    this.allResources.push(r);
  }

  /** Compiles the schema `value` found at document `pointer` (schema path `path`). */
  compileAt(
    value: JsonValue,
    pointer: string,
    path: string,
    base: string,
    resource: SchemaResource,
    depth: i32,
  ): SchemaNode | null {
    if (this.byPointer.has(pointer)) return this.byPointer.get(pointer) as SchemaNode;
    if (depth > this.opts.maxDepth) {
      return this.fail(
        SCHEMA_INVALID,
        path,
        path + " nests deeper than " + this.opts.maxDepth.toString() +
          " schemas: current value is " + describeValue(value),
      );
    }
    if (value.kind == Kind.True || value.kind == Kind.False) {
      const b = new SchemaNode(path, pointer, resource, value);
      b.bool = value.kind == Kind.True ? 1 : 0;
      b.alwaysValid = b.bool == 1;
      b.trivial = b.bool == 1;
      this.register(b);
      return b;
    }
    if (!value.isObject()) return this.invalid(path, "be a schema (an object or a boolean)", value);

    let res = resource;
    let nodeBase = base;
    const idValue = value.get("$id");
    if (idValue != null) {
      if (!idValue.isString()) return this.invalid(path + "/$id", "be a string", idValue);
      const full = resolveUri(base, idValue.str);
      if (fragmentOf(full).length > 0) {
        return this.invalid(path + "/$id", "be a URI without a fragment", idValue);
      }
      nodeBase = stripFragment(full);
      if (this.resources.has(nodeBase)) {
        return this.fail(
          SCHEMA_INVALID,
          path + "/$id",
          path + "/$id must be unique in the document: current value is " +
            describeValue(idValue),
        );
      }
      res = new SchemaResource(nodeBase, pointer);
      this.addResource(res);
    }
    const node = new SchemaNode(path, pointer, res, value);
    this.register(node);

    if (!this.readAnchor(node, value, "$anchor", false)) return null;
    if (!this.readAnchor(node, value, "$dynamicAnchor", true)) return null;

    const schemaUri = value.get("$schema");
    if (schemaUri != null) {
      if (!schemaUri.isString()) return this.invalid(path + "/$schema", "be a string", schemaUri);
      const s = stripFragment(schemaUri.str);
      if (s != META_2020 && s != "http://json-schema.org/draft/2020-12/schema") {
        return this.fail(
          SCHEMA_UNSUPPORTED,
          path + "/$schema",
          path + "/$schema names a dialect other than draft 2020-12: current value is " +
            describeValue(schemaUri),
        );
      }
    }

    const d = depth + 1;
    if (!this.readAnyKeywords(node, value, nodeBase, d)) return null;
    if (!this.readNumberKeywords(node, value)) return null;
    if (!this.readStringKeywords(node, value)) return null;
    if (!this.readArrayKeywords(node, value, nodeBase, d)) return null;
    if (!this.readObjectKeywords(node, value, nodeBase, d)) return null;
    if (!this.readDefs(node, value, "$defs", nodeBase, d)) return null;
    if (!this.readDefs(node, value, "definitions", nodeBase, d)) return null;

    node.hasUnevaluated = node.unevaluatedItems != null || node.unevaluatedProperties != null;
    node.hasAnyRules = node.refText.length > 0 || node.dynamicRefText.length > 0 || node.hasConst ||
      node.enumValues != null || node.not != null || node.anyOf != null || node.oneOf != null ||
      node.allOf != null || node.ifNode != null;
    node.typeGroup = this.typeGroupOf(node);
    node.alwaysValid = !this.isActive(node);
    node.trivial = !hasAjvRule(value);
    return node;
  }

  register(node: SchemaNode): void {
    node.id = this.nodes.length;
    this.nodes.push(node);
    this.byPointer.set(node.pointer, node);
  }

  readAnchor(node: SchemaNode, value: JsonValue, key: string, dynamic: bool): bool {
    const v = value.get(key);
    if (v == null) return true;
    const path = node.path + "/" + key;
    if (!v.isString() || !isAnchorName(v.str)) {
      this.invalid(path, "be a name matching ^[A-Za-z_][-A-Za-z0-9._]*$", v);
      return false;
    }
    const res = node.resource;
    if (res.anchors.has(v.str) && res.anchors.get(v.str) != node) {
      this.fail(
        SCHEMA_INVALID,
        path,
        path + " must be unique in its schema resource: current value is " + describeValue(v),
      );
      return false;
    }
    res.anchors.set(v.str, node);
    if (dynamic) res.dynamicAnchors.set(v.str, node);
    return true;
  }

  child(
    node: SchemaNode,
    value: JsonValue,
    key: string,
    base: string,
    depth: i32,
  ): SchemaNode | null {
    return this.compileAt(
      value,
      node.pointer + "/" + escapePointerToken(key),
      node.path + "/" + key,
      base,
      node.resource,
      depth,
    );
  }

  /** A subschema under `key/token` (token = an array index or a property name). */
  grandchild(
    node: SchemaNode,
    value: JsonValue,
    key: string,
    token: string,
    base: string,
    depth: i32,
  ): SchemaNode | null {
    return this.compileAt(
      value,
      node.pointer + "/" + key + "/" + escapePointerToken(token),
      node.path + "/" + key + "/" + encodeUriComponent(escapePointerToken(token)),
      base,
      node.resource,
      depth,
    );
  }

  /** A non-empty array of schemas, or null (with the error set when present but wrong). */
  schemaArray(
    node: SchemaNode,
    value: JsonValue,
    key: string,
    base: string,
    depth: i32,
  ): Array<SchemaNode> | null {
    const v = value.get(key);
    if (v == null) return null;
    if (!v.isArray() || v.size() == 0) {
      this.invalid(node.path + "/" + key, "be a non-empty array of schemas", v);
      return null;
    }
    const out = new Array<SchemaNode>();
    const items = v.items!;
    for (let i = 0; i < items.length; i++) {
      const n = this.grandchild(node, items[i], key, i.toString(), base, depth);
      if (n == null) return null;
      out.push(n);
    }
    return out;
  }

  /** Reads a number keyword into `out[0]`; false on error, true when absent or read. */
  numberKeyword(node: SchemaNode, value: JsonValue, key: string, out: Array<f64>): bool {
    const v = value.get(key);
    out[0] = NaN;
    if (v == null) return true;
    if (!v.isNumber()) {
      this.invalid(node.path + "/" + key, "be a number", v);
      return false;
    }
    out[0] = v.num;
    return true;
  }

  /** A non-negative integer keyword (2.0 counts), or -1 when absent; -2 on error. */
  countKeyword(node: SchemaNode, value: JsonValue, key: string): f64 {
    const v = value.get(key);
    if (v == null) return -1;
    if (!v.isNumber() || v.num < 0 || v.num != Math.floor(v.num)) {
      this.invalid(node.path + "/" + key, "be a non-negative integer", v);
      return -2;
    }
    return v.num;
  }

  /** An array of unique strings, or null (error set when present but wrong). */
  stringList(path: string, v: JsonValue): Array<string> | null {
    if (!v.isArray()) {
      this.invalid(path, "be an array of unique strings", v);
      return null;
    }
    const out = new Array<string>();
    const seen = new Map<string, bool>();
    const items = v.items!;
    for (let i = 0; i < items.length; i++) {
      const s = items[i];
      if (!s.isString() || seen.has(s.str)) {
        this.invalid(path, "be an array of unique strings", v);
        return null;
      }
      seen.set(s.str, true);
      out.push(s.str);
    }
    return out;
  }

  readAnyKeywords(node: SchemaNode, value: JsonValue, base: string, depth: i32): bool {
    const path = node.path;
    const t = value.get("type");
    if (t != null) {
      const names = new Array<string>();
      if (t.isString()) {
        names.push(t.str);
      } else if (t.isArray() && t.size() > 0) {
        const items = t.items!;
        for (let i = 0; i < items.length; i++) {
          if (!items[i].isString()) {
            this.invalid(path + "/type", "be a type name or a non-empty array of them", t);
            return false;
          }
          names.push(items[i].str);
        }
      } else {
        this.invalid(path + "/type", "be a type name or a non-empty array of them", t);
        return false;
      }
      let mask = 0;
      for (let i = 0; i < names.length; i++) {
        const bit = typeBit(names[i]);
        if (bit == 0 || (mask & bit) != 0) {
          this.invalid(
            path + "/type",
            "name unique types among null, boolean, integer, number, string, array, object",
            t,
          );
          return false;
        }
        mask |= bit;
      }
      node.types = mask;
      node.typeNames = names;
      node.typeText = names.join(",");
    }

    const c = value.get("const");
    if (c != null) {
      node.hasConst = true;
      node.constValue = c;
    }
    const e = value.get("enum");
    if (e != null) {
      if (!e.isArray() || e.size() == 0) {
        this.invalid(path + "/enum", "be a non-empty array", e);
        return false;
      }
      node.enumValues = e.items!;
    }

    const ref = value.get("$ref");
    if (ref != null) {
      if (!ref.isString()) {
        this.invalid(path + "/$ref", "be a URI reference string", ref);
        return false;
      }
      node.refText = ref.str;
    }
    const dref = value.get("$dynamicRef");
    if (dref != null) {
      if (!dref.isString()) {
        this.invalid(path + "/$dynamicRef", "be a URI reference string", dref);
        return false;
      }
      node.dynamicRefText = dref.str;
    }
    if (ref != null || dref != null) this.refNodes.push(node);

    const notValue = value.get("not");
    if (notValue != null) {
      node.not = this.child(node, notValue, "not", base, depth);
      if (node.not == null) return false;
    }
    if (value.has("anyOf")) {
      node.anyOf = this.schemaArray(node, value, "anyOf", base, depth);
      if (node.anyOf == null) return false;
    }
    if (value.has("oneOf")) {
      node.oneOf = this.schemaArray(node, value, "oneOf", base, depth);
      if (node.oneOf == null) return false;
    }
    if (value.has("allOf")) {
      node.allOf = this.schemaArray(node, value, "allOf", base, depth);
      if (node.allOf == null) return false;
    }
    const ifValue = value.get("if");
    if (ifValue != null) {
      node.ifNode = this.child(node, ifValue, "if", base, depth);
      if (node.ifNode == null) return false;
    }
    const thenValue = value.get("then");
    if (thenValue != null) {
      node.thenNode = this.child(node, thenValue, "then", base, depth);
      if (node.thenNode == null) return false;
    }
    const elseValue = value.get("else");
    if (elseValue != null) {
      node.elseNode = this.child(node, elseValue, "else", base, depth);
      if (node.elseNode == null) return false;
    }
    return true;
  }

  readNumberKeywords(node: SchemaNode, value: JsonValue): bool {
    const out = new Array<f64>(1);
    if (!this.numberKeyword(node, value, "maximum", out)) return false;
    if (!isNaN(out[0])) {
      node.hasMaximum = true;
      node.maximum = out[0];
    }
    if (!this.numberKeyword(node, value, "minimum", out)) return false;
    if (!isNaN(out[0])) {
      node.hasMinimum = true;
      node.minimum = out[0];
    }
    if (!this.numberKeyword(node, value, "exclusiveMaximum", out)) return false;
    if (!isNaN(out[0])) {
      node.hasExclusiveMaximum = true;
      node.exclusiveMaximum = out[0];
    }
    if (!this.numberKeyword(node, value, "exclusiveMinimum", out)) return false;
    if (!isNaN(out[0])) {
      node.hasExclusiveMinimum = true;
      node.exclusiveMinimum = out[0];
    }
    const m = value.get("multipleOf");
    if (m != null) {
      if (!m.isNumber() || !(m.num > 0)) {
        this.invalid(node.path + "/multipleOf", "be a number greater than 0", m);
        return false;
      }
      node.multipleOf = m.num;
    }
    const f = value.get("format");
    if (f != null) {
      if (!f.isString()) {
        this.invalid(node.path + "/format", "be a string", f);
        return false;
      }
      node.format = f.str;
      node.formatId = this.opts.assertFormats ? formatIdOf(f.str) : FORMAT_NONE;
    }
    // ajv's keyword groups: `format` belongs to the number and the string group.
    node.hasNumberRules = node.hasMaximum || node.hasMinimum || node.hasExclusiveMaximum ||
      node.hasExclusiveMinimum || node.multipleOf > 0 || f != null;
    return true;
  }

  readStringKeywords(node: SchemaNode, value: JsonValue): bool {
    node.maxLength = this.countKeyword(node, value, "maxLength");
    if (node.maxLength == -2) return false;
    node.minLength = this.countKeyword(node, value, "minLength");
    if (node.minLength == -2) return false;
    const p = value.get("pattern");
    if (p != null) {
      node.pattern = this.regex(node.path + "/pattern", p);
      if (node.pattern == null) return false;
    }
    node.hasStringRules = node.maxLength >= 0 || node.minLength >= 0 || p != null ||
      value.has("format");
    return true;
  }

  /** Compiles a regular expression keyword value (ECMAScript, `u` flag, as ajv does). */
  regex(path: string, v: JsonValue): SchemaRegex | null {
    if (!v.isString()) {
      this.invalid(path, "be a regular expression string", v);
      return null;
    }
    const r = compileRegex(v.str);
    if (r.regex != null) return r.regex;
    if (r.unsupported) {
      this.fail(
        SCHEMA_UNSUPPORTED,
        path,
        path + " uses " + r.error! + ": current value is " + describeValue(v),
      );
    } else {
      this.invalid(path, "be a valid regular expression (ECMAScript, u flag): " + r.error!, v);
    }
    return null;
  }

  readArrayKeywords(node: SchemaNode, value: JsonValue, base: string, depth: i32): bool {
    node.maxItems = this.countKeyword(node, value, "maxItems");
    if (node.maxItems == -2) return false;
    node.minItems = this.countKeyword(node, value, "minItems");
    if (node.minItems == -2) return false;
    if (value.has("prefixItems")) {
      node.prefixItems = this.schemaArray(node, value, "prefixItems", base, depth);
      if (node.prefixItems == null) return false;
    }
    const items = value.get("items");
    if (items != null) {
      if (items.isArray()) {
        this.invalid(
          node.path + "/items",
          "be a schema in draft 2020-12 (tuples use prefixItems)",
          items,
        );
        return false;
      }
      node.items = this.child(node, items, "items", base, depth);
      if (node.items == null) return false;
    }
    const contains = value.get("contains");
    if (contains != null) {
      node.contains = this.child(node, contains, "contains", base, depth);
      if (node.contains == null) return false;
    }
    node.maxContains = this.countKeyword(node, value, "maxContains");
    if (node.maxContains == -2) return false;
    node.minContains = this.countKeyword(node, value, "minContains");
    if (node.minContains == -2) return false;
    const unique = value.get("uniqueItems");
    if (unique != null) {
      if (!unique.isBool()) {
        this.invalid(node.path + "/uniqueItems", "be a boolean", unique);
        return false;
      }
      node.uniqueItems = unique.kind == Kind.True;
    }
    const uneval = value.get("unevaluatedItems");
    if (uneval != null) {
      node.unevaluatedItems = this.child(node, uneval, "unevaluatedItems", base, depth);
      if (node.unevaluatedItems == null) return false;
    }
    node.hasArrayRules = node.maxItems >= 0 || node.minItems >= 0 || node.prefixItems != null ||
      node.items != null || node.contains != null || node.maxContains >= 0 ||
      node.minContains >= 0 || unique != null || node.unevaluatedItems != null;
    return true;
  }

  readObjectKeywords(node: SchemaNode, value: JsonValue, base: string, depth: i32): bool {
    const path = node.path;
    node.maxProperties = this.countKeyword(node, value, "maxProperties");
    if (node.maxProperties == -2) return false;
    node.minProperties = this.countKeyword(node, value, "minProperties");
    if (node.minProperties == -2) return false;
    const req = value.get("required");
    if (req != null) {
      node.required = this.stringList(path + "/required", req);
      if (node.required == null) return false;
    }
    const names = value.get("propertyNames");
    if (names != null) {
      node.propertyNames = this.child(node, names, "propertyNames", base, depth);
      if (node.propertyNames == null) return false;
    }
    const additional = value.get("additionalProperties");
    if (additional != null) {
      node.additionalProperties = this.child(node, additional, "additionalProperties", base, depth);
      if (node.additionalProperties == null) return false;
    }
    const props = value.get("properties");
    if (props != null) {
      if (!props.isObject()) {
        this.invalid(path + "/properties", "be an object of schemas", props);
        return false;
      }
      const keys = props.keys!;
      const vals = props.vals!;
      const nodes = new Array<SchemaNode>();
      const index = new Map<string, i32>();
      for (let i = 0; i < keys.length; i++) {
        const n = this.grandchild(node, vals[i], "properties", keys[i], base, depth);
        if (n == null) return false;
        index.set(keys[i], i);
        nodes.push(n);
      }
      node.propertyKeys = keys.slice(0);
      node.propertyNodes = nodes;
      node.propertyIndex = index;
    }
    const patterns = value.get("patternProperties");
    if (patterns != null) {
      if (!patterns.isObject()) {
        this.invalid(path + "/patternProperties", "be an object of schemas", patterns);
        return false;
      }
      const keys = patterns.keys!;
      const vals = patterns.vals!;
      const nodes = new Array<SchemaNode>();
      const regexes = new Array<SchemaRegex>();
      for (let i = 0; i < keys.length; i++) {
        const where = path + "/patternProperties/" +
          encodeUriComponent(escapePointerToken(keys[i]));
        const re = this.regex(where, JsonValue.string(keys[i]));
        if (re == null) return false;
        const n = this.grandchild(node, vals[i], "patternProperties", keys[i], base, depth);
        if (n == null) return false;
        regexes.push(re);
        nodes.push(n);
      }
      node.patternKeys = keys.slice(0);
      node.patternNodes = nodes;
      node.patternRegexes = regexes;
    }
    if (!this.readDependencies(node, value, base, depth)) return false;
    const depReq = value.get("dependentRequired");
    if (depReq != null) {
      if (!depReq.isObject()) {
        this.invalid(path + "/dependentRequired", "be an object of string arrays", depReq);
        return false;
      }
      const keys = depReq.keys!;
      const vals = depReq.vals!;
      const lists = new Array<Array<string>>();
      for (let i = 0; i < keys.length; i++) {
        const list = this.stringList(
          path + "/dependentRequired/" + encodeUriComponent(escapePointerToken(keys[i])),
          vals[i],
        );
        if (list == null) return false;
        lists.push(list);
      }
      node.dependentRequiredKeys = keys.slice(0);
      node.dependentRequiredValues = lists;
    }
    const depSchemas = value.get("dependentSchemas");
    if (depSchemas != null) {
      if (!depSchemas.isObject()) {
        this.invalid(path + "/dependentSchemas", "be an object of schemas", depSchemas);
        return false;
      }
      const keys = depSchemas.keys!;
      const vals = depSchemas.vals!;
      const nodes = new Array<SchemaNode>();
      for (let i = 0; i < keys.length; i++) {
        const n = this.grandchild(node, vals[i], "dependentSchemas", keys[i], base, depth);
        if (n == null) return false;
        nodes.push(n);
      }
      node.dependentSchemaKeys = keys.slice(0);
      node.dependentSchemaNodes = nodes;
    }
    const uneval = value.get("unevaluatedProperties");
    if (uneval != null) {
      node.unevaluatedProperties = this.child(node, uneval, "unevaluatedProperties", base, depth);
      if (node.unevaluatedProperties == null) return false;
    }
    node.hasObjectRules = node.maxProperties >= 0 || node.minProperties >= 0 || req != null ||
      names != null || additional != null || props != null || patterns != null ||
      node.dependencyKeys != null || depReq != null || depSchemas != null || uneval != null;
    return true;
  }

  /** `dependencies` (pre-2019): arrays act like dependentRequired, schemas like dependentSchemas. */
  readDependencies(node: SchemaNode, value: JsonValue, base: string, depth: i32): bool {
    const deps = value.get("dependencies");
    if (deps == null) return true;
    const path = node.path + "/dependencies";
    if (!deps.isObject()) {
      this.invalid(path, "be an object of string arrays or schemas", deps);
      return false;
    }
    const keys = deps.keys!;
    const vals = deps.vals!;
    const required = new Array<Array<string> | null>();
    const nodes = new Array<SchemaNode | null>();
    for (let i = 0; i < keys.length; i++) {
      if (vals[i].isArray()) {
        const list = this.stringList(
          path + "/" + encodeUriComponent(escapePointerToken(keys[i])),
          vals[i],
        );
        if (list == null) return false;
        required.push(list);
        nodes.push(null);
      } else {
        const n = this.grandchild(node, vals[i], "dependencies", keys[i], base, depth);
        if (n == null) return false;
        required.push(null);
        nodes.push(n);
      }
    }
    node.dependencyKeys = keys.slice(0);
    node.dependencyRequired = required;
    node.dependencyNodes = nodes;
    return true;
  }

  readDefs(node: SchemaNode, value: JsonValue, key: string, base: string, depth: i32): bool {
    const defs = value.get(key);
    if (defs == null) return true;
    if (!defs.isObject()) {
      this.invalid(node.path + "/" + key, "be an object of schemas", defs);
      return false;
    }
    const keys = defs.keys!;
    const vals = defs.vals!;
    for (let i = 0; i < keys.length; i++) {
      if (this.grandchild(node, vals[i], key, keys[i], base, depth) == null) return false;
    }
    return true;
  }

  /** Where a lone `type` reports its error: inside its keyword group, like ajv. */
  typeGroupOf(node: SchemaNode): i32 {
    const names = node.typeNames;
    if (names == null || names.length != 1) return GROUP_NONE;
    const t = names[0];
    if (t == "number" && node.hasNumberRules) return GROUP_NUMBER;
    if (t == "string" && node.hasStringRules) return GROUP_STRING;
    if (t == "array" && node.hasArrayRules) return GROUP_ARRAY;
    if (t == "object" && node.hasObjectRules) return GROUP_OBJECT;
    return GROUP_NONE;
  }

  /** Whether a node has any keyword that can fail or change the instance. */
  isActive(node: SchemaNode): bool {
    if (node.types != 0 || node.hasConst || node.enumValues != null) return true;
    if (node.refText.length > 0 || node.dynamicRefText.length > 0) return true;
    if (node.not != null || node.anyOf != null || node.oneOf != null || node.allOf != null) {
      return true;
    }
    if (node.ifNode != null && (node.thenNode != null || node.elseNode != null)) return true;
    if (node.formatId != FORMAT_NONE) return true;
    if (node.hasMaximum || node.hasMinimum || node.hasExclusiveMaximum) return true;
    if (node.hasExclusiveMinimum || node.multipleOf > 0) return true;
    if (node.maxLength >= 0 || node.minLength >= 0 || node.pattern != null) return true;
    if (node.hasArrayRules || node.hasObjectRules) return true;
    return false;
  }

  /** Resolves `$ref` and `$dynamicRef` of `node`; false on error. */
  resolveRefs(node: SchemaNode): bool {
    if (node.refText.length > 0) {
      const target = this.resolveRef(node, node.refText, "$ref");
      if (target == null) return false;
      node.ref = target;
    }
    if (node.dynamicRefText.length > 0) {
      const target = this.resolveRef(node, node.dynamicRefText, "$dynamicRef");
      if (target == null) return false;
      node.dynamicRef = target;
      // Dynamic only when the static target was found through a `$dynamicAnchor` (2020-12 §8.2.3.2).
      const frag = fragmentOf(resolveUri(node.resource.uri, node.dynamicRefText));
      const dec = percentDecode(frag);
      const name = dec.text;
      const anchors = target.resource.dynamicAnchors;
      if (
        name.length > 0 && !name.startsWith("/") && anchors.has(name) &&
        anchors.get(name) == target
      ) {
        node.dynamicName = name;
      }
    }
    return true;
  }

  resolveRef(node: SchemaNode, text: string, keyword: string): SchemaNode | null {
    const path = node.path + "/" + keyword;
    const full = resolveUri(node.resource.uri, text);
    const uri = stripFragment(full);
    if (!this.resources.has(uri)) {
      return this.fail(
        SCHEMA_UNSUPPORTED,
        path,
        path + ' points outside this schema document ("' + uri +
          '"; remote references are unsupported): current value is "' + text + '"',
      );
    }
    const res = this.resources.get(uri) as SchemaResource;
    const dec = percentDecode(fragmentOf(full));
    if (!dec.ok) {
      return this.invalid(
        path,
        "have a well-formed percent-encoded fragment",
        node.source.get(keyword)!,
      );
    }
    const frag = dec.text;
    if (frag.length == 0) return this.byPointer.get(res.pointer) as SchemaNode;
    if (frag.startsWith("/")) {
      const tokens = parsePointer(frag);
      if (tokens == null) {
        return this.invalid(path, "have a JSON Pointer fragment", node.source.get(keyword)!);
      }
      const pointer = res.pointer + formatPointer(tokens);
      if (this.byPointer.has(pointer)) return this.byPointer.get(pointer) as SchemaNode;
      const raw = pointerGet(this.doc, pointer);
      if (raw == null) {
        return this.fail(
          SCHEMA_INVALID,
          path,
          path + ' must point to a schema in this document: current value is "' + text + '"',
        );
      }
      // A target inside an unknown keyword (or `contentSchema`): compile it now.
      const encoded = new Array<string>();
      const all = parsePointer(pointer)!;
      for (let i = 0; i < all.length; i++) {
        encoded.push("/");
        encoded.push(encodeUriComponent(escapePointerToken(all[i])));
      }
      return this.compileAt(raw, pointer, "#" + encoded.join(""), res.uri, res, all.length);
    }
    if (res.anchors.has(frag)) return res.anchors.get(frag) as SchemaNode;
    return this.fail(
      SCHEMA_INVALID,
      path,
      path + ' must name an $anchor or $dynamicAnchor of its resource: current value is "' +
        text + '"',
    );
  }

  /**
   * Refuses cycles of in-place applicators ($ref, $dynamicRef, allOf, anyOf,
   * oneOf, not, if/then/else, dependentSchemas, dependencies): evaluating one
   * would recurse forever on the same instance location.
   */
  checkCycles(): bool {
    const n = this.nodes.length;
    const color = new Array<i32>(n);
    for (let i = 0; i < n; i++) color[i] = 0;
    const stackNode = new Array<SchemaNode>();
    const stackEdges = new Array<Array<SchemaNode>>();
    const stackNext = new Array<i32>();
    for (let start = 0; start < n; start++) {
      if (color[start] != 0) continue;
      const first = this.nodes[start];
      stackNode.push(first);
      stackEdges.push(this.inPlaceEdges(first));
      stackNext.push(0);
      color[start] = 1;
      while (stackNode.length > 0) {
        const top = stackNode.length - 1;
        const edges = stackEdges[top];
        const e = stackNext[top];
        if (e >= edges.length) {
          color[stackNode[top].id] = 2;
          stackNode.pop();
          stackEdges.pop();
          stackNext.pop();
          continue;
        }
        stackNext[top] = e + 1;
        const next = edges[e];
        if (color[next.id] == 1) {
          const from = stackNode[top];
          this.fail(
            SCHEMA_INVALID,
            from.path,
            from.path + " must not reach itself through in-place applicators without " +
              "moving into the instance (it would recurse forever): current value is a " +
              "cycle through " + next.path,
          );
          return false;
        }
        if (color[next.id] == 0) {
          color[next.id] = 1;
          stackNode.push(next);
          stackEdges.push(this.inPlaceEdges(next));
          stackNext.push(0);
        }
      }
    }
    return true;
  }

  inPlaceEdges(node: SchemaNode): Array<SchemaNode> {
    const out = new Array<SchemaNode>();
    if (node.bool != -1) return out;
    const ref = node.ref;
    if (ref != null) out.push(ref);
    const dref = node.dynamicRef;
    if (dref != null) {
      out.push(dref);
      const name = node.dynamicName;
      if (name.length > 0) {
        for (let i = 0; i < this.allResources.length; i++) {
          const anchors = this.allResources[i].dynamicAnchors;
          if (anchors.has(name)) out.push(anchors.get(name) as SchemaNode);
        }
      }
    }
    pushAll(out, node.allOf);
    pushAll(out, node.anyOf);
    pushAll(out, node.oneOf);
    const not = node.not;
    if (not != null) out.push(not);
    const ifNode = node.ifNode;
    if (ifNode != null) out.push(ifNode);
    const thenNode = node.thenNode;
    if (thenNode != null) out.push(thenNode);
    const elseNode = node.elseNode;
    if (elseNode != null) out.push(elseNode);
    pushAll(out, node.dependentSchemaNodes);
    const deps = node.dependencyNodes;
    if (deps != null) {
      for (let i = 0; i < deps.length; i++) {
        const d = deps[i];
        if (d != null) out.push(d);
      }
    }
    return out;
  }
}

function pushAll(out: Array<SchemaNode>, nodes: Array<SchemaNode> | null): void {
  if (nodes == null) return;
  for (let i = 0; i < nodes.length; i++) out.push(nodes[i]);
}
