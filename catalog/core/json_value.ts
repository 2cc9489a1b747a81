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

/**
 * One JSON value. Treat values as immutable once shared: copy before
 * changing. Scalars may be shared outright (small integers are, see
 * `number`): only containers are ever changed, through `set`/`remove` or
 * their arrays.
 */
export class JsonValue {
  // Field order matters in the wasm build: the f64 first leaves no padding,
  // so a value is 28 bytes (48 with the allocator's header) instead of 36 (64).
  num: f64 = 0;
  kind: i32;
  str: string = "";
  /** Keys of an object, in insertion order (see `index` about sharing). */
  keys: Array<string> | null = null;
  /** Elements of an array, or values of an object (parallel to `keys`). */
  vals: Array<JsonValue> | null = null;
  /**
   * An object's lookup index once it has more than INDEX_AFTER keys; for a
   * smaller object, SHARED_KEYS when its `keys` array is shared with other
   * objects (the parser gives objects with the same keys one array), which
   * `set`/`remove` copy before changing; else null.
   */
  index: Map<string, i32> | null = null;

  constructor(kind: i32) {
    this.kind = kind;
  }

  /** Elements of an array; null for anything else. */
  get items(): Array<JsonValue> | null {
    return this.kind == Kind.Array ? this.vals : null;
  }

  static null(): JsonValue {
    return NULL_VALUE;
  }

  static bool(value: bool): JsonValue {
    return value ? TRUE_VALUE : FALSE_VALUE;
  }

  /**
   * A number. Integers 0..255 (not -0) are shared, like null and the
   * booleans: numbers are never changed, and jq compares them by value
   * (`identical` included), never by reference. Arrays of small counts and
   * flags then cost no memory per element.
   */
  static number(value: f64): JsonValue {
    if (value >= 0 && value < SMALL_INTS && value == Math.floor(value) && 1 / value > 0) {
      let cache = smallInts;
      if (cache == null) {
        // One allocation, not 256 pushes (the array grows and is copied six
        // times): a fresh wasm instance per step makes this cache every step.
        cache = new Array<JsonValue | null>(SMALL_INTS).fill(null);
        smallInts = cache;
      }
      const i = i32(value);
      const cached = cache[i];
      if (cached != null) return cached;
      const v = new JsonValue(Kind.Number);
      v.num = value;
      cache[i] = v;
      return v;
    }
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
    v.vals = items;
    return v;
  }

  /** An empty object. */
  static object(): JsonValue {
    const v = new JsonValue(Kind.Object);
    v.keys = new Array<string>();
    v.vals = new Array<JsonValue>();
    return v;
  }

  /**
   * An object of `keys` (distinct, at most INDEX_AFTER of them: no index is
   * needed) and the parallel `vals`, neither copied. `keys` is marked shared:
   * it may be given to other objects too, and `set`/`remove` copy it first.
   */
  static objectOf(keys: Array<string>, vals: Array<JsonValue>): JsonValue {
    const v = new JsonValue(Kind.Object);
    v.keys = keys;
    v.vals = vals;
    v.index = SHARED_KEYS;
    return v;
  }

  /** The keys array, copied first when it is shared, so it may be changed. */
  ownKeys(): Array<string> {
    if (this.index == SHARED_KEYS) {
      this.keys = this.keys!.slice(0);
      this.index = null;
    }
    return this.keys!;
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
    if (index != null && index != SHARED_KEYS) {
      return index.has(key) ? (index.get(key) as i32) : -1;
    }
    const keys = this.keys!;
    // Lengths first: in the wasm build a string comparison is a call, and
    // most keys looked up (schema keywords, jq fields) are not there.
    const m = key.length;
    for (let i = 0, n = keys.length; i < n; i++) {
      const k = keys[i];
      if (k.length == m && k == key) return i;
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
    const keys = this.ownKeys();
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
    const keys = this.ownKeys();
    keys.splice(i, 1);
    this.vals!.splice(i, 1);
    this.index = null;
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

/** Marks a shared `keys` array in `JsonValue.index` (never used as an index). */
const SHARED_KEYS: Map<string, i32> = new Map<string, i32>();
/** Numbers 0..SMALL_INTS - 1 are shared; the cache is made on first use. */
const SMALL_INTS: i32 = 256;
let smallInts: Array<JsonValue | null> | null = null;

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
