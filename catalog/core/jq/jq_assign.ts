/// <reference path="../portable.d.ts" />
/**
 * Assignment operators, as jq 1.6 defines them:
 *
 * - `lhs = rhs`: `rhs as $v | reduce path(lhs) as $p (.; setpath($p; $v))`
 * - `lhs |= f`: `reduce path(lhs) as $p (.; label $out |
 *   (setpath($p; getpath($p) | f) | ., break $out), delpaths([$p]))`
 *   (the first output of `f` is used; none deletes the path)
 * - `lhs op= rhs`: `rhs as $t | lhs |= . op $t`; `lhs //= rhs`: `… . // $t`
 *
 * The accumulated value is owned by the assignment, so after the first copy
 * every later path is updated in place (linear time for `.[] |= f`).
 */
import { JsonValue } from "../json_value.ts";
import { AssignOp, JqNode, Op } from "./jq_ast.ts";
import { ev, PathEndK } from "./jq_eval.ts";
import { jqBinary } from "./jq_ops.ts";
import { delPaths, getPath, Owner, setPath } from "./jq_paths.ts";
import { CollectK, Env, K, PathState } from "./jq_runtime.ts";
import { ERR, JqState, OK } from "./jq_state.ts";

/** Evaluates an assignment node. */
export function evalAssign(
  st: JqState,
  node: JqNode,
  input: JsonValue,
  path: PathState | null,
  env: Env | null,
  k: K,
  owner: Owner | null = null,
): i32 {
  if (node.num == AssignOp.Update) {
    return modify(st, node.a!, node, input, path, env, k, owner);
  }
  // The right-hand side runs on the original input; each output is one assignment.
  return ev(st, node.b!, input, null, env, new AssignRhsK(node, input, path, env, k, owner));
}

class AssignRhsK extends K {
  node: JqNode;
  input: JsonValue;
  path: PathState | null;
  env: Env | null;
  k: K;
  owner: Owner | null;

  constructor(
    node: JqNode,
    input: JsonValue,
    path: PathState | null,
    env: Env | null,
    k: K,
    owner: Owner | null,
  ) {
    super();
    this.node = node;
    this.input = input;
    this.path = path;
    this.env = env;
    this.k = k;
    this.owner = owner;
  }

  override emit(st: JqState, v: JsonValue, _p: PathState | null): i32 {
    const u = new Updater(this.node, this.input, this.env, this.owner);
    u.operand = v;
    const r = ev(st, this.node.a!, this.input, rootPath(this.input), this.env, new PathStepK(u));
    if (r != OK) return r;
    return this.k.emit(st, u.acc, this.path);
  }
}

/**
 * `lhs |= f` (also `map_values(f)` as `.[] |= f`): `update` is the node
 * whose `b` is `f`.
 */
export function modify(
  st: JqState,
  lhs: JqNode,
  update: JqNode,
  input: JsonValue,
  path: PathState | null,
  env: Env | null,
  k: K,
  owner: Owner | null = null,
): i32 {
  const u = new Updater(update, input, env, owner);
  const r = ev(st, lhs, input, rootPath(input), env, new PathStepK(u));
  if (r != OK) return r;
  return k.emit(st, u.acc, path);
}

function rootPath(input: JsonValue): PathState {
  return new PathState(null, null, input);
}

/** The reduction over the paths of the left-hand side. */
class Updater {
  node: JqNode;
  env: Env | null;
  acc: JsonValue;
  /** The right-hand value of `=`, `op=` and `//=`. */
  operand: JsonValue = JsonValue.null();
  /** Containers this update made (shared with an enclosing `reduce` when it owns the state). */
  owner: Owner;
  /** Whether `f` in `|=` can never swallow the `break` that ends it (no try/label, no unknown code). */
  inPlace: bool;

  constructor(node: JqNode, input: JsonValue, env: Env | null, owner: Owner | null) {
    this.node = node;
    this.env = env;
    this.acc = input;
    this.owner = owner != null ? owner : new Owner();
    this.inPlace = node.num != AssignOp.Update || !mayCatch(node.b!);
  }
}

class PathStepK extends K {
  u: Updater;

  constructor(u: Updater) {
    super();
    this.u = u;
  }

  override emit(st: JqState, v: JsonValue, p: PathState | null): i32 {
    const u = this.u;
    const check = new PathEndK(new K(), null, u.node.offset);
    // Same check as path(f): each output must be a path expression result.
    if (check.emit(st, v, p) != OK) return ERR;
    const keys = p!.toArray();
    const node = u.node;
    const op = node.num;
    const owner = u.inPlace ? u.owner : null;
    if (op == AssignOp.Set) {
      const r = setPath(st, u.acc, keys, u.operand, owner, node.offset);
      if (r == null) return ERR;
      u.acc = r;
      return OK;
    }
    // |=, op= and //= are `_modify`, which takes one label per path.
    const label = st.labels++;
    const acc0 = u.acc;
    u.acc = JsonValue.null();
    const child = getPath(st, acc0, keys, node.offset);
    if (child == null) return ERR;
    if (owner != null && owner.has(child)) owner.clear();
    if (op == AssignOp.Arith || op == AssignOp.Alt) {
      let next: JsonValue | null;
      if (op == AssignOp.Alt) {
        next = child.isTruthy() ? child : u.operand;
      } else {
        next = jqBinary(st, node.flags, child, u.operand, node.offset);
        if (next == null) return ERR;
      }
      const r = setPath(st, acc0, keys, next!, owner, node.offset);
      if (r == null) return ERR;
      u.acc = r;
      return OK;
    }
    const first = new FirstUpdateK(u, acc0, keys, label, owner);
    const r = ev(st, node.b!, child, null, u.env, first);
    if (r == ERR) {
      if (!st.isBreak(label)) return ERR;
      st.take();
      return OK;
    }
    // No output (or its break was caught inside f): the path is deleted.
    const ps = JsonValue.array([keys]);
    const d = delPaths(st, acc0, ps, node.offset);
    if (d == null) return ERR;
    u.acc = d;
    return OK;
  }
}

/** Takes the first output of the update filter, then breaks out (jq's `label $out`). */
class FirstUpdateK extends K {
  u: Updater;
  acc0: JsonValue;
  keys: JsonValue;
  label: i32;
  owner: Owner | null;

  constructor(u: Updater, acc0: JsonValue, keys: JsonValue, label: i32, owner: Owner | null) {
    super();
    this.u = u;
    this.acc0 = acc0;
    this.keys = keys;
    this.label = label;
    this.owner = owner;
  }

  override emit(st: JqState, v: JsonValue, _p: PathState | null): i32 {
    const r = setPath(st, this.acc0, this.keys, v, this.owner, this.u.node.offset);
    if (r == null) return ERR;
    this.u.acc = r;
    return st.raise(st.labelValue(this.label), this.u.node.offset);
  }
}

/**
 * Whether evaluating `n` might catch an error raised by its continuation:
 * a `try`, a `label`, or a call whose body is not visible here.
 */
export function mayCatch(n: JqNode | null): bool {
  if (n == null) return false;
  if (n.op == Op.Try || n.op == Op.Label) return true;
  if (n.op == Op.Call && n.builtin < 0) return true;
  if (n.op == Op.FuncDef) return true;
  if (mayCatch(n.a) || mayCatch(n.b) || mayCatch(n.c) || mayCatch(n.d)) return true;
  const list = n.list;
  if (list != null) {
    for (let i = 0; i < list.length; i++) {
      if (mayCatch(list[i])) return true;
    }
  }
  return false;
}

/** Collects the paths of `f` on `input` (for `del(f)` and `paths`-style built-ins). */
export function collectPaths(
  st: JqState,
  f: JqNode,
  input: JsonValue,
  env: Env | null,
  offset: i32,
  out: CollectK,
): i32 {
  return ev(st, f, input, rootPath(input), env, new PathEndK(out, null, offset));
}
