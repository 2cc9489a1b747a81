/// <reference path="../portable.d.ts" />
/**
 * The compiled form of one JSON Schema (sub)schema: every keyword's value
 * checked and converted once, references resolved to nodes, so validation
 * never looks at schema JSON again. Portable AssemblyScript.
 */
import { JsonValue, Kind } from "../json_value.ts";
import { SchemaRegex } from "./schema_regex.ts";

/** Type bits for `type`. */
export const TYPE_NULL: i32 = 1;
export const TYPE_BOOLEAN: i32 = 2;
export const TYPE_INTEGER: i32 = 4;
export const TYPE_NUMBER: i32 = 8;
export const TYPE_STRING: i32 = 16;
export const TYPE_ARRAY: i32 = 32;
export const TYPE_OBJECT: i32 = 64;

/** Keyword groups, evaluated in this order after the type-independent keywords (ajv's order). */
export const GROUP_NONE: i32 = -1;
export const GROUP_NUMBER: i32 = 0;
export const GROUP_STRING: i32 = 1;
export const GROUP_ARRAY: i32 = 2;
export const GROUP_OBJECT: i32 = 3;

/** The bit of a type name, or 0 when it is not one of the seven JSON Schema types. */
export function typeBit(name: string): i32 {
  if (name == "null") return TYPE_NULL;
  if (name == "boolean") return TYPE_BOOLEAN;
  if (name == "integer") return TYPE_INTEGER;
  if (name == "number") return TYPE_NUMBER;
  if (name == "string") return TYPE_STRING;
  if (name == "array") return TYPE_ARRAY;
  if (name == "object") return TYPE_OBJECT;
  return 0;
}

/** Whether `value` has one of the types in `mask` ("integer" = a number without a fractional part). */
export function matchesType(value: JsonValue, mask: i32): bool {
  switch (value.kind) {
    case Kind.Null:
      return (mask & TYPE_NULL) != 0;
    case Kind.False:
    case Kind.True:
      return (mask & TYPE_BOOLEAN) != 0;
    case Kind.Number:
      if ((mask & TYPE_NUMBER) != 0) return true;
      return (mask & TYPE_INTEGER) != 0 && value.num == Math.floor(value.num);
    case Kind.String:
      return (mask & TYPE_STRING) != 0;
    case Kind.Array:
      return (mask & TYPE_ARRAY) != 0;
    default:
      return (mask & TYPE_OBJECT) != 0;
  }
}

/** A schema resource: the root schema or a subschema with `$id`. */
export class SchemaResource {
  /** Its absolute (or, without an absolute root `$id`, relative) URI without fragment. */
  uri: string;
  /** JSON Pointer of its root inside the document. */
  pointer: string;
  /** `$dynamicAnchor` names declared in this resource. */
  dynamicAnchors: Map<string, SchemaNode> = new Map<string, SchemaNode>();
  /** `$anchor` and `$dynamicAnchor` names (both are plain-name fragments for `$ref`). */
  anchors: Map<string, SchemaNode> = new Map<string, SchemaNode>();

  constructor(uri: string, pointer: string) {
    this.uri = uri;
    this.pointer = pointer;
  }
}

/** One compiled schema. Absent keywords keep their defaults (null, -1, false). */
export class SchemaNode {
  /** -1 for an object schema, 0 for `false`, 1 for `true`. */
  bool: i32 = -1;
  /** Index in compile order. */
  id: i32 = 0;
  /** True, or an object without any keyword that validates: nothing to do. */
  alwaysValid: bool = false;
  /**
   * True, or an object with none of ajv's rule keywords (ajv's
   * `alwaysValidSchema`). Differs from `alwaysValid` for annotation-only
   * keywords such as `format` or `$comment`; decides, like in ajv, whether an
   * `if` with this `then`/`else` is evaluated at all (which matters when
   * evaluation coerces or filters).
   */
  trivial: bool = false;
  /** Schema location as a URI fragment, e.g. `#/properties/a`; error `schemaPath`s start here. */
  path: string;
  /** JSON Pointer inside the document (not percent-encoded). */
  pointer: string;
  /** The schema resource this node belongs to. */
  resource: SchemaResource;
  /** The schema JSON (kept for lazily compiled `$ref` targets and messages). */
  source: JsonValue;

  types: i32 = 0;
  /** `type` names in schema order (coercion tries them in this order). */
  typeNames: Array<string> | null = null;
  /** The `type` value as ajv prints it in messages ("string" or "string,null"). */
  typeText: string = "";
  /** Group whose position reports a type error when `type` is one group type with rules there. */
  typeGroup: i32 = GROUP_NONE;

  hasConst: bool = false;
  constValue: JsonValue | null = null;
  enumValues: Array<JsonValue> | null = null;

  refText: string = "";
  ref: SchemaNode | null = null;
  /**
   * ajv calls this `$ref`'s target as a separate function (the target has a
   * reference keyword inside, or the reference is "#") instead of inlining it;
   * a called target always runs with all errors, even inside `not` or `if`.
   */
  refCalled: bool = false;
  dynamicRefText: string = "";
  dynamicRef: SchemaNode | null = null;
  /** The anchor name when `$dynamicRef` is resolved dynamically ("" when it acts like `$ref`). */
  dynamicName: string = "";

  not: SchemaNode | null = null;
  anyOf: Array<SchemaNode> | null = null;
  oneOf: Array<SchemaNode> | null = null;
  allOf: Array<SchemaNode> | null = null;
  ifNode: SchemaNode | null = null;
  thenNode: SchemaNode | null = null;
  elseNode: SchemaNode | null = null;

  hasNumberRules: bool = false;
  hasMaximum: bool = false;
  maximum: f64 = 0;
  hasMinimum: bool = false;
  minimum: f64 = 0;
  hasExclusiveMaximum: bool = false;
  exclusiveMaximum: f64 = 0;
  hasExclusiveMinimum: bool = false;
  exclusiveMinimum: f64 = 0;
  /** 0 when absent (the schema must use a value > 0). */
  multipleOf: f64 = 0;

  hasStringRules: bool = false;
  maxLength: f64 = -1;
  minLength: f64 = -1;
  pattern: SchemaRegex | null = null;
  format: string = "";
  /** Format checked as an assertion (see schema_format.ts), or 0 for an annotation only. */
  formatId: i32 = 0;

  hasArrayRules: bool = false;
  maxItems: f64 = -1;
  minItems: f64 = -1;
  prefixItems: Array<SchemaNode> | null = null;
  items: SchemaNode | null = null;
  contains: SchemaNode | null = null;
  maxContains: f64 = -1;
  minContains: f64 = -1;
  uniqueItems: bool = false;
  unevaluatedItems: SchemaNode | null = null;

  hasObjectRules: bool = false;
  maxProperties: f64 = -1;
  minProperties: f64 = -1;
  required: Array<string> | null = null;
  propertyNames: SchemaNode | null = null;
  additionalProperties: SchemaNode | null = null;
  propertyKeys: Array<string> | null = null;
  propertyNodes: Array<SchemaNode> | null = null;
  propertyIndex: Map<string, i32> | null = null;
  patternKeys: Array<string> | null = null;
  patternNodes: Array<SchemaNode> | null = null;
  patternRegexes: Array<SchemaRegex> | null = null;
  /** `dependencies` (draft 2019 and earlier, still applied by ajv's 2020 mode). */
  dependencyKeys: Array<string> | null = null;
  dependencyRequired: Array<Array<string> | null> | null = null;
  dependencyNodes: Array<SchemaNode | null> | null = null;
  dependentRequiredKeys: Array<string> | null = null;
  dependentRequiredValues: Array<Array<string>> | null = null;
  dependentSchemaKeys: Array<string> | null = null;
  dependentSchemaNodes: Array<SchemaNode> | null = null;
  unevaluatedProperties: SchemaNode | null = null;

  /** Has `unevaluatedItems` or `unevaluatedProperties`: needs annotations from its subschemas. */
  hasUnevaluated: bool = false;
  /** Has any of $dynamicRef, $ref, const, enum, not, anyOf, oneOf, allOf, if (a quick skip). */
  hasAnyRules: bool = false;

  constructor(path: string, pointer: string, resource: SchemaResource, source: JsonValue) {
    this.path = path;
    this.pointer = pointer;
    this.resource = resource;
    this.source = source;
  }

  /** Whether `additionalProperties` applies to `key`: neither named nor matched by a pattern. */
  isAdditional(key: string): bool {
    if (this.hasProperty(key)) return false;
    const regexes = this.patternRegexes;
    if (regexes != null) {
      for (let i = 0; i < regexes.length; i++) {
        if (regexes[i].test(key)) return false;
      }
    }
    return true;
  }

  /** Whether `key` is named in `properties`. */
  hasProperty(key: string): bool {
    const keys = this.propertyKeys;
    if (keys == null) return false;
    // A few string compares beat hashing the key (no cached hashes in the wasm build).
    if (keys.length <= 8) {
      for (let i = 0; i < keys.length; i++) {
        if (keys[i] == key) return true;
      }
      return false;
    }
    return this.propertyIndex!.has(key);
  }
}
