/// <reference path="./portable.d.ts" />
/**
 * The JSON value model shared by every catalog handler. Portable
 * AssemblyScript: the same source compiles to wasm (asc) and runs natively as
 * TypeScript, so both builds share one logic.
 *
 * Objects keep insertion order (like jq); a later `set` of an existing key
 * replaces its value in place. Ordering follows jq: null < false < true <
 * numbers < strings < arrays < objects; strings compare by code point.
 */

/** Kinds of JSON value. */
export enum Kind {
  Null = 0,
  False = 1,
  True = 2,
  Number = 3,
  String = 4,
  Array = 5,
  Object = 6,
}

/** Objects with more keys than this get a hash index for lookups. */
const INDEX_AFTER: i32 = 32;

/** One JSON value. Treat values as immutable once shared: copy before changing. */
export class JsonValue {
  kind: i32;
  num: f64 = 0;
  str: string = "";
  /** Elements of an array. */
  items: Array<JsonValue> | null = null;
  /** Keys of an object, in insertion order. */
  keys: Array<string> | null = null;
  /** Values of an object, parallel to `keys`. */
  vals: Array<JsonValue> | null = null;
  index: Map<string, i32> | null = null;

  constructor(kind: i32) {
    this.kind = kind;
  }

  static null(): JsonValue {
    return NULL_VALUE;
  }

  static bool(value: bool): JsonValue {
    return value ? TRUE_VALUE : FALSE_VALUE;
  }

  static number(value: f64): JsonValue {
    const v = new JsonValue(Kind.Number);
    v.num = value;
    return v;
  }

  static string(value: string): JsonValue {
    const v = new JsonValue(Kind.String);
    v.str = value;
    return v;
  }

  /** An array holding `items` (not copied). */
  static array(items: Array<JsonValue>): JsonValue {
    const v = new JsonValue(Kind.Array);
    v.items = items;
    return v;
  }

  /** An empty object. */
  static object(): JsonValue {
    const v = new JsonValue(Kind.Object);
    v.keys = new Array<string>();
    v.vals = new Array<JsonValue>();
    return v;
  }

  isNull(): bool {
    return this.kind == Kind.Null;
  }

  isBool(): bool {
    return this.kind == Kind.False || this.kind == Kind.True;
  }

  isNumber(): bool {
    return this.kind == Kind.Number;
  }

  isString(): bool {
    return this.kind == Kind.String;
  }

  isArray(): bool {
    return this.kind == Kind.Array;
  }

  isObject(): bool {
    return this.kind == Kind.Object;
  }

  /** jq truthiness: everything but null and false. */
  isTruthy(): bool {
    return this.kind != Kind.Null && this.kind != Kind.False;
  }

  /** jq's type name: null, boolean, number, string, array, object. */
  typeName(): string {
    switch (this.kind) {
      case Kind.Null:
        return "null";
      case Kind.False:
      case Kind.True:
        return "boolean";
      case Kind.Number:
        return "number";
      case Kind.String:
        return "string";
      case Kind.Array:
        return "array";
      default:
        return "object";
    }
  }

  /** Elements of an array, keys of an object: how many. */
  size(): i32 {
    if (this.kind == Kind.Array) return this.items!.length;
    if (this.kind == Kind.Object) return this.keys!.length;
    return 0;
  }

  /** Element `i` of an array, or null when out of range (negative counts from the end). */
  at(i: i32): JsonValue | null {
    const items = this.items!;
    const n = items.length;
    const j = i < 0 ? n + i : i;
    if (j < 0 || j >= n) return null;
    return items[j];
  }

  /** Position of `key` in an object, or -1. */
  find(key: string): i32 {
    const index = this.index;
    if (index != null) return index.has(key) ? (index.get(key) as i32) : -1;
    const keys = this.keys!;
    for (let i = 0, n = keys.length; i < n; i++) {
      if (keys[i] == key) return i;
    }
    return -1;
  }

  /** The value of `key` in an object, or null when absent. */
  get(key: string): JsonValue | null {
    const i = this.find(key);
    return i < 0 ? null : this.vals![i];
  }

  has(key: string): bool {
    return this.find(key) >= 0;
  }

  /** Sets `key` in an object: replaces an existing value in place, else appends. */
  set(key: string, value: JsonValue): JsonValue {
    const i = this.find(key);
    if (i >= 0) {
      this.vals![i] = value;
      return this;
    }
    const keys = this.keys!;
    keys.push(key);
    this.vals!.push(value);
    const n = keys.length;
    if (this.index != null) {
      this.index!.set(key, n - 1);
    } else if (n > INDEX_AFTER) {
      const index = new Map<string, i32>();
      for (let k = 0; k < n; k++) index.set(keys[k], k);
      this.index = index;
    }
    return this;
  }

  /** Removes `key` from an object (keeps the order of the rest). */
  remove(key: string): JsonValue {
    const i = this.find(key);
    if (i < 0) return this;
    this.keys!.splice(i, 1);
    this.vals!.splice(i, 1);
    this.index = null;
    const keys = this.keys!;
    if (keys.length > INDEX_AFTER) {
      const index = new Map<string, i32>();
      for (let k = 0; k < keys.length; k++) index.set(keys[k], k);
      this.index = index;
    }
    return this;
  }

  /** A shallow copy (arrays and objects get their own containers). */
  copy(): JsonValue {
    if (this.kind == Kind.Array) return JsonValue.array(this.items!.slice(0));
    if (this.kind == Kind.Object) {
      const out = JsonValue.object();
      const keys = this.keys!;
      const vals = this.vals!;
      for (let i = 0; i < keys.length; i++) out.set(keys[i], vals[i]);
      return out;
    }
    return this;
  }

  /** Object keys sorted by code point (jq's `keys`). */
  sortedKeys(): Array<string> {
    const keys = this.keys!.slice(0);
    sortStrings(keys);
    return keys;
  }

  /** Deep equality (numbers by value, objects regardless of key order). */
  equals(other: JsonValue): bool {
    return compareValues(this, other) == 0;
  }
}

const NULL_VALUE = new JsonValue(Kind.Null);
const TRUE_VALUE = new JsonValue(Kind.True);
const FALSE_VALUE = new JsonValue(Kind.False);

/**
 * Compares two UTF-16 strings by Unicode code point (surrogate pairs sort
 * above U+E000..U+FFFF), which is jq's (UTF-8 byte) order.
 */
export function compareStrings(a: string, b: string): i32 {
  const n = a.length < b.length ? a.length : b.length;
  for (let i = 0; i < n; i++) {
    let x = a.charCodeAt(i);
    let y = b.charCodeAt(i);
    if (x == y) continue;
    if (x >= 0xd800) x = x <= 0xdfff ? x + 0x2000 : x - 0x800;
    if (y >= 0xd800) y = y <= 0xdfff ? y + 0x2000 : y - 0x800;
    return x < y ? -1 : 1;
  }
  return a.length == b.length ? 0 : a.length < b.length ? -1 : 1;
}

/** Sorts strings in place by code point (stable merge sort; no comparator closures). */
export function sortStrings(keys: Array<string>): void {
  const n = keys.length;
  if (n < 2) return;
  const tmp = new Array<string>(n);
  for (let width = 1; width < n; width *= 2) {
    for (let lo = 0; lo < n - width; lo += 2 * width) {
      const mid = lo + width;
      const hi = mid + width < n ? mid + width : n;
      let i = lo;
      let j = mid;
      let k = lo;
      while (i < mid && j < hi) {
        if (compareStrings(keys[j], keys[i]) < 0) tmp[k++] = keys[j++];
        else tmp[k++] = keys[i++];
      }
      while (i < mid) tmp[k++] = keys[i++];
      while (j < hi) tmp[k++] = keys[j++];
      for (let m = lo; m < hi; m++) keys[m] = tmp[m];
    }
  }
}

/** jq's total order: -1, 0 or 1. */
export function compareValues(a: JsonValue, b: JsonValue): i32 {
  if (a.kind != b.kind) return a.kind < b.kind ? -1 : 1;
  switch (a.kind) {
    case Kind.Number:
      return a.num < b.num ? -1 : a.num > b.num ? 1 : 0;
    case Kind.String:
      return compareStrings(a.str, b.str);
    case Kind.Array: {
      const x = a.items!;
      const y = b.items!;
      const n = x.length < y.length ? x.length : y.length;
      for (let i = 0; i < n; i++) {
        const c = compareValues(x[i], y[i]);
        if (c != 0) return c;
      }
      return x.length == y.length ? 0 : x.length < y.length ? -1 : 1;
    }
    case Kind.Object: {
      const ka = a.sortedKeys();
      const kb = b.sortedKeys();
      const n = ka.length < kb.length ? ka.length : kb.length;
      for (let i = 0; i < n; i++) {
        const c = compareStrings(ka[i], kb[i]);
        if (c != 0) return c;
      }
      if (ka.length != kb.length) return ka.length < kb.length ? -1 : 1;
      for (let i = 0; i < ka.length; i++) {
        const c = compareValues(a.get(ka[i])!, b.get(ka[i])!);
        if (c != 0) return c;
      }
      return 0;
    }
    default:
      return 0;
  }
}
