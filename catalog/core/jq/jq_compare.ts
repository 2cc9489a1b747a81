/// <reference path="../portable.d.ts" />
/**
 * jq 1.6's ordering and equality (`jv_cmp`, `jv_equal`, `jv_contains`) and
 * the stable sorts built on them. They differ from {@link compareValues}
 * only for NaN, which jq orders below every number (even itself).
 */
import { compareStrings, JsonValue, Kind } from "../json_value.ts";
// deno-lint-ignore verbatim-module-syntax
import { JqState } from "./jq_state.ts";

/**
 * jq's total order: null < false < true < numbers < strings < arrays < objects.
 *
 * @example
 * ```ts
 * import "../../native/portable_runtime.ts";
 * import { fromJs } from "../../native/js_bridge.ts";
 * import { jqCompare } from "./jq_compare.ts";
 * console.assert(jqCompare(fromJs([1, "a"]), fromJs([1, "b"])) < 0);
 * ```
 */
export function jqCompare(a: JsonValue, b: JsonValue): i32 {
  if (a.kind != b.kind) return a.kind < b.kind ? -1 : 1;
  switch (a.kind) {
    case Kind.Number: {
      // jq compares NaN as if it were null: below every number, even NaN.
      const x = a.num;
      const y = b.num;
      if (x != x) return -1;
      if (y != y) return 1;
      return x < y ? -1 : x == y ? 0 : 1;
    }
    case Kind.String:
      return compareStrings(a.str, b.str);
    case Kind.Array: {
      const x = a.items!;
      const y = b.items!;
      const n = x.length < y.length ? x.length : y.length;
      for (let i = 0; i < n; i++) {
        const c = jqCompare(x[i], y[i]);
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
        const c = jqCompare(a.get(ka[i])!, b.get(ka[i])!);
        if (c != 0) return c;
      }
      return 0;
    }
    default:
      return 0;
  }
}

/** jq's `==`: numbers by IEEE equality, other values by identity or order. */
export function jqEqual(a: JsonValue, b: JsonValue): bool {
  if (a.kind != b.kind) return false;
  if (a.kind == Kind.Number) return a.num == b.num;
  if (a === b) return true;
  if (a.kind == Kind.String) return a.str == b.str;
  return jqCompare(a, b) == 0;
}

/**
 * jq's `contains` on values of the same kind: substrings (up to a NUL, as
 * jq uses `strstr`), every element of `b` contained in some element of `a`,
 * every key of `b` present in `a` with a contained value. Nesting counts
 * against the run's depth limit: false with an error raised on `st` past it.
 */
export function jqContains(st: JqState, a: JsonValue, b: JsonValue, at: i32): bool {
  if (a.kind != b.kind) return false;
  if (a.kind == Kind.Object || a.kind == Kind.Array) {
    if (!st.enter(at)) return false;
    const r = containsIn(st, a, b, at);
    st.leave();
    return r;
  }
  if (a.kind == Kind.String) return cString(a.str).indexOf(cString(b.str)) >= 0;
  return jqEqual(a, b);
}

function containsIn(st: JqState, a: JsonValue, b: JsonValue, at: i32): bool {
  if (a.kind == Kind.Object) {
    const keys = b.keys!;
    const vals = b.vals!;
    for (let i = 0; i < keys.length; i++) {
      const av = a.get(keys[i]);
      if (av == null || !jqContains(st, av, vals[i], at)) return false;
    }
    return true;
  }
  const x = a.items!;
  const y = b.items!;
  for (let i = 0; i < y.length; i++) {
    let found = false;
    for (let j = 0; j < x.length; j++) {
      if (jqContains(st, x[j], y[i], at)) {
        found = true;
        break;
      }
      if (st.err != null) return false;
    }
    if (!found) return false;
  }
  return true;
}

function cString(s: string): string {
  const nul = s.indexOf("\u0000");
  return nul < 0 ? s : s.substring(0, nul);
}

/**
 * Indices that order `keys` stably by {@link jqCompare} (jq's `sort_by`
 * sorts by key, then by original position).
 */
export function sortedOrder(keys: Array<JsonValue>): Array<i32> {
  const n = keys.length;
  const order = new Array<i32>(n);
  for (let i = 0; i < n; i++) order[i] = i;
  if (n < 2) return order;
  const tmp = new Array<i32>(n);
  // Insertion sort for short runs, then bottom-up merges: stable, no closures.
  const RUN = 16;
  for (let lo = 0; lo < n; lo += RUN) {
    const hi = lo + RUN < n ? lo + RUN : n;
    for (let i = lo + 1; i < hi; i++) {
      const x = order[i];
      let j = i - 1;
      while (j >= lo && jqCompare(keys[order[j]], keys[x]) > 0) {
        order[j + 1] = order[j];
        j--;
      }
      order[j + 1] = x;
    }
  }
  let src = order;
  let dst = tmp;
  for (let width = RUN; width < n; width *= 2) {
    for (let lo = 0; lo < n; lo += 2 * width) {
      const mid = lo + width < n ? lo + width : n;
      const hi = lo + 2 * width < n ? lo + 2 * width : n;
      let i = lo;
      let j = mid;
      let k = lo;
      while (i < mid && j < hi) {
        if (jqCompare(keys[src[j]], keys[src[i]]) < 0) dst[k++] = src[j++];
        else dst[k++] = src[i++];
      }
      while (i < mid) dst[k++] = src[i++];
      while (j < hi) dst[k++] = src[j++];
    }
    const t = src;
    src = dst;
    dst = t;
  }
  return src;
}

/** `values` sorted stably by `keys` (parallel arrays of equal length). */
export function sortByKeys(values: Array<JsonValue>, keys: Array<JsonValue>): Array<JsonValue> {
  const order = sortedOrder(keys);
  const out = new Array<JsonValue>(values.length);
  for (let i = 0; i < order.length; i++) out[i] = values[order[i]];
  return out;
}

/** jq's `_group_by_impl`: groups of equal keys, in key order, each in original order. */
export function groupByKeys(values: Array<JsonValue>, keys: Array<JsonValue>): JsonValue {
  const order = sortedOrder(keys);
  const groups = new Array<JsonValue>();
  if (order.length == 0) return JsonValue.array(groups);
  let currentKey = keys[order[0]];
  let group = new Array<JsonValue>();
  group.push(values[order[0]]);
  for (let i = 1; i < order.length; i++) {
    const k = keys[order[i]];
    if (!jqEqual(currentKey, k)) {
      groups.push(JsonValue.array(group));
      group = new Array<JsonValue>();
      currentKey = k;
    }
    group.push(values[order[i]]);
  }
  groups.push(JsonValue.array(group));
  return JsonValue.array(groups);
}
