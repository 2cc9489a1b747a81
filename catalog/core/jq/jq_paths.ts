/// <reference path="../portable.d.ts" />
/**
 * jq 1.6's `getpath`, `setpath` and `delpaths` (`jv_getpath`, `jv_setpath`,
 * `jv_delpaths`), with their error messages. Values are immutable once
 * shared, so updates copy the containers along the path; an {@link Owner}
 * remembers the copies one update session made, so later updates in the
 * same session (a `reduce`, `.[] |= f`) change them in place instead of
 * copying again (jq gets the same effect from reference counts).
 */
import { JsonValue, Kind } from "../json_value.ts";
import { jqCompare, sortByKeys } from "./jq_compare.ts";
import { cInt, jqIndex, sliceBounds } from "./jq_ops.ts";
// deno-lint-ignore verbatim-module-syntax
import { JqState } from "./jq_state.ts";

/** Containers created by one update session: safe to change in place. */
export class Owner {
  owned: Set<JsonValue> = new Set<JsonValue>();

  has(v: JsonValue): bool {
    return this.owned.has(v);
  }

  add(v: JsonValue): void {
    this.owned.add(v);
  }

  /** Forgets every container: from now on each is copied before a change. */
  clear(): void {
    this.owned.clear();
  }
}

/** Arrays are not grown past this many elements by an index assignment. */
const MAX_ARRAY_INDEX: i32 = 1 << 26;

/** `t`, or a copy of it the owner may change. */
function writable(t: JsonValue, owner: Owner | null): JsonValue {
  if (owner != null && owner.has(t)) return t;
  const c = t.copy();
  if (owner != null) owner.add(c);
  return c;
}

/**
 * `getpath(p)`: errors for a non-array path and for
 * impossible steps (`{"a":1} | getpath(["a","b"])`).
 *
 * @example
 * ```ts
 * import "../../native/portable_runtime.ts";
 * import { fromJs, toJs } from "../../native/js_bridge.ts";
 * import { JqState } from "./jq_state.ts";
 * import { getPath } from "./jq_paths.ts";
 * const v = getPath(new JqState(), fromJs({ a: [1, 2] }), fromJs(["a", 1]), 0);
 * console.assert(toJs(v!) === 2);
 * ```
 */
export function getPath(st: JqState, t: JsonValue, p: JsonValue, at: i32): JsonValue | null {
  if (p.kind != Kind.Array) {
    st.fail("Path must be specified as an array", at);
    return null;
  }
  const keys = p.items!;
  let v = t;
  for (let i = 0; i < keys.length; i++) {
    const next = jqIndex(st, v, keys[i], at);
    if (next == null) return null;
    v = next;
  }
  return v;
}

/** `setpath(p; v)` on `t`; with an owner, changes its containers in place. */
export function setPath(
  st: JqState,
  t: JsonValue,
  p: JsonValue,
  v: JsonValue,
  owner: Owner | null,
  at: i32,
): JsonValue | null {
  if (p.kind != Kind.Array) {
    st.fail("Path must be specified as an array", at);
    return null;
  }
  return setIn(st, t, p.items!, 0, v, owner, at);
}

function setIn(
  st: JqState,
  t: JsonValue,
  keys: Array<JsonValue>,
  i: i32,
  v: JsonValue,
  owner: Owner | null,
  at: i32,
): JsonValue | null {
  if (i == keys.length) return v;
  const key = keys[i];
  const child = jqIndex(st, t, key, at);
  if (child == null) return null;
  const updated = setIn(st, child, keys, i + 1, v, owner, at);
  if (updated == null) return null;
  return setKey(st, t, key, updated, owner, at);
}

/** jq's `jv_set`: one step of an update. */
export function setKey(
  st: JqState,
  t: JsonValue,
  key: JsonValue,
  v: JsonValue,
  owner: Owner | null,
  at: i32,
): JsonValue | null {
  const kk = key.kind;
  const tk = t.kind;
  if (kk == Kind.String && (tk == Kind.Object || tk == Kind.Null)) {
    let o: JsonValue;
    if (tk == Kind.Null) {
      o = JsonValue.object();
      if (owner != null) owner.add(o);
    } else {
      o = writable(t, owner);
    }
    o.set(key.str, v);
    return o;
  }
  if (kk == Kind.Number && (tk == Kind.Array || tk == Kind.Null)) {
    let a: JsonValue;
    if (tk == Kind.Null) {
      a = JsonValue.array(new Array<JsonValue>());
      if (owner != null) owner.add(a);
    } else {
      a = writable(t, owner);
    }
    const items = a.items!;
    let idx = cInt(key.num);
    if (idx < 0) idx += items.length;
    if (idx < 0) {
      st.fail("Out of bounds negative array index", at);
      return null;
    }
    if (idx >= MAX_ARRAY_INDEX) {
      st.fail(
        "Cannot set array index " + idx.toString() + " as arrays are limited to " +
          MAX_ARRAY_INDEX.toString() + " elements",
        at,
      );
      return null;
    }
    while (items.length <= idx) items.push(JsonValue.null());
    items[idx] = v;
    return a;
  }
  if (kk == Kind.Object && (tk == Kind.Array || tk == Kind.Null)) {
    const base = tk == Kind.Null ? new Array<JsonValue>() : t.items!;
    const start = key.get("start");
    const end = key.get("end");
    const b = sliceBounds(
      base.length,
      start == null ? JsonValue.string("") : start,
      end == null ? JsonValue.string("") : end,
    );
    if (!b.ok) {
      st.fail("Start and end indices of an array slice must be numbers", at);
      return null;
    }
    if (v.kind != Kind.Array) {
      st.fail("A slice of an array can only be assigned another array", at);
      return null;
    }
    const out = new Array<JsonValue>();
    for (let i = 0; i < b.start; i++) out.push(base[i]);
    const ins = v.items!;
    for (let i = 0; i < ins.length; i++) out.push(ins[i]);
    for (let i = b.end; i < base.length; i++) out.push(base[i]);
    const r = JsonValue.array(out);
    if (owner != null) owner.add(r);
    return r;
  }
  st.fail("Cannot update field at " + key.typeName() + " index of " + t.typeName(), at);
  return null;
}

/** `delpaths(ps)`: deletes every path in the array `ps`. */
export function delPaths(st: JqState, t: JsonValue, ps: JsonValue, at: i32): JsonValue | null {
  if (ps.kind != Kind.Array) {
    st.fail("Paths must be specified as an array", at);
    return null;
  }
  const sorted = sortByKeys(ps.items!, ps.items!);
  for (let i = 0; i < sorted.length; i++) {
    if (sorted[i].kind != Kind.Array) {
      st.fail("Path must be specified as array, not " + sorted[i].typeName(), at);
      return null;
    }
  }
  if (sorted.length == 0) return t;
  if (sorted[0].items!.length == 0) return JsonValue.null();
  return delSorted(st, t, sorted, 0, new Owner(), at);
}

function delSorted(
  st: JqState,
  t: JsonValue,
  paths: Array<JsonValue>,
  start: i32,
  owner: Owner,
  at: i32,
): JsonValue | null {
  const delKeys = new Array<JsonValue>();
  let obj = t;
  let i = 0;
  while (i < paths.length) {
    const first = paths[i].items!;
    const key = first[start];
    const deleteKey = first.length == start + 1;
    let j = i;
    while (j < paths.length && jqCompare(paths[j].items![start], key) == 0) j++;
    if (deleteKey) {
      delKeys.push(key);
    } else {
      const sub = jqIndex(st, obj, key, at);
      if (sub == null) return null;
      if (sub.kind != Kind.Null) {
        const updated = delSorted(st, sub, paths.slice(i, j), start + 1, owner, at);
        if (updated == null) return null;
        const set = setKey(st, obj, key, updated, owner, at);
        if (set == null) return null;
        obj = set;
      }
    }
    i = j;
  }
  return deleteKeys(st, obj, delKeys, at);
}

/** jq's `jv_dels`: removes sorted keys (numbers, slices or strings) from `t`. */
function deleteKeys(st: JqState, t: JsonValue, keys: Array<JsonValue>, at: i32): JsonValue | null {
  if (t.kind == Kind.Null || keys.length == 0) return t;
  if (t.kind == Kind.Array) {
    const items = t.items!;
    const len = items.length;
    const del = new Array<bool>(len);
    for (let i = 0; i < len; i++) del[i] = false;
    for (let i = 0; i < keys.length; i++) {
      const key = keys[i];
      if (key.kind == Kind.Number) {
        const idx = cInt(key.num);
        if (idx >= 0 && idx < len) del[idx] = true;
        const neg = len + idx;
        if (idx < 0 && neg >= 0 && neg < len) del[neg] = true;
      } else if (key.kind == Kind.Object) {
        const s = key.get("start");
        const e = key.get("end");
        const b = sliceBounds(
          len,
          s == null ? JsonValue.string("") : s,
          e == null ? JsonValue.string("") : e,
        );
        if (!b.ok) {
          st.fail("Start and end indices of an array slice must be numbers", at);
          return null;
        }
        for (let k = b.start; k < b.end; k++) del[k] = true;
      } else {
        st.fail("Cannot delete " + key.typeName() + " element of array", at);
        return null;
      }
    }
    const out = new Array<JsonValue>();
    for (let i = 0; i < len; i++) {
      if (!del[i]) out.push(items[i]);
    }
    return JsonValue.array(out);
  }
  if (t.kind == Kind.Object) {
    let o: JsonValue | null = null;
    for (let i = 0; i < keys.length; i++) {
      const key = keys[i];
      if (key.kind != Kind.String) {
        st.fail("Cannot delete " + key.typeName() + " field of object", at);
        return null;
      }
      if (o == null) o = t.copy();
      o.remove(key.str);
    }
    return o == null ? t : o;
  }
  st.fail("Cannot delete fields from " + t.typeName(), at);
  return null;
}
