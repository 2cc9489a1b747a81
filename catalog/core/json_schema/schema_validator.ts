/// <reference path="../portable.d.ts" />
/**
 * The validation engine: walks compiled {@link SchemaNode}s over an
 * instance, collecting every error (like ajv's `allErrors`) in ajv's
 * keyword order, tracking evaluated properties and items for
 * `unevaluatedProperties`/`unevaluatedItems` (2020-12 annotation rules), and
 * optionally coercing scalar types and removing extra properties in place.
 * Portable AssemblyScript.
 *
 * Keyword order (ajv's): type; $dynamicRef, $ref, const, enum, not, anyOf,
 * oneOf, allOf, if/then/else; number keywords; string keywords; array:
 * maxItems, minItems, prefixItems, items, contains, uniqueItems,
 * unevaluatedItems; object: maxProperties, minProperties, required,
 * propertyNames, additionalProperties, dependencies, properties,
 * dependentRequired, dependentSchemas, unevaluatedProperties.
 */
import { compareValues, JsonValue, Kind } from "../json_value.ts";
import { escapePointerToken } from "../json_pointer.ts";
import { coerceValue } from "./coerce_type.ts";
import { SchemaError } from "./schema_error.ts";
import { checkFormat, FORMAT_NONE } from "./schema_format.ts";
import {
  GROUP_ARRAY,
  GROUP_NONE,
  GROUP_NUMBER,
  GROUP_OBJECT,
  GROUP_STRING,
  matchesType,
  SchemaNode,
  SchemaResource,
} from "./schema_node.ts";

/** Properties and items of one instance location that some keyword evaluated. */
export class Evaluated {
  /** Some `unevaluatedItems` needs these item annotations (else `contains` need not record them). */
  wantItems: bool = false;
  allProps: bool = false;
  /** Evaluated property names: a set for lookups and a list to merge from (no Map iteration). */
  props: Map<string, bool> | null = null;
  propList: Array<string> | null = null;
  allItems: bool = false;
  /** Items [0, prefix) were evaluated (prefixItems). */
  prefix: i32 = 0;
  /** Items matched by `contains`. */
  items: Array<bool> | null = null;

  addProp(key: string): void {
    if (this.allProps) return;
    let props = this.props;
    let list = this.propList;
    if (props == null || list == null) {
      props = new Map<string, bool>();
      list = new Array<string>();
      this.props = props;
      this.propList = list;
    }
    if (props.has(key)) return;
    props.set(key, true);
    list.push(key);
  }

  hasProp(key: string): bool {
    if (this.allProps) return true;
    const props = this.props;
    return props != null && props.has(key);
  }

  addItem(i: i32, length: i32): void {
    let items = this.items;
    if (items == null) {
      items = new Array<bool>(length);
      for (let k = 0; k < length; k++) items[k] = false;
      this.items = items;
    }
    if (i < items.length) items[i] = true;
  }

  hasItem(i: i32): bool {
    if (this.allItems || i < this.prefix) return true;
    const items = this.items;
    return items != null && i < items.length && items[i];
  }

  merge(other: Evaluated): void {
    if (other.allProps) {
      this.allProps = true;
      this.props = null;
      this.propList = null;
    } else if (!this.allProps) {
      const theirs = other.propList;
      if (theirs != null) {
        for (let i = 0; i < theirs.length; i++) this.addProp(theirs[i]);
      }
    }
    if (other.allItems) this.allItems = true;
    if (other.prefix > this.prefix) this.prefix = other.prefix;
    const theirItems = other.items;
    if (theirItems != null) {
      for (let i = 0; i < theirItems.length; i++) {
        if (theirItems[i]) this.addItem(i, theirItems.length);
      }
    }
  }
}

/** A fresh annotation set for an in-place subschema whose annotations may be dropped. */
function childAnn(parent: Evaluated | null): Evaluated | null {
  if (parent == null) return null;
  const e = new Evaluated();
  e.wantItems = parent.wantItems;
  return e;
}

/** Counts Unicode code points (a surrogate pair is one; a lone surrogate is one), like ajv. */
export function codePointLength(s: string): i32 {
  const n = s.length;
  let count = 0;
  let i = 0;
  while (i < n) {
    const c = s.charCodeAt(i);
    i++;
    count++;
    if (c >= 0xd800 && c <= 0xdbff && i < n) {
      const d = s.charCodeAt(i);
      if (d >= 0xdc00 && d <= 0xdfff) i++;
    }
  }
  return count;
}

/**
 * ajv's multipleOf: the quotient must be an integer that `parseInt` reads
 * back, i.e. below 1e21 in magnitude (so 0.3 is not a multiple of 0.1, and
 * 1e-8 is not a multiple of 1e-30, as 1e22 prints in exponent form).
 */
export function isMultipleOf(x: f64, m: f64): bool {
  const q = x / m;
  return q == Math.floor(q) && Math.abs(q) < 1e21;
}

/** Sorts `idx` (positions in `items`) by value, ties by position (stable merge sort). */
function sortIndicesByValue(items: Array<JsonValue>, idx: Array<i32>): void {
  const n = idx.length;
  const tmp = new Array<i32>(n);
  for (let width = 1; width < n; width *= 2) {
    for (let lo = 0; lo < n - width; lo += 2 * width) {
      const mid = lo + width;
      const hi = mid + width < n ? mid + width : n;
      let i = lo;
      let j = mid;
      let k = lo;
      while (i < mid && j < hi) {
        if (compareValues(items[idx[j]], items[idx[i]]) < 0) tmp[k++] = idx[j++];
        else tmp[k++] = idx[i++];
      }
      while (i < mid) tmp[k++] = idx[i++];
      while (j < hi) tmp[k++] = idx[j++];
      for (let m = lo; m < hi; m++) idx[m] = tmp[m];
    }
  }
}

/** The interpreter state for one validation run. */
export class SchemaValidator {
  errors: Array<SchemaError> = new Array<SchemaError>();
  /** Failed keywords so far, including ones in muted subschemas (`not`, `if`). */
  failures: i32 = 0;
  /** > 0 while evaluating a subschema whose errors are never reported. */
  quiet: i32 = 0;
  /** Stop a subschema at its first failure (inside `not` and `if`, like ajv). */
  failFast: bool = false;
  coerce: bool;
  filterExtra: bool;
  /** Evaluate every anyOf branch even after one passed (ajv's order of side effects). */
  sideEffects: bool;
  maxDepth: i32;
  depth: i32 = 0;
  /** The instance path: keys (or "" for array items) and indices (-1 for keys), `pathTop` deep. */
  pathKeys: Array<string> = new Array<string>();
  pathIndices: Array<i32> = new Array<i32>();
  pathTop: i32 = 0;
  /** Track the dynamic scope (only schemas with a dynamic `$dynamicRef` need it). */
  dynamic: bool;
  /** Dynamic scope: schema resources entered, outermost first. */
  scope: Array<SchemaResource> = new Array<SchemaResource>();
  /** The value a {@link probe} left behind. */
  probed: JsonValue = JsonValue.null();

  constructor(coerce: bool, filterExtra: bool, maxDepth: i32, dynamic: bool) {
    this.dynamic = dynamic;
    this.coerce = coerce;
    this.filterExtra = filterExtra;
    this.sideEffects = coerce || filterExtra;
    this.maxDepth = maxDepth;
  }

  /** Enters a key (index < 0) or an index of the instance. */
  pushPath(key: string, index: i32): void {
    const top = this.pathTop;
    // Reuse slots: the arrays only grow to the deepest path seen.
    if (top == this.pathKeys.length) {
      this.pathKeys.push(key);
      this.pathIndices.push(index);
    } else {
      this.pathKeys[top] = key;
      this.pathIndices[top] = index;
    }
    this.pathTop = top + 1;
  }

  instancePath(): string {
    const n = this.pathTop;
    if (n == 0) return "";
    const parts = new Array<string>();
    for (let i = 0; i < n; i++) {
      parts.push("/");
      const idx = this.pathIndices[i];
      parts.push(idx >= 0 ? idx.toString() : escapePointerToken(this.pathKeys[i]));
    }
    return parts.join("");
  }

  /** Records a failed keyword of `node`. */
  fail(node: SchemaNode, keyword: string, message: string): void {
    this.failures++;
    if (this.quiet > 0) return;
    this.errors.push(
      new SchemaError(this.instancePath(), node.path + "/" + keyword, keyword, message),
    );
  }

  /** Records a failure whose message has a number in it (built only when reported). */
  failCount(node: SchemaNode, keyword: string, before: string, n: f64, after: string): void {
    if (this.quiet > 0) {
      this.failures++;
      return;
    }
    this.fail(node, keyword, before + formatF64(n) + after);
  }

  /** Drops failures and errors recorded since the marks (a passing anyOf, contains, ...). */
  reset(failMark: i32, errorMark: i32): void {
    this.failures = failMark;
    if (this.errors.length > errorMark) this.errors.length = errorMark;
  }

  stop(mark: i32): bool {
    return this.failFast && this.failures != mark;
  }

  /**
   * Evaluates `node` on `value` and returns the value (a coerced scalar
   * replaces it). With `ann`, the node's evaluated properties/items merge into it.
   */
  evalNode(node: SchemaNode, value: JsonValue, ann: Evaluated | null): JsonValue {
    if (node.alwaysValid) return value;
    if (node.bool == 0) {
      this.failures++;
      if (this.quiet == 0) {
        this.errors.push(
          new SchemaError(
            this.instancePath(),
            node.path,
            "false schema",
            "boolean schema is false",
          ),
        );
      }
      return value;
    }
    if (this.depth >= this.maxDepth) {
      this.failCount(
        node,
        "maxDepth",
        "must NOT need more than ",
        f64(this.maxDepth),
        " nested schema evaluations",
      );
      return value;
    }
    this.depth++;
    if (!this.dynamic) {
      const result = this.evalKeywords(node, value, ann);
      this.depth--;
      return result;
    }
    const scope = this.scope;
    const n = scope.length;
    const entered = n == 0 || scope[n - 1] != node.resource;
    if (entered) scope.push(node.resource);
    const out = this.evalKeywords(node, value, ann);
    if (entered) scope.pop();
    this.depth--;
    return out;
  }

  evalKeywords(node: SchemaNode, value: JsonValue, ann: Evaluated | null): JsonValue {
    const mark = this.failures;
    let v = value;
    let deferType = false;
    if (node.types != 0) {
      // ajv checks a lone type inside its keyword group unless it may coerce it.
      const group = node.typeGroup;
      deferType = group != GROUP_NONE &&
        !(this.coerce && (group == GROUP_NUMBER || group == GROUP_STRING));
      if (!deferType && !matchesType(v, node.types)) {
        let coerced: JsonValue | null = null;
        if (this.coerce) coerced = coerceValue(v, node.typeNames!);
        if (coerced != null) v = coerced;
        else this.fail(node, "type", "must be " + node.typeText);
      }
    }
    let local: Evaluated | null = null;
    if ((ann != null || node.hasUnevaluated) && (v.kind == Kind.Array || v.kind == Kind.Object)) {
      local = new Evaluated();
      local.wantItems = node.unevaluatedItems != null || (ann != null && ann.wantItems);
    }

    // Stopping at the first error (`not`, `if`) still runs the type-independent
    // keywords after a type error, as ajv does; the typed groups are skipped.
    if (node.hasAnyRules) v = this.evalAnyGroup(node, v, local, this.failures);
    if (this.stop(mark)) return v;

    // Keyword groups apply by the (possibly coerced) instance type.
    const kind = v.kind;
    if (node.hasNumberRules) {
      if (kind == Kind.Number) this.evalNumber(node, v, mark);
      else if (deferType && node.typeGroup == GROUP_NUMBER) {
        this.fail(node, "type", "must be " + node.typeText);
      }
      if (this.stop(mark)) return v;
    }
    if (node.hasStringRules) {
      if (kind == Kind.String) this.evalString(node, v, mark);
      else if (deferType && node.typeGroup == GROUP_STRING) {
        this.fail(node, "type", "must be " + node.typeText);
      }
      if (this.stop(mark)) return v;
    }
    if (node.hasArrayRules) {
      if (kind == Kind.Array) this.evalArray(node, v, local, mark);
      else if (deferType && node.typeGroup == GROUP_ARRAY) {
        this.fail(node, "type", "must be " + node.typeText);
      }
      if (this.stop(mark)) return v;
    }
    if (node.hasObjectRules) {
      if (kind == Kind.Object) this.evalObject(node, v, local, mark);
      else if (deferType && node.typeGroup == GROUP_OBJECT) {
        this.fail(node, "type", "must be " + node.typeText);
      }
      if (this.stop(mark)) return v;
    }
    if (ann != null && local != null) ann.merge(local);
    return v;
  }

  /** The type-independent keywords, in ajv's order. */
  evalAnyGroup(node: SchemaNode, value: JsonValue, local: Evaluated | null, mark: i32): JsonValue {
    let v = value;
    const dynamicRef = node.dynamicRef;
    if (dynamicRef != null) {
      v = this.evalDynamicRef(node, dynamicRef, v, local);
      if (this.stop(mark)) return v;
    }
    const ref = node.ref;
    if (ref != null) {
      if (node.refCalled) {
        // A called target reports all its errors even where the caller stops at the first.
        const failFast = this.failFast;
        this.failFast = false;
        v = this.evalNode(ref, v, local);
        this.failFast = failFast;
      } else {
        v = this.evalNode(ref, v, local);
      }
      if (this.stop(mark)) return v;
    }
    if (node.hasConst && compareValues(v, node.constValue!) != 0) {
      this.fail(node, "const", "must be equal to constant");
      if (this.stop(mark)) return v;
    }
    const enumValues = node.enumValues;
    if (enumValues != null) {
      let found = false;
      for (let i = 0; i < enumValues.length; i++) {
        if (compareValues(v, enumValues[i]) == 0) {
          found = true;
          break;
        }
      }
      if (!found) {
        this.fail(node, "enum", "must be equal to one of the allowed values");
        if (this.stop(mark)) return v;
      }
    }
    if (node.not != null) {
      v = this.evalNot(node, v);
      if (this.stop(mark)) return v;
    }
    if (node.anyOf != null) {
      v = this.evalAnyOf(node, v, local);
      if (this.stop(mark)) return v;
    }
    if (node.oneOf != null) {
      v = this.evalOneOf(node, v, local);
      if (this.stop(mark)) return v;
    }
    const allOf = node.allOf;
    if (allOf != null) {
      for (let i = 0; i < allOf.length; i++) {
        v = this.evalNode(allOf[i], v, local);
        if (this.stop(mark)) return v;
      }
    }
    if (node.ifNode != null) {
      v = this.evalIf(node, v, local);
      if (this.stop(mark)) return v;
    }

    return v;
  }

  evalDynamicRef(
    node: SchemaNode,
    target: SchemaNode,
    v: JsonValue,
    local: Evaluated | null,
  ): JsonValue {
    let t = target;
    const name = node.dynamicName;
    if (name.length > 0) {
      // The outermost resource in the dynamic scope that declares the anchor wins.
      const scope = this.scope;
      for (let i = 0; i < scope.length; i++) {
        const anchors = scope[i].dynamicAnchors;
        if (anchors.has(name)) {
          t = anchors.get(name) as SchemaNode;
          break;
        }
      }
    }
    // ajv calls dynamic references: all errors, and annotations only when they passed.
    const failFast = this.failFast;
    this.failFast = false;
    const out = this.evalInPlaceIfValid(t, v, local);
    this.failFast = failFast;
    return out;
  }

  /**
   * Evaluates `node` muted and stopping at its first failure; true when it
   * passed. The (possibly coerced) value is left in `probed`.
   */
  probe(node: SchemaNode, v: JsonValue, ann: Evaluated | null): bool {
    const mark = this.failures;
    const failFast = this.failFast;
    this.quiet++;
    this.failFast = true;
    this.probed = this.evalNode(node, v, ann);
    this.failFast = failFast;
    this.quiet--;
    const passed = this.failures == mark;
    this.failures = mark;
    return passed;
  }

  evalNot(node: SchemaNode, v: JsonValue): JsonValue {
    const sub = node.not!;
    if (sub.alwaysValid) {
      this.fail(node, "not", "must NOT be valid");
      return v;
    }
    const passed = this.probe(sub, v, null);
    if (passed) this.fail(node, "not", "must NOT be valid");
    return this.probed;
  }

  evalAnyOf(node: SchemaNode, value: JsonValue, local: Evaluated | null): JsonValue {
    const branches = node.anyOf!;
    const failMark = this.failures;
    const errorMark = this.errors.length;
    let v = value;
    let any = false;
    for (let i = 0; i < branches.length; i++) {
      // Once a branch passed, the rest only matter for annotations and side effects.
      if (any && local == null && !this.sideEffects) break;
      const before = this.failures;
      const temp = childAnn(local);
      v = this.evalNode(branches[i], v, temp);
      if (this.failures == before) {
        any = true;
        if (local != null && temp != null) local.merge(temp);
      }
    }
    if (any) this.reset(failMark, errorMark);
    else this.fail(node, "anyOf", "must match a schema in anyOf");
    return v;
  }

  evalOneOf(node: SchemaNode, value: JsonValue, local: Evaluated | null): JsonValue {
    const branches = node.oneOf!;
    const failMark = this.failures;
    const errorMark = this.errors.length;
    let v = value;
    let passing = 0;
    for (let i = 0; i < branches.length; i++) {
      const before = this.failures;
      const temp = childAnn(local);
      v = this.evalNode(branches[i], v, temp);
      if (this.failures == before) {
        passing++;
        // A second passing branch decides the outcome (invalid): ajv neither merges its
        // annotations nor evaluates further branches.
        if (passing == 2) break;
        if (local != null && temp != null) local.merge(temp);
      }
    }
    if (passing == 1) this.reset(failMark, errorMark);
    else this.fail(node, "oneOf", "must match exactly one schema in oneOf");
    return v;
  }

  evalIf(node: SchemaNode, value: JsonValue, local: Evaluated | null): JsonValue {
    const cond = node.ifNode!;
    const thenNode = node.thenNode;
    const elseNode = node.elseNode;
    const hasThen = thenNode != null && !thenNode.trivial;
    const hasElse = elseNode != null && !elseNode.trivial;
    // ajv skips `if` without an effective then/else; annotations still need it,
    // evaluated then without coercion or filtering (ajv never runs it).
    if (!hasThen && !hasElse) {
      if (local == null) return value;
      const coerce = this.coerce;
      const filterExtra = this.filterExtra;
      this.coerce = false;
      this.filterExtra = false;
      const only = childAnn(local);
      if (this.probe(cond, value, only) && only != null) local.merge(only);
      this.coerce = coerce;
      this.filterExtra = filterExtra;
      return value;
    }
    const temp = childAnn(local);
    const passed = this.probe(cond, value, temp);
    let v = this.probed;
    if (passed && local != null && temp != null) local.merge(temp);
    const branch = passed ? thenNode : elseNode;
    if (branch == null || branch.alwaysValid) return v;
    const before = this.failures;
    const temp2 = childAnn(local);
    v = this.evalNode(branch, v, temp2);
    if (this.failures == before) {
      if (local != null && temp2 != null) local.merge(temp2);
    } else {
      this.fail(node, "if", passed ? 'must match "then" schema' : 'must match "else" schema');
    }
    return v;
  }

  evalNumber(node: SchemaNode, v: JsonValue, mark: i32): void {
    const x = v.num;
    if (node.hasMaximum && !(x <= node.maximum)) {
      this.failCount(node, "maximum", "must be <= ", node.maximum, "");
      if (this.stop(mark)) return;
    }
    if (node.hasMinimum && !(x >= node.minimum)) {
      this.failCount(node, "minimum", "must be >= ", node.minimum, "");
      if (this.stop(mark)) return;
    }
    if (node.hasExclusiveMaximum && !(x < node.exclusiveMaximum)) {
      this.failCount(node, "exclusiveMaximum", "must be < ", node.exclusiveMaximum, "");
      if (this.stop(mark)) return;
    }
    if (node.hasExclusiveMinimum && !(x > node.exclusiveMinimum)) {
      this.failCount(node, "exclusiveMinimum", "must be > ", node.exclusiveMinimum, "");
      if (this.stop(mark)) return;
    }
    if (node.multipleOf > 0 && !isMultipleOf(x, node.multipleOf)) {
      this.failCount(node, "multipleOf", "must be multiple of ", node.multipleOf, "");
    }
  }

  evalString(node: SchemaNode, v: JsonValue, mark: i32): void {
    const s = v.str;
    if (node.maxLength >= 0 || node.minLength >= 0) {
      // Code points can only be fewer than UTF-16 units: skip counting when the units decide.
      const units = f64(s.length);
      if (node.maxLength >= 0 && units > node.maxLength) {
        if (f64(codePointLength(s)) > node.maxLength) {
          this.failCount(
            node,
            "maxLength",
            "must NOT have more than ",
            node.maxLength,
            " characters",
          );
          if (this.stop(mark)) return;
        }
      }
      if (node.minLength >= 0 && units >= node.minLength) {
        if (f64(codePointLength(s)) < node.minLength) {
          this.failCount(
            node,
            "minLength",
            "must NOT have fewer than ",
            node.minLength,
            " characters",
          );
          if (this.stop(mark)) return;
        }
      } else if (node.minLength >= 0) {
        this.failCount(
          node,
          "minLength",
          "must NOT have fewer than ",
          node.minLength,
          " characters",
        );
        if (this.stop(mark)) return;
      }
    }
    const pattern = node.pattern;
    if (pattern != null && !pattern.test(s)) {
      if (this.quiet > 0) this.failures++;
      else this.fail(node, "pattern", 'must match pattern "' + pattern.source + '"');
      if (this.stop(mark)) return;
    }
    if (node.formatId != FORMAT_NONE && !checkFormat(node.formatId, s)) {
      this.fail(node, "format", 'must match format "' + node.format + '"');
    }
  }

  /** Evaluates `sub` on item `i` of `arr` and stores a coerced result back. */
  evalItem(sub: SchemaNode, arr: JsonValue, i: i32): void {
    if (sub.alwaysValid) return;
    const items = arr.items!;
    const child = items[i];
    this.pushPath("", i);
    const out = this.evalNode(sub, child, null);
    this.pathTop--;
    if (out != child) items[i] = out;
  }

  /** Evaluates `sub` on the value at key position `i` of `obj` and stores a coerced result back. */
  evalProperty(sub: SchemaNode, obj: JsonValue, i: i32): void {
    if (sub.alwaysValid) return;
    const vals = obj.vals!;
    const child = vals[i];
    this.pushPath(obj.keys![i], -1);
    const out = this.evalNode(sub, child, null);
    this.pathTop--;
    if (out != child) vals[i] = out;
  }

  evalArray(node: SchemaNode, arr: JsonValue, local: Evaluated | null, mark: i32): void {
    const len = arr.items!.length;
    const flen = f64(len);
    if (node.maxItems >= 0 && flen > node.maxItems) {
      this.failCount(node, "maxItems", "must NOT have more than ", node.maxItems, " items");
      if (this.stop(mark)) return;
    }
    if (node.minItems >= 0 && flen < node.minItems) {
      this.failCount(node, "minItems", "must NOT have fewer than ", node.minItems, " items");
      if (this.stop(mark)) return;
    }
    let start = 0;
    const prefix = node.prefixItems;
    if (prefix != null) {
      start = prefix.length;
      const n = len < start ? len : start;
      for (let i = 0; i < n; i++) {
        this.evalItem(prefix[i], arr, i);
        if (this.stop(mark)) return;
      }
      if (local != null && start > local.prefix) local.prefix = start;
    }
    const items = node.items;
    if (items != null) {
      if (prefix != null && items.bool == 0) {
        if (len > start) {
          this.failCount(node, "items", "must NOT have more than ", f64(start), " items");
          if (this.stop(mark)) return;
        }
      } else {
        for (let i = start; i < len; i++) {
          this.evalItem(items, arr, i);
          if (this.stop(mark)) return;
        }
      }
      if (local != null) local.allItems = true;
    }
    if (node.contains != null) {
      this.evalContains(node, arr, local);
      if (this.stop(mark)) return;
    }
    if (node.uniqueItems && len > 1) {
      this.evalUniqueItems(node, arr);
      if (this.stop(mark)) return;
    }
    const uneval = node.unevaluatedItems;
    if (uneval != null && local != null) this.evalUnevaluatedItems(node, uneval, arr, local, mark);
  }

  evalContains(node: SchemaNode, arr: JsonValue, local: Evaluated | null): void {
    const sub = node.contains!;
    const len = arr.items!.length;
    const min = node.minContains < 0 ? 1 : node.minContains;
    const max = node.maxContains;
    if (max < 0 && min == 0) {
      // Always valid (ajv skips it); only the matched items matter, as annotations.
      if (local != null && local.wantItems) this.recordContains(sub, arr, 0, local);
      return;
    }
    if (max >= 0 && min > max) {
      this.failContains(node, min, max);
      return;
    }
    if (sub.alwaysValid) {
      if (local != null) local.allItems = true;
      const flen = f64(len);
      if (!(flen >= min && (max < 0 || flen <= max))) this.failContains(node, min, max);
      return;
    }
    const failMark = this.failures;
    const errorMark = this.errors.length;
    let count: f64 = 0;
    let valid = min == 0;
    let i = 0;
    // ajv stops as soon as the outcome is known; later items are not evaluated.
    while (i < len) {
      const before = this.failures;
      this.evalItem(sub, arr, i);
      i++;
      if (this.failures != before) continue;
      count++;
      if (local != null) local.addItem(i - 1, len);
      if (max < 0) {
        if (count >= min) {
          valid = true;
          break;
        }
      } else {
        if (count > max) {
          valid = false;
          break;
        }
        if (count >= min) valid = true;
      }
    }
    if (valid) this.reset(failMark, errorMark);
    else this.failContains(node, min, max);
    if (local != null && local.wantItems && i < len) this.recordContains(sub, arr, i, local);
  }

  /**
   * Notes which items from `from` on match `sub` (annotations only: nothing
   * reported, nothing coerced or removed, as ajv never evaluates these).
   */
  recordContains(sub: SchemaNode, arr: JsonValue, from: i32, local: Evaluated): void {
    const len = arr.items!.length;
    const coerce = this.coerce;
    const filterExtra = this.filterExtra;
    this.coerce = false;
    this.filterExtra = false;
    this.quiet++;
    for (let i = from; i < len; i++) {
      const before = this.failures;
      this.evalItem(sub, arr, i);
      if (this.failures == before) local.addItem(i, len);
      this.failures = before;
    }
    this.quiet--;
    this.coerce = coerce;
    this.filterExtra = filterExtra;
  }

  failContains(node: SchemaNode, min: f64, max: f64): void {
    if (this.quiet > 0) {
      this.failures++;
      return;
    }
    const text = max < 0
      ? "must contain at least " + formatF64(min) + " valid item(s)"
      : "must contain at least " + formatF64(min) + " and no more than " + formatF64(max) +
        " valid item(s)";
    this.fail(node, "contains", text);
  }

  evalUniqueItems(node: SchemaNode, arr: JsonValue): void {
    const items = arr.items!;
    const n = items.length;
    if (n <= 16) {
      // Small arrays: compare pairs directly (no allocation), latest item first like ajv.
      for (let i = n - 1; i > 0; i--) {
        for (let j = i - 1; j >= 0; j--) {
          if (compareValues(items[i], items[j]) == 0) {
            this.failUnique(node, j, i);
            return;
          }
        }
      }
      return;
    }
    const idx = new Array<i32>(n);
    for (let i = 0; i < n; i++) idx[i] = i;
    sortIndicesByValue(items, idx);
    // ajv reports the last item equal to an earlier one (i) and the nearest such earlier item (j).
    let bestI = -1;
    let bestJ = -1;
    let runStart = 0;
    for (let k = 1; k <= n; k++) {
      if (k < n && compareValues(items[idx[k]], items[idx[runStart]]) == 0) continue;
      if (k - runStart >= 2) {
        const i = idx[k - 1];
        if (i > bestI) {
          bestI = i;
          bestJ = idx[k - 2];
        }
      }
      runStart = k;
    }
    if (bestI >= 0) this.failUnique(node, bestJ, bestI);
  }

  failUnique(node: SchemaNode, j: i32, i: i32): void {
    if (this.quiet > 0) {
      this.failures++;
      return;
    }
    this.fail(
      node,
      "uniqueItems",
      "must NOT have duplicate items (items ## " + j.toString() + " and " + i.toString() +
        " are identical)",
    );
  }

  evalUnevaluatedItems(
    node: SchemaNode,
    sub: SchemaNode,
    arr: JsonValue,
    local: Evaluated,
    mark: i32,
  ): void {
    if (local.allItems) return;
    const len = arr.items!.length;
    if (sub.bool == 0) {
      for (let i = 0; i < len; i++) {
        if (local.hasItem(i)) continue;
        if (local.items == null) {
          this.failCount(
            node,
            "unevaluatedItems",
            "must NOT have more than ",
            f64(local.prefix),
            " items",
          );
        } else {
          this.fail(node, "unevaluatedItems", "must NOT have unevaluated items");
        }
        break;
      }
    } else {
      for (let i = 0; i < len; i++) {
        if (local.hasItem(i)) continue;
        this.evalItem(sub, arr, i);
        if (this.stop(mark)) return;
      }
    }
    local.allItems = true;
  }

  evalObject(node: SchemaNode, obj: JsonValue, local: Evaluated | null, mark: i32): void {
    const size = f64(obj.size());
    if (node.maxProperties >= 0 && size > node.maxProperties) {
      this.failCount(
        node,
        "maxProperties",
        "must NOT have more than ",
        node.maxProperties,
        " properties",
      );
      if (this.stop(mark)) return;
    }
    if (node.minProperties >= 0 && size < node.minProperties) {
      this.failCount(
        node,
        "minProperties",
        "must NOT have fewer than ",
        node.minProperties,
        " properties",
      );
      if (this.stop(mark)) return;
    }
    const required = node.required;
    if (required != null) {
      for (let i = 0; i < required.length; i++) {
        if (obj.has(required[i])) continue;
        if (this.quiet > 0) this.failures++;
        else this.fail(node, "required", "must have required property '" + required[i] + "'");
        if (this.stop(mark)) return;
      }
    }
    const names = node.propertyNames;
    if (names != null && !names.alwaysValid) {
      const keys = obj.keys!;
      for (let i = 0; i < keys.length; i++) {
        const before = this.failures;
        this.evalNode(names, JsonValue.string(keys[i]), null);
        if (this.failures != before) {
          this.fail(node, "propertyNames", "property name must be valid");
          if (this.stop(mark)) return;
        }
      }
    }
    const additional = node.additionalProperties;
    if (additional != null) {
      if (local != null) local.allProps = true;
      if (!additional.alwaysValid) {
        if (additional.bool == 0 && this.filterExtra) {
          this.removeExtra(node, obj);
        } else {
          const keys = obj.keys!;
          for (let i = 0; i < keys.length; i++) {
            if (!node.isAdditional(keys[i])) continue;
            if (additional.bool == 0) {
              this.fail(node, "additionalProperties", "must NOT have additional properties");
            } else this.evalProperty(additional, obj, i);
            if (this.stop(mark)) return;
          }
        }
      }
    }
    if (node.dependencyKeys != null) {
      this.evalDependencies(node, obj, local, mark);
      if (this.stop(mark)) return;
    }
    const propKeys = node.propertyKeys;
    if (propKeys != null) {
      const propNodes = node.propertyNodes!;
      for (let p = 0; p < propKeys.length; p++) {
        const i = obj.find(propKeys[p]);
        if (i < 0) continue;
        if (local != null) local.addProp(propKeys[p]);
        this.evalProperty(propNodes[p], obj, i);
        if (this.stop(mark)) return;
      }
    }
    const regexes = node.patternRegexes;
    if (regexes != null) {
      const patternNodes = node.patternNodes!;
      // ajv's order: pattern by pattern, then key by key.
      for (let p = 0; p < regexes.length; p++) {
        const keys = obj.keys!;
        for (let i = 0; i < keys.length; i++) {
          if (!regexes[p].test(keys[i])) continue;
          if (local != null) local.addProp(keys[i]);
          this.evalProperty(patternNodes[p], obj, i);
          if (this.stop(mark)) return;
        }
      }
    }
    const depKeys = node.dependentRequiredKeys;
    if (depKeys != null) {
      const lists = node.dependentRequiredValues!;
      for (let k = 0; k < depKeys.length; k++) {
        if (!obj.has(depKeys[k])) continue;
        this.checkDependentRequired(node, "dependentRequired", obj, depKeys[k], lists[k]);
        if (this.stop(mark)) return;
      }
    }
    const schemaKeys = node.dependentSchemaKeys;
    if (schemaKeys != null) {
      const nodes = node.dependentSchemaNodes!;
      for (let k = 0; k < schemaKeys.length; k++) {
        if (!obj.has(schemaKeys[k])) continue;
        this.evalInPlaceIfValid(nodes[k], obj, local);
        if (this.stop(mark)) return;
      }
    }
    const uneval = node.unevaluatedProperties;
    if (uneval != null && local != null) {
      if (!local.allProps) {
        const keys = obj.keys!;
        for (let i = 0; i < keys.length; i++) {
          if (local.hasProp(keys[i])) continue;
          if (uneval.bool == 0) {
            this.fail(node, "unevaluatedProperties", "must NOT have unevaluated properties");
          } else this.evalProperty(uneval, obj, i);
          if (this.stop(mark)) return;
        }
      }
      local.allProps = true;
    }
  }

  /** Evaluates an in-place subschema; its annotations count only when it passed. */
  evalInPlaceIfValid(sub: SchemaNode, value: JsonValue, local: Evaluated | null): JsonValue {
    const before = this.failures;
    const temp = childAnn(local);
    const out = this.evalNode(sub, value, temp);
    if (this.failures == before && local != null && temp != null) local.merge(temp);
    return out;
  }

  checkDependentRequired(
    node: SchemaNode,
    keyword: string,
    obj: JsonValue,
    key: string,
    deps: Array<string>,
  ): void {
    for (let d = 0; d < deps.length; d++) {
      if (obj.has(deps[d])) continue;
      if (this.quiet > 0) {
        this.failures++;
      } else {
        const what = deps.length == 1 ? "property " : "properties ";
        this.fail(
          node,
          keyword,
          "must have " + what + deps.join(", ") + " when property " + key + " is present",
        );
      }
      if (this.failFast) return;
    }
  }

  evalDependencies(node: SchemaNode, obj: JsonValue, local: Evaluated | null, mark: i32): void {
    const keys = node.dependencyKeys!;
    const required = node.dependencyRequired!;
    const nodes = node.dependencyNodes!;
    // ajv checks all property dependencies, then all schema dependencies.
    for (let k = 0; k < keys.length; k++) {
      const list = required[k];
      if (list == null || !obj.has(keys[k])) continue;
      this.checkDependentRequired(node, "dependencies", obj, keys[k], list);
      if (this.stop(mark)) return;
    }
    for (let k = 0; k < keys.length; k++) {
      const sub = nodes[k];
      if (sub == null || !obj.has(keys[k])) continue;
      this.evalInPlaceIfValid(sub, obj, local);
      if (this.stop(mark)) return;
    }
  }

  /** `filter_extra`: drops keys neither `properties` nor `patternProperties` cover (ajv's removeAdditional: true). */
  removeExtra(node: SchemaNode, obj: JsonValue): void {
    const keys = obj.keys!;
    const vals = obj.vals!;
    let extra = 0;
    for (let i = 0; i < keys.length; i++) {
      if (node.isAdditional(keys[i])) extra++;
    }
    if (extra == 0) return;
    // Rebuild once (JsonValue.remove per key would be quadratic on big objects).
    obj.keys = new Array<string>();
    obj.vals = new Array<JsonValue>();
    obj.index = null;
    for (let i = 0; i < keys.length; i++) {
      if (!node.isAdditional(keys[i])) obj.set(keys[i], vals[i]);
    }
  }
}
