/// <reference path="../portable.d.ts" />
/**
 * Runtime structures of the evaluator: environments (variables, closures,
 * local functions, labels), path-tracking state for `path(f)` and
 * assignments, and continuations (the evaluator passes each output to a
 * continuation instead of building arrays, so generators stay lazy and
 * `limit`/`first` stop them early).
 */
import { JsonValue, Kind } from "../json_value.ts";
// deno-lint-ignore verbatim-module-syntax
import { JqFunc, JqNode } from "./jq_ast.ts";
// deno-lint-ignore verbatim-module-syntax
import { JqState, OK } from "./jq_state.ts";

/** Frame kinds of {@link Env}. */
export enum Bind {
  Var = 0,
  Closure,
  Func,
  Label,
}

/** One binding; frames form a linked list from the innermost scope out. */
export class Env {
  parent: Env | null;
  id: i32;
  kind: i32;
  value: JsonValue | null = null;
  /** Closure: the argument expression and the environment it was written in. */
  node: JqNode | null = null;
  nodeEnv: Env | null = null;
  /** Func: the local definition (its environment is this frame). */
  func: JqFunc | null = null;
  /** Label: the run-time label id. */
  label: i32 = 0;

  constructor(parent: Env | null, id: i32, kind: i32) {
    this.parent = parent;
    this.id = id;
    this.kind = kind;
  }
}

/** Binds variable `id` to `value` in front of `env`. */
export function bindVar(env: Env | null, id: i32, value: JsonValue): Env {
  const e = new Env(env, id, Bind.Var);
  e.value = value;
  return e;
}

/** The innermost frame with binding id `id` (the compiler guarantees one exists). */
export function lookup(env: Env | null, id: i32): Env {
  let e = env;
  while (e != null) {
    if (e.id == id) return e;
    e = e.parent;
  }
  // Unreachable for compiled programs: every id is bound on the way in.
  return new Env(null, id, Bind.Var);
}

/**
 * Path-tracking state: the path so far (a persistent list, root first) and
 * the value found there, as jq keeps `path` and `value_at_path`.
 */
export class PathState {
  parent: PathState | null;
  /** The component appended to the parent's path (null at the root). */
  key: JsonValue | null;
  /** The value at this path. */
  value: JsonValue;
  length: i32;

  constructor(parent: PathState | null, key: JsonValue | null, value: JsonValue) {
    this.parent = parent;
    this.key = key;
    this.value = value;
    this.length = parent == null ? 0 : parent.length + (key == null ? 0 : 1);
  }

  /** The path as a jq array of components. */
  toArray(): JsonValue {
    const n = this.length;
    const out = new Array<JsonValue>(n);
    let i = n - 1;
    if (this.key != null) out[i--] = this.key!;
    let p = this.parent;
    while (p != null && i >= 0) {
      if (p.key != null) out[i--] = p.key!;
      p = p.parent;
    }
    return JsonValue.array(out);
  }
}

/** `path` extended by `key`, now pointing at `value`. */
export function appendPath(path: PathState, key: JsonValue, value: JsonValue): PathState {
  return new PathState(path, key, value);
}

/**
 * jq's `jv_identical`: the same container or string (by reference), or the
 * same number (bitwise), or the same null/boolean.
 */
export function identical(a: JsonValue, b: JsonValue): bool {
  if (a === b) return true;
  if (a.kind != b.kind) return false;
  if (a.kind == Kind.Number) {
    if (a.num != a.num) return b.num != b.num;
    return a.num == b.num && (a.num != 0 || 1 / a.num == 1 / b.num);
  }
  return a.kind <= Kind.True;
}

/** A continuation: receives each output with its path state (null when not tracking). */
export class K {
  /** Returns OK to ask for more outputs, or ERR with an error pending on `st`. */
  emit(_st: JqState, _v: JsonValue, _p: PathState | null): i32 {
    return OK;
  }
}

/** Collects outputs into an array. */
export class CollectK extends K {
  items: Array<JsonValue> = new Array<JsonValue>();

  override emit(_st: JqState, v: JsonValue, _p: PathState | null): i32 {
    this.items.push(v);
    return OK;
  }
}

/** Collects outputs with their path states. */
export class CollectPathsK extends K {
  items: Array<JsonValue> = new Array<JsonValue>();
  paths: Array<PathState | null> = new Array<PathState | null>();

  override emit(_st: JqState, v: JsonValue, p: PathState | null): i32 {
    this.items.push(v);
    this.paths.push(p);
    return OK;
  }
}

/** Receives the environment of each successful destructuring. */
export class BoundK {
  bound(_st: JqState, _env: Env | null): i32 {
    return OK;
  }
}
