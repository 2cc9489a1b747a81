/// <reference path="../portable.d.ts" />
/**
 * Marks the nodes the evaluator may compute directly (`node.one`): those
 * with at most one output and no `try`/`label` active while that output is
 * passed on. Everything else runs in continuation-passing style. Direct
 * evaluation returns before the rest of the filter runs, so sequential
 * steps no longer nest on the native stack (`(a|f) + (b|f)` would
 * otherwise run `f` on `a` inside the continuation of `f` on `b`), and it
 * allocates no continuations.
 *
 * The analysis is a fixpoint over function definitions: a function is
 * assumed direct, and stops being so when its body (analysed under that
 * assumption) is not.
 */
import { AssignOp, BinOp, JqFunc, JqNode, Op, PatKind } from "./jq_ast.ts";
// deno-lint-ignore verbatim-module-syntax
import { JqPattern } from "./jq_ast.ts";
import { B } from "./jq_builtin_table.ts";

/**
 * Sets `one` on `funcs` (to a fixpoint) and then on every node of `root`
 * and of the function bodies.
 */
export function analyze(root: JqNode | null, funcs: Array<JqFunc>): void {
  for (let i = 0; i < funcs.length; i++) funcs[i].one = true;
  let changed = true;
  while (changed) {
    changed = false;
    for (let i = 0; i < funcs.length; i++) {
      const f = funcs[i];
      if (!f.one) continue;
      if (!direct(f.body, false)) {
        f.one = false;
        changed = true;
      }
    }
  }
  for (let i = 0; i < funcs.length; i++) direct(funcs[i].body, true);
  direct(root, true);
}

/** Whether `n` is direct; with `mark`, records it on every node below. */
function direct(n: JqNode | null, mark: bool): bool {
  if (n == null) return true;
  const r = rule(n, mark);
  if (mark) n.one = r;
  return r;
}

function all(list: Array<JqNode | null> | null, mark: bool): bool {
  if (list == null) return true;
  let ok = true;
  for (let i = 0; i < list.length; i++) {
    const e = list[i];
    if (e != null && !direct(e, mark)) ok = false;
  }
  return ok;
}

function pattern(p: JqPattern | null, mark: bool): bool {
  if (p == null || p.kind == PatKind.Var) return true;
  let ok = true;
  for (let i = 0; i < p.elems.length; i++) {
    if (!pattern(p.elems[i], mark)) ok = false;
  }
  for (let i = 0; i < p.keys.length; i++) {
    if (!direct(p.keys[i], mark)) ok = false;
    if (!pattern(p.subs[i], mark)) ok = false;
  }
  return ok;
}

function rule(n: JqNode, mark: bool): bool {
  // Children are visited even when the answer is known, so `mark` reaches them.
  switch (n.op) {
    case Op.Identity:
    case Op.Literal:
    case Op.Var:
    case Op.Format:
    case Op.Break:
      return true;
    case Op.Iterate:
    case Op.RecurseAll:
    case Op.Comma:
    case Op.Foreach: {
      direct(n.a, mark);
      direct(n.b, mark);
      direct(n.c, mark);
      direct(n.d, mark);
      pattern(n.pattern, mark);
      return false;
    }
    case Op.Try:
    case Op.Label:
      direct(n.a, mark);
      direct(n.b, mark);
      return false;
    case Op.Array:
      // Collected before it is passed on: its inside never matters.
      direct(n.a, mark);
      return true;
    case Op.Reduce: {
      // Source and update run inside; only the initial state is on the way out.
      direct(n.a, mark);
      direct(n.c, mark);
      pattern(n.pattern, mark);
      if (mark) n.num = reduceMode(n.c!);
      return direct(n.b, mark);
    }
    case Op.Assign: {
      // `|=` keeps its update inside; `=`, `op=` and `//=` pass on one result per rhs output.
      direct(n.a, mark);
      const rhs = direct(n.b, mark);
      return n.num == AssignOp.Update || rhs;
    }
    case Op.Bind: {
      const a = direct(n.a, mark);
      const p = pattern(n.pattern, mark);
      const b = direct(n.b, mark);
      return a && p && b;
    }
    case Op.FuncDef:
      return direct(n.a, mark);
    case Op.Call:
      return call(n, mark);
    default: {
      // Field, Index, Slice, Interp, Object, Neg, Pipe, Binary, And, Or, Alt, If.
      const a = direct(n.a, mark);
      const b = direct(n.b, mark);
      const c = direct(n.c, mark);
      const d = direct(n.d, mark);
      const l = all(n.list, mark);
      return a && b && c && d && l;
    }
  }
}

function call(n: JqNode, mark: bool): bool {
  const args = n.list!;
  const argsDirect = all(args, mark);
  if (n.builtin >= 0) return builtin(n.builtin, args, argsDirect);
  const f = n.func;
  if (f == null) return false; // a filter parameter: its argument is unknown here
  if (!f.one) return false;
  // `$` parameters are bound from their arguments on the way out.
  for (let i = 0; i < f.params.length; i++) {
    if (f.paramIsVar[i] && !direct(args[i], false)) return false;
  }
  return argsDirect || true;
}

function builtin(id: i32, args: Array<JqNode | null>, argsDirect: bool): bool {
  switch (id) {
    // Generators.
    case B.Range1:
    case B.Range2:
    case B.Range3:
    case B.Recurse0:
    case B.RecurseDown:
    case B.Recurse1:
    case B.Recurse2:
    case B.Paths0:
    case B.Paths1:
    case B.LeafPaths:
    case B.Repeat:
    case B.Limit:
    case B.While:
    case B.Path:
    case B.Nwise:
    case B.Sub2:
    case B.Sub3:
    case B.Gsub2:
    case B.Gsub3:
      return false;
    // The filter argument runs inside (collected, or under a label that ends first).
    case B.Map:
    case B.MapValues:
    case B.SortBy:
    case B.GroupBy:
    case B.UniqueBy:
    case B.MinBy:
    case B.MaxBy:
    case B.Del:
    case B.WithEntries:
    case B.Last1:
    case B.IsEmpty:
    case B.Any1:
    case B.Any2:
    case B.All1:
    case B.All2:
      return true;
    case B.Until:
      // Conditions and steps are collected; one output needs one of each.
      return argsDirect;
    case B.Nth2:
      return direct(args[0], false);
    // The argument's outputs are passed on from inside its evaluation.
    default:
      return argsDirect;
  }
}

/** `reduce` update shapes the evaluator runs in place (see `runReduce`). */
export const REDUCE_GENERIC: i32 = 0;
/** An assignment whose right side cannot see the state: `.[$x.k] = $x`, `.[$k] += 1`, `.[$k] |= f`. */
export const REDUCE_ASSIGN: i32 = 1;
/** `. + E` with E one output that cannot see the state: `. + [$x]`, `. + {($k): $v}`, `. + $s`. */
export const REDUCE_ADD: i32 = 2;

function reduceMode(u: JqNode): i32 {
  if (u.op == Op.Assign) {
    if (u.num == AssignOp.Update) return REDUCE_ASSIGN;
    return u.b!.one && inputFree(u.b!) ? REDUCE_ASSIGN : REDUCE_GENERIC;
  }
  if (
    u.op == Op.Binary && u.num == BinOp.Add && u.a!.op == Op.Identity && u.b!.one &&
    inputFree(u.b!)
  ) {
    return REDUCE_ADD;
  }
  return REDUCE_GENERIC;
}

/** Whether `n` never reads its input (`.`), so it cannot capture a reduce state. */
export function inputFree(n: JqNode | null): bool {
  if (n == null) return true;
  switch (n.op) {
    case Op.Literal:
    case Op.Var:
    case Op.Break:
      return true;
    case Op.Pipe:
    case Op.Try:
    case Op.Label:
      return inputFree(n.a);
    case Op.Field:
    case Op.Index:
    case Op.Slice:
    case Op.Neg:
    case Op.Binary:
    case Op.And:
    case Op.Or:
    case Op.Alt:
    case Op.Comma:
    case Op.If:
    case Op.Array:
    case Op.Interp:
    case Op.Bind:
      return inputFree(n.a) && inputFree(n.b) && inputFree(n.c) && listInputFree(n.list);
    case Op.Reduce:
    case Op.Foreach:
      return inputFree(n.a) && inputFree(n.b);
    case Op.Object: {
      const list = n.list!;
      for (let i = 0; i < list.length; i++) {
        // A null value is the `{"a"}` shorthand, which reads `.a`.
        if (list[i] == null || !inputFree(list[i])) return false;
      }
      return true;
    }
    default:
      return false;
  }
}

function listInputFree(list: Array<JqNode | null> | null): bool {
  if (list == null) return true;
  for (let i = 0; i < list.length; i++) {
    if (!inputFree(list[i])) return false;
  }
  return true;
}
