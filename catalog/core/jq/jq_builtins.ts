/// <reference path="../portable.d.ts" />
/**
 * Native built-ins. Each follows jq 1.6's definition (its C function, or
 * the jq-language definition in its builtin.jq) closely enough to give the
 * same outputs, the same order and the same errors. Arguments of C-style
 * built-ins are evaluated like jq does: every combination of argument
 * outputs, the last argument varying slowest; `$`-parameters of
 * jq-defined ones vary the first slowest.
 */
import { JsonValue, Kind } from "../json_value.ts";
import { JqNode, Op } from "./jq_ast.ts";
import { collectPaths, modify } from "./jq_assign.ts";
import { B } from "./jq_builtin_table.ts";
import { groupByKeys, jqCompare, jqContains, jqEqual, sortByKeys } from "./jq_compare.ts";
import { dumpJq } from "./jq_dump.ts";
import { typeErrorText } from "./jq_messages.ts";
import { ev, indexStep, iterateStep, PathEndK } from "./jq_eval.ts";
import { applyFormat } from "./jq_formats.ts";
import { parseJqJson } from "./jq_json_parse.ts";
import {
  arrayIndexes,
  jqAdd,
  jqHas,
  jqIndex,
  jqKeys,
  jqLength,
  jqSlice,
  splitString,
  typeError,
  typeError2,
} from "./jq_ops.ts";
import { delPaths, getPath, setPath } from "./jq_paths.ts";
import { matchImpl } from "./jq_regex_match.ts";
import { substitute, substituteFirst } from "./jq_regex_sub.ts";
import { appendPath, CollectK, CollectPathsK, Env, identical, K, PathState } from "./jq_runtime.ts";
import { ERR, JqState, OK } from "./jq_state.ts";
import { byteIndices, explodeString, fromCodePoint } from "./jq_strings.ts";

/** One invocation of a built-in with value arguments. */
class Call {
  node: JqNode;
  input: JsonValue;
  path: PathState | null;
  env: Env | null;
  k: K;
  vals: Array<JsonValue>;
  /** C-style: the last argument varies slowest; otherwise the first. */
  lastOuter: bool;

  constructor(
    node: JqNode,
    input: JsonValue,
    path: PathState | null,
    env: Env | null,
    k: K,
    lastOuter: bool,
    valueArgs: i32 = -1,
  ) {
    this.node = node;
    this.input = input;
    this.path = path;
    this.env = env;
    this.k = k;
    // Filter arguments (like `f` in `limit($n; f)`) come after the value ones.
    this.vals = new Array<JsonValue>(valueArgs < 0 ? node.list!.length : valueArgs);
    this.lastOuter = lastOuter;
  }

  arg(i: i32): JqNode {
    return this.node.list![i]!;
  }

  emit(st: JqState, v: JsonValue | null): i32 {
    if (v == null) return ERR;
    return this.k.emit(st, v, this.path);
  }

  fail(st: JqState, message: string): i32 {
    return st.fail(message, this.node.offset);
  }
}

/** Evaluates argument number `step` (in evaluation order), then the rest, then applies. */
function evalArgs(st: JqState, c: Call, step: i32): i32 {
  const n = c.vals.length;
  if (step == n) return applyArgs(st, c);
  const idx = c.lastOuter ? n - 1 - step : step;
  const arg = c.arg(idx);
  if (arg.op == Op.Literal) {
    c.vals[idx] = arg.value!;
    return evalArgs(st, c, step + 1);
  }
  return ev(st, arg, c.input, null, c.env, new ArgK(c, step, idx));
}

class ArgK extends K {
  c: Call;
  step: i32;
  idx: i32;

  constructor(c: Call, step: i32, idx: i32) {
    super();
    this.c = c;
    this.step = step;
    this.idx = idx;
  }

  override emit(st: JqState, v: JsonValue, _p: PathState | null): i32 {
    this.c.vals[this.idx] = v;
    return evalArgs(st, this.c, this.step + 1);
  }
}

/** Calls built-in `node.builtin` on `input`. */
export function callBuiltin(
  st: JqState,
  node: JqNode,
  input: JsonValue,
  path: PathState | null,
  env: Env | null,
  k: K,
): i32 {
  const at = node.offset;
  switch (node.builtin) {
    case B.Empty:
      return OK;
    case B.Not:
      return k.emit(st, JsonValue.bool(!input.isTruthy()), path);
    case B.Length:
      return emit(st, jqLength(st, input, at), path, k);
    case B.Utf8ByteLength:
      if (input.kind != Kind.String) {
        return err(typeError(st, input, "only strings have UTF-8 byte length", at));
      }
      return k.emit(st, JsonValue.number(f64(utf8LengthOf(input.str))), path);
    case B.Keys:
      return emit(st, jqKeys(st, input, true, at), path, k);
    case B.KeysUnsorted:
      return emit(st, jqKeys(st, input, false, at), path, k);
    case B.Values:
      return input.kind == Kind.Null ? OK : k.emit(st, input, path);
    case B.Add:
      return emit(st, addAll(st, input, at), path, k);
    case B.Any0:
    case B.All0:
      return anyAll(st, node, input, path, env, k, null, null, node.builtin == B.Any0);
    case B.Flatten0:
      return emit(st, flattenBy(st, input, JsonValue.number(-1), false, at), path, k);
    case B.Floor:
    case B.Sqrt:
    case B.Ceil:
    case B.Round:
    case B.Trunc:
    case B.Fabs:
    case B.Rint:
    case B.Nearbyint:
      if (input.kind != Kind.Number) return err(typeError(st, input, "number required", at));
      return k.emit(st, JsonValue.number(math(node.builtin, input.num)), path);
    case B.ToString:
      return k.emit(st, input.kind == Kind.String ? input : JsonValue.string(dumpJq(input)), path);
    case B.ToNumber:
      return emit(st, toNumber(st, input, at), path, k);
    case B.Type:
      return k.emit(st, JsonValue.string(input.typeName()), path);
    case B.Infinite:
      return k.emit(st, JsonValue.number(Infinity), path);
    case B.Nan:
      return k.emit(st, JsonValue.number(NaN), path);
    case B.IsInfinite:
    case B.IsNan:
    case B.IsNormal: {
      // jq 1.6 does not check the type here: other values are not numbers, so false.
      if (input.kind != Kind.Number) return k.emit(st, JsonValue.bool(false), path);
      const x = input.num;
      let r = false;
      if (node.builtin == B.IsInfinite) r = x == Infinity || x == -Infinity;
      else if (node.builtin == B.IsNan) r = x != x;
      else r = x == x && x != Infinity && x != -Infinity && Math.abs(x) >= 2.2250738585072014e-308;
      return k.emit(st, JsonValue.bool(r), path);
    }
    case B.IsFinite:
      return k.emit(
        st,
        JsonValue.bool(
          input.kind == Kind.Number && input.num != Infinity && input.num != -Infinity,
        ),
        path,
      );
    case B.Sort:
      if (input.kind != Kind.Array) {
        return err(typeError(st, input, "cannot be sorted, as it is not an array", at));
      }
      return k.emit(st, JsonValue.array(sortByKeys(input.items!, input.items!)), path);
    case B.Unique:
    case B.SortBy:
    case B.GroupBy:
    case B.UniqueBy:
    case B.MinBy:
    case B.MaxBy:
      return byKeys(st, node, input, path, env, k);
    case B.Min:
    case B.Max:
      if (input.kind != Kind.Array) {
        return err(typeError2(st, input, input, "cannot be iterated over", at));
      }
      return k.emit(st, minMax(input.items!, input.items!, node.builtin == B.Min), path);
    case B.Reverse:
      return emit(st, reverse(st, input, at), path, k);
    case B.ToJson:
      return k.emit(st, JsonValue.string(dumpJq(input)), path);
    case B.FromJson:
      if (input.kind != Kind.String) {
        return err(typeError(st, input, "only strings can be parsed", at));
      }
      return emit(st, parseJqJson(st, input.str, at), path, k);
    case B.Explode:
      if (input.kind != Kind.String) return st.fail("explode input must be a string", at);
      return k.emit(st, codePointsValue(input.str), path);
    case B.Implode:
      return emit(st, implode(st, input, at), path, k);
    case B.AsciiDowncase:
    case B.AsciiUpcase:
      if (input.kind != Kind.String) return st.fail("explode input must be a string", at);
      return k.emit(
        st,
        JsonValue.string(asciiCase(input.str, node.builtin == B.AsciiUpcase)),
        path,
      );
    case B.ToEntries:
      return emit(st, toEntries(st, input, at), path, k);
    case B.FromEntries:
      return emit(st, fromEntries(st, input, at), path, k);
    case B.Paths0:
      return allPaths(st, node, input, path, env, k, false);
    case B.LeafPaths:
      return allPaths(st, node, input, path, env, k, true);
    case B.Recurse0:
    case B.RecurseDown:
      return recurseAll(st, node, input, path, k);
    case B.First0:
      return indexStep(st, node, input, path, JsonValue.number(0), k);
    case B.Last0:
      return indexStep(st, node, input, path, JsonValue.number(-1), k);
    case B.Error0:
      if (input.kind == Kind.Null) return OK;
      return st.raise(input, at);
    case B.Arrays:
    case B.Objects:
    case B.Iterables:
    case B.Booleans:
    case B.Numbers:
    case B.Strings:
    case B.Nulls:
    case B.Scalars:
    case B.ScalarsOrEmpty:
    case B.Finites:
      return typeSelect(node.builtin, input) ? k.emit(st, input, path) : OK;
    case B.Normals: {
      if (input.kind != Kind.Number) return OK;
      const x = input.num;
      const normal = x == x && x != Infinity && x != -Infinity &&
        Math.abs(x) >= 2.2250738585072014e-308;
      return normal ? k.emit(st, input, path) : OK;
    }
    case B.Transpose:
      return emit(st, transpose(st, input, at), path, k);
    case B.Pow10:
      return st.fail("Error: pow10/0 not found at build time", at);
    case B.Select:
      return ev(st, node.list![0]!, input, null, env, new SelectK(input, path, k));
    case B.Map: {
      const out = new CollectK();
      const r = iterateInto(st, node, input, env, node.list![0]!, out);
      if (r != OK) return r;
      return k.emit(st, JsonValue.array(out.items), path);
    }
    case B.MapValues:
      return modify(st, iterateNode(node), mapValuesNode(node), input, path, env, k);
    case B.In:
      return ev(st, node.list![0]!, input, null, env, new InK(input, path, k, at, true));
    case B.Inside:
      return ev(st, node.list![0]!, input, null, env, new InK(input, path, k, at, false));
    case B.Path:
      return ev(
        st,
        node.list![0]!,
        input,
        new PathState(null, null, input),
        env,
        new PathEndK(k, path, at),
      );
    case B.Del: {
      const paths = new CollectK();
      const r = collectPaths(st, node.list![0]!, input, env, at, paths);
      if (r != OK) return r;
      return emit(st, delPaths(st, input, JsonValue.array(paths.items), at), path, k);
    }
    case B.WithEntries: {
      const entries = toEntries(st, input, at);
      if (entries == null) return ERR;
      const out = new CollectK();
      const items = entries.items!;
      const f = node.list![0]!;
      for (let i = 0; i < items.length; i++) {
        const r = ev(st, f, items[i], null, env, out);
        if (r != OK) return r;
      }
      return emit(st, fromEntries(st, JsonValue.array(out.items), at), path, k);
    }
    case B.Recurse1:
      return recurseWith(st, node, input, path, env, k, node.list![0]!, null);
    case B.Recurse2:
      return recurseWith(st, node, input, path, env, k, node.list![0]!, node.list![1]!);
    case B.Paths1:
      return filteredPaths(st, node, input, path, env, k);
    case B.Any1:
    case B.All1:
      return anyAll(st, node, input, path, env, k, null, node.list![0]!, node.builtin == B.Any1);
    case B.Any2:
    case B.All2:
      return anyAll(
        st,
        node,
        input,
        path,
        env,
        k,
        node.list![0]!,
        node.list![1]!,
        node.builtin == B.Any2,
      );
    case B.First1: {
      const label = st.labels++;
      const r = ev(st, node.list![0]!, input, path, env, new FirstK(k, label, at));
      return endLabel(st, r, label);
    }
    case B.Last1: {
      const last = new LastK();
      const r = ev(st, node.list![0]!, input, path, env, last);
      if (r != OK) return r;
      return k.emit(st, last.value, path);
    }
    case B.IsEmpty: {
      const label = st.labels++;
      const probe = new IsEmptyK(label, at);
      const r = endLabel(st, ev(st, node.list![0]!, input, path, env, probe), label);
      if (r != OK) return r;
      return k.emit(st, JsonValue.bool(!probe.found), path);
    }
    case B.Repeat: {
      const f = node.list![0]!;
      while (true) {
        const r = ev(st, f, input, path, env, k);
        if (r != OK) return r;
      }
    }
    case B.Walk:
      return walk(st, node.list![0]!, input, path, env, k, at);
    case B.Until:
    case B.While:
      return loopWhile(st, node, input, path, env, k, node.builtin == B.Until);
    case B.Limit:
    case B.Nth2:
    case B.Sub2:
    case B.Sub3:
    case B.Gsub2:
    case B.Gsub3:
      return evalArgs(st, new Call(node, input, path, env, k, false, 1), 0);
    case B.Range1:
    case B.Range2:
    case B.Range3:
    case B.Flatten1:
    case B.Join:
    case B.Indices:
    case B.Index:
    case B.Rindex:
    case B.Nth1:
      // jq-defined with `$` parameters: the first argument varies slowest.
      return evalArgs(st, new Call(node, input, path, env, k, false), 0);
    default:
      return evalArgs(st, new Call(node, input, path, env, k, true), 0);
  }
}

/** Applies a built-in to its evaluated value arguments. */
function applyArgs(st: JqState, c: Call): i32 {
  const input = c.input;
  const v = c.vals;
  const at = c.node.offset;
  switch (c.node.builtin) {
    case B.Has:
      return c.emit(st, jqHas(st, input, v[0], at));
    case B.Contains:
      if (input.kind != v[0].kind) {
        return err(typeError2(st, input, v[0], "cannot have their containment checked", at));
      }
      return containsResult(st, c, jqContains(st, input, v[0], at));
    case B.GetPath: {
      const r = getPath(st, input, v[0], at);
      if (r == null) return ERR;
      const p = c.path;
      if (p == null || !identical(input, p.value)) return c.k.emit(st, r, p);
      return c.k.emit(st, r, extendPath(p, v[0], r));
    }
    case B.SetPath:
      return c.emit(st, setPath(st, input, v[0], v[1], null, at));
    case B.DelPaths:
      return c.emit(st, delPaths(st, input, v[0], at));
    case B.StartsWith:
    case B.EndsWith: {
      const starts = c.node.builtin == B.StartsWith;
      if (input.kind != Kind.String || v[0].kind != Kind.String) {
        return c.fail(st, (starts ? "startswith" : "endswith") + "() requires string inputs");
      }
      const r = starts ? input.str.startsWith(v[0].str) : input.str.endsWith(v[0].str);
      return c.emit(st, JsonValue.bool(r));
    }
    case B.LtrimStr:
    case B.RtrimStr: {
      if (input.kind == Kind.String && v[0].kind == Kind.String) {
        const s = input.str;
        const t = v[0].str;
        if (c.node.builtin == B.LtrimStr && s.startsWith(t)) {
          return c.emit(st, JsonValue.string(s.substring(t.length)));
        }
        if (c.node.builtin == B.RtrimStr && s.endsWith(t)) {
          return c.emit(st, JsonValue.string(s.substring(0, s.length - t.length)));
        }
      }
      return c.emit(st, input);
    }
    case B.Split1:
      if (input.kind != Kind.String || v[0].kind != Kind.String) {
        return c.fail(st, "split input and separator must be strings");
      }
      return c.emit(st, splitString(input.str, v[0].str));
    case B.Join:
      return c.emit(st, join(st, input, v[0], at));
    case B.Flatten1:
      return c.emit(st, flattenBy(st, input, v[0], true, at));
    case B.Indices:
      return c.emit(st, indices(st, input, v[0], at));
    case B.Index:
    case B.Rindex: {
      const r = indices(st, input, v[0], at);
      if (r == null) return ERR;
      if (c.node.builtin == B.Index) return c.emit(st, jqIndex(st, r, JsonValue.number(0), at));
      const tail = jqSlice(st, r, JsonValue.number(-1), JsonValue.null(), at);
      if (tail == null) return ERR;
      return c.emit(st, jqIndex(st, tail, JsonValue.number(0), at));
    }
    case B.Nth1:
      return indexStep(st, c.node, input, c.path, v[0], c.k);
    case B.Error1:
      if (v[0].kind == Kind.Null) return OK;
      return st.raise(v[0], at);
    case B.Format: {
      if (v[0].kind != Kind.String) return err(typeError(st, v[0], "is not a valid format", at));
      const s = applyFormat(st, v[0].str, input, at);
      if (s == null) return ERR;
      return c.emit(st, JsonValue.string(s));
    }
    case B.Range1:
      return range(st, c, JsonValue.number(0), v[0]);
    case B.Range2:
      return range(st, c, v[0], v[1]);
    case B.Range3:
      return range3(st, c, v[0], v[1], v[2]);
    case B.Limit:
      return limit(st, c, v[0]);
    case B.Nth2:
      return nth(st, c, v[0]);
    case B.MatchImpl:
      return c.emit(st, matchImpl(st, input, v[0], v[1], v[2], at));
    case B.Nwise:
      return nwise(st, c, v[0]);
    case B.Sub2:
      return substituteFirst(st, input, v[0], c.arg(1), c.env, c.path, c.k, at);
    case B.Gsub2: {
      const flags = JsonValue.string("g");
      return substitute(st, input, v[0], c.arg(1), flags, flags, c.env, c.path, c.k, at);
    }
    case B.Sub3:
    case B.Gsub3:
      return substituteWithFlags(st, c, v[0]);
    default:
      return c.fail(st, "internal error: unknown built-in " + c.node.str);
  }
}

function containsResult(st: JqState, c: Call, r: bool): i32 {
  if (st.err != null) return ERR;
  return c.emit(st, JsonValue.bool(r));
}

function emit(st: JqState, v: JsonValue | null, path: PathState | null, k: K): i32 {
  if (v == null) return ERR;
  return k.emit(st, v, path);
}

function err(_v: JsonValue | null): i32 {
  return ERR;
}

function extendPath(p: PathState, keys: JsonValue, value: JsonValue): PathState {
  if (keys.kind != Kind.Array) return appendPath(p, keys, value);
  const items = keys.items!;
  let q = p;
  for (let i = 0; i < items.length; i++) q = appendPath(q, items[i], value);
  return q;
}

/** Ends a `label`: its own `break` is swallowed, other errors pass. */
function endLabel(st: JqState, r: i32, label: i32): i32 {
  if (r == ERR && st.isBreak(label)) {
    st.take();
    return OK;
  }
  return r;
}

function utf8LengthOf(s: string): i32 {
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) n += 1;
    else if (c < 0x800) n += 2;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length) {
      const d = s.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) {
        n += 4;
        i++;
      } else {
        n += 3;
      }
    } else n += 3;
  }
  return n;
}

function math(id: i32, x: f64): f64 {
  switch (id) {
    case B.Floor:
      return Math.floor(x);
    case B.Sqrt:
      return Math.sqrt(x);
    case B.Ceil:
      return Math.ceil(x);
    case B.Trunc:
      return Math.trunc(x);
    case B.Fabs:
      return Math.abs(x);
    case B.Round: {
      // C round(): halves away from zero.
      if (x != x || x == Infinity || x == -Infinity) return x;
      const t = Math.trunc(x);
      const d = x - t;
      if (d >= 0.5) return t + 1;
      if (d <= -0.5) return t - 1;
      return t;
    }
    default: {
      // rint/nearbyint: halves to even, zero keeps the sign of x.
      if (x != x || x == Infinity || x == -Infinity) return x;
      const f = Math.floor(x);
      const d = x - f;
      let r = f;
      if (d > 0.5) r = f + 1;
      else if (d == 0.5) r = f % 2 == 0 ? f : f + 1;
      if (r == 0) return x < 0 || (x == 0 && 1 / x < 0) ? -0.0 : 0.0;
      return r;
    }
  }
}

function toNumber(st: JqState, input: JsonValue, at: i32): JsonValue | null {
  if (input.kind == Kind.Number) return input;
  if (input.kind == Kind.String) {
    const parsed = parseJqJson(st, input.str, at);
    if (parsed == null) return null;
    if (parsed.kind == Kind.Number) return parsed;
  }
  return typeError(st, input, "cannot be parsed as a number", at);
}

function typeSelect(id: i32, v: JsonValue): bool {
  const kind = v.kind;
  switch (id) {
    case B.Arrays:
      return kind == Kind.Array;
    case B.Objects:
      return kind == Kind.Object;
    case B.Iterables:
      return kind == Kind.Array || kind == Kind.Object;
    case B.Booleans:
      return kind == Kind.True || kind == Kind.False;
    case B.Numbers:
      return kind == Kind.Number;
    case B.Strings:
      return kind == Kind.String;
    case B.Nulls:
      return kind == Kind.Null;
    case B.Scalars:
      return kind != Kind.Array && kind != Kind.Object;
    case B.ScalarsOrEmpty:
      return (kind != Kind.Array && kind != Kind.Object) || v.size() == 0;
    default:
      // finites: `select(isfinite)`
      return kind == Kind.Number && v.num != Infinity && v.num != -Infinity;
  }
}

/** The elements (arrays) or values (objects) of `v`, or null after raising jq's iteration error. */
function iterable(st: JqState, v: JsonValue, at: i32): Array<JsonValue> | null {
  if (v.kind == Kind.Array) return v.items!;
  if (v.kind == Kind.Object) return v.vals!;
  st.fail("Cannot iterate over " + typeErrorText(v), at);
  return null;
}

/** `[.[] | f]` into `out`. */
function iterateInto(
  st: JqState,
  node: JqNode,
  input: JsonValue,
  env: Env | null,
  f: JqNode,
  out: CollectK,
): i32 {
  const items = iterable(st, input, node.offset);
  if (items == null) return ERR;
  for (let i = 0; i < items.length; i++) {
    const r = ev(st, f, items[i], null, env, out);
    if (r != OK) return r;
  }
  return OK;
}

/** `add`: `reduce .[] as $x (null; . + $x)`, building one result instead of copying. */
function addAll(st: JqState, input: JsonValue, at: i32): JsonValue | null {
  const items = iterable(st, input, at);
  if (items == null) return null;
  let acc = JsonValue.null();
  let fresh = false;
  let text: Array<string> | null = null;
  let sum: f64 = 0;
  let summing = false;
  for (let i = 0; i < items.length; i++) {
    const x = items[i];
    if (x.kind == Kind.Null) continue;
    if (text != null) {
      if (x.kind == Kind.String) {
        text.push(x.str);
        continue;
      }
      acc = JsonValue.string(text.join(""));
      text = null;
    }
    if (summing) {
      if (x.kind == Kind.Number) {
        sum += x.num;
        continue;
      }
      acc = JsonValue.number(sum);
      summing = false;
    }
    if (acc.kind == Kind.Null) {
      acc = x;
      fresh = false;
      if (x.kind == Kind.String) {
        text = new Array<string>();
        text.push(x.str);
      } else if (x.kind == Kind.Number) {
        sum = x.num;
        summing = true;
      }
      continue;
    }
    if (acc.kind == Kind.Array && x.kind == Kind.Array) {
      if (!fresh) {
        acc = JsonValue.array(acc.items!.slice(0));
        fresh = true;
      }
      const dst = acc.items!;
      const src = x.items!;
      for (let j = 0; j < src.length; j++) dst.push(src[j]);
      continue;
    }
    if (acc.kind == Kind.Object && x.kind == Kind.Object) {
      if (!fresh) {
        acc = acc.copy();
        fresh = true;
      }
      const keys = x.keys!;
      const vals = x.vals!;
      for (let j = 0; j < keys.length; j++) acc.set(keys[j], vals[j]);
      continue;
    }
    const r = jqAdd(st, acc, x, at);
    if (r == null) return null;
    acc = r;
    fresh = false;
  }
  if (text != null) return JsonValue.string(text.join(""));
  if (summing) return JsonValue.number(sum);
  return acc;
}

/** `flatten($depth)` (jq's `_flatten` with its checks). */
function flattenBy(
  st: JqState,
  input: JsonValue,
  depth: JsonValue,
  checked: bool,
  at: i32,
): JsonValue | null {
  if (checked && jqCompare(depth, JsonValue.number(0)) < 0) {
    st.fail("flatten depth must not be negative", at);
    return null;
  }
  const items = iterable(st, input, at);
  if (items == null) return null;
  const out = new Array<JsonValue>();
  if (!flattenInto(st, items, depth, out, at)) return null;
  return JsonValue.array(out);
}

function flattenInto(
  st: JqState,
  items: Array<JsonValue>,
  depth: JsonValue,
  out: Array<JsonValue>,
  at: i32,
): bool {
  if (!st.enter(at)) return false;
  const r = flattenLevel(st, items, depth, out, at);
  st.leave();
  return r;
}

function flattenLevel(
  st: JqState,
  items: Array<JsonValue>,
  depth: JsonValue,
  out: Array<JsonValue>,
  at: i32,
): bool {
  for (let i = 0; i < items.length; i++) {
    const x = items[i];
    if (x.kind == Kind.Array && !jqEqual(depth, JsonValue.number(0))) {
      if (depth.kind != Kind.Number) {
        typeError2(st, depth, JsonValue.number(1), "cannot be subtracted", at);
        return false;
      }
      if (!flattenInto(st, x.items!, JsonValue.number(depth.num - 1), out, at)) return false;
    } else {
      out.push(x);
    }
  }
  return true;
}

function reverse(st: JqState, input: JsonValue, at: i32): JsonValue | null {
  const len = jqLength(st, input, at);
  if (len == null) return null;
  if (len.num <= 0) return JsonValue.array(new Array<JsonValue>());
  if (input.kind != Kind.Array) {
    st.fail("Cannot index " + input.typeName() + " with number", at);
    return null;
  }
  const items = input.items!;
  const out = new Array<JsonValue>(items.length);
  for (let i = 0; i < items.length; i++) out[i] = items[items.length - 1 - i];
  return JsonValue.array(out);
}

function minMax(values: Array<JsonValue>, keys: Array<JsonValue>, isMin: bool): JsonValue {
  if (values.length == 0) return JsonValue.null();
  let best = values[0];
  let bestKey = keys[0];
  for (let i = 1; i < values.length; i++) {
    const c = jqCompare(keys[i], bestKey);
    if ((c < 0) == isMin) {
      best = values[i];
      bestKey = keys[i];
    }
  }
  return best;
}

/** sort_by, group_by, unique, unique_by, min_by, max_by: `_impl(map([f]))`. */
function byKeys(
  st: JqState,
  node: JqNode,
  input: JsonValue,
  path: PathState | null,
  env: Env | null,
  k: K,
): i32 {
  const at = node.offset;
  const id = node.builtin;
  const items = iterable(st, input, at);
  if (items == null) return ERR;
  const keys = new Array<JsonValue>(items.length);
  for (let i = 0; i < items.length; i++) {
    if (id == B.Unique) {
      keys[i] = JsonValue.array([items[i]]);
      continue;
    }
    const out = new CollectK();
    const r = ev(st, node.list![0]!, items[i], null, env, out);
    if (r != OK) return r;
    keys[i] = JsonValue.array(out.items);
  }
  if (id == B.MinBy || id == B.MaxBy) {
    if (input.kind != Kind.Array) {
      return err(typeError2(st, input, JsonValue.array(keys), "cannot be iterated over", at));
    }
    return k.emit(st, minMax(items, keys, id == B.MinBy), path);
  }
  if (input.kind != Kind.Array) {
    return err(
      typeError2(
        st,
        input,
        JsonValue.array(keys),
        "cannot be sorted, as they are not both arrays",
        at,
      ),
    );
  }
  if (id == B.SortBy) return k.emit(st, JsonValue.array(sortByKeys(items, keys)), path);
  const groups = groupByKeys(items, keys);
  if (id == B.GroupBy) return k.emit(st, groups, path);
  const g = groups.items!;
  const firsts = new Array<JsonValue>(g.length);
  for (let i = 0; i < g.length; i++) firsts[i] = g[i].items![0];
  return k.emit(st, JsonValue.array(firsts), path);
}

function codePointsValue(s: string): JsonValue {
  const cps = explodeString(s);
  const out = new Array<JsonValue>(cps.length);
  for (let i = 0; i < cps.length; i++) out[i] = JsonValue.number(f64(cps[i]));
  return JsonValue.array(out);
}

function implode(st: JqState, input: JsonValue, at: i32): JsonValue | null {
  if (input.kind != Kind.Array) {
    st.fail("implode input must be an array", at);
    return null;
  }
  const items = input.items!;
  const parts = new Array<string>(items.length);
  for (let i = 0; i < items.length; i++) {
    const x = items[i];
    // jq 1.6 aborts on these; refusing them is the safe equivalent.
    if (x.kind != Kind.Number) {
      st.fail("Cannot implode as an element is not a codepoint: current value is " + dumpJq(x), at);
      return null;
    }
    const cp = x.num;
    if (cp != cp || cp < 0 || (cp >= 0xd800 && cp <= 0xdfff)) {
      st.fail(
        "Cannot implode as an element is not a valid codepoint: current value is " + dumpJq(x),
        at,
      );
      return null;
    }
    parts[i] = fromCodePoint(cp > 0x10ffff ? 0x110000 : i32(cp));
  }
  return JsonValue.string(parts.join(""));
}

function asciiCase(s: string, upper: bool): string {
  const parts = new Array<string>();
  let run = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    const change = upper ? c >= 0x61 && c <= 0x7a : c >= 0x41 && c <= 0x5a;
    if (!change) continue;
    if (i > run) parts.push(s.substring(run, i));
    parts.push(String.fromCharCode(upper ? c - 32 : c + 32));
    run = i + 1;
  }
  if (run == 0) return s;
  if (run < s.length) parts.push(s.substring(run));
  return parts.join("");
}

function toEntries(st: JqState, input: JsonValue, at: i32): JsonValue | null {
  const keys = jqKeys(st, input, false, at);
  if (keys == null) return null;
  const ks = keys.items!;
  const out = new Array<JsonValue>(ks.length);
  for (let i = 0; i < ks.length; i++) {
    const v = jqIndex(st, input, ks[i], at);
    if (v == null) return null;
    out[i] = JsonValue.object().set("key", ks[i]).set("value", v);
  }
  return JsonValue.array(out);
}

const KEY_NAMES: Array<string> = ["key", "Key", "name", "Name"];

/**
 * `from_entries`: `map({(.key // .Key // .name // .Name): (if has("value")
 * then .value else .Value end)}) | add | .//={}`.
 */
function fromEntries(st: JqState, input: JsonValue, at: i32): JsonValue | null {
  const items = iterable(st, input, at);
  if (items == null) return null;
  const out = JsonValue.object();
  for (let i = 0; i < items.length; i++) {
    const e = items[i];
    let key = JsonValue.null();
    for (let j = 0; j < KEY_NAMES.length; j++) {
      const v = jqIndex(st, e, JsonValue.string(KEY_NAMES[j]), at);
      if (v == null) return null;
      key = v;
      if (v.isTruthy()) break;
    }
    const hasValue = jqHas(st, e, JsonValue.string("value"), at);
    if (hasValue == null) return null;
    const value = jqIndex(st, e, JsonValue.string(hasValue.isTruthy() ? "value" : "Value"), at);
    if (value == null) return null;
    if (key.kind != Kind.String) {
      st.fail("Cannot use " + typeErrorText(key) + " as object key", at);
      return null;
    }
    out.set(key.str, value);
  }
  return out;
}

/**
 * `transpose`: `if . == [] then [] else . as $in | (map(length) | max) as
 * $max | length as $length | reduce range(0; $max) as $j ([]; . + [reduce
 * range(0;$length) as $i ([]; . + [ $in[$i][$j] ] )] ) end`.
 */
function transpose(st: JqState, input: JsonValue, at: i32): JsonValue | null {
  if (input.kind == Kind.Array && input.items!.length == 0) return input;
  const rows = iterable(st, input, at);
  if (rows == null) return null;
  let max = JsonValue.null();
  for (let i = 0; i < rows.length; i++) {
    const len = jqLength(st, rows[i], at);
    if (len == null) return null;
    if (i == 0 || jqCompare(len, max) >= 0) max = len;
  }
  const count = jqLength(st, input, at);
  if (count == null) return null;
  if (max.kind != Kind.Number) {
    st.fail("Range bounds must be numeric", at);
    return null;
  }
  const out = new Array<JsonValue>();
  for (let j = 0; f64(j) < max.num; j++) {
    const col = new Array<JsonValue>();
    for (let i = 0; f64(i) < count.num; i++) {
      const row = jqIndex(st, input, JsonValue.number(f64(i)), at);
      if (row == null) return null;
      const cell = jqIndex(st, row, JsonValue.number(f64(j)), at);
      if (cell == null) return null;
      col.push(cell);
    }
    out.push(JsonValue.array(col));
  }
  return JsonValue.array(out);
}

/** `join($x)` with jq 1.6's definition (null elements are "", booleans and numbers tostring). */
function join(st: JqState, input: JsonValue, sep: JsonValue, at: i32): JsonValue | null {
  const items = iterable(st, input, at);
  if (items == null) return null;
  if (sep.kind == Kind.String) {
    const parts = new Array<string>();
    for (let i = 0; i < items.length; i++) {
      if (i > 0) parts.push(sep.str);
      const x = items[i];
      if (x.kind == Kind.String) {
        parts.push(x.str);
      } else if (x.kind == Kind.Number || x.kind == Kind.True || x.kind == Kind.False) {
        parts.push(dumpJq(x));
      } else if (x.kind != Kind.Null) {
        return typeError2(st, JsonValue.string(parts.join("")), x, "cannot be added", at);
      }
    }
    return JsonValue.string(parts.join(""));
  }
  let acc = JsonValue.null();
  for (let i = 0; i < items.length; i++) {
    let left: JsonValue | null = JsonValue.string("");
    if (acc.kind != Kind.Null) left = jqAdd(st, acc, sep, at);
    if (left == null) return null;
    const x = items[i];
    let right = x;
    if (x.kind == Kind.Number || x.kind == Kind.True || x.kind == Kind.False) {
      right = JsonValue.string(dumpJq(x));
    } else if (x.kind == Kind.Null) {
      right = JsonValue.string("");
    }
    const r = jqAdd(st, left!, right, at);
    if (r == null) return null;
    acc = r;
  }
  return acc.isTruthy() ? acc : JsonValue.string("");
}

/** jq 1.6's `indices($i)`. */
function indices(st: JqState, input: JsonValue, i: JsonValue, at: i32): JsonValue | null {
  if (input.kind == Kind.Array && i.kind == Kind.Array) return arrayIndexes(input.items!, i.items!);
  if (input.kind == Kind.Array) return arrayIndexes(input.items!, [i]);
  if (input.kind == Kind.String && i.kind == Kind.String) {
    if (i.str.length == 0) {
      st.fail("Cannot find the indices of an empty string (jq 1.6 does not terminate)", at);
      return null;
    }
    const offsets = byteIndices(input.str, i.str);
    const out = new Array<JsonValue>(offsets.length);
    for (let j = 0; j < offsets.length; j++) out[j] = JsonValue.number(f64(offsets[j]));
    return JsonValue.array(out);
  }
  return jqIndex(st, input, i, at);
}

/** `.[]`-style node on `.`, for `map_values(f)` as `.[] |= f`. */
function iterateNode(call: JqNode): JqNode {
  if (call.a == null) {
    const it = new JqNode(Op.Iterate, call.offset);
    it.a = new JqNode(Op.Identity, call.offset);
    call.a = it;
  }
  return call.a!;
}

function mapValuesNode(call: JqNode): JqNode {
  if (call.b == null) {
    const n = new JqNode(Op.Assign, call.offset);
    n.num = 1; // AssignOp.Update
    n.a = iterateNode(call);
    n.b = call.list![0];
    call.b = n;
  }
  return call.b!;
}

class SelectK extends K {
  input: JsonValue;
  path: PathState | null;
  k: K;

  constructor(input: JsonValue, path: PathState | null, k: K) {
    super();
    this.input = input;
    this.path = path;
    this.k = k;
  }

  override emit(st: JqState, v: JsonValue, _p: PathState | null): i32 {
    return v.isTruthy() ? this.k.emit(st, this.input, this.path) : OK;
  }
}

/** `in(xs)` (has) and `inside(xs)` (contains) on each output of `xs`. */
class InK extends K {
  input: JsonValue;
  path: PathState | null;
  k: K;
  at: i32;
  isIn: bool;

  constructor(input: JsonValue, path: PathState | null, k: K, at: i32, isIn: bool) {
    super();
    this.input = input;
    this.path = path;
    this.k = k;
    this.at = at;
    this.isIn = isIn;
  }

  override emit(st: JqState, v: JsonValue, _p: PathState | null): i32 {
    if (this.isIn) {
      const r = jqHas(st, v, this.input, this.at);
      if (r == null) return ERR;
      return this.k.emit(st, r, this.path);
    }
    if (v.kind != this.input.kind) {
      return err(typeError2(st, v, this.input, "cannot have their containment checked", this.at));
    }
    const r = jqContains(st, v, this.input, this.at);
    if (st.err != null) return ERR;
    return this.k.emit(st, JsonValue.bool(r), this.path);
  }
}

class FirstK extends K {
  k: K;
  label: i32;
  at: i32;

  constructor(k: K, label: i32, at: i32) {
    super();
    this.k = k;
    this.label = label;
    this.at = at;
  }

  override emit(st: JqState, v: JsonValue, p: PathState | null): i32 {
    const r = this.k.emit(st, v, p);
    if (r != OK) return r;
    return st.raise(st.labelValue(this.label), this.at);
  }
}

class LastK extends K {
  value: JsonValue = JsonValue.null();

  override emit(_st: JqState, v: JsonValue, _p: PathState | null): i32 {
    this.value = v;
    return OK;
  }
}

class IsEmptyK extends K {
  label: i32;
  at: i32;
  found: bool = false;

  constructor(label: i32, at: i32) {
    super();
    this.label = label;
    this.at = at;
  }

  override emit(st: JqState, _v: JsonValue, _p: PathState | null): i32 {
    this.found = true;
    return st.raise(st.labelValue(this.label), this.at);
  }
}

/** `range($from; $upto)`: numbers only, step 1. */
function range(st: JqState, c: Call, from: JsonValue, upto: JsonValue): i32 {
  if (from.kind != Kind.Number || upto.kind != Kind.Number) {
    return c.fail(st, "Range bounds must be numeric");
  }
  const end = upto.num;
  for (let x = from.num; x < end; x += 1) {
    const r = c.k.emit(st, JsonValue.number(x), c.path);
    if (r != OK) return r;
  }
  return OK;
}

/** `range($init; $upto; $by)` as jq 1.6 defines it (any values jq can compare and add). */
function range3(st: JqState, c: Call, init: JsonValue, upto: JsonValue, by: JsonValue): i32 {
  const zero = JsonValue.number(0);
  if (jqEqual(by, zero)) return OK;
  const up = jqCompare(by, zero) > 0;
  const down = jqCompare(by, zero) < 0;
  let x = init;
  while (true) {
    const go = (up && jqCompare(x, upto) < 0) || (down && jqCompare(x, upto) > 0);
    if (!go) return OK;
    const r = c.k.emit(st, x, c.path);
    if (r != OK) return r;
    const next = jqAdd(st, x, by, c.node.offset);
    if (next == null) return ERR;
    x = next;
  }
}

/** `limit($n; f)`: jq 1.6 emits the first output even for n = 0, and all of them for n < 0. */
function limit(st: JqState, c: Call, n: JsonValue): i32 {
  const f = c.arg(1);
  if (jqCompare(n, JsonValue.number(0)) < 0) return ev(st, f, c.input, c.path, c.env, c.k);
  const label = st.labels++;
  const r = ev(st, f, c.input, c.path, c.env, new LimitK(c, n, label));
  return endLabel(st, r, label);
}

class LimitK extends K {
  c: Call;
  count: JsonValue;
  label: i32;

  constructor(c: Call, n: JsonValue, label: i32) {
    super();
    this.c = c;
    this.count = n;
    this.label = label;
  }

  override emit(st: JqState, v: JsonValue, p: PathState | null): i32 {
    const at = this.c.node.offset;
    if (this.count.kind != Kind.Number) {
      return err(typeError2(st, this.count, JsonValue.number(1), "cannot be subtracted", at));
    }
    this.count = JsonValue.number(this.count.num - 1);
    const r = this.c.k.emit(st, v, p);
    if (r != OK) return r;
    if (this.count.num <= 0) return st.raise(st.labelValue(this.label), at);
    return OK;
  }
}

/** `nth($n; g)`: `last(limit($n + 1; g))`, refusing negative n. */
function nth(st: JqState, c: Call, n: JsonValue): i32 {
  const at = c.node.offset;
  if (jqCompare(n, JsonValue.number(0)) < 0) {
    return c.fail(st, "nth doesn't support negative indices");
  }
  const n1 = jqAdd(st, n, JsonValue.number(1), at);
  if (n1 == null) return ERR;
  const last = new LastK();
  const label = st.labels++;
  const r = endLabel(
    st,
    ev(
      st,
      c.arg(1),
      c.input,
      c.path,
      c.env,
      new LimitK(new Call(c.node, c.input, c.path, c.env, last, false, 1), n1, label),
    ),
    label,
  );
  if (r != OK) return r;
  return c.k.emit(st, last.value, c.path);
}

/**
 * `any`/`all` in jq 1.6's definition: a `foreach` over the generator with a
 * `break` once decided; the result is whether exactly one (any) or no (all)
 * deciding state was emitted.
 */
function anyAll(
  st: JqState,
  node: JqNode,
  input: JsonValue,
  path: PathState | null,
  env: Env | null,
  k: K,
  gen: JqNode | null,
  cond: JqNode | null,
  isAny: bool,
): i32 {
  const label = st.labels++;
  const state = new AnyAllK(node, env, cond, isAny, label);
  let r: i32;
  if (gen == null) {
    const it = new JqNode(Op.Iterate, node.offset);
    r = iterateStep(st, it, input, null, state);
  } else {
    r = ev(st, gen, input, null, env, state);
  }
  r = endLabel(st, r, label);
  if (r != OK) return r;
  return k.emit(st, JsonValue.bool(isAny ? state.count == 1 : state.count == 0), path);
}

class AnyAllK extends K {
  node: JqNode;
  env: Env | null;
  cond: JqNode | null;
  isAny: bool;
  label: i32;
  state: JsonValue;
  count: i32 = 0;

  constructor(node: JqNode, env: Env | null, cond: JqNode | null, isAny: bool, label: i32) {
    super();
    this.node = node;
    this.env = env;
    this.cond = cond;
    this.isAny = isAny;
    this.label = label;
    this.state = JsonValue.bool(!isAny);
  }

  override emit(st: JqState, item: JsonValue, _p: PathState | null): i32 {
    const old = this.state;
    this.state = JsonValue.null();
    // any: `if . then break elif $i|cond then true else . end`
    // all: `if .|not then break elif $i|cond then . else false end`
    if (this.isAny ? old.isTruthy() : !old.isTruthy()) {
      return st.raise(st.labelValue(this.label), this.node.offset);
    }
    if (this.cond == null) return this.update(st, old, item);
    const outs = new CollectK();
    const r = ev(st, this.cond!, item, null, this.env, outs);
    for (let i = 0; i < outs.items.length; i++) {
      const u = this.update(st, old, outs.items[i]);
      if (u != OK) return u;
    }
    return r;
  }

  update(_st: JqState, old: JsonValue, c: JsonValue): i32 {
    const next = this.isAny
      ? (c.isTruthy() ? JsonValue.bool(true) : old)
      : (c.isTruthy() ? old : JsonValue.bool(false));
    this.state = next;
    // extract: any emits truthy states, all emits falsy ones.
    if (this.isAny ? next.isTruthy() : !next.isTruthy()) this.count++;
    return OK;
  }
}

/** `recurse`/`..`: every value in pre-order, each with its path. */
function recurseAll(
  st: JqState,
  node: JqNode,
  input: JsonValue,
  path: PathState | null,
  k: K,
): i32 {
  const r = k.emit(st, input, path);
  if (r != OK) return r;
  if (input.kind != Kind.Array && input.kind != Kind.Object) return OK;
  if (!st.enter(node.offset)) return ERR;
  const sub = recurseChildren(st, node, input, path, k);
  st.leave();
  return sub;
}

function recurseChildren(
  st: JqState,
  node: JqNode,
  input: JsonValue,
  path: PathState | null,
  k: K,
): i32 {
  if (input.kind == Kind.Array) {
    const items = input.items!;
    for (let i = 0; i < items.length; i++) {
      const v = items[i];
      const sub = recurseAll(
        st,
        node,
        v,
        path != null ? appendPath(path, JsonValue.number(f64(i)), v) : null,
        k,
      );
      if (sub != OK) return sub;
    }
  } else if (input.kind == Kind.Object) {
    const keys = input.keys!;
    const vals = input.vals!;
    for (let i = 0; i < keys.length; i++) {
      const v = vals[i];
      const sub = recurseAll(
        st,
        node,
        v,
        path != null ? appendPath(path, JsonValue.string(keys[i]), v) : null,
        k,
      );
      if (sub != OK) return sub;
    }
  }
  return OK;
}

/** A level of `recurse(f)`: the outputs of f on one value, replayed in order. */
class RecurseFrame {
  items: Array<JsonValue>;
  paths: Array<PathState | null>;
  next: i32 = 0;
  error: JsonValue | null;
  errorOffset: i32;

  constructor(c: CollectPathsK, error: JsonValue | null, errorOffset: i32) {
    this.items = c.items;
    this.paths = c.paths;
    this.error = error;
    this.errorOffset = errorOffset;
  }
}

/**
 * `recurse(f)` (`def r: ., (f | r)`) and `recurse(f; cond)` with an
 * explicit stack, so deep recursions do not exhaust the native stack.
 */
function recurseWith(
  st: JqState,
  node: JqNode,
  input: JsonValue,
  path: PathState | null,
  env: Env | null,
  k: K,
  f: JqNode,
  cond: JqNode | null,
): i32 {
  let r = k.emit(st, input, path);
  if (r != OK) return r;
  const stack = new Array<RecurseFrame>();
  stack.push(expand(st, f, cond, input, path, env));
  while (stack.length > 0) {
    const top = stack[stack.length - 1];
    if (top.next >= top.items.length) {
      stack.pop();
      if (top.error != null) return st.raise(top.error!, top.errorOffset);
      continue;
    }
    const v = top.items[top.next];
    const p = top.paths[top.next];
    top.next++;
    r = k.emit(st, v, p);
    if (r != OK) return r;
    if (stack.length > 100000) {
      return st.fail("Cannot recurse deeper than 100000 levels", node.offset);
    }
    stack.push(expand(st, f, cond, v, p, env));
  }
  return OK;
}

function expand(
  st: JqState,
  f: JqNode,
  cond: JqNode | null,
  v: JsonValue,
  p: PathState | null,
  env: Env | null,
): RecurseFrame {
  const outs = new CollectPathsK();
  const target: K = cond == null ? outs : new SelectPathK(cond!, env, outs);
  const r = ev(st, f, v, p, env, target);
  if (r != OK) {
    const offset = st.errOffset;
    return new RecurseFrame(outs, st.take(), offset);
  }
  return new RecurseFrame(outs, null, -1);
}

/** `select(cond)` that keeps the path state. */
class SelectPathK extends K {
  cond: JqNode;
  env: Env | null;
  k: K;

  constructor(cond: JqNode, env: Env | null, k: K) {
    super();
    this.cond = cond;
    this.env = env;
    this.k = k;
  }

  override emit(st: JqState, v: JsonValue, p: PathState | null): i32 {
    return ev(st, this.cond, v, null, this.env, new SelectK(v, p, this.k));
  }
}

/** `paths` / `leaf_paths`: paths of all values below the input, pre-order. */
function allPaths(
  st: JqState,
  node: JqNode,
  input: JsonValue,
  path: PathState | null,
  _env: Env | null,
  k: K,
  leavesOnly: bool,
): i32 {
  const collector = new PathListK(k, path, leavesOnly);
  return recurseAll(st, node, input, new PathState(null, null, input), collector);
}

class PathListK extends K {
  k: K;
  path: PathState | null;
  leavesOnly: bool;

  constructor(k: K, path: PathState | null, leavesOnly: bool) {
    super();
    this.k = k;
    this.path = path;
    this.leavesOnly = leavesOnly;
  }

  override emit(st: JqState, v: JsonValue, p: PathState | null): i32 {
    if (p!.length == 0) return OK;
    // leaf_paths is `paths(scalars)`: select() drops the null and false leaves too.
    if (this.leavesOnly && (v.kind == Kind.Array || v.kind == Kind.Object || !v.isTruthy())) {
      return OK;
    }
    return this.k.emit(st, p!.toArray(), this.path);
  }
}

/** `paths(f)`: `. as $dot|paths|select(. as $p|$dot|getpath($p)|f)`. */
function filteredPaths(
  st: JqState,
  node: JqNode,
  input: JsonValue,
  path: PathState | null,
  env: Env | null,
  k: K,
): i32 {
  const all = new CollectPathsK();
  const r = recurseAll(st, node, input, new PathState(null, null, input), all);
  if (r != OK) return r;
  const f = node.list![0]!;
  for (let i = 0; i < all.items.length; i++) {
    const p = all.paths[i]!;
    if (p.length == 0) continue;
    const keys = p.toArray();
    const sub = ev(st, f, all.items[i], null, env, new SelectK(keys, path, k));
    if (sub != OK) return sub;
  }
  return OK;
}

/** `until(cond; next)` and `while(cond; update)`, iterating instead of recursing. */
function loopWhile(
  st: JqState,
  node: JqNode,
  input: JsonValue,
  path: PathState | null,
  env: Env | null,
  k: K,
  isUntil: bool,
): i32 {
  const cond = node.list![0]!;
  const step = node.list![1]!;
  let v = input;
  while (true) {
    const conds = new CollectK();
    const cr = ev(st, cond, v, null, env, conds);
    const condOffset = st.errOffset;
    const condError: JsonValue | null = cr == OK ? null : st.take();
    let next: JsonValue | null = null;
    const n = conds.items.length;
    for (let i = 0; i < n; i++) {
      const truthy = conds.items[i].isTruthy();
      // until: done when cond holds; while: emit and go on when it holds.
      if (isUntil && truthy) {
        const r = k.emit(st, v, path);
        if (r != OK) return r;
        continue;
      }
      if (!isUntil && !truthy) continue;
      if (!isUntil) {
        const r = k.emit(st, v, path);
        if (r != OK) return r;
      }
      const outs = new CollectK();
      const sr = ev(st, step, v, null, env, outs);
      const stepError: JsonValue | null = sr == OK ? null : st.take();
      const last = i == n - 1 && condError == null && stepError == null;
      for (let j = 0; j < outs.items.length; j++) {
        if (last && j == outs.items.length - 1) {
          next = outs.items[j];
          break;
        }
        const r = loopWhile(st, node, outs.items[j], path, env, k, isUntil);
        if (r != OK) return r;
      }
      if (stepError != null) return st.raise(stepError!, node.offset);
    }
    if (condError != null) return st.raise(condError!, condOffset);
    if (next == null) return OK;
    v = next!;
  }
}

/** `walk(f)` as jq 1.6 defines it (objects rebuilt with `reduce keys_unsorted[]`). */
function walk(
  st: JqState,
  f: JqNode,
  input: JsonValue,
  path: PathState | null,
  env: Env | null,
  k: K,
  at: i32,
): i32 {
  if (!st.enter(at)) return ERR;
  const r = walkInner(st, f, input, path, env, k, at);
  st.leave();
  return r;
}

function walkInner(
  st: JqState,
  f: JqNode,
  input: JsonValue,
  path: PathState | null,
  env: Env | null,
  k: K,
  at: i32,
): i32 {
  let rebuilt = input;
  if (input.kind == Kind.Object) {
    let acc: JsonValue = JsonValue.object();
    let fresh = true;
    const keys = input.keys!;
    const vals = input.vals!;
    for (let i = 0; i < keys.length; i++) {
      const outs = new CollectK();
      const r = walk(st, f, vals[i], null, env, outs, at);
      if (r != OK) return r;
      if (outs.items.length == 0) {
        // The reduce update produced nothing: jq leaves null as the state.
        acc = JsonValue.null();
        fresh = false;
        continue;
      }
      const v = outs.items[outs.items.length - 1];
      if (acc.kind == Kind.Null) {
        acc = JsonValue.object();
        fresh = true;
      } else if (!fresh) {
        acc = acc.copy();
        fresh = true;
      }
      acc.set(keys[i], v);
    }
    rebuilt = acc;
  } else if (input.kind == Kind.Array) {
    const outs = new CollectK();
    const items = input.items!;
    for (let i = 0; i < items.length; i++) {
      const r = walk(st, f, items[i], null, env, outs, at);
      if (r != OK) return r;
    }
    rebuilt = JsonValue.array(outs.items);
  }
  return ev(st, f, rebuilt, path, env, k);
}

/**
 * `sub($re; s; flags)` / `gsub($re; s; flags)`: `flags` is a filter jq 1.6
 * evaluates twice (`(flags | index("g")) as $gs | (flags | …) as $fla`);
 * gsub passes `flags + "g"`.
 */
function substituteWithFlags(st: JqState, c: Call, re: JsonValue): i32 {
  const outs = new CollectK();
  const r = ev(st, c.arg(2), c.input, null, c.env, outs);
  if (r != OK) return r;
  const at = c.node.offset;
  const flags = new Array<JsonValue>(outs.items.length);
  for (let i = 0; i < outs.items.length; i++) {
    if (c.node.builtin == B.Gsub3) {
      const f = jqAdd(st, outs.items[i], JsonValue.string("g"), at);
      if (f == null) return ERR;
      flags[i] = f;
    } else {
      flags[i] = outs.items[i];
    }
  }
  for (let i = 0; i < flags.length; i++) {
    for (let j = 0; j < flags.length; j++) {
      const sub = substitute(st, c.input, re, c.arg(1), flags[i], flags[j], c.env, c.path, c.k, at);
      if (sub != OK) return sub;
    }
  }
  return OK;
}

/** jq's `_nwise($n)`: the input (array or string) in chunks of `n`, the last one shorter. */
function nwise(st: JqState, c: Call, n: JsonValue): i32 {
  const input = c.input;
  const at = c.node.offset;
  let rest = input;
  while (true) {
    const len = jqLength(st, rest, at);
    if (len == null) return ERR;
    if (jqCompare(len, n) <= 0) return c.k.emit(st, rest, c.path);
    const head = jqSlice(st, rest, JsonValue.number(0), n, at);
    if (head == null) return ERR;
    const r = c.k.emit(st, head, c.path);
    if (r != OK) return r;
    const tail = jqSlice(st, rest, n, JsonValue.null(), at);
    if (tail == null) return ERR;
    rest = tail;
  }
}
