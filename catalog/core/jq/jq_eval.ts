/// <reference path="../portable.d.ts" />
/**
 * The evaluator: walks the resolved syntax tree in continuation-passing
 * style. Each node sends its outputs, one at a time, to a continuation
 * ({@link K}); a continuation returns OK for "more, please" or ERR when an
 * error is pending. This mirrors jq 1.6's backtracking closely enough to
 * reproduce its observable order of outputs and errors, including its
 * quirks (a `try` also catches errors raised downstream of its body while
 * the body is still producing; `break` is an error that `try` can catch;
 * `reduce`/`foreach` reset their state to null while the update runs).
 */
import { JsonValue, Kind } from "../json_value.ts";
import { REDUCE_ADD, REDUCE_GENERIC } from "./jq_analyze.ts";
import { JqFunc, JqNode, JqPattern, Op, PatKind, TEXT_PART } from "./jq_ast.ts";
import { evalAssign } from "./jq_assign.ts";
import { Owner } from "./jq_paths.ts";
import { callBuiltin } from "./jq_builtins.ts";
import { applyFormat } from "./jq_formats.ts";
import { dumpJq } from "./jq_dump.ts";
import { dumpTruncated, typeErrorText } from "./jq_messages.ts";
import { jqBinary, jqIndex, jqNegate } from "./jq_ops.ts";
import {
  appendPath,
  Bind,
  bindVar,
  BoundK,
  CollectK,
  Env,
  identical,
  K,
  lookup,
  PathState,
} from "./jq_runtime.ts";
import { ev1 } from "./jq_eval1.ts";
import { ERR, JqState, MAX_DEPTH, OK } from "./jq_state.ts";

/**
 * Evaluates `node` on `input`, sending each output to `k`. `path` is the
 * path-tracking state (null outside `path(f)` and assignments).
 */
export function ev(
  st: JqState,
  node: JqNode,
  input: JsonValue,
  path: PathState | null,
  env: Env | null,
  k: K,
): i32 {
  if (path == null && node.one) {
    const v = ev1(st, node, input, env);
    if (v == null) return st.err != null ? ERR : OK;
    return k.emit(st, v, null);
  }
  if (++st.depth > MAX_DEPTH) {
    st.depth--;
    return st.fail(
      "Cannot evaluate the filter as it nests deeper than " + MAX_DEPTH.toString() +
        " levels: current depth is " + st.depth.toString(),
      node.offset,
    );
  }
  const r = evNode(st, node, input, path, env, k);
  st.depth--;
  return r;
}

/** The continuation-passing evaluation of `node` (see {@link ev}). */
export function evNode(
  st: JqState,
  node: JqNode,
  input: JsonValue,
  path: PathState | null,
  env: Env | null,
  k: K,
): i32 {
  switch (node.op) {
    case Op.Identity:
      return k.emit(st, input, path);
    case Op.Literal:
      return k.emit(st, node.value!, path);
    case Op.Var:
      return k.emit(st, lookup(env, node.id).value!, path);
    case Op.Field: {
      const term = node.a!;
      if (term.op == Op.Identity) return indexStep(st, node, input, path, node.value!, k);
      return ev(st, term, input, path, env, new IndexApplyK(node, node.value!, k));
    }
    case Op.Index: {
      const key = node.b!;
      if (key.op == Op.Literal) {
        if (node.a!.op == Op.Identity) return indexStep(st, node, input, path, key.value!, k);
        return ev(st, node.a!, input, path, env, new IndexApplyK(node, key.value!, k));
      }
      return ev(st, key, input, null, env, new IndexKeyK(node, input, path, env, k));
    }
    case Op.Slice: {
      const from = node.b;
      if (from == null) {
        return sliceTo(st, node, input, path, env, JsonValue.null(), k);
      }
      return ev(st, from, input, null, env, new SliceFromK(node, input, path, env, k));
    }
    case Op.Iterate: {
      const term = node.a!;
      if (term.op == Op.Identity) return iterateStep(st, node, input, path, k);
      return ev(st, term, input, path, env, new IterateK(node, k));
    }
    case Op.Pipe:
      return ev(st, node.a!, input, path, env, new PipeK(node.b!, env, k));
    case Op.Comma: {
      const r = ev(st, node.a!, input, path, env, k);
      if (r != OK) return r;
      return ev(st, node.b!, input, path, env, k);
    }
    case Op.Neg:
      return ev(st, node.a!, input, null, env, new NegK(node, path, k));
    case Op.Binary:
      return ev(st, node.b!, input, null, env, new BinaryRhsK(node, input, path, env, k));
    case Op.And:
    case Op.Or:
      return ev(st, node.a!, input, null, env, new LogicK(node, input, path, env, k));
    case Op.Alt: {
      const altK = new AltK(k);
      const r = ev(st, node.a!, input, path, env, altK);
      if (r != OK || altK.found) return r;
      return ev(st, node.b!, input, path, env, k);
    }
    case Op.If:
      return ev(st, node.a!, input, null, env, new IfK(node, input, path, env, k));
    case Op.Array: {
      const c = new CollectK();
      const r = ev(st, node.a!, input, null, env, c);
      if (r != OK) return r;
      return k.emit(st, JsonValue.array(c.items), path);
    }
    case Op.Object:
      return objectPair(st, new ObjectBuild(node, input, path, env, k), 0);
    case Op.Interp: {
      const parts = node.list!;
      const texts = new Array<string>(parts.length);
      return interpPart(st, new InterpBuild(node, input, path, env, k, texts), parts.length - 1);
    }
    case Op.Format: {
      const s = applyFormat(st, node.str, input, node.offset);
      if (s == null) return ERR;
      return k.emit(st, JsonValue.string(s), path);
    }
    case Op.Reduce:
    case Op.Foreach:
      return ev(st, node.b!, input, path, env, new ReduceInitK(node, input, env, k));
    case Op.Bind:
      return ev(st, node.a!, input, null, env, new BindSourceK(node, input, path, env, k));
    case Op.FuncDef: {
      const f = node.func!;
      const frame = new Env(env, f.id, Bind.Func);
      frame.func = f;
      return ev(st, node.a!, input, path, frame, k);
    }
    case Op.Call:
      return evalCall(st, node, input, path, env, k);
    case Op.Try: {
      const r = ev(st, node.a!, input, path, env, k);
      if (r == OK) return OK;
      const caught = st.take();
      const handler = node.b;
      if (handler == null) return OK;
      return ev(st, handler, caught, path, env, k);
    }
    case Op.Label: {
      const id = st.labels++;
      const frame = new Env(env, node.id, Bind.Label);
      frame.label = id;
      const r = ev(st, node.a!, input, path, frame, k);
      if (r == ERR && st.isBreak(id)) {
        st.take();
        return OK;
      }
      return r;
    }
    case Op.Break:
      return st.raise(st.labelValue(lookup(env, node.id).label), node.offset);
    case Op.Assign:
      return evalAssign(st, node, input, path, env, k);
    case Op.RecurseAll:
      return callBuiltin(st, node, input, path, env, k);
    default:
      return st.fail("internal error: unknown node", node.offset);
  }
}

/** Applies an index step to `t` (path-checked when tracking), then continues. */
export function indexStep(
  st: JqState,
  node: JqNode,
  t: JsonValue,
  path: PathState | null,
  key: JsonValue,
  k: K,
): i32 {
  if (path != null && !identical(t, path.value)) {
    return st.fail(
      "Invalid path expression near attempt to access element " + dumpTruncated(key, 15) +
        " of " + dumpTruncated(t, 30),
      node.offset,
    );
  }
  const v = jqIndex(st, t, key, node.offset);
  if (v == null) {
    if (node.opt) {
      st.take();
      return OK;
    }
    return ERR;
  }
  return k.emit(st, v, path != null ? appendPath(path, key, v) : null);
}

/** Iterates `t` (path-checked when tracking). */
export function iterateStep(
  st: JqState,
  node: JqNode,
  t: JsonValue,
  path: PathState | null,
  k: K,
): i32 {
  if (path != null && !identical(t, path.value)) {
    return st.fail(
      "Invalid path expression near attempt to iterate through " + dumpTruncated(t, 30),
      node.offset,
    );
  }
  if (t.kind == Kind.Array) {
    const items = t.items!;
    for (let i = 0, n = items.length; i < n; i++) {
      const v = items[i];
      const r = k.emit(st, v, path != null ? appendPath(path, JsonValue.number(f64(i)), v) : null);
      if (r != OK) return r;
    }
    return OK;
  }
  if (t.kind == Kind.Object) {
    const keys = t.keys!;
    const vals = t.vals!;
    for (let i = 0, n = keys.length; i < n; i++) {
      const v = vals[i];
      const r = k.emit(st, v, path != null ? appendPath(path, JsonValue.string(keys[i]), v) : null);
      if (r != OK) return r;
    }
    return OK;
  }
  if (node.opt) return OK;
  return st.fail("Cannot iterate over " + typeErrorText(t), node.offset);
}

class IndexApplyK extends K {
  node: JqNode;
  key: JsonValue;
  k: K;

  constructor(node: JqNode, key: JsonValue, k: K) {
    super();
    this.node = node;
    this.key = key;
    this.k = k;
  }

  override emit(st: JqState, v: JsonValue, p: PathState | null): i32 {
    return indexStep(st, this.node, v, p, this.key, this.k);
  }
}

class IndexKeyK extends K {
  node: JqNode;
  input: JsonValue;
  path: PathState | null;
  env: Env | null;
  k: K;

  constructor(node: JqNode, input: JsonValue, path: PathState | null, env: Env | null, k: K) {
    super();
    this.node = node;
    this.input = input;
    this.path = path;
    this.env = env;
    this.k = k;
  }

  override emit(st: JqState, key: JsonValue, _p: PathState | null): i32 {
    const term = this.node.a!;
    if (term.op == Op.Identity) return indexStep(st, this.node, this.input, this.path, key, this.k);
    return ev(st, term, this.input, this.path, this.env, new IndexApplyK(this.node, key, this.k));
  }
}

function sliceTo(
  st: JqState,
  node: JqNode,
  input: JsonValue,
  path: PathState | null,
  env: Env | null,
  from: JsonValue,
  k: K,
): i32 {
  const to = node.c;
  if (to == null) return sliceApply(st, node, input, path, env, from, JsonValue.null(), k);
  return ev(st, to, input, null, env, new SliceToK(node, input, path, env, from, k));
}

function sliceApply(
  st: JqState,
  node: JqNode,
  input: JsonValue,
  path: PathState | null,
  env: Env | null,
  from: JsonValue,
  to: JsonValue,
  k: K,
): i32 {
  const key = JsonValue.object().set("start", from).set("end", to);
  const term = node.a!;
  if (term.op == Op.Identity) return indexStep(st, node, input, path, key, k);
  return ev(st, term, input, path, env, new IndexApplyK(node, key, k));
}

class SliceFromK extends K {
  node: JqNode;
  input: JsonValue;
  path: PathState | null;
  env: Env | null;
  k: K;

  constructor(node: JqNode, input: JsonValue, path: PathState | null, env: Env | null, k: K) {
    super();
    this.node = node;
    this.input = input;
    this.path = path;
    this.env = env;
    this.k = k;
  }

  override emit(st: JqState, from: JsonValue, _p: PathState | null): i32 {
    return sliceTo(st, this.node, this.input, this.path, this.env, from, this.k);
  }
}

class SliceToK extends K {
  node: JqNode;
  input: JsonValue;
  path: PathState | null;
  env: Env | null;
  from: JsonValue;
  k: K;

  constructor(
    node: JqNode,
    input: JsonValue,
    path: PathState | null,
    env: Env | null,
    from: JsonValue,
    k: K,
  ) {
    super();
    this.node = node;
    this.input = input;
    this.path = path;
    this.env = env;
    this.from = from;
    this.k = k;
  }

  override emit(st: JqState, to: JsonValue, _p: PathState | null): i32 {
    return sliceApply(st, this.node, this.input, this.path, this.env, this.from, to, this.k);
  }
}

class IterateK extends K {
  node: JqNode;
  k: K;

  constructor(node: JqNode, k: K) {
    super();
    this.node = node;
    this.k = k;
  }

  override emit(st: JqState, v: JsonValue, p: PathState | null): i32 {
    return iterateStep(st, this.node, v, p, this.k);
  }
}

/** `a | b`: runs `b` on each output of `a`. */
export class PipeK extends K {
  node: JqNode;
  env: Env | null;
  k: K;

  constructor(node: JqNode, env: Env | null, k: K) {
    super();
    this.node = node;
    this.env = env;
    this.k = k;
  }

  override emit(st: JqState, v: JsonValue, p: PathState | null): i32 {
    return ev(st, this.node, v, p, this.env, this.k);
  }
}

class NegK extends K {
  node: JqNode;
  path: PathState | null;
  k: K;

  constructor(node: JqNode, path: PathState | null, k: K) {
    super();
    this.node = node;
    this.path = path;
    this.k = k;
  }

  override emit(st: JqState, v: JsonValue, _p: PathState | null): i32 {
    const r = jqNegate(st, v, this.node.offset);
    if (r == null) return ERR;
    return this.k.emit(st, r, this.path);
  }
}

class BinaryRhsK extends K {
  node: JqNode;
  input: JsonValue;
  path: PathState | null;
  env: Env | null;
  k: K;

  constructor(node: JqNode, input: JsonValue, path: PathState | null, env: Env | null, k: K) {
    super();
    this.node = node;
    this.input = input;
    this.path = path;
    this.env = env;
    this.k = k;
  }

  override emit(st: JqState, rhs: JsonValue, _p: PathState | null): i32 {
    const lhsNode = this.node.a!;
    if (lhsNode.op == Op.Literal) return this.apply(st, lhsNode.value!, rhs);
    if (lhsNode.op == Op.Identity) return this.apply(st, this.input, rhs);
    return ev(st, lhsNode, this.input, null, this.env, new BinaryLhsK(this, rhs));
  }

  apply(st: JqState, lhs: JsonValue, rhs: JsonValue): i32 {
    const r = jqBinary(st, this.node.num, lhs, rhs, this.node.offset);
    if (r == null) return ERR;
    return this.k.emit(st, r, this.path);
  }
}

class BinaryLhsK extends K {
  outer: BinaryRhsK;
  rhs: JsonValue;

  constructor(outer: BinaryRhsK, rhs: JsonValue) {
    super();
    this.outer = outer;
    this.rhs = rhs;
  }

  override emit(st: JqState, lhs: JsonValue, _p: PathState | null): i32 {
    return this.outer.apply(st, lhs, this.rhs);
  }
}

/** `a and b`, `a or b`: short-circuit per output of `a`. */
class LogicK extends K {
  node: JqNode;
  input: JsonValue;
  path: PathState | null;
  env: Env | null;
  k: K;

  constructor(node: JqNode, input: JsonValue, path: PathState | null, env: Env | null, k: K) {
    super();
    this.node = node;
    this.input = input;
    this.path = path;
    this.env = env;
    this.k = k;
  }

  override emit(st: JqState, a: JsonValue, _p: PathState | null): i32 {
    const isAnd = this.node.op == Op.And;
    if (isAnd && !a.isTruthy()) return this.k.emit(st, JsonValue.bool(false), this.path);
    if (!isAnd && a.isTruthy()) return this.k.emit(st, JsonValue.bool(true), this.path);
    return ev(st, this.node.b!, this.input, null, this.env, new TruthK(this.path, this.k));
  }
}

class TruthK extends K {
  path: PathState | null;
  k: K;

  constructor(path: PathState | null, k: K) {
    super();
    this.path = path;
    this.k = k;
  }

  override emit(st: JqState, v: JsonValue, _p: PathState | null): i32 {
    return this.k.emit(st, JsonValue.bool(v.isTruthy()), this.path);
  }
}

/** `a // b`: passes on the truthy outputs of `a`. */
class AltK extends K {
  k: K;
  found: bool = false;

  constructor(k: K) {
    super();
    this.k = k;
  }

  override emit(st: JqState, v: JsonValue, p: PathState | null): i32 {
    if (!v.isTruthy()) return OK;
    this.found = true;
    return this.k.emit(st, v, p);
  }
}

class IfK extends K {
  node: JqNode;
  input: JsonValue;
  path: PathState | null;
  env: Env | null;
  k: K;

  constructor(node: JqNode, input: JsonValue, path: PathState | null, env: Env | null, k: K) {
    super();
    this.node = node;
    this.input = input;
    this.path = path;
    this.env = env;
    this.k = k;
  }

  override emit(st: JqState, cond: JsonValue, _p: PathState | null): i32 {
    const branch = cond.isTruthy() ? this.node.b! : this.node.c!;
    return ev(st, branch, this.input, this.path, this.env, this.k);
  }
}

/** Object construction state: the key and value chosen for each pair so far. */
class ObjectBuild {
  node: JqNode;
  input: JsonValue;
  path: PathState | null;
  env: Env | null;
  k: K;
  keys: Array<string>;
  vals: Array<JsonValue>;

  constructor(node: JqNode, input: JsonValue, path: PathState | null, env: Env | null, k: K) {
    this.node = node;
    this.input = input;
    this.path = path;
    this.env = env;
    this.k = k;
    const n = node.list!.length >> 1;
    this.keys = new Array<string>(n);
    this.vals = new Array<JsonValue>(n);
  }
}

/** Evaluates pair `i` of an object construction (keys outer, values inner, pairs in order). */
function objectPair(st: JqState, b: ObjectBuild, i: i32): i32 {
  const list = b.node.list!;
  if (2 * i >= list.length) {
    const out = JsonValue.object();
    for (let j = 0; j < b.keys.length; j++) out.set(b.keys[j], b.vals[j]);
    return b.k.emit(st, out, b.path);
  }
  const keyNode = list[2 * i]!;
  if (keyNode.op == Op.Literal) return objectKey(st, b, i, keyNode.value!);
  return ev(st, keyNode, b.input, null, b.env, new ObjectKeyK(b, i));
}

function objectKey(st: JqState, b: ObjectBuild, i: i32, key: JsonValue): i32 {
  const valueNode = b.node.list![2 * i + 1];
  if (valueNode == null) {
    // `{"a"}`-style shorthand: the value is `.[key]`.
    const v = jqIndex(st, b.input, key, b.node.offset);
    if (v == null) return ERR;
    return objectValue(st, b, i, key, v);
  }
  if (valueNode.op == Op.Literal) return objectValue(st, b, i, key, valueNode.value!);
  return ev(st, valueNode, b.input, null, b.env, new ObjectValueK(b, i, key));
}

function objectValue(st: JqState, b: ObjectBuild, i: i32, key: JsonValue, v: JsonValue): i32 {
  if (key.kind != Kind.String) {
    return st.fail("Cannot use " + typeErrorText(key) + " as object key", b.node.offset);
  }
  b.keys[i] = key.str;
  b.vals[i] = v;
  return objectPair(st, b, i + 1);
}

class ObjectKeyK extends K {
  b: ObjectBuild;
  i: i32;

  constructor(b: ObjectBuild, i: i32) {
    super();
    this.b = b;
    this.i = i;
  }

  override emit(st: JqState, key: JsonValue, _p: PathState | null): i32 {
    return objectKey(st, this.b, this.i, key);
  }
}

class ObjectValueK extends K {
  b: ObjectBuild;
  i: i32;
  key: JsonValue;

  constructor(b: ObjectBuild, i: i32, key: JsonValue) {
    super();
    this.b = b;
    this.i = i;
    this.key = key;
  }

  override emit(st: JqState, v: JsonValue, _p: PathState | null): i32 {
    return objectValue(st, this.b, this.i, this.key, v);
  }
}

/** String interpolation state (the last interpolation varies slowest, as in jq). */
class InterpBuild {
  node: JqNode;
  input: JsonValue;
  path: PathState | null;
  env: Env | null;
  k: K;
  texts: Array<string>;

  constructor(
    node: JqNode,
    input: JsonValue,
    path: PathState | null,
    env: Env | null,
    k: K,
    texts: Array<string>,
  ) {
    this.node = node;
    this.input = input;
    this.path = path;
    this.env = env;
    this.k = k;
    this.texts = texts;
  }
}

function interpPart(st: JqState, b: InterpBuild, i: i32): i32 {
  if (i < 0) return b.k.emit(st, JsonValue.string(b.texts.join("")), b.path);
  const part = b.node.list![i]!;
  if (part.flags == TEXT_PART) {
    b.texts[i] = part.value!.str;
    return interpPart(st, b, i - 1);
  }
  return ev(st, part, b.input, null, b.env, new InterpK(b, i));
}

class InterpK extends K {
  b: InterpBuild;
  i: i32;

  constructor(b: InterpBuild, i: i32) {
    super();
    this.b = b;
    this.i = i;
  }

  override emit(st: JqState, v: JsonValue, _p: PathState | null): i32 {
    let text: string | null;
    const format = this.b.node.str;
    if (format == "text") {
      text = v.kind == Kind.String ? v.str : dumpJq(v);
    } else {
      text = applyFormat(st, format, v, this.b.node.offset);
      if (text == null) return ERR;
    }
    this.b.texts[this.i] = text!;
    return interpPart(st, this.b, this.i - 1);
  }
}

/** `reduce`/`foreach`: runs the loop once per output of the initial state expression. */
class ReduceInitK extends K {
  node: JqNode;
  input: JsonValue;
  env: Env | null;
  k: K;

  constructor(node: JqNode, input: JsonValue, env: Env | null, k: K) {
    super();
    this.node = node;
    this.input = input;
    this.env = env;
    this.k = k;
  }

  override emit(st: JqState, init: JsonValue, p: PathState | null): i32 {
    if (this.node.op == Op.Foreach) {
      // The source runs on the original input, with the path state left by the init.
      const loop = new ReduceLoopK(this.node, init, this.env, this.k, p);
      return ev(st, this.node.a!, this.input, p, this.env, loop);
    }
    const acc = runReduce(st, this.node, this.input, init, p, this.env);
    if (acc == null) return ERR;
    return this.k.emit(st, acc, p);
  }
}

/**
 * Runs a `reduce` from `init`: the source runs on the original input (with
 * the path state the init left), and the final state is returned (null
 * with an error pending on failure).
 */
export function runReduce(
  st: JqState,
  node: JqNode,
  input: JsonValue,
  init: JsonValue,
  initPath: PathState | null,
  env: Env | null,
): JsonValue | null {
  const loop = new ReduceLoopK(node, init, env, new K(), initPath);
  const r = ev(st, node.a!, input, initPath, env, loop);
  if (r != OK) return null;
  return loop.result();
}

/**
 * One step of `reduce … (init; . + E)` where E cannot see the state: the
 * state grows in place once this reduction owns it, and strings collect
 * their pieces, so the whole loop is linear instead of quadratic.
 */
function reduceAdd(
  st: JqState,
  loop: ReduceLoopK,
  acc: JsonValue,
  update: JqNode,
  env: Env | null,
): i32 {
  const e = ev1(st, update.b!, acc, env);
  if (e == null) {
    // An error, or no output: either way the state is left null.
    loop.parts = null;
    return st.err != null ? ERR : OK;
  }
  const owner = loop.owner!;
  let a = acc;
  const parts = loop.parts;
  if (parts != null) {
    if (e.kind == Kind.String) {
      parts.push(e.str);
      loop.acc = a;
      return OK;
    }
    if (e.kind == Kind.Null) {
      loop.acc = a;
      return OK;
    }
    a = loop.result();
  }
  if (a.kind == Kind.String && e.kind == Kind.String) {
    const pieces = new Array<string>();
    pieces.push(a.str);
    pieces.push(e.str);
    loop.parts = pieces;
    loop.acc = a;
    return OK;
  }
  if (a.kind == Kind.Array && e.kind == Kind.Array && owner.has(a)) {
    const dst = a.items!;
    const src = e.items!;
    for (let i = 0; i < src.length; i++) dst.push(src[i]);
    loop.acc = a;
    return OK;
  }
  if (a.kind == Kind.Object && e.kind == Kind.Object && owner.has(a)) {
    const keys = e.keys!;
    const vals = e.vals!;
    for (let i = 0; i < keys.length; i++) a.set(keys[i], vals[i]);
    loop.acc = a;
    return OK;
  }
  const r = jqBinary(st, update.num, a, e, update.offset);
  if (r == null) return ERR;
  // Array + array and object + object are new containers nobody else holds.
  if (a.kind == e.kind && (a.kind == Kind.Array || a.kind == Kind.Object)) owner.add(r);
  loop.acc = r;
  return OK;
}

class ReduceLoopK extends K {
  node: JqNode;
  acc: JsonValue;
  env: Env | null;
  k: K;
  initPath: PathState | null;
  /** In-place modes: the containers this reduction made (and may change). */
  owner: Owner | null = null;
  /** REDUCE_ADD on strings: the pieces of the state (which `acc` then stands for). */
  parts: Array<string> | null = null;

  constructor(node: JqNode, acc: JsonValue, env: Env | null, k: K, initPath: PathState | null) {
    super();
    this.node = node;
    this.acc = acc;
    this.env = env;
    this.k = k;
    this.initPath = initPath;
    if (node.op == Op.Reduce && node.num != REDUCE_GENERIC && initPath == null) {
      this.owner = new Owner();
    }
  }

  /** The state, with string pieces joined. */
  result(): JsonValue {
    const parts = this.parts;
    if (parts == null) return this.acc;
    this.parts = null;
    return JsonValue.string(parts.join(""));
  }

  /** After an error in the update: jq leaves null, and nothing is owned any more. */
  reset(): void {
    this.parts = null;
    const owner = this.owner;
    if (owner != null) owner.clear();
  }

  override emit(st: JqState, item: JsonValue, p: PathState | null): i32 {
    return matchPattern(st, this.node.pattern!, item, this.env, new ReduceBodyK(this, p));
  }
}

class ReduceBodyK extends BoundK {
  loop: ReduceLoopK;
  path: PathState | null;

  constructor(loop: ReduceLoopK, path: PathState | null) {
    super();
    this.loop = loop;
    this.path = path;
  }

  override bound(st: JqState, env: Env | null): i32 {
    const loop = this.loop;
    const acc = loop.acc;
    // jq 1.6 moves the state out of its variable (LOADVN): an update that
    // produces nothing leaves null behind.
    loop.acc = JsonValue.null();
    const owner = loop.owner;
    if (owner != null) {
      const update = loop.node.c!;
      let r: i32;
      if (loop.node.num == REDUCE_ADD) {
        r = reduceAdd(st, loop, acc, update, env);
      } else {
        r = evalAssign(st, update, acc, null, env, new ReduceUpdateK(loop, env), owner);
      }
      if (r != OK) loop.reset();
      return r;
    }
    return ev(st, loop.node.c!, acc, this.path, env, new ReduceUpdateK(loop, env));
  }
}

class ReduceUpdateK extends K {
  loop: ReduceLoopK;
  env: Env | null;

  constructor(loop: ReduceLoopK, env: Env | null) {
    super();
    this.loop = loop;
    this.env = env;
  }

  override emit(st: JqState, v: JsonValue, p: PathState | null): i32 {
    const loop = this.loop;
    loop.acc = v;
    if (loop.node.op == Op.Reduce) return OK;
    const extract = loop.node.d;
    if (extract == null) return loop.k.emit(st, v, p);
    return ev(st, extract, v, p, this.env, loop.k);
  }
}

class BindSourceK extends K {
  node: JqNode;
  input: JsonValue;
  path: PathState | null;
  env: Env | null;
  k: K;

  constructor(node: JqNode, input: JsonValue, path: PathState | null, env: Env | null, k: K) {
    super();
    this.node = node;
    this.input = input;
    this.path = path;
    this.env = env;
    this.k = k;
  }

  override emit(st: JqState, v: JsonValue, _p: PathState | null): i32 {
    return matchPattern(st, this.node.pattern!, v, this.env, new BindBodyK(this));
  }
}

class BindBodyK extends BoundK {
  src: BindSourceK;

  constructor(src: BindSourceK) {
    super();
    this.src = src;
  }

  override bound(st: JqState, env: Env | null): i32 {
    const s = this.src;
    return ev(st, s.node.b!, s.input, s.path, env, s.k);
  }
}

/** Destructures `v` with `pat`, calling `k` once per set of bindings. */
export function matchPattern(
  st: JqState,
  pat: JqPattern,
  v: JsonValue,
  env: Env | null,
  k: BoundK,
): i32 {
  if (pat.kind == PatKind.Var) return k.bound(st, bindVar(env, pat.id, v));
  return matchEntry(st, pat, v, 0, env, k);
}

/** Matches entry `i` of an array or object pattern, then the rest. */
function matchEntry(
  st: JqState,
  pat: JqPattern,
  v: JsonValue,
  i: i32,
  env: Env | null,
  k: BoundK,
): i32 {
  if (pat.kind == PatKind.Array) {
    if (i >= pat.elems.length) return k.bound(st, env);
    const elem = jqIndex(st, v, JsonValue.number(f64(i)), pat.offset);
    if (elem == null) return ERR;
    return matchPattern(st, pat.elems[i], elem, env, new EntryRestK(pat, v, i, k));
  }
  if (i >= pat.keys.length) return k.bound(st, env);
  const keyNode = pat.keys[i];
  if (keyNode.op == Op.Literal) return matchObjectKey(st, pat, v, i, keyNode.value!, env, k);
  return ev(st, keyNode, v, null, env, new PatternKeyK(pat, v, i, env, k));
}

function matchObjectKey(
  st: JqState,
  pat: JqPattern,
  v: JsonValue,
  i: i32,
  key: JsonValue,
  env: Env | null,
  k: BoundK,
): i32 {
  const value = jqIndex(st, v, key, pat.offset);
  if (value == null) return ERR;
  let e = env;
  const keyVar = pat.keyVars[i];
  if (keyVar != null) e = bindVar(e, keyVar.id, value);
  const sub = pat.subs[i];
  if (sub == null) return matchEntry(st, pat, v, i + 1, e, k);
  return matchPattern(st, sub, value, e, new EntryRestK(pat, v, i, k));
}

class EntryRestK extends BoundK {
  pat: JqPattern;
  v: JsonValue;
  i: i32;
  k: BoundK;

  constructor(pat: JqPattern, v: JsonValue, i: i32, k: BoundK) {
    super();
    this.pat = pat;
    this.v = v;
    this.i = i;
    this.k = k;
  }

  override bound(st: JqState, env: Env | null): i32 {
    return matchEntry(st, this.pat, this.v, this.i + 1, env, this.k);
  }
}

class PatternKeyK extends K {
  pat: JqPattern;
  v: JsonValue;
  i: i32;
  env: Env | null;
  k: BoundK;

  constructor(pat: JqPattern, v: JsonValue, i: i32, env: Env | null, k: BoundK) {
    super();
    this.pat = pat;
    this.v = v;
    this.i = i;
    this.env = env;
    this.k = k;
  }

  override emit(st: JqState, key: JsonValue, _p: PathState | null): i32 {
    return matchObjectKey(st, this.pat, this.v, this.i, key, this.env, this.k);
  }
}

/** A call of a jq-defined function, a parameter, or a built-in. */
function evalCall(
  st: JqState,
  node: JqNode,
  input: JsonValue,
  path: PathState | null,
  env: Env | null,
  k: K,
): i32 {
  if (node.builtin >= 0) return callBuiltin(st, node, input, path, env, k);
  const f = node.func;
  if (f != null && f.global) return callFunc(st, f, node, input, path, null, env, k);
  const frame = lookup(env, node.id);
  if (frame.kind == Bind.Closure) return ev(st, frame.node!, input, path, frame.nodeEnv, k);
  return callFunc(st, frame.func!, node, input, path, frame, env, k);
}

/** Calls `f` defined in `defEnv` with the arguments of `call` (written in `callerEnv`). */
export function callFunc(
  st: JqState,
  f: JqFunc,
  call: JqNode,
  input: JsonValue,
  path: PathState | null,
  defEnv: Env | null,
  callerEnv: Env | null,
  k: K,
): i32 {
  let env = defEnv;
  const args = call.list!;
  let hasValueParams = false;
  for (let i = 0; i < f.params.length; i++) {
    const c = new Env(env, f.paramIds[i], Bind.Closure);
    c.node = args[i];
    c.nodeEnv = callerEnv;
    env = c;
    if (f.paramIsVar[i]) hasValueParams = true;
  }
  if (!hasValueParams) return ev(st, f.body!, input, path, env, k);
  return bindValueParam(st, new ValueParams(f, call, input, path, callerEnv, k), 0, env);
}

class ValueParams {
  f: JqFunc;
  call: JqNode;
  input: JsonValue;
  path: PathState | null;
  callerEnv: Env | null;
  k: K;

  constructor(
    f: JqFunc,
    call: JqNode,
    input: JsonValue,
    path: PathState | null,
    callerEnv: Env | null,
    k: K,
  ) {
    this.f = f;
    this.call = call;
    this.input = input;
    this.path = path;
    this.callerEnv = callerEnv;
    this.k = k;
  }
}

/** `def f($a; $b)` binds `$a` for each output of its argument, then `$b` (first parameter outermost). */
function bindValueParam(st: JqState, vp: ValueParams, i: i32, env: Env | null): i32 {
  const f = vp.f;
  while (i < f.params.length && !f.paramIsVar[i]) i++;
  if (i >= f.params.length) return ev(st, f.body!, vp.input, vp.path, env, vp.k);
  return ev(st, vp.call.list![i]!, vp.input, null, vp.callerEnv, new ValueParamK(vp, i, env));
}

class ValueParamK extends K {
  vp: ValueParams;
  i: i32;
  env: Env | null;

  constructor(vp: ValueParams, i: i32, env: Env | null) {
    super();
    this.vp = vp;
    this.i = i;
    this.env = env;
  }

  override emit(st: JqState, v: JsonValue, _p: PathState | null): i32 {
    return bindValueParam(
      st,
      this.vp,
      this.i + 1,
      bindVar(this.env, this.vp.f.paramVarIds[this.i], v),
    );
  }
}

/** `path(f)`: the path of each output of `f` (which must be a path expression). */
export class PathEndK extends K {
  k: K;
  outer: PathState | null;
  offset: i32;

  constructor(k: K, outer: PathState | null, offset: i32) {
    super();
    this.k = k;
    this.outer = outer;
    this.offset = offset;
  }

  override emit(st: JqState, v: JsonValue, p: PathState | null): i32 {
    if (p == null || !identical(v, p.value)) {
      return st.fail("Invalid path expression with result " + dumpTruncated(v, 30), this.offset);
    }
    return this.k.emit(st, p.toArray(), this.outer);
  }
}
